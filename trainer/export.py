"""Serving signatures of the exported SavedModel (the TFT graph is embedded: raw features in).

- `serving_default`: serialized tf.Example strings (raw features only, no labels) -> per task the scores under
  the task's name, plus `<task>_label` (decoded label string) for classification tasks.
- `scores`: the same input -> only the per-task scores (what TFMA evaluates).
- `transform_features`: serialized tf.Example with labels -> transformed features, targets and masks, with
  multilabel targets as dense multi-hot (TFMA's preprocessing function).

Next to the SavedModel, `assets.extra/mtl_model.json` describes the request and the answer: each raw
feature's tf.Example value kind and whether it may be missing, and each task's type, outputs and class names
(`serving.contract` builds requests and decodes answers from it; TF Serving ignores the file).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

import tensorflow as tf

from pipeline import config as cfg
from serving.contract import CONTRACT_FILE
from trainer import heads
from trainer.model import MultiTaskModel


def label_output(task_name: str) -> str:
    return f"{task_name}_label"


def _raw_spec(tf_transform_output, columns) -> Dict[str, tf.io.FixedLenFeature]:
    spec = tf_transform_output.raw_feature_spec()
    return {name: spec[name] for name in columns if name in spec}


def signatures(model: MultiTaskModel, tf_transform_output) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    config: cfg.Config = model.mtl_config
    vocabularies = model.vocabularies
    model.tft_layer = tf_transform_output.transform_features_layer()
    serving_spec = _raw_spec(tf_transform_output, config.features)
    labels = list(dict.fromkeys(t.label for t in config.tasks.values()))
    eval_spec = _raw_spec(tf_transform_output, [*config.features, *labels])
    examples = tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")

    def predict(serialized):
        parsed = tf.io.parse_example(serialized, serving_spec)
        transformed = model.tft_layer(parsed)
        return model({name: transformed[name] for name in config.features}, training=False)

    @tf.function(input_signature=[examples])
    def serve(serialized):
        outputs = predict(serialized)
        result = dict(outputs)
        for name, task in config.tasks.items():
            if task.type != "regression":
                result[label_output(name)] = heads.decode(task, outputs[name], vocabularies.classes.get(name, []))
        return result

    @tf.function(input_signature=[examples])
    def scores(serialized):
        return dict(predict(serialized))

    @tf.function(input_signature=[examples])
    def transform_features(serialized):
        transformed = dict(model.tft_layer(tf.io.parse_example(serialized, eval_spec)))
        for name, task in config.tasks.items():
            if task.type == "multilabel":
                key = cfg.label_key(name)
                transformed[key] = heads.prepare_target(task, transformed[key], vocabularies.num_classes(name))
        return transformed

    return {
        "serving_default": serve.get_concrete_function(),
        "scores": scores.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }


_KINDS = {tf.string: "bytes", tf.int64: "int", tf.float32: "float"}


def contract(model: MultiTaskModel, tf_transform_output) -> Dict[str, Any]:
    """The request/answer description written to `CONTRACT_FILE`."""
    config: cfg.Config = model.mtl_config
    features = {}
    for name, spec in _raw_spec(tf_transform_output, config.features).items():
        features[name] = {"type": config.features[name].type, "kind": _KINDS[spec.dtype],
                          "required": isinstance(spec, tf.io.FixedLenFeature) and spec.default_value is None}
    tasks = {}
    for name, task in config.tasks.items():
        entry: Dict[str, Any] = {"type": task.type, "scores": name}
        if task.type != "regression":
            entry["label"] = label_output(name)
        if task.type == "binary":
            entry["classes"] = heads.binary_label_names(task)
        elif task.type in ("multiclass", "multilabel"):
            entry["classes"] = list(model.vocabularies.classes.get(name, []))
        if task.type == "multilabel":
            entry["separator"] = task.label_separator
        tasks[name] = entry
    return {"format": 1, "name": config.name, "signature": "serving_default", "input": "examples",
            "features": features, "tasks": tasks}


def export(model: MultiTaskModel, tf_transform_output, directory: str) -> None:
    model.save(directory, save_format="tf", signatures=signatures(model, tf_transform_output))
    path = os.path.join(directory, CONTRACT_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(contract(model, tf_transform_output), indent=2))
