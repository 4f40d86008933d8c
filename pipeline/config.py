"""The YAML config contract: typed models, loading, validation and derived names.

One config describes the data, the model inputs (features) and the predictions (tasks). Everything downstream
(Transform, trainer, Evaluator, serving) reads it through these models, and this module is the single owner of
the names derived from a task: the transformed label and mask keys, the Keras output and the serving outputs.
Loading never imports TensorFlow.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import math
import os
import re
from pathlib import Path
from typing import Annotated, ClassVar, Dict, List, Literal, Optional, Tuple, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline import csvdata
from pipeline.core.rundir import RunDir

TASK_TYPES = ("binary", "multiclass", "multilabel", "regression")
FEATURE_TYPES = ("numeric", "categorical", "text")
ARCHITECTURES = ("shared_bottom", "mmoe", "ple", "cgc", "cross_stitch", "hierarchical")
LOSS_WEIGHTINGS = ("fixed", "uncertainty", "gradnorm", "dwa")
GRADIENT_SURGERIES = ("pcgrad",)
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
# Options that only some architectures / weightings read (setting one for another is an error), with the
# default each takes when left out.
ARCHITECTURE_OPTIONS = {"experts": ("mmoe",), "expert_units": ("mmoe", "ple", "cgc"),
                        "shared_experts": ("ple", "cgc"), "task_experts": ("ple", "cgc"), "levels": ("ple",)}
WEIGHTING_OPTIONS = {"gradnorm_alpha": ("gradnorm",), "dwa_temperature": ("dwa",)}
OPTION_DEFAULTS = {"experts": 8, "shared_experts": 2, "task_experts": 1, "levels": 2, "gradnorm_alpha": 1.5,
                   "dwa_temperature": 2.0}

# Metrics a task of each type is evaluated on (TFMA); threshold keys must come from the task type's row.
TASK_METRICS: Dict[str, Tuple[str, ...]] = {
    "binary": ("auc", "auc_pr", "accuracy", "precision", "recall", "calibration"),
    "multiclass": ("accuracy", "top_k_accuracy", "macro_auc", "macro_f1"),
    "multilabel": ("micro_auc", "macro_auc"),
    "regression": ("mae", "rmse", "mse"),
}
LOWER_IS_BETTER = ("mae", "rmse", "mse")
# The values each metric can take, (low, high, low_included): a bound outside them can never pass or never fail.
_UNIT = (0.0, 1.0, True)
METRIC_RANGES: Dict[str, Tuple[float, float, bool]] = {
    **{m: _UNIT for m in ("auc", "auc_pr", "accuracy", "precision", "recall", "top_k_accuracy", "macro_auc",
                          "macro_f1", "micro_auc")},
    **{m: (0.0, math.inf, True) for m in LOWER_IS_BETTER},
    "calibration": (0.0, math.inf, False),  # mean prediction / mean label: positive, best at 1.0
}
NO_DIRECTION = ("calibration",)  # best at 1.0: value bounds only
PER_CLASS_METRICS = ("macro_auc", "macro_f1")  # need the task's declared `classes`

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class ConfigError(ValueError):
    """A config (or the data it points at) does not satisfy the contract; the message names the path."""

    def __init__(self, problems: Union[str, List[str]], source: Optional[str] = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        head = f"invalid config {source}" if source else "invalid config"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _WithOptions(_Strict):
    """A record whose `selector` field (architecture, loss_weighting) decides which of `options` it may set;
    `setting(name)` gives an option's value, or its documented default when left out (left-out options stay
    None, so a dumped and re-parsed record is still valid)."""

    selector: ClassVar[str]
    options: ClassVar[Dict[str, Tuple[str, ...]]]

    @model_validator(mode="after")
    def _options_fit_selector(self):
        chosen = getattr(self, self.selector)
        problems = [f"{option}: only {', '.join(users)} use{'s' if len(users) == 1 else ''} this option "
                    f"({self.selector} is {chosen})"
                    for option, users in self.options.items() if getattr(self, option) is not None
                    and chosen not in users]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def setting(self, name: str):
        value = getattr(self, name)
        return OPTION_DEFAULTS[name] if value is None else value


# ---------------------------------------------------------------------------------------------- features
class NumericFeature(_Strict):
    """Float input, z-scored after the optional log1p, clip and fill steps."""

    type: Literal["numeric"] = Field(description="selects the numeric transform (z-score)")
    log: bool = Field(False, description="take log1p of the value (negative values count as 0) before clipping "
                      "and z-scoring")
    clip: Optional[Tuple[float, float]] = Field(None, description="[low, high]: clip the (logged) value to this "
                                                "range before z-scoring")
    fill: Optional[float] = Field(None, description="value for missing cells; default: the column mean")

    @field_validator("clip")
    @classmethod
    def _ordered(cls, v):
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"must be [low, high] with low < high, got {list(v)}")
        return v


class CategoricalFeature(_Strict):
    """String or integer category, mapped to a vocabulary id (most frequent first) plus OOV buckets."""

    type: Literal["categorical"] = Field(description="selects the vocabulary transform (id + embedding)")
    vocab_size: Optional[int] = Field(None, gt=0, description="keep the most frequent values only")
    oov_buckets: int = Field(1, ge=1, description="hash buckets for values outside the vocabulary (unseen, or "
                             "cut by vocab_size)")


class TextFeature(_Strict):
    """Free text: lower-cased, split into word tokens, mapped to vocabulary ids, padded to max_tokens."""

    type: Literal["text"] = Field(description="selects the text transform (word tokens -> ids, mean-pooled "
                                  "embeddings)")
    max_tokens: int = Field(32, gt=0, le=4096, description="tokens kept per cell (the rest is cut); shorter "
                            "texts are padded")
    vocab_size: int = Field(20000, gt=0, description="most frequent tokens kept in the vocabulary")
    oov_buckets: int = Field(1, ge=1, description="hash buckets for tokens outside the vocabulary")


Feature = Annotated[Union[NumericFeature, CategoricalFeature, TextFeature], Field(discriminator="type")]


# ------------------------------------------------------------------------------------------------- tasks
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
        if self.positive is not None and self.type != "binary":
            problems.append(f"positive: only binary tasks have a positive value (this task is {self.type})")
        for key in ("negative", "unknown_labels"):
            if getattr(self, key) is not None and self.type != "binary":
                problems.append(f"{key}: only binary tasks have this key (this task is {self.type})")
        for key, value in [("positive", self.positive or ""), *(("negative", v) for v in self.negative or [])]:
            if value != value.strip():
                problems.append(f"{key}: {value!r}: surrounding whitespace is ignored in the data; write "
                                f"{value.strip()!r}")
        if self.negative is not None and self.type == "binary":
            if self.positive is None:
                problems.append("negative: needs `positive` (the value that means 1)")
            elif self.positive in self.negative:
                problems.append(f"negative: {self.positive!r} is the positive value")
        if self.separator is not None and self.type != "multilabel":
            problems.append(f"separator: only multilabel tasks have a separator (this task is {self.type})")
        if self.classes is not None:
            if self.type not in ("multiclass", "multilabel"):
                problems.append(f"classes: only multiclass and multilabel tasks have classes (this task is "
                                f"{self.type})")
            elif len(set(self.classes)) != len(self.classes):
                problems.append("classes: values must be unique")
            elif self.type == "multiclass" and len(self.classes) < 2:
                problems.append("classes: a multiclass task needs at least 2 classes")
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


# ------------------------------------------------------------------------------------------ other parts
class Data(_Strict):
    train: str = Field(min_length=1, description="CSV with header (file or glob), or .tfrecord(.gz) files")
    eval: Optional[str] = Field(None, min_length=1, description="optional; else a hash split of train")
    eval_fraction: float = Field(0.2, gt=0, lt=1, description="share of the train rows hash-split off for "
                                 "evaluation when eval is absent (in hundredths)")
    na_values: List[str] = Field(
        default_factory=lambda: list(csvdata.DEFAULT_NA_VALUES),
        description="CSV: cell texts that mean 'missing' in every column, as an empty or blank cell does; matched "
        "exactly after stripping surrounding whitespace (letter case counts); [] = only empty cells")

    @field_validator("na_values")
    @classmethod
    def _spellings(cls, v):
        odd = [x for x in v if not x or x != x.strip()]
        if odd:
            raise ValueError(f"{odd[0]!r}: spellings are matched after stripping surrounding whitespace; give "
                             "them without it (an empty cell is always missing)")
        return v

    @model_validator(mode="after")
    def _same_format(self):
        if self.eval is not None and data_format(self.train) != data_format(self.eval):
            raise ValueError(f"train ({data_format(self.train)}) and eval ({data_format(self.eval)}) "
                             "must have the same format")
        return self


class Model(_WithOptions):
    selector: ClassVar[str] = "architecture"
    options: ClassVar[Dict[str, Tuple[str, ...]]] = ARCHITECTURE_OPTIONS

    architecture: Literal[ARCHITECTURES] = Field("shared_bottom", description="how the tasks share layers "
                                                 "(README, Multi-task methods)")
    shared_units: List[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [256, 128],
        description="shared MLP (shared_bottom, hierarchical) or each task's column (cross_stitch)")
    tower_units: List[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [64],
                                                           description="each task's own MLP before its head")
    embedding_dim: Optional[int] = Field(None, gt=0, description="default: 6 * vocabulary_size ** 0.25")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout rate after every hidden Dense layer; 0 = off")
    experts: Optional[int] = Field(None, gt=0, description="mmoe: number of shared experts (default 8)")
    expert_units: Optional[List[Annotated[int, Field(gt=0)]]] = Field(
        None, min_length=1, description="mmoe/ple/cgc: each expert's MLP; default: shared_units")
    shared_experts: Optional[int] = Field(None, gt=0, description="ple/cgc: shared experts per level (default 2)")
    task_experts: Optional[int] = Field(None, gt=0, description="ple/cgc: experts of each task per level "
                                        "(default 1)")
    levels: Optional[int] = Field(None, gt=0, description="ple: stacked extraction levels (default 2; cgc is "
                                  "one level)")

    @property
    def expert_layers(self) -> List[int]:
        return list(self.expert_units or self.shared_units)


class Training(_WithOptions):
    selector: ClassVar[str] = "loss_weighting"
    options: ClassVar[Dict[str, Tuple[str, ...]]] = WEIGHTING_OPTIONS

    epochs: int = Field(5, gt=0, description="maximum training epochs (early stopping may end sooner)")
    batch_size: int = Field(512, gt=0, description="global batch size (split across replicas under a "
                            "distribution strategy)")
    learning_rate: float = Field(0.001, gt=0, description="Adam learning rate (tasks with their own "
                                 "learning_rate use it for their own layers)")
    loss_weighting: Literal[LOSS_WEIGHTINGS] = Field("fixed", description="how the task losses are combined "
                                                     "(README, Multi-task methods)")
    gradnorm_alpha: Optional[float] = Field(None, ge=0, description="gradnorm: restoring-force strength "
                                            "(default 1.5)")
    dwa_temperature: Optional[float] = Field(None, gt=0, description="dwa: softmax temperature (default 2)")
    gradient_surgery: Optional[Literal[GRADIENT_SURGERIES]] = Field(
        None, description="pcgrad: project away conflicting task gradients on shared layers")
    clipnorm: Optional[float] = Field(None, gt=0, description="clip the global norm of the gradients to this "
                                      "value")
    early_stopping_patience: int = Field(2, ge=0, description="epochs without eval-loss gain; 0 = off")
    seed: int = Field(42, description="seed of weight initialization and training-data shuffling")
    distribution: Literal[DISTRIBUTIONS] = Field(
        "none", description="tf.distribute strategy: mirrored (all local GPUs, else the CPU), multi_worker "
        "(MultiWorkerMirroredStrategy: workers from TF_CONFIG), none")


class Evaluation(_Strict):
    slices: List[List[str]] = Field(default_factory=list, description="column lists to slice the metrics by, "
                                    "e.g. [[sex], [race]] (reported; thresholds apply to the overall slice only)")


class DistributionBounds(_Strict):
    """Largest allowed distance between two distributions of a column (TFDV comparators)."""

    categorical: Optional[float] = Field(None, gt=0, le=1, description="bound for text-valued columns: "
                                         "L-infinity distance between value frequencies (0..1)")
    numeric: Optional[float] = Field(None, gt=0, le=1, description="bound for number-valued columns: "
                                     "Jensen-Shannon divergence between histograms (0..1)")
    columns: Dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict, description="bounds of single columns, overriding the two above")

    @model_validator(mode="after")
    def _not_empty(self):
        if self.categorical is None and self.numeric is None and not self.columns:
            raise ValueError("set at least one of categorical, numeric, columns")
        return self

    def bound(self, column: str, number_valued: bool) -> Optional[float]:
        return self.columns.get(column, self.numeric if number_valued else self.categorical)


class Validation(_Strict):
    """Distribution checks of the DriftGate (after the schema checks); each is off until it has bounds."""

    drift: Optional[DistributionBounds] = Field(
        None, description="this run's training data against the training data of the last run that passed")
    skew: Optional[DistributionBounds] = Field(
        None, description="the eval split against the training split (the eval split stands in for "
                          "serving traffic: point data.eval at logged requests to check real traffic)")


class Orchestration(_Strict):
    """Where a compiled pipeline runs (`mtl compile --target kubeflow|airflow`); flags override these."""

    image: Optional[str] = Field(None, min_length=1, description="kubeflow: the component container image "
                                 "(built from the project's Dockerfile)")
    pipeline_root: Optional[str] = Field(None, min_length=1, description="artifact root every step can reach "
                                         "(gs://..., s3://..., or a shared volume); default: <output>/tfx")
    schedule: Optional[str] = Field(None, min_length=1, description="airflow: cron expression or preset "
                                    "(@daily); default: run when triggered")


class Config(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$",
                      description="pipeline name and served model name")
    data: Data = Field(description="training and evaluation input")
    schema_path: Optional[str] = Field(None, alias="schema",
                                       description="curated schema.pbtxt; inferred by SchemaGen when absent")
    features: Dict[str, Feature] = Field(min_length=1, description="column name -> feature; only these columns "
                                         "are model inputs")
    tasks: Dict[str, Task] = Field(min_length=1, description="task name (matching `^[a-z][a-z0-9_]{0,63}$`) -> "
                                   "task; the name also names the model's outputs")
    model: Model = Field(default_factory=Model, description="the network: architecture, layer sizes, embeddings")
    training: Training = Field(default_factory=Training, description="optimizer, epochs, loss weighting")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="how the Evaluator slices metrics")
    validation: Validation = Field(default_factory=Validation, description="distribution checks: drift "
                                   "between runs, skew between training and eval data")
    output: Optional[str] = Field(None, description="run directory; default runs/<name>")
    beam_args: Optional[List[str]] = Field(
        None, description="Beam pipeline options of the data components and the Evaluator; default: the "
        "DirectRunner in-memory (flat memory at any input size; README, Scaling)")
    orchestration: Orchestration = Field(default_factory=Orchestration, description="settings of `mtl "
                                         "compile` (Kubeflow, Airflow)")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _cross_checks(self):
        problems = []
        for task_name in self.tasks:
            if not re.match(NAME_PATTERN, task_name):
                problems.append(f"tasks.{task_name}: task names must match {NAME_PATTERN} "
                                "(they name Keras outputs and serving outputs)")
        labels = {t.label: n for n, t in self.tasks.items()}
        for feature in self.features:
            if feature in labels:
                problems.append(f"features.{feature}: column '{feature}' is the label of task "
                                f"'{labels[feature]}' and cannot also be a feature")
            reserved = {key for n in self.tasks for key in (label_key(n), mask_key(n))}
            if feature in reserved:
                problems.append(f"features.{feature}: name clashes with a derived task key")
        problems += self._hierarchy_problems()
        for check_name in ("drift", "skew"):
            bounds = getattr(self.validation, check_name)
            for column in (bounds.columns if bounds else {}):
                if column not in self.columns:
                    problems.append(f"validation.{check_name}.columns.{column}: not a configured column; "
                                    "expected one of " + ", ".join(self.columns))
        for i, slice_columns in enumerate(self.evaluation.slices):
            if not slice_columns:
                problems.append(f"evaluation.slices.{i}: a slice needs at least one column")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _hierarchy_problems(self) -> List[str]:
        hierarchical = self.model.architecture == "hierarchical"
        problems = []
        for name, task in self.tasks.items():
            if task.after and not hierarchical:
                problems.append(f"tasks.{name}.after: only the hierarchical architecture reads `after` "
                                f"(architecture is {self.model.architecture})")
            for parent in task.after:
                if parent == name:
                    problems.append(f"tasks.{name}.after: a task cannot come after itself")
                elif parent not in self.tasks:
                    problems.append(f"tasks.{name}.after: unknown task '{parent}'; expected one of "
                                    + ", ".join(n for n in self.tasks if n != name))
        if hierarchical and not problems:
            if not any(t.after for t in self.tasks.values()):
                problems.append("model.architecture: hierarchical needs at least one task with `after` "
                                "(e.g. tasks.cvr.after: [ctr])")
            elif self.task_order is None:
                problems.append("tasks: `after` forms a cycle (" + " -> ".join(self._cycle()) + ")")
        return problems

    @property
    def task_order(self) -> Optional[List[str]]:
        """Task names with every task after the tasks it reads (None when `after` has a cycle)."""
        order, left = dependency_order(self.tasks)
        return None if left else order

    def _cycle(self) -> List[str]:
        left = dependency_order(self.tasks)[1]  # every left-over task reads another left-over task
        path, node = [], left[0]
        while node not in path:
            path.append(node)
            node = next(p for p in self.tasks[node].after if p in left)
        return path[path.index(node):] + [node]

    # --------------------------------------------------------------------------------- derived values
    @property
    def output_dir(self) -> str:
        return self.output or os.path.join("runs", self.name)

    @property
    def columns(self) -> List[str]:
        """Every data column the pipeline reads: features, task labels, slice columns (in order, once)."""
        slices = [c for columns in self.evaluation.slices for c in columns]
        return list(dict.fromkeys([*self.features, *(t.label for t in self.tasks.values()), *slices]))


def dependency_order(tasks: Dict[str, Task]) -> Tuple[List[str], List[str]]:
    """(task names ordered so that each comes after the tasks in its `after` list, names left over by a cycle)."""
    order, placed = [], set()
    while True:
        ready = [n for n, t in tasks.items() if n not in placed and set(t.after) <= placed]
        if not ready:
            return order, [n for n in tasks if n not in placed]
        order += ready
        placed.update(ready)


class DataContract(_Strict):
    """The part of a config that data validation and Transform depend on, and nothing more, so that a change
    to training or evaluation settings never invalidates their cached outputs."""

    features: Dict[str, Feature]
    tasks: Dict[str, Task]
    na_values: List[str] = Field(default_factory=list)
    code_version: str = ""

    @property
    def columns(self) -> List[str]:
        return list(dict.fromkeys([*self.features, *(t.label for t in self.tasks.values())]))


def data_contract(config: Config, code_version: str = "") -> dict:
    """JSON-ready DataContract of a config (passed to DataGate and Transform as custom config)."""
    label_part = {"type", "label", "positive", "negative", "unknown_labels", "separator", "classes"}
    return {
        "features": {n: f.model_dump(mode="json") for n, f in config.features.items()},
        "tasks": {n: t.model_dump(mode="json", include=label_part, exclude_none=True)
                  for n, t in config.tasks.items()},
        "na_values": list(config.data.na_values),
        "code_version": code_version,
    }


# --------------------------------------------------------------------------------------- derived names
def label_key(task: str) -> str:
    """Transformed-feature key holding a task's target."""
    return f"{task}__target"


def mask_key(task: str) -> str:
    """Transformed-feature key holding 1.0 where the row has a label for the task, else 0.0."""
    return f"{task}__mask"


def serving_dir(config: Config, output: str) -> str:
    """TF Serving base path of the model: the Pusher writes versions below it as <base>/<version>/."""
    return RunDir(output).serving_for(config.name)


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


def is_uri(path: str) -> bool:
    """A remote path (gs://bucket/..., s3://..., hdfs://...): read by the components, never checked locally."""
    return re.match(r"^[a-z][a-z0-9+.-]*://", path) is not None


def data_format(path: str) -> str:
    return "tfrecord" if re.search(r"\.tfrecords?(\.gz)?$", path) else "csv"


# ------------------------------------------------------------------------------------------- loading
def _format_error(err: dict) -> List[str]:
    loc = [str(p) for p in err["loc"]]
    if len(loc) > 2 and loc[0] == "features" and loc[2] in FEATURE_TYPES:
        del loc[2]  # the discriminator tag pydantic inserts into a union member's path
    path = ".".join("schema" if p == "schema_path" else p for p in loc)
    kind, value = err["type"], err.get("input")
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return [f"{path}: {value!r} is not one of {expected}"]
    if kind == "union_tag_invalid":
        return [f"{path}.type: {err['ctx']['tag']!r} is not one of {', '.join(FEATURE_TYPES)}"]
    if kind == "union_tag_not_found":
        return [f"{path}.type: required key is missing; expected one of {', '.join(FEATURE_TYPES)}"]
    if kind == "extra_forbidden":
        return [f"{path}: unknown key (check the spelling)"]
    if kind == "missing":
        return [f"{path}: required key is missing"]
    if kind == "value_error":
        # Model validators report "relative.path: problem" lines; anchor them at the model's path.
        lines = err["msg"].removeprefix("Value error, ").split("\n")
        return [_join(path, line) for line in lines]
    if kind == "string_pattern_mismatch":
        return [f"{path}: {value!r} does not match {err['ctx']['pattern']}"]
    message = err["msg"].replace("Input should be", "must be")
    return [_join(path, f"{message}, got {value!r}" if kind.startswith(("greater", "less")) else message)]


def _join(path: str, message: str) -> str:
    match = re.match(r"^([\w.-]+): (.*)$", message, re.S)
    if match:
        path, message = ".".join(p for p in (path, match.group(1)) if p), match.group(2)
    return f"{path}: {message}" if path else message


def parse_config(raw: object, source: Optional[str] = None) -> Config:
    """Validate an already-parsed YAML document; raises ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be a mapping, got {type(raw).__name__}", source)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([line for e in exc.errors() for line in _format_error(e)], source) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key that appears twice in one mapping (YAML would keep the last silently).

    Merge keys (`<<: *defaults`, `<<: [*a, *b]`) work as YAML 1.1 defines them: the mapping's own keys override
    the merged ones, and earlier merged mappings override later ones. Only a key written twice in one mapping is
    a duplicate (`<<` included); a key that a merge brings in again is the override merging is for."""

    def __init__(self, stream):
        super().__init__(stream)
        self._checked = set()

    def flatten_mapping(self, node):
        # Every mapping passes here before its entries are merged anywhere (merge sources are flattened first),
        # so the first visit sees it as written.
        if node not in self._checked:
            self._checked.add(node)
            seen = {}
            for key_node, _ in node.value:
                key = "<<" if key_node.tag == "tag:yaml.org,2002:merge" else self.construct_object(key_node)
                if not isinstance(key, collections.abc.Hashable):
                    continue  # a mapping or list as a key: construct_mapping refuses it by name
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (first at line {seen[key] + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
        super().flatten_mapping(node)


def load_config(path: Union[str, Path]) -> Config:
    """Read and validate a YAML config file (safe loader; no Python object tags; no duplicate keys)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, expected a YAML file: {path}") from None
    except NotADirectoryError:
        raise ConfigError(f"config file not found: {path} (a parent of it is a file)") from None
    except PermissionError:
        raise ConfigError(f"config file not readable (permission denied): {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config is not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML{at}: {problem}", str(path)) from None
    return parse_config(raw, str(path))


def eval_hash_buckets(fraction: float) -> Tuple[int, int]:
    """(train, eval) hash buckets approximating an eval fraction, in hundredths."""
    eval_buckets = max(1, min(99, int(math.floor(fraction * 100 + 0.5))))
    return 100 - eval_buckets, eval_buckets
