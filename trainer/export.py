"""Serving signatures of the exported SavedModel (the TFT graph is embedded: raw features in).

- `serving_default`: serialized tf.Example strings (raw features only, no labels) -> per task the scores under
  the task's name, plus `<task>_label` (decoded label string) for classification tasks.
- `scores`: the same input -> only the per-task scores (what TFMA evaluates); a one-task model adds a zero
  column `ONE_TASK_PAD`, since TFMA turns a one-output signature into a bare array its per-task metrics can't read.
- `transform_features`: serialized tf.Example with labels -> each task's target and label mask, multilabel
  targets as dense multi-hot (TFMA's preprocessing function). Transformed features are left out, so that TFMA
  slices on the raw values (`sex = Female`, not the vocabulary id of Female).
- `bulk_inference`: `serving_default`'s outputs with each per-row string (a decoded label) as a [B, 1] column, for
  TFX's BulkInferrer: tfx_bsl 1.16 splits outputs row by row and cannot write a bare string into a PredictionLog.
- per task, for TF Serving's Classify / Regress APIs: `classify_<task>` (inputs -> classes, scores) for binary,
  multiclass and multilabel tasks, `regress_<task>` (inputs -> outputs) for regression tasks.

Next to the SavedModel, `assets.extra/mtl_model.json` describes the request and the answer: each raw
feature's tf.Example value kind and whether it may be missing, and each task's type, outputs and class names
(the typed record of pipeline/core/model_contract.py, which owns the layout; `serving.contract` builds requests
and decodes answers from it; TF Serving ignores the file).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, Optional

import tensorflow as tf

from pipeline import config as cfg
from pipeline.core import kinds
from pipeline.core.keys import BULK_SIGNATURE
from pipeline.core.model_contract import CONTRACT_FILE, ContractRecord, FeatureSpec, TaskSpec
from components.tokens import text_cells, tokenize
from trainer import heads, parsing, tagging
from trainer.inputs import input_keys
from trainer.model import MultiTaskModel

# The `scores` signature's second output of a one-task model (task names start with a letter: no clash).
ONE_TASK_PAD = "_one_task_pad"


def label_output(task_name: str) -> str:
    return f"{task_name}_label"


def _raw_spec(tf_transform_output, columns) -> Dict[str, tf.io.FixedLenFeature]:
    spec = tf_transform_output.raw_feature_spec()
    return {name: spec[name] for name in columns if name in spec}


# TF Serving's Classify / Regress APIs accept only signatures with these method names (and these tensor keys).
CLASSIFY_METHOD, REGRESS_METHOD = "tensorflow/serving/classify", "tensorflow/serving/regress"
METHOD_NAMES = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}  # TaskKind.serving_method -> method name

# The signatures branch only on Python values (the config), so they are traced as written: AutoGraph would
# rewrite every function they reach (tf_keras's layers included) for nothing.
_traced = functools.partial(tf.function, autograph=False)


def task_signature(name: str, task: cfg.Task) -> Optional[str]:
    """The per-task signature for TF Serving's Classify (classification tasks) or Regress API (regression);
    None for tagging tasks (serving_default answers them)."""
    method = kinds.kind(task.type).serving_method
    return f"{method}_{name}" if method else None


def tagging_output(task_name: str, what: str) -> str:
    """serving_default's extra outputs of a tagging task: `<task>_tags`, `<task>_tokens`, `<task>_spans`."""
    assert what in ("tags", "tokens", "spans"), what
    return f"{task_name}_{what}"


def _task_function(name: str, task: cfg.Task, predict, vocabularies):
    """inputs (serialized tf.Example) -> classify: `classes` [B, K] names and `scores` [B, K] (binary: [1-p, p];
    multilabel: each label's own probability) / regress: `outputs` [B]."""
    inputs = tf.TensorSpec(shape=[None], dtype=tf.string, name="inputs")
    if kinds.kind(task.type).predicts == "value":
        @_traced(input_signature=[inputs])
        def regress(inputs):
            return {"outputs": tf.reshape(predict(inputs)[name], [-1])}
        return regress.get_concrete_function()
    names = vocabularies.classes.get(name) or [""]

    @_traced(input_signature=[inputs])
    def classify(inputs):
        scores = predict(inputs)[name]
        if task.type == "binary":
            scores = tf.concat([1.0 - scores, scores], axis=1)
        classes = tf.tile(tf.constant(names)[None, :], [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}
    return classify.get_concrete_function()


def served_classes(model: MultiTaskModel, tf_transform_output) -> Dict[str, list]:
    """Class names of each classification task as served: vocabularies, and binary tasks' [negative, positive]
    as the data spells them (heads.binary_label_names, from the task's label vocabulary)."""
    config: cfg.Config = model.mtl_config
    classes = {name: list(model.vocabularies.classes.get(name, [])) for name, task in config.tasks.items()
               if kinds.kind(task.type).label_vocabulary}
    for name, task in config.tasks.items():
        if task.type == "binary":
            classes[name] = heads.binary_label_names(task, _vocabulary(tf_transform_output, name, task))
    return classes


def _vocabulary(tf_transform_output, name: str, task: cfg.Task) -> list:
    if task.positive is None or task.negative:
        return []
    try:
        words = tf_transform_output.vocabulary_by_name(cfg.label_vocab_name(name))
    except (ValueError, OSError, tf.errors.NotFoundError):  # a transform graph written before binary vocabularies
        return []
    return [w.decode("utf-8", "replace") if isinstance(w, bytes) else w for w in words]


def signatures(model: MultiTaskModel, tf_transform_output) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    config: cfg.Config = model.mtl_config
    classes = served_classes(model, tf_transform_output)
    vocabularies = dataclasses.replace(model.vocabularies, classes={**model.vocabularies.classes, **classes})
    model.tft_layer = tf_transform_output.transform_features_layer()
    serving_spec = _raw_spec(tf_transform_output, config.column_features)
    numeric = [name for name, feature in config.features.items() if feature.type == "numeric"]
    labels = list(dict.fromkeys(t.label for t in config.tasks.values()))
    eval_spec = _raw_spec(tf_transform_output, [*config.column_features, *labels])
    examples = tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")

    tagging_tasks = {n: t for n, t in config.tasks.items() if kinds.kind(t.type).predicts == "tags"}

    def predict(serialized, tagged=None):
        """Model outputs per task; a tagging task's scores are its tag probabilities per token (with a CRF,
        the one-hot Viterbi path). `tagged`, when given, receives each tagging task's tag ids [B, T] and the
        tokens tagged (the raw text tokenized by Transform's rule)."""
        parsed = parsing.parse_examples(serialized, serving_spec, numeric)  # numbers as int64 or float
        transformed = model.tft_layer(parsed)
        outputs = dict(model({key: transformed[key] for key in input_keys(config)}, training=False))
        for name, task in tagging_tasks.items():
            crf = model.get_layer(name) if task.crf else None
            ids = tagging.tag_ids(outputs[name], transformed[task.tokens_of], crf)
            if crf is not None:
                outputs[name] = tf.one_hot(tf.maximum(ids, 0), vocabularies.num_classes(name)) * tf.cast(
                    ids >= 0, tf.float32)[..., None]
            if tagged is not None:
                width = config.features[task.tokens_of].max_tokens
                tokens = tokenize(text_cells(parsed[task.tokens_of]))[:, :width]
                tagged[name] = (ids, tokens.to_tensor(default_value="", shape=[None, width]))
        return outputs

    @_traced(input_signature=[examples])
    def serve(serialized):
        tagged = {}
        outputs = predict(serialized, tagged)
        result = dict(outputs)
        for name, task in config.tasks.items():
            if kinds.kind(task.type).predicts == "classes":
                result[label_output(name)] = heads.decode(task, outputs[name], vocabularies.classes.get(name, []))
        for name, (ids, tokens) in tagged.items():
            names = vocabularies.classes.get(name, [])
            result[tagging_output(name, 'tags')] = heads.decode(config.tasks[name], ids, names)
            result[tagging_output(name, 'tokens')] = tokens
            result[tagging_output(name, 'spans')] = tagging.span_strings(ids, [n[2:] for n in names[1::2]])
        return result

    @_traced(input_signature=[examples])
    def bulk(serialized):
        return {k: v[:, None] if v.dtype == tf.string and v.shape.rank == 1 else v
                for k, v in serve(serialized).items()}

    @_traced(input_signature=[examples])
    def scores(serialized):
        found = dict(predict(serialized))
        if len(found) == 1:  # TFMA unwraps a one-output signature into a bare array, and per-task metrics fail
            found[ONE_TASK_PAD] = tf.zeros_like(next(iter(found.values()))[:, :1])
        return found

    @_traced(input_signature=[examples])
    def transform_features(serialized):
        transformed = dict(model.tft_layer(tf.io.parse_example(serialized, eval_spec)))
        found = {}
        for name, task in config.tasks.items():
            target, mask = cfg.label_key(name), cfg.mask_key(name)
            found[target], found[mask] = transformed[target], transformed[mask]
            if kinds.kind(task.type).label_encoding == "multi_hot":  # sparse ids -> the dense multi-hot TFMA reads
                found[target] = heads.prepare_target(task, found[target], vocabularies.num_classes(name))
        return found

    found = {
        "serving_default": serve.get_concrete_function(),
        BULK_SIGNATURE: bulk.get_concrete_function(),
        "scores": scores.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }
    for name, task in config.tasks.items():
        if task_signature(name, task):
            found[task_signature(name, task)] = _task_function(name, task, predict, vocabularies)
    return found


_KINDS = {tf.string: "bytes", tf.int64: "int", tf.float32: "float"}


def contract(model: MultiTaskModel, tf_transform_output) -> ContractRecord:
    """The request/answer description written to `CONTRACT_FILE`."""
    config: cfg.Config = model.mtl_config
    features = {}
    for name, spec in _raw_spec(tf_transform_output, config.column_features).items():
        features[name] = FeatureSpec(type=config.column_features[name].type, kind=_KINDS[spec.dtype],
                                     required=isinstance(spec, tf.io.FixedLenFeature) and spec.default_value is None)
    tasks = {}
    classes = served_classes(model, tf_transform_output)
    for name, task in config.tasks.items():
        classified = kinds.kind(task.type).predicts == "classes"
        if kinds.kind(task.type).predicts == "tags":
            tasks[name] = TaskSpec(type=task.type, scores=name, label=tagging_output(name, "tags"), classes=classes[name],
                                   tokens=tagging_output(name, "tokens"))
            continue
        tasks[name] = TaskSpec(type=task.type, scores=name, label=label_output(name) if classified else None,
                               classes=list(classes[name]) if classified else None,
                               separator=task.label_separator if task.type == "multilabel" else None,
                               signature=task_signature(name, task))
    return ContractRecord(name=config.name, features=features, tasks=tasks)


def _set_method_names(directory: str, methods: Dict[str, str]) -> None:
    """Give the per-task signatures TF Serving's classify/regress method names (TF2 saves every signature as
    predict), then rewrite the SavedModel fingerprint to match the edited saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    path = os.path.join(directory, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved.ParseFromString(f.read())
    for graph in saved.meta_graphs:
        for name, method in methods.items():
            graph.signature_def[name].method_name = method
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved.SerializeToString())
    with tf.io.gfile.GFile(os.path.join(directory, "fingerprint.pb"), "wb") as f:
        f.write(fingerprinting.CreateFingerprintDef(directory))


def export(model: MultiTaskModel, tf_transform_output, directory: str) -> None:
    model.save(directory, save_format="tf", signatures=signatures(model, tf_transform_output))
    _set_method_names(directory, {task_signature(n, t): METHOD_NAMES[kinds.kind(t.type).serving_method]
                                  for n, t in model.mtl_config.tasks.items() if task_signature(n, t)})
    path = os.path.join(directory, CONTRACT_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(contract(model, tf_transform_output).to_json())
