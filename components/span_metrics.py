"""Span-level metrics of BIO/IOB2 sequence tagging (CoNLL rules) and their TFMA metric.

A span is a maximal run of tags ``B-T I-T ... I-T`` of one type T. As in conlleval (and seqeval's default
mode), an ``I-T`` that follows ``O`` or a tag of another type starts a new span instead of being an error, and
a predicted span counts as correct only with exactly the gold span's start, end and type. Precision, recall
and F1 are micro averages over spans (and per type); a zero denominator gives 0.0 as conlleval does. Token
accuracy counts every token, ``O`` included (conlleval's "accuracy").

The pure-Python core (`spans`, `SpanCounts`, `scores`, `frame_accuracy`) lives in pipeline/core/tags.py and
pipeline/core/spans.py (no TensorFlow) and is re-exported here; `SpanF1` is a
TFMA metric over tag ids: per example a label of shape [T] and a prediction of tag ids [T] or per-token scores
[T, K] (argmax over K), with the tag vocabulary (id -> tag string) passed as a metric config option.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from pipeline.core import tags as tag_ids
from pipeline.core.spans import SpanCounts, frame_accuracy, scores, span_scores  # noqa: F401 (this module's API)
from pipeline.core.tags import Span, spans, split_tag  # noqa: F401

# ------------------------------------------------------------------------------------------- TFMA metric
SPAN_F1, SPAN_PRECISION, SPAN_RECALL, TOKEN_ACCURACY = "span_f1", "span_precision", "span_recall", "token_accuracy"
TYPE_SEPARATOR = "/"  # per-type F1 is emitted as "<prefix>span_f1/<type>"


def type_names(tags: Sequence[str]) -> List[str]:
    """The span types of a tag vocabulary, in first-seen order (tags checked)."""
    kinds: List[str] = []
    for tag in tags:
        _, kind = split_tag(tag)
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


class SpanF1(tfma.metrics.Metric):
    """Span P/R/F1 (CoNLL rules), token accuracy and per-type span F1 of a sequence-tagging output.

    Options: ``tags``, the tag vocabulary (tag id i is ``tags[i]``); ``padding_id``, a label id that marks
    padding (those tokens are dropped from label and prediction; default -1); ``prefix``, put before every
    emitted name (e.g. "slots_" for several tagging outputs in one MetricsSpec). Emits <prefix>span_f1,
    span_precision, span_recall, token_accuracy and one <prefix>span_f1/<type> per type of the vocabulary
    (NaN in a slice where the type is neither a gold nor a predicted span).
    """

    def __init__(self, name: str = SPAN_F1, tags: Sequence[str] = (), padding_id: int = -1, prefix: str = ""):
        if not tags:
            raise ValueError(f"{name}: option 'tags' (the tag vocabulary, tag id -> tag) is empty")
        type_names(tags)  # fail here, at configuration time, on a tag that is not BIO
        super().__init__(metric_util.merge_per_key_computations(_span_computations), name=name, tags=list(tags),
                         padding_id=padding_id, prefix=prefix)


def _span_computations(name: str = SPAN_F1, tags: Sequence[str] = (), padding_id: int = -1, prefix: str = "",
                       eval_config=None, model_name: str = "", output_name: str = "", sub_key=None,
                       example_weighted: bool = False) -> metric_types.MetricComputations:
    if sub_key is not None:
        raise ValueError(f"{name}: a span metric has no per-class form; do not binarize its MetricsSpec")

    def key(metric: str) -> metric_types.MetricKey:
        return metric_types.MetricKey(name=prefix + metric, model_name=model_name, output_name=output_name,
                                      example_weighted=example_weighted)

    keys = {m: key(m) for m in (SPAN_F1, SPAN_PRECISION, SPAN_RECALL, TOKEN_ACCURACY)}
    keys.update({(SPAN_F1, kind): key(SPAN_F1 + TYPE_SEPARATOR + kind) for kind in type_names(tags)})
    return [metric_types.MetricComputation(
        keys=list(keys.values()), preprocessors=None,
        combiner=_SpanCombiner(keys, list(tags), padding_id, eval_config, model_name, output_name,
                               example_weighted))]


class SpanMetric(tfma.metrics.Metric):
    """One span metric (span_f1, span_precision, span_recall or token_accuracy, by `name`) of a tagging output
    whose tag ids follow pipeline/core/tags.py, so no tag list is needed when the EvalConfig is written (before
    Transform learns the types). One metric per MetricConfig: TFMA attaches a config's thresholds to its name."""

    def __init__(self, name: str = SPAN_F1):
        if name not in (SPAN_F1, SPAN_PRECISION, SPAN_RECALL, TOKEN_ACCURACY):
            raise ValueError(f"SpanMetric: name {name!r} is none of {SPAN_F1}, {SPAN_PRECISION}, {SPAN_RECALL}, "
                             f"{TOKEN_ACCURACY}")
        super().__init__(metric_util.merge_per_key_computations(_one_span_computation), name=name)


def _one_span_computation(name: str = SPAN_F1, eval_config=None, model_name: str = "", output_name: str = "",
                          sub_key=None, example_weighted: bool = False) -> metric_types.MetricComputations:
    if sub_key is not None:
        raise ValueError(f"{name}: a span metric has no per-class form; do not binarize its MetricsSpec")
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_SpanCombiner({name: key}, [], tag_ids.PADDING, eval_config, model_name, output_name,
                               example_weighted))]


def _tag_ids(values: np.ndarray, what: str, num_tags: int) -> np.ndarray:
    if values.size and (not np.all(np.equal(np.mod(values, 1), 0)) or values.min() < 0 or values.max() >= num_tags):
        raise ValueError(f"{what} {values.tolist()}: tag ids must be integers in [0, {num_tags}) "
                         f"(the 'tags' option has {num_tags} tags)")
    return values.astype(np.int64)


def example_tags(label, prediction, tags: Sequence[str], padding_id: int = -1) -> Tuple[List[str], List[str]]:
    """One example's (true, predicted) tag strings from label ids [T] and prediction ids [T] or scores [T, K].
    Without `tags`, ids follow pipeline/core/tags.py (O 0, B-t 2t+1, I-t 2t+2), with K tags when scores come."""
    label, prediction = np.asarray(label), np.asarray(prediction)
    if not tags:
        count = prediction.shape[-1] if prediction.ndim == 2 and prediction.shape[-1] > 1 else int(
            max(np.max(label, initial=0), np.max(prediction, initial=0))) + 1
        tags = tag_ids.generic_names(count)
    if label.ndim == 2 and label.shape[-1] == 1:
        label = label[:, 0]
    if label.ndim != 1:
        raise ValueError(f"label of shape {label.shape}: expected one tag id per token, shape [T]")
    if prediction.ndim == 2 and prediction.shape[-1] == len(tags) and prediction.shape[0] == label.shape[0]:
        prediction = np.argmax(prediction, axis=-1)
    elif prediction.ndim == 2 and prediction.shape[-1] == 1:
        prediction = prediction[:, 0]
    if prediction.shape != label.shape:
        raise ValueError(f"prediction of shape {prediction.shape} for a label of shape {label.shape}: expected "
                         f"tag ids [{label.shape[0]}] or scores [{label.shape[0]}, {len(tags)}] (one per tag)")
    keep = label != padding_id
    true = _tag_ids(label[keep], "label", len(tags))
    pred = _tag_ids(prediction[keep], "prediction", len(tags))
    return [tags[i] for i in true], [tags[i] for i in pred]


class _SpanCombiner(beam.CombineFn):
    """Adds each example's SpanCounts (weighted by its example weight) and emits the scores per slice."""

    def __init__(self, keys, tags, padding_id, eval_config, model_name, output_name, example_weighted):
        self._keys, self._tags, self._padding_id = keys, tags, padding_id
        self._eval_config, self._model_name, self._output_name = eval_config, model_name, output_name
        self._example_weighted = example_weighted

    def create_accumulator(self) -> SpanCounts:
        return SpanCounts()

    def add_input(self, accumulator: SpanCounts, element: metric_types.StandardMetricInputs) -> SpanCounts:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._model_name,
                output_name=self._output_name, example_weighted=self._example_weighted, flatten=False,
                squeeze=False, require_single_example_weight=True):
            true, pred = example_tags(label, prediction, self._tags, self._padding_id)
            accumulator.add(true, pred, float(metric_util.safe_to_scalar(weight)))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[SpanCounts]) -> SpanCounts:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result += accumulator
        return result

    def extract_output(self, accumulator: SpanCounts) -> Dict[metric_types.MetricKey, float]:
        found = scores(accumulator)
        values = {SPAN_F1: found["f1"], SPAN_PRECISION: found["precision"], SPAN_RECALL: found["recall"],
                  TOKEN_ACCURACY: found["token_accuracy"]}
        out = {key: values[key_id] for key_id, key in self._keys.items() if key_id in values}
        for key_id, key in self._keys.items():
            if isinstance(key_id, tuple):
                per_type = found["per_type"].get(key_id[1])
                out[key] = per_type["f1"] if per_type else math.nan
        return out
