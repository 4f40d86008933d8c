"""Span-level metrics of BIO/IOB2 sequence tagging (CoNLL rules) and their TFMA metric.

A span is a maximal run of tags ``B-T I-T ... I-T`` of one type T. As in conlleval (and seqeval's default
mode), an ``I-T`` that follows ``O`` or a tag of another type starts a new span instead of being an error, and
a predicted span counts as correct only with exactly the gold span's start, end and type. Precision, recall
and F1 are micro averages over spans (and per type); a zero denominator gives 0.0 as conlleval does. Token
accuracy counts every token, ``O`` included (conlleval's "accuracy").

The pure-Python core (`spans`, `SpanCounts`, `scores`, `frame_accuracy`) needs no TensorFlow; `SpanF1` is a
TFMA metric over tag ids: per example a label of shape [T] and a prediction of tag ids [T] or per-token scores
[T, K] (argmax over K), with the tag vocabulary (id -> tag string) passed as a metric config option.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence, Set, Tuple

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from pipeline.core import tags as tag_ids

Span = Tuple[str, int, int]  # (type, first token, last token), inclusive


def _split_tag(tag: str) -> Tuple[str, str]:
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(f"tag {tag!r} is not O, B-<type> or I-<type> (BIO/IOB2)")


def spans(tags: Sequence[str]) -> Set[Span]:
    """The spans of one tag sequence, by conlleval's chunk rules for IOB2."""
    found: Set[Span] = set()
    start, kind = None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, tag_type = _split_tag(tag)
        continues = prefix == "I" and start is not None and tag_type == kind
        if start is not None and not continues:
            found.add((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = i, tag_type
    return found


@dataclass
class SpanCounts:
    """Weighted counts that span P/R/F1 and token accuracy derive from; they add up over examples."""
    correct: Dict[str, float] = field(default_factory=dict)  # type -> correctly predicted spans
    predicted: Dict[str, float] = field(default_factory=dict)
    gold: Dict[str, float] = field(default_factory=dict)
    tokens_correct: float = 0.0
    tokens: float = 0.0

    def add(self, true_tags: Sequence[str], pred_tags: Sequence[str], weight: float = 1.0) -> "SpanCounts":
        if len(true_tags) != len(pred_tags):
            raise ValueError(f"{len(true_tags)} true tags but {len(pred_tags)} predicted tags: one per token")
        gold, predicted = spans(true_tags), spans(pred_tags)
        for counts, found in ((self.gold, gold), (self.predicted, predicted), (self.correct, gold & predicted)):
            for kind, _, _ in found:
                counts[kind] = counts.get(kind, 0.0) + weight
        self.tokens_correct += weight * sum(t == p for t, p in zip(true_tags, pred_tags))
        self.tokens += weight * len(true_tags)
        return self

    def __iadd__(self, other: "SpanCounts") -> "SpanCounts":
        for mine, theirs in ((self.correct, other.correct), (self.predicted, other.predicted),
                             (self.gold, other.gold)):
            for kind, value in theirs.items():
                mine[kind] = mine.get(kind, 0.0) + value
        self.tokens_correct += other.tokens_correct
        self.tokens += other.tokens
        return self


def _prf(correct: float, predicted: float, gold: float) -> Dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def scores(counts: SpanCounts) -> Dict[str, object]:
    """Micro span precision/recall/f1, token_accuracy (NaN without tokens) and per_type {type: p/r/f1}
    for every type that occurs as a gold or a predicted span."""
    total = [sum(d.values()) for d in (counts.correct, counts.predicted, counts.gold)]
    found: Dict[str, object] = dict(_prf(*total))
    found["token_accuracy"] = counts.tokens_correct / counts.tokens if counts.tokens else math.nan
    kinds = sorted(set(counts.predicted) | set(counts.gold))
    found["per_type"] = {k: _prf(counts.correct.get(k, 0.0), counts.predicted.get(k, 0.0), counts.gold.get(k, 0.0))
                         for k in kinds}
    return found


def span_scores(true_tags: Iterable[Sequence[str]], pred_tags: Iterable[Sequence[str]]) -> Dict[str, object]:
    """`scores` over paired tag sequences (one pair per sentence)."""
    counts = SpanCounts()
    for true, pred in zip(true_tags, pred_tags, strict=True):
        counts.add(true, pred)
    return scores(counts)


def frame_accuracy(true_intents: Sequence[str], pred_intents: Sequence[str],
                   true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> float:
    """Share of sentences whose intent and every tag are right (the "sentence accuracy" of joint NLU papers)."""
    if not len(true_intents) == len(pred_intents) == len(true_tags) == len(pred_tags):
        raise ValueError(f"frame_accuracy: {len(true_intents)} true intents, {len(pred_intents)} predicted, "
                         f"{len(true_tags)} true and {len(pred_tags)} predicted tag sequences: lengths differ")
    if not true_intents:
        return math.nan
    right = sum(ti == pi and list(tt) == list(pt)
                for ti, pi, tt, pt in zip(true_intents, pred_intents, true_tags, pred_tags))
    return right / len(true_intents)


# ------------------------------------------------------------------------------------------- TFMA metric
SPAN_F1, SPAN_PRECISION, SPAN_RECALL, TOKEN_ACCURACY = "span_f1", "span_precision", "span_recall", "token_accuracy"
TYPE_SEPARATOR = "/"  # per-type F1 is emitted as "<prefix>span_f1/<type>"


def type_names(tags: Sequence[str]) -> List[str]:
    """The span types of a tag vocabulary, in first-seen order (tags checked)."""
    kinds: List[str] = []
    for tag in tags:
        _, kind = _split_tag(tag)
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
