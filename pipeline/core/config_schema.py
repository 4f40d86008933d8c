"""The config as a whole (`Config`): its cross-checks between parts, task order, derived values, and the data
contract (the part data validation and Transform depend on)."""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

from pydantic import ConfigDict, Field, model_validator

from pipeline.core.config_base import NAME_PATTERN, _Strict
from pipeline.core.features import DEFAULT_SUBWORDS, VOCABULARY_TYPES, Feature
from pipeline.core.keys import label_key, mask_key, missing_key, subword_key
from pipeline.core.kinds import kind
from pipeline.core.rundir import RunDir
from pipeline.core.sections import Data, Evaluation, Inference, Model, Orchestration, Training, Validation
from pipeline.core.tasks import Task


class CardOwner(_Strict):
    name: str = Field(min_length=1, description="person or team that owns the model")
    contact: Optional[str] = Field(None, description="how to reach them (e-mail, channel)")


class CardRisk(_Strict):
    name: str = Field(min_length=1, description="the ethical or environmental risk")
    mitigation_strategy: Optional[str] = Field(None, description="what is done about it")


class ModelCardInfo(_Strict):
    """What only people can say about the model, for its model card (pipeline/report/model_card.py). Read by
    the report alone: no component sees it, so editing it never re-runs one."""

    owners: List[CardOwner] = Field(default_factory=list, description="who owns the model, e.g. "
                                    "[{name: ML team, contact: ml@example.com}]")
    license: Optional[str] = Field(None, description="SPDX license identifier (e.g. Apache-2.0) or "
                                   "'proprietary'")
    overview: Optional[str] = Field(None, description="what the model does, in a sentence or two")
    intended_use: Optional[str] = Field(None, description="what the model is for")
    users: List[str] = Field(default_factory=list, description="who is meant to use its predictions")
    limitations: List[str] = Field(default_factory=list, description="known limits: data it does badly on, "
                                   "uses it is not for")
    ethical_considerations: List[CardRisk] = Field(default_factory=list, description="risks and their "
                                                   "mitigation")
    references: List[str] = Field(default_factory=list, description="links with more about the model")


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
    inference: Optional[Inference] = Field(None, description="batch inference in the pipeline: a BulkInferrer "
                                           "scores this data with the model when it is blessed")
    output: Optional[str] = Field(None, description="run directory; default runs/<name>")
    beam_args: Optional[List[str]] = Field(
        None, description="Beam pipeline options of the data components and the Evaluator; default: the "
        "DirectRunner in-memory (flat memory at any input size; README, Scaling)")
    orchestration: Orchestration = Field(default_factory=Orchestration, description="settings of `mtl "
                                         "compile` (Kubeflow, Airflow)")
    model_card: Optional[ModelCardInfo] = Field(
        None, exclude=True, description="owners, license, intended use, users, limitations and ethical "
        "considerations for the model card written beside the run report; left out of every dump of the config "
        "(the Trainer's view, the data contract), so editing it re-runs no component")
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
            reserved |= {missing_key(n) for n, f in self.features.items() if f.type == "numeric"}
            reserved |= {subword_key(n) for n, f in self.features.items() if f.type == "text"}
            if feature in reserved:
                problems.append(f"features.{feature}: name clashes with a derived task key")
        problems += self._cross_problems()
        problems += self._hierarchy_problems()
        for name, task in self.tasks.items():
            found = self.features.get(task.tokens_of) if task.tokens_of else None
            if task.tokens_of and (found is None or found.type != "text"):
                what = f"a {found.type} feature" if found is not None else "not a feature"
                problems.append(f"tasks.{name}.tokens_of: '{task.tokens_of}' is {what}; expected a text feature "
                                "of this config (" + (", ".join(n for n, f in self.features.items()
                                                                if f.type == "text") or "none configured") + ")")
        for column in (self.inference.keep if self.inference else []):
            if column in self.tasks:
                problems.append(f"inference.keep: '{column}' is also a task name, which keys its answer; rename "
                                "the task or leave the column out")
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

    def _cross_problems(self) -> List[str]:
        problems = []
        for name, feature in self.features.items():
            for source in (feature.of if feature.type == "cross" else []):
                found = self.features.get(source)
                if found is None or found.type != "categorical":
                    what = f"a {found.type} feature" if found is not None else "not a feature"
                    problems.append(f"features.{name}.of: '{source}' is {what}; a cross joins categorical "
                                    "features of this config (" + (", ".join(
                                        n for n, f in self.features.items() if f.type == "categorical")
                                        or "none configured") + ")")
        return problems

    def _hierarchy_problems(self) -> List[str]:
        architecture = self.model.architecture
        reads_after = architecture in ("hierarchical", "aitm")
        problems = []
        for name, task in self.tasks.items():
            if task.after and not reads_after:
                problems.append(f"tasks.{name}.after: only the hierarchical and aitm architectures read `after` "
                                f"(architecture is {architecture})")
            for parent in task.after:
                if parent == name:
                    problems.append(f"tasks.{name}.after: a task cannot come after itself")
                elif parent not in self.tasks:
                    problems.append(f"tasks.{name}.after: unknown task '{parent}'; expected one of "
                                    + ", ".join(n for n in self.tasks if n != name))
            if architecture == "aitm" and len(task.after) > 1:
                problems.append(f"tasks.{name}.after: aitm transfers from one task before this one in the funnel "
                                f"(found {len(task.after)}: {', '.join(task.after)})")
        if reads_after and not problems:
            if not any(t.after for t in self.tasks.values()):
                problems.append(f"model.architecture: {architecture} needs at least one task with `after` "
                                "(e.g. tasks.cvr.after: [ctr])")
            elif self.task_order is None:
                problems.append("tasks: `after` forms a cycle (" + " -> ".join(self._cycle()) + ")")
        return problems + self._product_problems()

    def _product_problems(self) -> List[str]:
        """`product_of` names other binary tasks that are not products themselves (so a product always has at
        least two towered factors); esmm needs a product task."""
        problems = []
        products = {n: t.product_of for n, t in self.tasks.items() if t.product_of}
        for name, factors in products.items():
            if len(set(factors)) != len(factors):
                problems.append(f"tasks.{name}.product_of: a task is named twice")
            for factor in factors:
                found = self.tasks.get(factor)
                if factor == name:
                    problems.append(f"tasks.{name}.product_of: a task cannot be a factor of itself")
                elif found is None:
                    problems.append(f"tasks.{name}.product_of: unknown task '{factor}'; expected one of "
                                    + ", ".join(n for n, t in self.tasks.items() if n != name and t.type == "binary"))
                elif found.type != "binary":
                    problems.append(f"tasks.{name}.product_of: '{factor}' is a {found.type} task; a product "
                                    "multiplies probabilities of binary tasks")
                elif found.product_of:
                    problems.append(f"tasks.{name}.product_of: '{factor}' is itself a product; name its factors")
            if self.tasks[name].after:
                problems.append(f"tasks.{name}: a product task has no tower, so it cannot come `after` a task")
        if self.model.architecture == "esmm" and not products:
            problems.append("model.architecture: esmm needs a task that is the product of others (e.g. "
                            "tasks.ctcvr: {type: binary, label: conversion, product_of: [ctr, cvr]})")
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
        return list(dict.fromkeys([*self.column_features, *task_columns(self.tasks), *slices]))

    @property
    def column_features(self) -> Dict[str, Feature]:
        """The features read from a data column of their name (all but crosses, which are derived)."""
        return column_features(self.features)

    @property
    def has_thresholds(self) -> bool:
        """Whether any task sets a threshold: without one, TFX's Evaluator validates (and blesses) nothing."""
        return any(task.thresholds for task in self.tasks.values())

    @property
    def numeric_columns(self) -> List[str]:
        return numeric_columns(self.features, self.tasks)

    @property
    def resolved_features(self) -> Dict[str, Feature]:
        """The features with the defaults filled in (a numeric feature's encoding and bins and a vocabulary's
        min_frequency from the model section; a text's subwords from whether a tagging task reads it), as
        Transform and the trainer apply them."""
        resolved = {}
        for name, feature in self.features.items():
            if feature.type == "numeric":
                feature = feature.model_copy(update={"encoding": feature.encoding or self.model.numeric_encoding,
                                                     "bins": feature.bins or self.model.numeric_bins})
            elif feature.type in VOCABULARY_TYPES:
                feature = feature.model_copy(update={"min_frequency": feature.min_frequency
                                                     or self.model.min_frequency})
            if feature.type == "text" and feature.subwords is None:
                tagged = any(t.tokens_of == name for t in self.tasks.values())
                feature = feature.model_copy(update={"subwords": DEFAULT_SUBWORDS if tagged else 0})
            resolved[name] = feature
        return resolved


def column_features(features: Dict[str, Feature]) -> Dict[str, Feature]:
    return {name: feature for name, feature in features.items() if feature.type != "cross"}


def task_columns(tasks: Dict[str, Task]) -> List[str]:
    """The columns the tasks read besides features: labels, then task-space and weight columns (in order, once)."""
    return list(dict.fromkeys([*(t.label for t in tasks.values()),
                               *(t.where.column for t in tasks.values() if t.where),
                               *(t.weight_column for t in tasks.values() if t.weight_column)]))


def numeric_columns(features: Dict[str, Feature], tasks: Dict[str, Task]) -> List[str]:
    """Columns read as numbers: numeric features, the labels of tasks whose kind has a float label, weight
    columns and the columns of numeric task spaces (gt/ge/lt/le)."""
    return list(dict.fromkeys([*(n for n, f in features.items() if f.type == "numeric"),
                               *(t.label for t in tasks.values() if kind(t.type).label_encoding == "float"),
                               *(t.weight_column for t in tasks.values() if t.weight_column),
                               *(t.where.column for t in tasks.values() if t.where and t.where.bounds)]))


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
        return list(dict.fromkeys([*self.column_features, *task_columns(self.tasks)]))

    @property
    def column_features(self) -> Dict[str, Feature]:
        return column_features(self.features)

    @property
    def numeric_columns(self) -> List[str]:
        return numeric_columns(self.features, self.tasks)


# Feature keys that only the model reads: left out of the data contract, so changing them never re-runs Transform.
MODEL_ONLY_KEYS = {"text": {"encoder", "encoder_units", "encoder_layers", "encoder_heads", "encoder_dropout",
                            "word_dropout"}}


def data_contract(config: Config, code_version: str = "") -> dict:
    """JSON-ready DataContract of a config (passed to DataGate and Transform as custom config)."""
    label_part = {"type", "label", "positive", "negative", "unknown_labels", "separator", "classes", "tokens_of",
                  "where", "weight_column"}
    return {
        "features": {n: f.model_dump(mode="json", exclude=MODEL_ONLY_KEYS.get(f.type, set()))
                     for n, f in config.resolved_features.items()},
        "tasks": {n: t.model_dump(mode="json", include=label_part, exclude_none=True)
                  for n, t in config.tasks.items()},
        "na_values": list(config.data.na_values),
        "code_version": code_version,
    }


def serving_dir(config: Config, output: str) -> str:
    """TF Serving base path of the model: the Pusher writes versions below it as <base>/<version>/."""
    return RunDir(output).serving_for(config.name)
