"""Checks of a pushed model from the outside: served in a process that imports only TensorFlow, its ops all
stock TensorFlow ops, and the per-class metrics of the latest Evaluator output (the e2e tests share them)."""
import json
import os
import subprocess
import sys

# A clean interpreter that imports only TensorFlow: loads the pushed model, builds tf.Examples from raw CSV rows
# (types from the schema, empty cells left out) and prints the serving_default answer as JSON.
SERVE_SCRIPT = r"""
import csv, json, sys
import tensorflow as tf
model_dir, csv_path, types, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
rows = list(csv.DictReader(open(csv_path)))[:n]
def feature(kind, text):
    if kind == "INT": return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(text))]))
    if kind == "FLOAT": return tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
examples = [tf.train.Example(features=tf.train.Features(feature={
    k: feature(types[k], v) for k, v in row.items() if k in types and v != ""})).SerializeToString() for row in rows]
model = tf.saved_model.load(model_dir)
out = model.signatures["serving_default"](examples=tf.constant(examples))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tfx", "tensorflow_transform", "tf_keras", "pipeline"))
print(json.dumps({"outputs": {k: v.numpy().tolist() if v.dtype != tf.string else [x.decode() for x in v.numpy().ravel()]
                  for k, v in out.items()}, "foreign_modules": loaded}))
"""


def serve_in_clean_process(model_dir, csv_path, config, rows=20):
    types = {f.name: {0: "TYPE_UNKNOWN", 1: "BYTES", 2: "INT", 3: "FLOAT"}[f.type] for f in _schema(model_dir).feature
             if f.name in config.features}
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, model_dir, csv_path, json.dumps(types), str(rows)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _schema(model_dir):
    import tensorflow_data_validation as tfdv

    run_root = model_dir.split(os.sep + "serving" + os.sep)[0]
    schemas = sorted((os.path.join(r, f) for r, _, fs in os.walk(os.path.join(run_root, "tfx", "DataGate"))
                      for f in fs if f == "schema.pbtxt"))
    return tfdv.load_schema_text(schemas[-1])


def _per_class_metrics(output):
    """{(task, metric, class_id)} -> value from the latest Evaluator output under a run directory."""
    import tensorflow_model_analysis as tfma

    evaluator = os.path.join(output, "tfx", "Evaluator", "evaluation")
    latest = sorted(os.listdir(evaluator), key=int)[-1]
    found = {}
    for metrics in tfma.load_metrics(os.path.join(evaluator, latest)):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            if item.key.HasField("sub_key") and item.key.sub_key.HasField("class_id"):
                found[(item.key.output_name, item.key.name, item.key.sub_key.class_id.value)] = (
                    item.value.double_value.value)
    return found


OPS_SCRIPT = r"""
import json, sys
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
saved = saved_model_pb2.SavedModel()
saved.ParseFromString(open(sys.argv[1] + "/saved_model.pb", "rb").read())
ops = set()
for graph in saved.meta_graphs:
    ops |= {n.op for n in graph.graph_def.node}
    for f in graph.graph_def.library.function:
        ops |= {n.op for n in f.node_def}
functions = {f.signature.name for g in saved.meta_graphs for f in g.graph_def.library.function}
unknown = sorted(op for op in ops if op not in functions and op_def_registry.get(op) is None)
print(json.dumps({"ops": len(ops), "unknown": unknown,
                  "modules": sorted(m for m in sys.modules
                                    if m.split(".")[0] in ("tfx", "tensorflow_transform", "tf_keras"))}))
"""


def assert_only_stock_ops(version_dir):
    """The SavedModel's ops, read in a process that imports only TensorFlow, are all registered stock ops."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", OPS_SCRIPT, version_dir], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["ops"] > 50 and found["unknown"] == [] and found["modules"] == []
