"""Names derived from a task or a column, owned here so that Transform, the trainer, the Evaluator and serving
spell them alike: transformed label / mask keys, vocabulary files, op- and file-safe names."""
from __future__ import annotations

import hashlib
import re


FAIRNESS_PREFIX = "fairness_indicators_metrics/"  # the Evaluator's fairness indicators: <prefix>false_positive_rate@0.5
FAIRNESS_RATES = {"false_positive_rate": "FPR", "false_negative_rate": "FNR",  # indicator -> its short title
                  "positive_rate": "positive rate"}
BULK_SIGNATURE = "bulk_inference"  # serving_default with per-row strings as [B, 1] columns, for the BulkInferrer


def label_key(task: str) -> str:
    """Transformed-feature key holding a task's target."""
    return f"{task}__target"


def mask_key(task: str) -> str:
    """Transformed-feature key holding 1.0 where the row has a label for the task, else 0.0."""
    return f"{task}__mask"


def missing_key(feature: str) -> str:
    """Transformed-feature key holding 1.0 where a numeric feature's cell was missing (filled), else 0.0."""
    return f"{feature}__missing"


def subword_key(feature: str) -> str:
    """Transformed-feature key holding a text feature's subword ids [max_tokens, MAX_SUBWORDS] (0 = padding)."""
    return f"{feature}__subwords"


def label_vocab_name(task: str) -> str:
    """TFT vocabulary file of a classification task's label values."""
    return f"label_{task}"


def feature_vocab_name(feature: str) -> str:
    """TFT vocabulary file of a categorical or text feature (a plain file name, whatever the column name)."""
    return f"feature_{safe_name(feature)}"


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def safe_name(column: str) -> str:
    """A name for TensorFlow ops, Keras layers and files derived from a column: the column itself when it is
    one already (letters, digits, `_.-`), else a slug of it plus a short hash, so that 'Annual income ($)'
    works and 'a b' and 'a_b' stay apart. It can never hold a path separator."""
    if _SAFE_NAME.fullmatch(column):
        return column
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_.-")[:40] or "column"
    return f"{slug}_{hashlib.sha1(column.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
