"""The training schedule the Trainer runs (`schedule.json` in its model_run directory): batch size, epochs and
early stopping resolved from `training` and the training row count, and, after training, where it stopped and
which epoch's weights it kept. Written by the Trainer, read by the report and the summary; pure Python."""
from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional

from pydantic import BaseModel, ConfigDict

SCHEDULE_FILE = "schedule.json"
MAX_EPOCHS = 100  # `training.epochs` unset: train until early stopping ends it, at most this many epochs
CONVERGE_PATIENCE = 4  # ... with this patience on the eval loss (an explicit `epochs` keeps the old default, 2)
FIXED_PATIENCE = 2
LR_PATIENCE = 2  # epochs without eval-loss gain before the learning rate is cut ...
LR_FACTOR = 0.5  # ... by this factor (ReduceLROnPlateau), down to MIN_LR
MIN_LR = 1e-5
MIN_BATCH, MAX_BATCH, ROWS_PER_STEP = 16, 512, 64  # default batch: rows / 64 rounded to a power of 2, in range
FEW_STEPS = 200  # fewer optimizer steps than this in all: warn (a model this briefly trained is rarely fit)


class Schedule(BaseModel):
    """What the Trainer planned (from the config and the data) and, once trained, what happened."""

    model_config = ConfigDict(extra="ignore")

    rows: int
    batch_size: int
    batch_from_rows: bool
    steps_per_epoch: int
    max_epochs: int
    until_converged: bool  # epochs unset: early stopping decides, with the learning-rate schedule on
    patience: int  # 0 = early stopping off
    lr_patience: int = 0  # 0 = no learning-rate schedule
    epochs_run: Optional[int] = None
    kept_epoch: Optional[int] = None  # the epoch whose weights were exported (best eval loss, or the last)
    # regression task -> constant predictors on the eval rows (trainer/baselines.py): median, mean, median_mae,
    # mean_rmse, eval_rows
    constant_baselines: Dict[str, Dict[str, float]] = {}

    @property
    def planned_steps(self) -> int:
        return self.steps_per_epoch * self.max_epochs

    def warnings(self) -> List[str]:
        found = []
        steps = self.steps_per_epoch * (self.epochs_run or self.max_epochs)
        if steps < FEW_STEPS:
            found.append(f"training makes only {steps} optimizer steps ({self.rows} rows, batch {self.batch_size}, "
                         f"{self.epochs_run or self.max_epochs} epochs; fewer than {FEW_STEPS}): the model is "
                         "likely under-trained; lower training.batch_size or raise training.epochs (or leave "
                         "both unset: they then follow the row count and early stopping)")
        return found

    def describe(self) -> str:
        """One line for the log: 'training 199523 rows: batch 512 (from the row count), 390 steps/epoch, ...'."""
        batch = f"batch {self.batch_size}" + (" (from the row count)" if self.batch_from_rows else "")
        if self.until_converged:
            epochs = (f"until the eval loss stops improving (early stopping patience {self.patience}, best weights "
                      f"restored; learning rate x{LR_FACTOR} after {self.lr_patience} epochs without gain), at most "
                      f"{self.max_epochs} epochs")
        else:
            stop = f", early stopping patience {self.patience} (best weights restored)" if self.patience else ""
            epochs = f"{self.max_epochs} epochs{stop}"
        return f"training {self.rows} rows: {batch}, {self.steps_per_epoch} steps/epoch, {epochs}"

    def outcome(self) -> str:
        if self.epochs_run is None:
            return ""
        stopped = (f"stopped early at epoch {self.epochs_run} of {self.max_epochs}" if self.epochs_run < self.max_epochs
                   else f"ran all {self.epochs_run} epochs")
        kept = f"; kept the weights of epoch {self.kept_epoch}" if self.kept_epoch else ""
        return stopped + kept

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def read(cls, directory: str) -> Optional["Schedule"]:
        """The schedule in a model_run directory, or None when the run wrote none (runs before it existed)."""
        path = os.path.join(directory, SCHEDULE_FILE)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            try:
                return cls.model_validate(json.load(f))
            except ValueError as error:
                raise ValueError(f"{path}: not a training schedule ({error})") from None


def default_batch_size(rows: int) -> int:
    """rows / ROWS_PER_STEP rounded to a power of two, within [MIN_BATCH, MAX_BATCH]: 266 rows -> 16 (17 steps an
    epoch), 2,400 -> 32, 8,000 -> 128, 46,000 and more -> 512."""
    target = max(rows, 1) / ROWS_PER_STEP
    return int(min(MAX_BATCH, max(MIN_BATCH, 2 ** round(math.log2(max(target, 1))))))


def plan(training, rows: int) -> Schedule:
    """The schedule of a config's `training` section on `rows` training rows."""
    batch = training.batch_size or default_batch_size(rows)
    converge = training.epochs is None
    patience = training.early_stopping_patience
    if patience is None:
        patience = CONVERGE_PATIENCE if converge else FIXED_PATIENCE
    return Schedule(rows=rows, batch_size=batch, batch_from_rows=training.batch_size is None,
                    steps_per_epoch=max(1, math.ceil(rows / batch)),
                    max_epochs=training.epochs or MAX_EPOCHS, until_converged=converge, patience=patience,
                    lr_patience=LR_PATIENCE if converge and patience else 0)


def shortfalls(baselines: Dict[str, Dict[str, float]], metrics: Dict[str, Dict[str, float]]) -> Dict[str, str]:
    """task -> warning where the model's eval MAE is not below the constant median's, or its RMSE not below the
    constant mean's. `metrics`: task -> {mae, rmse} of the model on the same rows."""
    found = {}
    for task, base in baselines.items():
        model = metrics.get(task, {})
        worse = [f"{m.upper()} {model[m]:.4g} vs {base[k]:.4g} for the constant {k.split('_')[0]}"
                 for m, k in (("mae", "median_mae"), ("rmse", "mean_rmse")) if m in model and model[m] >= base[k]]
        if worse:
            found[task] = ("the model does not beat a constant prediction (" + "; ".join(worse) + "): try "
                           "loss: huber or mae for heavy-tailed targets, log: true on skewed features, more data")
    return found
