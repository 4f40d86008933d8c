"""Config records of the other top-level parts: data, model, training, evaluation, validation, orchestration."""
from __future__ import annotations

import math
import re
from typing import Annotated, ClassVar, Dict, List, Literal, Optional, Tuple

from pydantic import Field, field_validator, model_validator

from pipeline.core import csvdata
from pipeline.core.features import NUMERIC_ENCODINGS
from pipeline.core.config_base import (ARCHITECTURE_OPTIONS, ARCHITECTURES, DISTRIBUTIONS, GRADIENT_SURGERIES,
                                        LOSS_WEIGHTINGS, WEIGHTING_OPTIONS, _Strict, _WithOptions)


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
    calibrator_weight: Optional[float] = Field(None, ge=0, description="aitm: weight of the behavioural "
                                               "expectation calibrator (a later funnel step's probability above "
                                               "the earlier one's is penalized; Xi et al. 2021; default 0.6)")
    numeric_encoding: Literal[NUMERIC_ENCODINGS] = Field(
        "zscore", description="encoding of numeric features that set none (docs/tabular.md)")
    numeric_bins: int = Field(48, ge=2, le=1024, description="bins of quantile / piecewise_linear encodings that "
                              "set none")
    min_frequency: int = Field(5, ge=1, description="categorical values and text tokens seen in fewer training "
                               "rows map to the OOV bucket(s) of features that set none (so an unseen value "
                               "meets an embedding trained on rare ones); 1 = keep every value")
    cross_layers: int = Field(0, ge=0, le=8, description="DCN-v2 cross layers on the encoded input, under any "
                              "architecture (Wang et al. 2021); 0 = none")
    cross_rank: Optional[int] = Field(None, gt=0, description="low-rank cross layers: W = U V^T with this rank; "
                                      "default: full rank")

    @property
    def expert_layers(self) -> List[int]:
        return list(self.expert_units or self.shared_units)


class Training(_WithOptions):
    selector: ClassVar[str] = "loss_weighting"
    options: ClassVar[Dict[str, Tuple[str, ...]]] = WEIGHTING_OPTIONS

    epochs: Optional[int] = Field(None, gt=0, description="training epochs (early stopping may end sooner); "
                                  "default: until the eval loss stops improving (early stopping, best weights "
                                  "restored, learning rate halved on plateaus), at most 100")
    batch_size: Optional[int] = Field(None, gt=0, description="global batch size (split across replicas under a "
                                      "distribution strategy); default: from the training row count (rows / 64 "
                                      "as a power of 2, 16..512)")
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
    early_stopping_patience: Optional[int] = Field(None, ge=0, description="epochs without eval-loss gain "
                                                   "before training stops; 0 = off; default: 4 when epochs is "
                                                   "unset, else 2")
    seed: int = Field(42, description="seed of weight initialization and training-data shuffling")
    distribution: Literal[DISTRIBUTIONS] = Field(
        "none", description="tf.distribute strategy: mirrored (all local GPUs, else the CPU), multi_worker "
        "(MultiWorkerMirroredStrategy: workers from TF_CONFIG), none")


class Fairness(_Strict):
    """TFMA's fairness indicators for every binary task, on every configured slice."""

    thresholds: List[float] = Field(default_factory=lambda: [0.3, 0.5, 0.7], min_length=1,
                                    description="decision thresholds at which false positive / negative rates "
                                    "and the positive rate are compared across slices")

    @field_validator("thresholds")
    @classmethod
    def _open_unit(cls, v):
        odd = [t for t in v if not 0 < t < 1]
        if odd:
            raise ValueError(f"{odd[0]!r}: a threshold on a probability lies strictly between 0 and 1")
        return sorted(set(v))


class Evaluation(_Strict):
    slices: List[List[str]] = Field(default_factory=list, description="column lists to slice the metrics by, "
                                    "e.g. [[sex], [race]] (reported; thresholds apply to the overall slice only)")
    fairness: Optional[Fairness] = Field(None, description="fairness indicators (false positive / negative rate, "
                                         "positive rate per threshold) of binary tasks on each slice; "
                                         "`fairness: {}` takes thresholds 0.3, 0.5, 0.7")
    confidence_intervals: Optional[Literal["jackknife", "bootstrap"]] = Field(
        None, description="95% confidence intervals of every metric (TFMA: jackknife, 20 delete-d samples, or "
        "Poisson bootstrap); shown in the summary and report, which say when a change against the blessed model "
        "lies inside its interval. Thresholds still judge the point value")


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


class Inference(_Strict):
    """Rows the pipeline scores with its model once the Evaluator blessed it (TFX's BulkInferrer)."""

    data: str = Field(min_length=1, description="CSV with header (file or glob), or .tfrecord(.gz) tf.Examples: "
                      "the feature columns of the training data (label columns may be absent); the answers go "
                      "to <output>/inference/<run id>.jsonl, one `mtl predict` record per row")
    keep: List[str] = Field(default_factory=list, description="columns of that data copied into each answer "
                            "(an id), read back from the row's tf.Example")


class Orchestration(_Strict):
    """Where a compiled pipeline runs (`mtl compile --target kubeflow|airflow`); flags override these."""

    image: Optional[str] = Field(None, min_length=1, description="kubeflow: the component container image "
                                 "(built from the project's Dockerfile)")
    pipeline_root: Optional[str] = Field(None, min_length=1, description="artifact root every step can reach "
                                         "(gs://..., s3://..., or a shared volume); default: <output>/tfx")
    schedule: Optional[str] = Field(None, min_length=1, description="airflow: cron expression or preset "
                                    "(@daily); default: run when triggered")


def is_uri(path: str) -> bool:
    """A remote path (gs://bucket/..., s3://..., hdfs://...): read by the components, never checked locally."""
    return re.match(r"^[a-z][a-z0-9+.-]*://", path) is not None


def data_format(path: str) -> str:
    return "tfrecord" if re.search(r"\.tfrecords?(\.gz)?$", path) else "csv"


def eval_hash_buckets(fraction: float) -> Tuple[int, int]:
    """(train, eval) hash buckets approximating an eval fraction, in hundredths."""
    eval_buckets = max(1, min(99, int(math.floor(fraction * 100 + 0.5))))
    return 100 - eval_buckets, eval_buckets
