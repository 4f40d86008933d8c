"""TFX Trainer entry point (`trainer.run.run_fn`): transformed examples -> multi-task model -> SavedModel."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from pipeline import config as cfg
from pipeline.core.names import HISTORY_FILE, PROGRESS_LOGGER, logged_metric
from pipeline.core.schedule import LR_FACTOR, MIN_LR, SCHEDULE_FILE, Schedule, plan
from trainer import distribute, export
from trainer.baselines import constant_baselines
from trainer.architectures.cross_stitch import CrossStitchUnit
from trainer.model import Vocabularies, build_model, regression_label_stats, split_example


DISTRIBUTION_FILE = "distribution.json"  # in the model_run directory: the strategy and replica count used
PROGRESS = logging.getLogger(PROGRESS_LOGGER)  # `mtl run` shows these lines (pipeline/progress.py)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def make_dataset(config: cfg.Config, files, data_accessor, tf_transform_output, *, shuffle: bool,
                 batch_size: int):
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=1, shuffle=shuffle,
                                             shuffle_seed=config.training.seed)
    dataset = data_accessor.tf_dataset_factory(files, options, tf_transform_output.transformed_metadata.schema)
    return dataset.map(split_example(config), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def count_rows(config: cfg.Config, files, data_accessor, tf_transform_output) -> int:
    """Training rows, counted in one pass over the transformed examples (the default batch size follows it)."""
    options = tfxio.TensorFlowDatasetOptions(batch_size=4096, num_epochs=1, shuffle=False)
    dataset = data_accessor.tf_dataset_factory(files, options, tf_transform_output.transformed_metadata.schema)
    key = cfg.mask_key(next(iter(config.tasks)))
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, batch: n + tf.shape(batch[key], tf.int64)[0]))


def training_callbacks(schedule: Schedule) -> list:
    """Early stopping on the eval loss (best weights restored) and the learning-rate cut on plateaus, as planned."""
    callbacks = []
    if schedule.patience:
        callbacks.append(tf_keras.callbacks.EarlyStopping(monitor="val_loss", patience=schedule.patience,
                                                          restore_best_weights=True))
    if schedule.lr_patience:
        callbacks.append(tf_keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=LR_FACTOR,
                                                              patience=schedule.lr_patience, min_lr=MIN_LR))
    return callbacks


def finish_schedule(schedule: Schedule, history: list) -> Schedule:
    """The schedule with where training stopped and whose weights were kept: with early stopping, the first epoch
    of lowest eval loss (what EarlyStopping restores); without it, the last."""
    losses = [e.get("val_loss", math.inf) for e in history]
    kept = (min(range(len(losses)), key=lambda i: (losses[i], i)) + 1) if schedule.patience and losses else len(history)
    return schedule.model_copy(update={"epochs_run": len(history), "kept_epoch": kept or None})


class GateUsage:
    """Mean expert-gate weights per gate over up to `max_batches` evaluation batches, plus the mixing matrices
    of cross-stitch units: how each task uses the shared experts (a gate stuck on one expert shows here)."""

    def __init__(self, model, dataset, max_batches: int = 20):
        self.model, self.dataset, self.max_batches = model, dataset, max_batches
        self.names = list(model.gate_layer_names)
        self.probe = (tf_keras.Model(model.inputs, [model.get_layer(n).output for n in self.names])
                      if self.names else None)

    def __call__(self):
        usage = {}
        if self.probe is not None:
            totals, rows = [0.0] * len(self.names), 0
            for features, _, _ in self.dataset.take(self.max_batches):
                outputs = self.probe(features, training=False)
                outputs = outputs if isinstance(outputs, list) else [outputs]
                totals = [t + tf.reduce_sum(o, axis=0) for t, o in zip(totals, outputs)]
                rows += int(tf.shape(outputs[0])[0])
            usage = {n: [round(float(v), 4) for v in t / max(rows, 1)] for n, t in zip(self.names, totals)}
        for layer in self.model.layers:
            if isinstance(layer, CrossStitchUnit):
                usage[layer.name] = [[round(float(v), 4) for v in row] for row in layer.alpha.numpy()]
        return usage


class EpochLog(tf_keras.callbacks.Callback):
    """One readable line per epoch (each task's loss, weight and metric; expert-gate usage) and a JSON
    history file."""

    def __init__(self, task_names, path: str, gate_usage=None):
        super().__init__()
        self.task_names, self.path, self.history = list(task_names), path, []
        self.gate_usage = gate_usage

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self._check_finite(epoch, logs)
        entry = {"epoch": epoch + 1, **logs,
                 "learning_rate": float(tf_keras.backend.get_value(self.model.optimizer.learning_rate)),
                 "seconds": round(time.monotonic() - getattr(self, "_started", time.monotonic()), 3)}  # + validation
        PROGRESS.info("epoch %d/%s: loss %.4f val_loss %.4f | %s", epoch + 1, self.params.get("epochs", "?"),
                      logs.get("loss", float("nan")), logs.get("val_loss", float("nan")),
                      " | ".join(self._task_part(n, logs, self.task_names) for n in self.task_names))
        if self.gate_usage is not None:
            entry["gates"] = self.gate_usage()
            for name, weights in entry["gates"].items():
                logging.info("epoch %d: %s %s", epoch + 1, name, weights)
        self.history.append(entry)
        with tf.io.gfile.GFile(self.path, "w") as f:
            json.dump(self.history, f, indent=1)

    @staticmethod
    def _task_part(name: str, logs, task_names=()) -> str:
        """'income: loss 0.6364 auc 0.4464 (val 0.5114) w 1.00': the task's loss, its metric, its weight."""
        metric = logged_metric(name, list(logs), task_names)
        part = f"{name}: loss {logs.get(f'{name}_loss', float('nan')):.4f}"
        if metric:
            part += f" {metric} {logs[f'{name}_{metric}']:.4f}"
            if f"val_{name}_{metric}" in logs:
                part += f" (val {logs[f'val_{name}_{metric}']:.4f})"
        return part + f" w {logs.get(f'{name}_weight', 0):.2f}"

    def _check_finite(self, epoch, logs):
        """Losses and weights must be finite. Weights are checked too: a NaN weight does not always show in
        the loss (on some CPUs ReLU maps NaN to 0, so the outputs stay finite while the model is ruined)."""
        advice = "; lower training.learning_rate or set training.clipnorm"
        losses = [k for k, v in logs.items() if k.endswith("loss") and not math.isfinite(v)]
        if losses:
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: non-finite loss in "
                                   f"{ {k: logs[k] for k in losses} }{advice}")
        weights = [w.name for w in self.model.weights if not np.all(np.isfinite(w.numpy()))]
        if weights:
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: non-finite weights in "
                                   f"{', '.join(weights[:5])}{' …' if len(weights) > 5 else ''}{advice}")


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = cfg.parse_config(fn_args.custom_config["config"])
    tf_keras.utils.set_random_seed(config.training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    schedule = plan(config.training, count_rows(config, fn_args.train_files, fn_args.data_accessor,
                                                tf_transform_output))
    PROGRESS.info("%s", schedule.describe())
    train = make_dataset(config, fn_args.train_files, fn_args.data_accessor, tf_transform_output, shuffle=True,
                         batch_size=schedule.batch_size)
    vocabularies = dataclasses.replace(Vocabularies.from_transform_output(config, tf_transform_output),
                                       label_stats=regression_label_stats(config, train))
    evaluation = make_dataset(config, fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                              shuffle=False, batch_size=schedule.batch_size)
    strategy = distribute.strategy(config)
    logging.info("training with %s (%d replica(s))", type(strategy).__name__, strategy.num_replicas_in_sync)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, DISTRIBUTION_FILE), "w") as f:
        json.dump({"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync}, f)
    schedule_path = os.path.join(fn_args.model_run_dir, SCHEDULE_FILE)
    with tf.io.gfile.GFile(schedule_path, "w") as f:
        f.write(schedule.to_json())
    with strategy.scope():  # every variable: model, optimizers, loss-weighting state
        model = build_model(config, vocabularies)
    log = EpochLog(config.tasks, os.path.join(fn_args.model_run_dir, HISTORY_FILE), GateUsage(model, evaluation))
    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"), log,
                 *training_callbacks(schedule)]
    model.fit(train, validation_data=evaluation, epochs=schedule.max_epochs, callbacks=callbacks,
              verbose=0)  # EpochLog writes one line per epoch
    schedule = finish_schedule(schedule, log.history).model_copy(
        update={"constant_baselines": constant_baselines(config, train, evaluation)})
    for task, base in schedule.constant_baselines.items():
        PROGRESS.info("%s: a constant prediction scores MAE %.4g (the training median %.4g) and RMSE %.4g (the mean "
                      "%.4g) on the %d eval rows", task, base["median_mae"], base["median"], base["mean_rmse"],
                      base["mean"], base["eval_rows"])
    PROGRESS.info("training %s", schedule.outcome())
    for warning in schedule.warnings():
        PROGRESS.warning("warning: %s", warning)
    with tf.io.gfile.GFile(schedule_path, "w") as f:
        f.write(schedule.to_json())
    # multi_worker: every worker takes part in saving (collective ops); only the chief writes where TFX looks.
    target = fn_args.serving_model_dir if distribute.is_chief() else tempfile.mkdtemp(prefix="worker-export-")
    export.export(model, tf_transform_output, target)
