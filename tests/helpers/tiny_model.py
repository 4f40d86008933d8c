"""A tiny SavedModel with the serving layout of this project's exports (seconds to write, no pipeline run): the
server tests' model.

Signatures: `serving_default` (serialized tf.Examples `examples` -> `score` [B, 1], `score_label`, `value` [B, 1]),
`classify_score` (`inputs` -> `classes`, `scores`; TF Serving's classify method name), `regress_value`
(`inputs` -> `outputs`; regress), `matrix` (float `m` [B, 2] -> `total` [B]) and `count` (int64 `ids` [B] ->
`next` [B]): raw-tensor inputs, and `asset`
(`examples` -> `size`: reads assets/note.txt on every call, so deleting that file makes the signature fail at run
time). Next to it `assets.extra/mtl_model.json`, the contract `serving.contract` reads (model name `tiny`).
"""
import json
import os

import tensorflow as tf

NAME = "tiny"
CONTRACT = {
    "format": 1, "name": NAME, "signature": "serving_default", "input": "examples",
    "features": {"x": {"type": "numeric", "kind": "float", "required": True},
                 "n": {"type": "categorical", "kind": "int", "required": False},
                 "city": {"type": "categorical", "kind": "bytes", "required": False}},
    "tasks": {"score": {"type": "binary", "scores": "score", "label": "score_label", "classes": ["no", "yes"],
                        "signature": "classify_score"},
              "value": {"type": "regression", "scores": "value", "signature": "regress_value"}},
}
SPEC = {"x": tf.io.FixedLenFeature([], tf.float32),
        "n": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "city": tf.io.VarLenFeature(tf.string)}


def expected(x: float, n: int = 0):
    """(score, value) the model answers for one row, computed without TensorFlow."""
    import math

    return 1.0 / (1.0 + math.exp(-(0.5 * x + 0.1 * n - 0.25))), 2.0 * x + 1.0


class _Tiny(tf.Module):
    def __init__(self, note_path):
        super().__init__()
        self.w = tf.Variable(0.5)
        self.note = tf.saved_model.Asset(note_path)

    def _scores(self, examples):
        parsed = tf.io.parse_example(examples, SPEC)
        logit = self.w * parsed["x"] + 0.1 * tf.cast(parsed["n"], tf.float32) - 0.25
        return tf.sigmoid(logit)[:, None], (2.0 * parsed["x"] + 1.0)[:, None]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        score, value = self._scores(examples)
        label = tf.gather(tf.constant(["no", "yes"]), tf.cast(score[:, 0] >= 0.5, tf.int32))
        return {"score": score, "score_label": label, "value": value}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        score, _ = self._scores(inputs)
        classes = tf.tile(tf.constant([["no", "yes"]]), [tf.shape(score)[0], 1])
        return {"classes": classes, "scores": tf.concat([1.0 - score, score], axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        return {"outputs": self._scores(inputs)[1][:, 0]}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="m")])
    def matrix(self, m):
        return {"total": tf.reduce_sum(m, axis=1) * self.w * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="ids")])
    def count(self, ids):
        return {"next": ids + 1}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def asset(self, examples):
        size = tf.strings.length(tf.io.read_file(self.note.asset_path))
        return {"size": tf.fill(tf.shape(examples), size)}


def export_tiny(directory) -> str:
    """Write the tiny model to `directory` (a version directory, e.g. <base>/1); return it."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    note = os.path.join(directory + ".note.txt")
    with open(note, "w") as f:
        f.write("a note the asset signature reads")
    model = _Tiny(note)
    tf.saved_model.save(model, directory, signatures={
        "serving_default": model.serve, "classify_score": model.classify, "regress_value": model.regress,
        "matrix": model.matrix, "count": model.count, "asset": model.asset})
    os.remove(note)
    path = os.path.join(directory, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0]
    graph.signature_def["classify_score"].method_name = "tensorflow/serving/classify"
    graph.signature_def["regress_value"].method_name = "tensorflow/serving/regress"
    with open(path, "wb") as f:
        f.write(saved.SerializeToString())
    with open(os.path.join(directory, "fingerprint.pb"), "wb") as f:
        f.write(fingerprinting.CreateFingerprintDef(directory))
    os.makedirs(os.path.join(directory, "assets.extra"), exist_ok=True)
    with open(os.path.join(directory, "assets.extra", "mtl_model.json"), "w") as f:
        json.dump(CONTRACT, f, indent=1)
    return directory
