"""Frame accuracy of joint intent + slot models: the share of utterances whose intent and every tag are right
(the "sentence accuracy" of joint NLU papers), as a TFMA metric over two outputs of the model.

The Evaluator adds it when the config has a sequence-tagging task and a multiclass task (components/evaluation.py):
one MetricsSpec without output names, so each example brings both outputs' labels, predictions and masks. An
utterance counts when it is labelled for both tasks; a tag counts where the label is not padding (-1). The value
is reported under the tagging task's output, as `frame_accuracy`.
"""
from __future__ import annotations

from typing import Iterable, List

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from pipeline.core import tags as tag_ids

FRAME_ACCURACY = "frame_accuracy"


class FrameAccuracy(tfma.metrics.Metric):
    """Options: `intent`, the multiclass output; `tags`, the sequence-tagging output (whose key it is emitted
    under)."""

    def __init__(self, name: str = FRAME_ACCURACY, intent: str = "", tags: str = ""):
        if not intent or not tags:
            raise ValueError(f"{name}: options 'intent' (a multiclass output) and 'tags' (a tagging output) are "
                             "both needed")
        super().__init__(_computations, name=name, intent=intent, tags=tags)


def _computations(name: str = FRAME_ACCURACY, intent: str = "", tags: str = "", eval_config=None,
                  model_names: List[str] = None, example_weighted: bool = False) -> metric_types.MetricComputations:
    model_name = (model_names or [""])[0]
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=tags,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                           combiner=_Combiner(key, intent, tags, eval_config, model_name))]


def frame_right(intent_label, intent_scores, tag_label, tag_scores) -> bool:
    """One utterance: the most likely class is the label and every non-padding token's most likely tag too."""
    tag_label = np.asarray(tag_label).reshape(-1)
    tag_scores = np.asarray(tag_scores).reshape(tag_label.shape[0], -1)
    keep = tag_label != tag_ids.PADDING
    tags_right = bool(np.all(np.argmax(tag_scores[keep], axis=-1) == tag_label[keep]))
    return tags_right and int(np.argmax(np.asarray(intent_scores).reshape(-1))) == int(
        np.asarray(intent_label).reshape(-1)[0])


class _Combiner(beam.CombineFn):
    """Accumulates [utterances right, utterances counted]."""

    def __init__(self, key, intent, tags, eval_config, model_name):
        self._key, self._intent, self._tags = key, intent, tags
        self._eval_config, self._model_name = eval_config, model_name

    def create_accumulator(self):
        return [0.0, 0.0]

    def _per_example(self, element, output):
        return metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=self._model_name, output_name=output,
            example_weighted=True, flatten=False, squeeze=False, allow_none=True)

    def add_input(self, accumulator, element):
        for (il, ip, iw), (tl, tp, tw) in zip(self._per_example(element, self._intent),
                                              self._per_example(element, self._tags)):
            if float(metric_util.safe_to_scalar(iw)) > 0 and float(metric_util.safe_to_scalar(tw)) > 0:
                accumulator[0] += frame_right(il, ip, tl, tp)
                accumulator[1] += 1.0
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list]):
        right, count = 0.0, 0.0
        for a in accumulators:
            right, count = right + a[0], count + a[1]
        return [right, count]

    def extract_output(self, accumulator):
        return {self._key: accumulator[0] / accumulator[1] if accumulator[1] else float("nan")}
