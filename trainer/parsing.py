"""Serialized tf.Examples -> the raw feature tensors of the TFT layer, in the serving graph.

`tf.io.parse_example` wants one value kind per feature, so a model trained on a column of whole numbers would
refuse `217.0` ("Data types don't match"), and one trained on floats would refuse `217` - which is what TF
Serving's JSON makes of it (whole numbers become an int64_list, others a float_list). Numeric features are
therefore read with `tf.io.decode_proto` on the Example's own message types, which sees both kinds, and cast
to the raw feature spec's dtype; every other feature goes through `tf.io.parse_example` as before.

A numeric value that cannot be read (text, several values, a fraction for a whole-number column, a required
feature left out) is an InvalidArgumentError naming the feature, as TF Serving reports a parse error (HTTP 400).
Every op is a stock TensorFlow op (DecodeProtoV2 reads from the binary's own descriptor pool), so TF Serving
runs the graph.
"""
from __future__ import annotations

from typing import Dict, Mapping

import tensorflow as tf


def parse_examples(serialized: tf.Tensor, spec: Mapping[str, object], numeric) -> Dict[str, object]:
    """parse_example for `spec`, reading the features named in `numeric` from int64_list or float_list."""
    numeric = [name for name in numeric if name in spec and _readable(spec[name])]
    others = {name: s for name, s in spec.items() if name not in numeric}
    parsed = dict(tf.io.parse_example(serialized, others or {_WIRE_CHECK: tf.io.VarLenFeature(tf.string)}))
    if numeric:
        # after parse_example: bytes that are no tf.Example fail there, as InvalidArgumentError ("Could not
        # parse example input"), not in decode_proto as a DataLossError
        anchor = next(iter(parsed.values()))
        with tf.control_dependencies([anchor.indices if isinstance(anchor, tf.SparseTensor) else anchor]):
            serialized = tf.identity(serialized)
        parsed.update(_numbers(serialized, {name: spec[name] for name in numeric}))
    parsed.pop(_WIRE_CHECK, None)
    return parsed


_WIRE_CHECK = "__mtl_wire_check__"  # a key no example holds: parse_example still reads the whole message


def _readable(spec) -> bool:
    """Specs of one number per example (what a numeric column of a CSV gives)."""
    if isinstance(spec, tf.io.FixedLenFeature):
        return spec.dtype in (tf.float32, tf.int64) and tf.TensorShape(spec.shape).num_elements() == 1
    return isinstance(spec, tf.io.VarLenFeature) and spec.dtype in (tf.float32, tf.int64)


def _single(values: tf.Tensor, default) -> tf.Tensor:
    """The first value along the last axis (decode_proto pads it to the longest), `default` where there is none."""
    pad = tf.fill(tf.concat([tf.shape(values)[:-1], [1]], 0), tf.constant(default, values.dtype))
    return tf.concat([values, pad], axis=-1)[..., 0]


def _decode(messages: tf.Tensor, message_type: str, fields, types):
    sizes, values = tf.io.decode_proto(messages, message_type, list(fields), list(types))
    return sizes, values


def _numbers(serialized: tf.Tensor, specs: Mapping[str, object]) -> Dict[str, object]:
    batch = tf.shape(serialized)[0]  # (TF Serving refuses an empty batch before the graph runs)
    _, (features,) = _decode(serialized, "tensorflow.Example", ["features"], [tf.string])
    sizes, (entries,) = _decode(_single(features, ""), "tensorflow.Features", ["feature"], [tf.string])
    width = tf.shape(entries)[1]
    valid = tf.sequence_mask(sizes[:, 0], width)  # [B, E]: the example's own entries, not padding
    _, (keys, values) = _decode(entries, "tensorflow.Features.FeatureEntry", ["key", "value"],
                                [tf.string, tf.string])
    keys, values = _single(keys, ""), _single(values, "")
    kinds, (floats, ints, texts) = _decode(values, "tensorflow.Feature", ["float_list", "int64_list", "bytes_list"],
                                           [tf.string] * 3)
    float_count, (float_values,) = _decode(_single(floats, ""), "tensorflow.FloatList", ["value"], [tf.float32])
    int_count, (int_values,) = _decode(_single(ints, ""), "tensorflow.Int64List", ["value"], [tf.int64])
    text_count, _ = _decode(_single(texts, ""), "tensorflow.BytesList", ["value"], [tf.string])
    count = float_count[..., 0] + int_count[..., 0]  # [B, E] numbers in each entry
    is_float = float_count[..., 0] > 0
    first_float, first_int = _single(float_values, 0.0), _single(int_values, 0)
    found = {}
    positions = tf.range(1, width + 1)[None, :]
    for name, spec in specs.items():
        match = valid & tf.equal(keys, name)
        has = tf.reduce_any(match, axis=1)
        entry = tf.argmax(tf.where(match, positions, 0), axis=1, output_type=tf.int32)  # the last one wins
        pick = lambda t: tf.gather(t, entry, axis=1, batch_dims=1)  # noqa: E731
        numbers, floaty = tf.where(has, pick(count), 0), pick(is_float) & has
        text = has & (pick(text_count[..., 0]) > 0)
        checks = [tf.debugging.Assert(tf.logical_not(tf.reduce_any(text)),
                                      [f"Feature: {name} expects a number (int64_list or float_list), got text"]),
                  tf.debugging.Assert(tf.reduce_all(numbers <= 1),
                                      [f"Feature: {name} expects one number per example, got several"])]
        if spec.dtype == tf.int64:
            value = tf.where(floaty, tf.cast(pick(first_float), tf.int64), pick(first_int))
            whole = tf.equal(tf.cast(value, tf.float32), pick(first_float)) | ~floaty
            checks.append(tf.debugging.Assert(tf.reduce_all(whole), [
                f"Feature: {name} expects a whole number (the model's schema stores it as an integer)"]))
        else:
            value = tf.where(floaty, pick(first_float), tf.cast(pick(first_int), tf.float32))
        present = numbers > 0
        if isinstance(spec, tf.io.FixedLenFeature):
            if spec.default_value is None:
                checks.append(tf.debugging.Assert(tf.reduce_all(present), [
                    f"Feature: {name} (data type: {spec.dtype.name}) is required but could not be found."]))
                default = tf.zeros_like(value)
            else:
                default = tf.fill(tf.shape(value), tf.cast(tf.reshape(spec.default_value, [-1])[0], value.dtype))
            with tf.control_dependencies(checks):
                found[name] = tf.reshape(tf.where(present, value, default), tf.concat([[batch], spec.shape], 0))
        else:
            rows = tf.cast(tf.where(present)[:, 0], tf.int64)
            with tf.control_dependencies(checks):
                found[name] = tf.SparseTensor(
                    indices=tf.stack([rows, tf.zeros_like(rows)], axis=1), values=tf.gather(value, rows),
                    dense_shape=tf.stack([tf.cast(batch, tf.int64), tf.reduce_max(tf.cast(present, tf.int64))]))
    return found
