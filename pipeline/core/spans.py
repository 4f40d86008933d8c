"""Span-level scores of BIO/IOB2 sequence tagging by CoNLL rules (conlleval, seqeval's default mode), in pure
Python: the Evaluator's TFMA metric (components/span_metrics.py), the run report and bench/atis.py count with it.

Precision, recall and F1 are micro averages over spans (and per type); a zero denominator gives 0.0 as conlleval
does. Token accuracy counts every token, ``O`` included (conlleval's "accuracy").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, Sequence

from pipeline.core.tags import spans


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
