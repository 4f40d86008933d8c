"""components/span_metrics.py: CoNLL span extraction on hand-made cases, P/R/F1 and token accuracy worked out by
hand, agreement with seqeval (conlleval's default rules) on random tag sequences when seqeval is installed, and
the TFMA metric SpanF1 in a real Beam pipeline over TFMA's standard metric inputs (TFMA's own test style),
configured the way the Evaluator configures it (MetricConfig with JSON options)."""
import json
import math
import random

import apache_beam as beam
import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from apache_beam.testing import util as beam_util
from tensorflow_model_analysis.metrics import metric_specs, metric_types, metric_util

from components import span_metrics as sm


@pytest.mark.parametrize("tags, expected", [
    (["O", "O"], set()),
    (["B-city", "I-city", "O", "B-date"], {("city", 0, 1), ("date", 3, 3)}),
    (["I-city", "I-city"], {("city", 0, 1)}),  # I- at the start opens a span
    (["O", "I-city", "B-city"], {("city", 1, 1), ("city", 2, 2)}),  # I- after O opens; B- always opens
    (["B-city", "I-date", "I-date"], {("city", 0, 0), ("date", 1, 2)}),  # I- of another type opens a new span
    (["B-city", "B-city", "I-city"], {("city", 0, 0), ("city", 1, 2)}),
    (["B-toloc.city_name", "I-toloc.city_name"], {("toloc.city_name", 0, 1)}),
])
def test_spans_follow_conlleval_chunk_rules(tags, expected):
    assert sm.spans(tags) == expected


def test_a_tag_that_is_not_bio_is_named():
    with pytest.raises(ValueError, match=r"tag 'E-city' is not O, B-<type> or I-<type>"):
        sm.spans(["O", "E-city"])
    with pytest.raises(ValueError, match=r"3 true tags but 2 predicted"):
        sm.SpanCounts().add(["O", "O", "O"], ["O", "O"])


def test_scores_by_hand():
    true = [["B-city", "I-city", "O", "B-date"], ["B-city", "O"]]
    pred = [["B-city", "O", "O", "B-date"], ["B-city", "B-date"]]
    # gold spans: city(0-1), date(3), city(0); predicted: city(0), date(3), city(0), date(1); correct: date(3), city(0)
    found = sm.span_scores(true, pred)
    assert found["precision"] == pytest.approx(2 / 4) and found["recall"] == pytest.approx(2 / 3)
    assert found["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert found["token_accuracy"] == pytest.approx(4 / 6)
    assert found["per_type"]["city"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert found["per_type"]["date"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3})
    assert sm.span_scores([["O"]], [["O"]])["f1"] == 0.0  # no spans at all: 0.0, as conlleval reports
    assert sm.span_scores([["B-city", "I-city"]], [["B-city", "I-city"]])["f1"] == 1.0


def test_frame_accuracy_needs_intent_and_every_tag():
    assert sm.frame_accuracy(["a", "b", "a"], ["a", "b", "b"], [["O"], ["B-x"], ["O"]],
                             [["O"], ["O"], ["O"]]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="lengths differ"):
        sm.frame_accuracy(["a"], ["a", "b"], [["O"]], [["O"]])


def _random_tags(rng, n):
    return [rng.choice(["O", "O", "B-a", "I-a", "B-b", "I-b", "B-c.d", "I-c.d"]) for _ in range(n)]


def test_agrees_with_seqeval_on_random_sequences():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = random.Random(20)
    true = [_random_tags(rng, rng.randint(1, 12)) for _ in range(300)]
    pred = [_random_tags(rng, len(t)) for t in true]
    found = sm.span_scores(true, pred)
    assert found["f1"] == pytest.approx(seqeval.f1_score(true, pred))
    assert found["precision"] == pytest.approx(seqeval.precision_score(true, pred))
    assert found["recall"] == pytest.approx(seqeval.recall_score(true, pred))
    assert found["token_accuracy"] == pytest.approx(seqeval.accuracy_score(true, pred))
    report = seqeval.classification_report(true, pred, output_dict=True)
    for kind, values in found["per_type"].items():
        assert values["f1"] == pytest.approx(report[kind]["f1-score"]), kind


# ------------------------------------------------------------------------------------------- TFMA metric
TAGS = ["O", "B-city", "I-city", "B-date"]


def _run(metric, examples, expect):
    """TFMA's metric test pattern: standard metric inputs through the metric's combiner in a Beam pipeline;
    `expect` asserts on {metric name: value} inside the pipeline (as TFMA's tests do)."""
    computations = metric.computations(example_weighted=True)
    assert len(computations) == 1
    with beam.Pipeline() as pipeline:
        result = (pipeline
                  | "Create" >> beam.Create(examples)
                  | "Process" >> beam.Map(metric_util.to_standard_metric_inputs)
                  | "AddSlice" >> beam.Map(lambda x: ((), x))
                  | "Compute" >> beam.CombinePerKey(computations[0].combiner))

        def check(found):
            try:
                assert len(found) == 1 and found[0][0] == ()
                expect({key.name: value for key, value in found[0][1].items()})
            except AssertionError as err:
                raise beam_util.BeamAssertException(err)

        beam_util.assert_that(result, check)


def _example(label, prediction, weight=1.0):
    return {"labels": np.array(label), "predictions": np.array(prediction, dtype=np.float32),
            "example_weights": np.array([weight], dtype=np.float32)}




def test_tfma_metric_from_ids_and_from_scores_in_a_beam_pipeline():
    # Example 1: gold city(0-1) date(3); predicted (by argmax of scores) city(0) date(3), padding at the end.
    one = _example([1, 2, 0, 3, -1], [[0.1, 0.8, 0.05, 0.05], [0.6, 0.1, 0.2, 0.1], [0.9, 0, 0.1, 0],
                                      [0, 0, 0, 1], [1, 0, 0, 0]])
    two = _example([1, 0], [1, 3])  # tag ids: gold city(0); predicted city(0) date(1)
    f1 = sm.span_scores([["B-city", "I-city", "O", "B-date"], ["B-city", "O"]],
                        [["B-city", "O", "O", "B-date"], ["B-city", "B-date"]])["f1"]

    def expect(got):
        assert got["span_precision"] == pytest.approx(2 / 4) and got["span_recall"] == pytest.approx(2 / 3)
        assert got["span_f1"] == pytest.approx(f1)
        assert got["token_accuracy"] == pytest.approx(4 / 6)  # the padded token is not counted
        assert got["span_f1/city"] == pytest.approx(0.5) and got["span_f1/date"] == pytest.approx(2 / 3)

    _run(sm.SpanF1(tags=TAGS), [one, two], expect)


def test_tfma_metric_weights_examples_and_leaves_absent_types_nan():
    right = _example([1, 2], [1, 2], weight=3.0)
    wrong = _example([1, 2], [0, 0], weight=1.0)

    def expect(got):
        assert got["slots_span_precision"] == pytest.approx(1.0) and got["slots_span_recall"] == pytest.approx(0.75)
        assert got["slots_token_accuracy"] == pytest.approx(0.75)
        assert math.isnan(got["slots_span_f1/date"])
        assert got["slots_span_f1/city"] == pytest.approx(2 * 0.75 / 1.75)

    _run(sm.SpanF1(tags=TAGS, prefix="slots_"), [right, wrong], expect)


def test_tfma_metric_is_configured_by_metric_config_json():
    config = tfma.MetricConfig(class_name="SpanF1", module=sm.__name__,
                               config=json.dumps({"tags": TAGS, "padding_id": 0, "prefix": "t_"}))
    metric = metric_specs.metric_instance(config)
    assert isinstance(metric, sm.SpanF1)
    keys = {k.name for c in metric.computations() for k in c.keys}
    assert keys == {"t_span_f1", "t_span_precision", "t_span_recall", "t_token_accuracy", "t_span_f1/city",
                    "t_span_f1/date"}
    assert metric_types.MetricKey(name="t_span_f1") in metric.computations()[0].keys


def test_tfma_metric_names_bad_inputs():
    with pytest.raises(ValueError, match="option 'tags'"):
        sm.SpanF1()
    with pytest.raises(ValueError, match=r"tag 'city' is not O"):
        sm.SpanF1(tags=["O", "city"])
    with pytest.raises(ValueError, match=r"label \[1, 7\]: tag ids must be integers in \[0, 4\)"):
        sm.example_tags([1, 7], [1, 1], TAGS)
    with pytest.raises(ValueError, match=r"scores \[2, 4\]"):
        sm.example_tags([1, 2], [[0.5, 0.5, 0.0]] * 2, TAGS)


@pytest.mark.parametrize("name", ["span_f1", "span_precision", "span_recall", "token_accuracy"])
def test_span_metric_needs_no_tag_list_with_the_pipelines_tag_ids(name):
    """SpanMetric reads ids by pipeline/core/tags.py's rule (O 0, B-t 2t+1, I-t 2t+2) and emits one metric under
    its own name (what TFMA attaches a config's thresholds to)."""
    # gold: city(0-1) day(3); predicted from scores: city(0) day(3); the -1 position is padding
    one = _example([1, 2, 0, 3, -1], [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 0],
                                      [0, 0, 0, 0, 1]])
    two = _example([1, 0], [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])  # gold city(0); predicted city(0) day(1)
    expected = sm.span_scores([["B-0", "I-0", "O", "B-1"], ["B-0", "O"]], [["B-0", "O", "O", "B-1"], ["B-0", "B-1"]])
    value = {"span_f1": expected["f1"], "span_precision": 2 / 4, "span_recall": 2 / 3, "token_accuracy": 4 / 6}[name]

    def expect(got):
        assert set(got) == {name} and got[name] == pytest.approx(value)

    _run(sm.SpanMetric(name=name), [one, two], expect)
    with pytest.raises(ValueError, match="SpanMetric: name 'f1' is none of span_f1"):
        sm.SpanMetric(name="f1")


def test_frame_accuracy_needs_the_intent_and_every_tag_right_and_both_labels():
    from components.frame_metric import FrameAccuracy

    def example(intent, intent_scores, tags, tag_ids, weights=(1.0, 1.0)):
        tag_scores = np.eye(5, dtype=np.float32)[[max(t, 0) for t in tag_ids]]
        return {"labels": {"intent": np.array([intent]), "slots": np.array(tags)},
                "predictions": {"intent": np.array(intent_scores, dtype=np.float32), "slots": tag_scores},
                "example_weights": {"intent": np.array([weights[0]], dtype=np.float32),
                                    "slots": np.array([weights[1]], dtype=np.float32)}}

    examples = [example(1, [0.1, 0.9], [1, 2, -1], [1, 2, 0]),  # right (the padded token is not compared)
                example(1, [0.9, 0.1], [1, 2, -1], [1, 2, 0]),  # intent wrong
                example(0, [0.9, 0.1], [1, 0, -1], [1, 3, 3]),  # a tag wrong
                example(0, [0.9, 0.1], [0, 0, -1], [0, 0, 0]),  # right
                example(0, [0.1, 0.9], [0, 0, -1], [0, 0, 0], weights=(0.0, 1.0))]  # no intent label: not counted

    def expect(got):
        assert got == {"frame_accuracy": pytest.approx(2 / 4)}

    _run(FrameAccuracy(intent="intent", tags="slots"), examples, expect)
    keys = FrameAccuracy(intent="intent", tags="slots").computations()[0].keys
    assert [k.output_name for k in keys] == ["slots"]
    with pytest.raises(ValueError, match="options 'intent'"):
        FrameAccuracy(tags="slots")
