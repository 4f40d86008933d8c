"""Tag ids of sequence-tagging tasks (BIO/IOB2), one rule shared by Transform, the model, its export, the
Evaluator's span metrics and the serving client.

Transform learns the vocabulary of span *types* (the `date` of `B-date`), most frequent first, plus one type for
values it never saw in training (`UNKNOWN_TYPE`). Tag ids then follow from the type index t alone: `O` is 0,
`B-<t>` is 2t + 1, `I-<t>` is 2t + 2, so span boundaries and types are arithmetic on ids, and the Evaluator's
metric configuration needs no data-dependent tag list. Padding positions and tags that are not BIO hold
`PADDING` (-1): they never count in the loss or the metrics.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

OUTSIDE = "O"
PADDING = -1
UNKNOWN_TYPE = "<unknown>"  # a span type the training data never had (its tags are never predicted)


def num_tags(num_types: int) -> int:
    """Tags of a vocabulary of `num_types` learnt types: O, then B-/I- of each type and of UNKNOWN_TYPE."""
    return 1 + 2 * (num_types + 1)


def tag_names(types: Sequence[str]) -> List[str]:
    """Tag id -> tag string for the learnt type vocabulary (UNKNOWN_TYPE appended)."""
    names = [OUTSIDE]
    for kind in [*types, UNKNOWN_TYPE]:
        names += [f"B-{kind}", f"I-{kind}"]
    return names


def split(tag_id: int) -> Tuple[str, int]:
    """("O", -1), ("B", t) or ("I", t) of a tag id."""
    if tag_id == 0:
        return OUTSIDE, -1
    return ("B" if tag_id % 2 else "I"), (tag_id - 1) // 2


def generic_names(count: int) -> List[str]:
    """Tag strings for ids 0..count-1 with the types named by their index (what the Evaluator's metric uses:
    span equality needs only boundaries and type identity)."""
    names = []
    for i in range(count):
        prefix, kind = split(i)
        names.append(OUTSIDE if prefix == OUTSIDE else f"{prefix}-{kind}")
    return names


def entities(tags: Sequence[str], tokens: Sequence[str]) -> List[dict]:
    """Spans of one tagged sentence by CoNLL rules, as [{"type", "text", "start", "end"}] (token positions,
    `end` exclusive as in a Python slice; `text` the span's tokens joined by spaces)."""
    found, start, kind = [], None, ""
    padded = list(tags) + [OUTSIDE]
    for i, tag in enumerate(padded):
        prefix, tag_type = (tag[0], tag[2:]) if tag[:2] in ("B-", "I-") else (OUTSIDE, "")
        continues = prefix == "I" and start is not None and tag_type == kind
        if start is not None and not continues:
            found.append({"type": kind, "text": " ".join(tokens[start:i]), "start": start, "end": i})
            start = None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = i, tag_type
    return found
