"""The training schedule (pipeline/core/schedule.py): the batch size from the row count, early stopping and the
learning-rate schedule when `epochs` is unset, the few-steps warning, and the record the report reads back."""
import pytest

from pipeline import config as cfg
from pipeline.core.schedule import FEW_STEPS, MAX_EPOCHS, Schedule, default_batch_size, plan


def _training(**options):
    return cfg.Training(**options)


@pytest.mark.parametrize("rows,batch", [(266, 16), (2400, 32), (8000, 128), (46000, 512), (199523, 512), (0, 16)])
def test_default_batch_follows_the_row_count(rows, batch):
    assert default_batch_size(rows) == batch


def test_unset_epochs_train_until_converged_with_early_stopping_and_the_lr_schedule():
    schedule = plan(_training(), 266)
    assert (schedule.batch_size, schedule.steps_per_epoch, schedule.max_epochs) == (16, 17, MAX_EPOCHS)
    assert schedule.until_converged and schedule.patience == 4 and schedule.lr_patience == 2
    assert "early stopping patience 4" in schedule.describe() and "from the row count" in schedule.describe()
    assert schedule.warnings() == []  # up to 1,700 steps planned


def test_explicit_settings_win_and_keep_the_old_behaviour():
    schedule = plan(_training(epochs=5, batch_size=512), 266)
    assert (schedule.batch_size, schedule.max_epochs, schedule.patience, schedule.lr_patience) == (512, 5, 2, 0)
    assert not schedule.until_converged and not schedule.batch_from_rows
    assert plan(_training(epochs=5, early_stopping_patience=0), 1000).patience == 0


def test_few_optimizer_steps_warn_with_what_to_change():
    # the penguins case of issue 19: 266 rows, batch 512, 5 epochs = 5 steps
    (warning,) = plan(_training(epochs=5, batch_size=512), 266).warnings()
    assert "only 5 optimizer steps" in warning and "training.batch_size" in warning
    finished = plan(_training(), 266).model_copy(update={"epochs_run": 6, "kept_epoch": 2})
    assert finished.warnings() and str(6 * 17) in finished.warnings()[0] and 6 * 17 < FEW_STEPS
    assert finished.outcome() == "stopped early at epoch 6 of 100; kept the weights of epoch 2"


def test_record_round_trips_and_a_broken_file_names_itself(tmp_path):
    schedule = plan(_training(), 5000).model_copy(update={"epochs_run": 12, "kept_epoch": 8})
    (tmp_path / "schedule.json").write_text(schedule.to_json())
    assert Schedule.read(str(tmp_path)) == schedule
    assert Schedule.read(str(tmp_path / "absent")) is None
    (tmp_path / "schedule.json").write_text('{"rows": "many"}')
    with pytest.raises(ValueError, match="schedule.json: not a training schedule"):
        Schedule.read(str(tmp_path))


def test_constant_baselines_are_the_training_median_and_mean_scored_on_the_eval_rows():
    import numpy as np
    import tensorflow as tf

    from trainer.baselines import constant_baselines

    config = cfg.parse_config({"name": "b", "data": {"train": "x.csv"}, "features": {"x": {"type": "numeric"}},
                               "tasks": {"y": {"type": "regression", "label": "y"},
                                         "c": {"type": "binary", "label": "c"}}})

    def batches(y, mask):
        targets = {"y": tf.constant(y, tf.float32), "c": tf.zeros(len(y), tf.int64)}
        return [({"x": tf.zeros(len(y))}, targets, {"y": tf.constant(mask, tf.float32), "c": tf.ones(len(y))})]

    train = batches([1.0, 2.0, 3.0, 100.0, 5000.0], [1, 1, 1, 1, 0])  # the masked 5000 is not a label
    evaluation = batches([2.0, 4.0, 1e6], [1, 1, 0])
    (task, base), = constant_baselines(config, train, evaluation).items()
    assert task == "y" and base["median"] == 2.5 and base["mean"] == 26.5 and base["eval_rows"] == 2
    assert base["median_mae"] == pytest.approx(1.0) and base["mean_rmse"] == pytest.approx(np.sqrt((24.5 ** 2 + 22.5 ** 2) / 2))


def test_a_model_that_does_not_beat_the_constants_is_named():
    from pipeline.core.schedule import shortfalls

    baselines = {"y": {"median_mae": 16.59, "mean_rmse": 30.0}, "z": {"median_mae": 7.35, "mean_rmse": 9.0}}
    found = shortfalls(baselines, {"y": {"mae": 19.25, "rmse": 25.0}, "z": {"mae": 7.0, "rmse": 8.0}})
    assert list(found) == ["y"] and "MAE 19.25 vs 16.59 for the constant median" in found["y"]
    assert "RMSE" not in found["y"] and "huber" in found["y"]
