"""Tag ids of sequence-tagging tasks (BIO/IOB2), one rule shared by Transform, the model, its export, the
Evaluator's span metrics and the serving client.

Transform learns the vocabulary of span *types* (the `date` of `B-date`), most frequent first, plus one type for
values it never saw in training (`UNKNOWN_TYPE`). Tag ids then follow from the type index t alone: `O` is 0,
`B-<t>` is 2t + 1, `I-<t>` is 2t + 2, so span boundaries and types are arithmetic on ids, and the Evaluator's
metric configuration needs no data-dependent tag list. Padding positions and tags that are not BIO hold
`PADDING` (-1): they never count in the loss or the metrics.
"""
from __future__ import annotations

from typing import List, Sequence, Set, Tuple

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


def is_bio(tag: str) -> bool:
    """O, B-<type> or I-<type> (IOB2), the only tags a label cell may hold."""
    return tag == OUTSIDE or (len(tag) > 2 and tag[:2] in ("B-", "I-"))


Span = Tuple[str, int, int]  # (type, first token, last token), inclusive


def split_tag(tag: str) -> Tuple[str, str]:
    """(prefix, type) of a BIO tag: ("O", ""), ("B", t) or ("I", t); ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if is_bio(tag):
        return tag[0], tag[2:]
    raise ValueError(f"tag {tag!r} is not O, B-<type> or I-<type> (BIO/IOB2)")


def spans(tags: Sequence[str]) -> Set[Span]:
    """The spans of one tag sequence, by conlleval's chunk rules for IOB2."""
    found: Set[Span] = set()
    start, kind = None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, tag_type = split_tag(tag)
        continues = prefix == "I" and start is not None and tag_type == kind
        if start is not None and not continues:
            found.add((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and not continues):
            start, kind = i, tag_type
    return found


def entities(tags: Sequence[str], tokens: Sequence[str]) -> List[dict]:
    """Spans of one tagged sentence by CoNLL rules (`spans`; a tag that is not BIO reads as O), as
    [{"type", "text", "start", "end"}] in order (token positions, `end` exclusive as in a Python slice; `text` the
    span's tokens joined by spaces)."""
    found = sorted(spans([tag if is_bio(tag) else OUTSIDE for tag in tags]), key=lambda span: span[1])
    return [{"type": kind, "text": " ".join(tokens[start:end + 1]), "start": start, "end": end + 1}
            for kind, start, end in found]
