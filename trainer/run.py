"""TFX Trainer entry point (`trainer.run.run_fn`): transformed examples -> multi-task model -> SavedModel."""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from pipeline import config as cfg
from trainer import export
from trainer.model import Vocabularies, build_model, regression_label_stats, split_example

HISTORY_FILE = "history.json"


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def make_dataset(config: cfg.Config, files, data_accessor, tf_transform_output, *, shuffle: bool):
    options = tfxio.TensorFlowDatasetOptions(batch_size=config.training.batch_size, num_epochs=1, shuffle=shuffle,
                                             shuffle_seed=config.training.seed)
    dataset = data_accessor.tf_dataset_factory(files, options, tf_transform_output.transformed_metadata.schema)
    return dataset.map(split_example(config), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class EpochLog(tf_keras.callbacks.Callback):
    """One readable line per epoch (each task's loss, weight and metric) and a JSON history file."""

    def __init__(self, task_names, path: str):
        super().__init__()
        self.task_names, self.path, self.history = list(task_names), path, []

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for k, v in logs.items() if k.endswith("loss")):
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}: non-finite loss in {logs}; lower "
                                   "training.learning_rate or set training.clipnorm")
        self.history.append({"epoch": epoch + 1, **logs})
        parts = [f"{n}: loss {logs.get(f'{n}_loss', float('nan')):.4f} w {logs.get(f'{n}_weight', 0):.2f}"
                 for n in self.task_names]
        logging.info("epoch %d: loss %.4f val_loss %.4f | %s", epoch + 1, logs.get("loss", float("nan")),
                     logs.get("val_loss", float("nan")), " | ".join(parts))
        with tf.io.gfile.GFile(self.path, "w") as f:
            json.dump(self.history, f, indent=1)


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = cfg.parse_config(fn_args.custom_config["config"])
    tf_keras.utils.set_random_seed(config.training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = make_dataset(config, fn_args.train_files, fn_args.data_accessor, tf_transform_output, shuffle=True)
    vocabularies = dataclasses.replace(Vocabularies.from_transform_output(config, tf_transform_output),
                                       label_stats=regression_label_stats(config, train))
    evaluation = make_dataset(config, fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                              shuffle=False)
    model = build_model(config, vocabularies)
    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
                 EpochLog(config.tasks, os.path.join(fn_args.model_run_dir, HISTORY_FILE))]
    if config.training.early_stopping_patience:
        callbacks.append(tf_keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.training.early_stopping_patience, restore_best_weights=True))
    model.fit(train, validation_data=evaluation, epochs=config.training.epochs, callbacks=callbacks, verbose=2)
    export.export(model, tf_transform_output, fn_args.serving_model_dir)
