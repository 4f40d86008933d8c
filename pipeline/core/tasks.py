"""Config records of the predictions: a task (`tasks.X`), its blessing thresholds and the binary label rule.

What a task type allows (keys, metrics, their direction and range) comes from the task-kind table
(pipeline/core/kinds.py)."""
from __future__ import annotations

import dataclasses
from typing import Annotated, Dict, List, Literal, Optional

from pydantic import Field, field_validator, model_validator

from pipeline.core.config_base import _Strict
from pipeline.core.kinds import (LOWER_IS_BETTER, METRIC_RANGES, NO_DIRECTION, PER_CLASS_METRICS, TASK_METRICS,
                                  TASK_TYPES, kinds_with_key)

# Task keys that only the kinds listing them in TaskKind.keys read, and how an error message says so.
_KIND_KEYS = {"positive": "have a positive value", "negative": "have this key", "unknown_labels": "have this key",
              "separator": "have a separator", "classes": "have classes", "loss": "choose a loss",
              "huber_delta": "have this key", "quantile": "have this key", "tokens_of": "tag tokens",
              "crf": "have a CRF output"}


class Threshold(_Strict):
    """Blessing bar for one metric: absolute bounds and allowed change against the last blessed model."""

    min: Optional[float] = Field(None, description="bless only if the metric is >= min")
    max: Optional[float] = Field(None, description="bless only if the metric is <= max")
    max_drop: Optional[float] = Field(None, ge=0, description="higher-is-better metrics: largest allowed drop "
                                      "against the latest blessed model")
    max_rise: Optional[float] = Field(None, ge=0, description="lower-is-better metrics (mae, rmse, mse): largest "
                                      "allowed rise against the latest blessed model")

    @model_validator(mode="after")
    def _not_empty(self):
        if all(v is None for v in (self.min, self.max, self.max_drop, self.max_rise)):
            raise ValueError("a threshold needs at least one of min, max, max_drop, max_rise")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


DEFAULT_REGRESSION_LOSS = "huber"  # robust to heavy-tailed targets (docs/tabular.md: measured against mse and mae)


class Task(_Strict):
    """One prediction: the label column it learns from, its type, loss weight and blessing thresholds."""

    type: Literal[TASK_TYPES] = Field(description="what the task predicts; decides the label transform, head, "
                                      "loss and metrics")
    label: str = Field(min_length=1, description="column holding the label; an empty cell means the row has no "
                       "label for this task")
    positive: Optional[str] = Field(None, min_length=1, description="binary: the label value that means 1 "
                                    "(matched after stripping surrounding whitespace; letter case counts)")
    negative: Optional[List[Annotated[str, Field(min_length=1)]]] = Field(
        None, min_length=1, description="binary, with `positive`: the label value (or list of values) that means "
        "0; default: the one other value of the training data")
    unknown_labels: Optional[Literal["error", "unlabelled"]] = Field(
        None, description="binary: a label value that is neither positive nor negative stops the run (`error`, "
        "the default) or leaves the row without a label for this task (`unlabelled`); never a negative")
    separator: Optional[str] = Field(None, min_length=1, description="multilabel: separator inside a cell")
    classes: Optional[List[Annotated[str, Field(min_length=1)]]] = Field(
        None, min_length=1, description="multiclass/multilabel: the label values, in order; enables per-class "
                                        "metrics; other values in the data count as unlabelled")
    loss: Optional[Literal["mse", "mae", "huber", "quantile"]] = Field(
        None, description="regression: the training loss on the standardized label (default huber, measured in "
        "docs/tabular.md): mse, mae, huber "
        "(squared within huber_delta standard deviations, linear beyond: robust to heavy tails) or quantile "
        "(pinball loss of the `quantile`)")
    huber_delta: Optional[float] = Field(None, gt=0, description="loss huber: where the loss turns linear, in "
                                         "label standard deviations (default 1.0)")
    quantile: Optional[float] = Field(None, gt=0, lt=1, description="loss quantile: the quantile predicted "
                                      "(default 0.5: the median)")
    tokens_of: Optional[str] = Field(None, min_length=1, description="sequence_tagging: the text feature whose "
                                     "tokens the label tags (one space-separated BIO tag per token, tokenized "
                                     "by the feature's rule)")
    crf: Optional[bool] = Field(None, description="sequence_tagging: a linear-chain CRF output (learnt tag "
                                "transitions, Viterbi decoding) instead of a softmax per token (default false)")
    weight: float = Field(1.0, gt=0, description="loss weight (the prior every loss weighting starts from)")
    learning_rate: Optional[float] = Field(None, gt=0, description="learning rate of this task's own layers "
                                           "(tower, head, gates); default: training.learning_rate")
    after: List[str] = Field(default_factory=list, description="hierarchical: tasks whose tower output this "
                             "task's tower also reads (e.g. cvr after ctr)")
    thresholds: Dict[str, Threshold] = Field(default_factory=dict, description="metric name -> bar the model "
                                             "must clear to be pushed; the metric names depend on the type")

    @field_validator("negative", mode="before")
    @classmethod
    def _one_or_more(cls, v):
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _fits_type(self):
        problems = []
        for key in _KIND_KEYS:  # keys that only some kinds read (pipeline/core/kinds.py)
            users = kinds_with_key(key)
            if getattr(self, key) is not None and self.type not in users:
                problems.append(f"{key}: only {' and '.join(users)} tasks {_KIND_KEYS[key]} (this task is "
                                f"{self.type})")
        for key, value in [("positive", self.positive or ""), *(("negative", v) for v in self.negative or [])]:
            if value != value.strip():
                problems.append(f"{key}: {value!r}: surrounding whitespace is ignored in the data; write "
                                f"{value.strip()!r}")
        if self.negative is not None and self.type == "binary":
            if self.positive is None:
                problems.append("negative: needs `positive` (the value that means 1)")
            elif self.positive in self.negative:
                problems.append(f"negative: {self.positive!r} is the positive value")
        for key, loss in (("huber_delta", "huber"), ("quantile", "quantile")):
            if getattr(self, key) is not None and self.type in kinds_with_key(key) and self.regression_loss != loss:
                problems.append(f"{key}: only `loss: {loss}` reads it (loss is {self.regression_loss})")
        if self.classes is not None and self.type in kinds_with_key("classes"):
            if len(set(self.classes)) != len(self.classes):
                problems.append("classes: values must be unique")
            elif self.type == "multiclass" and len(self.classes) < 2:
                problems.append("classes: a multiclass task needs at least 2 classes")
        if self.type == "sequence_tagging" and self.tokens_of is None:
            problems.append("tokens_of: a sequence_tagging task names the text feature its label tags")
        allowed = TASK_METRICS[self.type]
        for metric, bar in self.thresholds.items():
            if metric not in allowed:
                problems.append(f"thresholds.{metric}: '{metric}' is not a {self.type} metric; expected one of "
                                + ", ".join(allowed))
            elif metric in PER_CLASS_METRICS and self.classes is None:
                problems.append(f"thresholds.{metric}: per-class metrics need the task's `classes` list")
            elif bar.max_drop is not None and metric in LOWER_IS_BETTER + NO_DIRECTION:
                problems.append(f"thresholds.{metric}.max_drop: {metric} is not higher-is-better; "
                                + ("use max_rise" if metric in LOWER_IS_BETTER else "use min/max"))
            elif bar.max_rise is not None and metric not in LOWER_IS_BETTER:
                problems.append(f"thresholds.{metric}.max_rise: {metric} is not lower-is-better; "
                                + ("use max_drop" if metric not in NO_DIRECTION else "use min/max"))
            else:
                problems += _range_problems(metric, bar)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def regression_loss(self) -> str:
        """The loss a regression task trains with: `loss`, else DEFAULT_REGRESSION_LOSS."""
        return self.loss or DEFAULT_REGRESSION_LOSS

    @property
    def label_separator(self) -> str:
        return self.separator or "|"

    def binary_roles(self, values, negative: Optional[List[str]] = None) -> "BinaryRoles":
        """Sort a binary label column's distinct values (as the data spells them) into positive, negative and
        unknown, by the rule Transform applies: stripped of surrounding whitespace, matched exactly against
        `positive` / `negative` (`negative`: this task's, else the given one, learned from the training data);
        without `positive`, TRUE_STRINGS / FALSE_STRINGS in any letter case. Without any negative value,
        everything that is not positive is `other` (the training data's negative, if it is one value)."""
        negatives = self.negative or negative
        roles = BinaryRoles()
        for value in values:
            text = value.strip()
            if self.positive is None:
                lowered = text.lower()
                role = "positive" if lowered in TRUE_STRINGS else "negative" if lowered in FALSE_STRINGS else \
                    "unknown"
            elif text == self.positive:
                role = "positive"
            elif negatives is None:
                role = "other"
            else:
                role = "negative" if text in negatives else "unknown"
            getattr(roles, role).append(value)
        return roles


TRUE_STRINGS = ("1", "true", "yes", "y", "t")  # binary label text without `positive`: positive ...
FALSE_STRINGS = ("0", "false", "no", "n", "f")  # ... and negative, in any letter case


@dataclasses.dataclass
class BinaryRoles:
    positive: List[str] = dataclasses.field(default_factory=list)
    negative: List[str] = dataclasses.field(default_factory=list)
    other: List[str] = dataclasses.field(default_factory=list)  # not positive, while the negative is unknown
    unknown: List[str] = dataclasses.field(default_factory=list)  # neither positive nor negative


def _range_problems(metric: str, bar: Threshold) -> List[str]:
    """Bounds outside the values the metric can take (METRIC_RANGES): AUC >= 1.01 would block every model,
    mae <= -1 too; AUC >= -1 or a drop larger than the whole range can never fail (a typo, most likely)."""
    low, high, low_included = METRIC_RANGES[metric]
    shown = f"{'[' if low_included else '('}{low:g}, {high:g}]".replace("inf]", "inf)")
    problems = []
    for key in ("min", "max"):
        value = getattr(bar, key)
        if value is None or (low < value <= high) or (value == low and low_included):
            continue
        above = value > high
        never_passes = above if key == "min" else not above
        problems.append(f"thresholds.{metric}.{key}: {value:g} is outside the values {metric} can take ({shown}): "
                        + ("no model could ever pass it" if never_passes else "it can never fail; leave it out "
                           "or use a value inside the range"))
    if bar.max_drop is not None and bar.max_drop > high - low:
        problems.append(f"thresholds.{metric}.max_drop: {bar.max_drop:g} is larger than {metric}'s whole range "
                        f"({shown}): it can never fail")
    return problems
