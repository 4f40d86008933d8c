"""Config records of the predictions: a task (`tasks.X`), its blessing thresholds and the binary label rule.

What a task type allows (keys, metrics, their direction and range) comes from the task-kind table
(pipeline/core/kinds.py)."""
from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Dict, List, Literal, Optional, Tuple, Union

from pydantic import Field, field_validator, model_validator

from pipeline.core.config_base import _Strict
from pipeline.core.kinds import (LOWER_IS_BETTER, METRIC_RANGES, NO_DIRECTION, PER_CLASS_METRICS, TASK_METRICS,
                                  TASK_TYPES, kinds_with_key)

# Task keys that only the kinds listing them in TaskKind.keys read, and how an error message says so.
_KIND_KEYS = {"positive": "have a positive value", "negative": "have this key", "unknown_labels": "have this key",
              "separator": "have a separator", "classes": "have classes", "loss": "choose a loss",
              "huber_delta": "have this key", "quantile": "have this key", "tokens_of": "tag tokens",
              "crf": "have a CRF output", "product_of": "can be a product of other tasks"}


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


class TaskSpace(_Strict):
    """`tasks.X.where`: the rows a task is defined on (its task space, e.g. CVR on clicked impressions). A row
    outside it, or with an empty cell in `column`, is unlabelled for the task in training and evaluation."""

    column: str = Field(min_length=1, description="data column the condition reads (a feature, a label or any "
                        "other column of the data)")
    equals: Optional[Union[str, float]] = Field(None, description="the row's value equals this (text: after "
                                                "stripping surrounding whitespace; numbers: numerically)")
    in_: Optional[List[Union[str, float]]] = Field(None, alias="in", min_length=1,
                                                   description="the row's value is one of these")
    gt: Optional[float] = Field(None, description="numeric column: value > gt (also written `>`)")
    ge: Optional[float] = Field(None, description="numeric column: value >= ge (also `>=`)")
    lt: Optional[float] = Field(None, description="numeric column: value < lt (also `<`)")
    le: Optional[float] = Field(None, description="numeric column: value <= le (also `<=`)")

    model_config = {**_Strict.model_config, "populate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _operators(cls, data):
        """`>`, `>=`, `<`, `<=` as spelled in YAML keys are gt, ge, lt, le."""
        if isinstance(data, dict):
            data = {SPACE_OPERATORS.get(k, k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_condition(self):
        set_ = [k for k in ("equals", "in_", "gt", "ge", "lt", "le") if getattr(self, k) is not None]
        if not set_:
            raise ValueError("where: give one condition: equals, in, gt (>), ge (>=), lt (<) or le (<=)")
        if ("equals" in set_ or "in_" in set_) and len(set_) > 1:
            raise ValueError("where: equals / in cannot be combined with another condition")
        for key in ("equals", "in_"):
            values = getattr(self, key)
            for value in ([values] if key == "equals" else values or []):
                if isinstance(value, str) and value != value.strip():
                    raise ValueError(f"where.{key.rstrip('_')}: {value!r}: surrounding whitespace is ignored in "
                                     f"the data; write {value.strip()!r}")
        if self.bounds and self.bounds[0] > self.bounds[1]:
            raise ValueError(f"where: the range is empty ({self.describe()})")
        return self

    @property
    def values(self) -> Optional[List[Union[str, float]]]:
        """equals / in as a list (None for a numeric range)."""
        if self.equals is not None:
            return [self.equals]
        return list(self.in_) if self.in_ is not None else None

    @property
    def bounds(self) -> Optional[Tuple[float, float]]:
        """(low, high) of a numeric range, open ends at -inf / inf (None for equals / in)."""
        if self.values is not None:
            return None
        low = max([v for v in (self.gt, self.ge) if v is not None], default=-math.inf)
        high = min([v for v in (self.lt, self.le) if v is not None], default=math.inf)
        return low, high

    def describe(self) -> str:
        """The condition in words, e.g. `click = 1`, `device in (app, web)`, `price > 10 and <= 100`."""
        if self.equals is not None:
            return f"{self.column} = {space_text(self.equals)}"
        if self.in_ is not None:
            return f"{self.column} in (" + ", ".join(space_text(v) for v in self.in_) + ")"
        parts = [f"{op} {space_text(getattr(self, key))}" for key, op in (("gt", ">"), ("ge", ">="), ("lt", "<"),
                                                                      ("le", "<=")) if getattr(self, key) is not None]
        return f"{self.column} " + " and ".join(parts)


SPACE_OPERATORS = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}


def space_text(value) -> str:
    """A task-space value as the data spells it: numbers without a trailing .0 (1.0 -> "1")."""
    return f"{value:g}" if isinstance(value, float) else str(value)


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
                             "task's tower also reads (e.g. cvr after ctr); aitm: the one task before this one "
                             "in the funnel")
    where: Optional[TaskSpace] = Field(None, description="the task space: only rows meeting this condition are "
                                       "labelled for the task (e.g. CVR on clicked rows: {column: click, equals: "
                                       "1})")
    weight_column: Optional[str] = Field(None, min_length=1, description="numeric column of per-row sample "
                                         "weights: multiplies the row's loss and is its TFMA example weight "
                                         "(no negatives; not all zero); an empty cell weighs 0")
    product_of: Optional[List[str]] = Field(None, min_length=2, description="binary: this task's probability is "
                                            "the product of these binary tasks' probabilities (ESMM's pCTCVR = "
                                            "pCTR x pCVR); it has no tower or head of its own")
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
