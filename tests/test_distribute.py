"""training.distribution: under MirroredStrategy on two replicas the custom train step makes exactly the updates
one device makes on the whole batch, for every loss weighting; strategy choice and the chief worker."""
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import REPO
from helpers.tiny_trainer import CONFIG
from pipeline import config as cfg
from trainer import distribute

HELPER = os.path.join(REPO, "tests", "helpers", "distributed_fit.py")


@pytest.fixture(scope="module")
def mirrored_fits():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, HELPER], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_replicas_train_exactly_like_one_device_with_every_weighting(mirrored_fits):
    assert mirrored_fits["replicas"] == 2
    assert set(mirrored_fits["variants"]) == {"fixed", "uncertainty", "gradnorm", "dwa", "pcgrad", "clipnorm+task_lr"}
    for name, result in mirrored_fits["variants"].items():
        assert result["moved"] > 0.01, name  # training changed the weights...
        assert result["max_weight_gap"] < 1e-5, name  # ...identically (gradients averaged once, not summed)
        assert result["loss_mirrored"] == pytest.approx(result["loss_single"], rel=1e-5), name


def test_multi_worker_strategy_trains_the_same_on_one_local_worker(mirrored_fits):
    result = mirrored_fits["multi_worker"]
    assert result["moved"] > 0.01 and result["max_weight_gap"] < 1e-5


def test_learned_weighting_state_is_kept_in_sync_across_replicas(mirrored_fits):
    gradnorm = mirrored_fits["variants"]["gradnorm"]
    initial, started, weights = gradnorm["weighting_state"]  # tf.Module variables: sorted by attribute name
    assert started is True and sum(weights) == pytest.approx(4.0, rel=1e-5)  # renormalized to the task count
    assert len(set(round(w, 3) for w in weights)) > 1  # and moved apart
    uncertainty = mirrored_fits["variants"]["uncertainty"]["weighting_state"][0]
    assert any(abs(s) > 1e-3 for s in uncertainty)


def config_with(distribution):
    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["training"]["distribution"] = distribution
    return cfg.parse_config(raw)


def test_strategy_per_setting():
    assert isinstance(distribute.strategy(config_with("mirrored")), tf.distribute.MirroredStrategy)
    assert distribute.replicas() == 1
    assert distribute.strategy(config_with("none")) is tf.distribute.get_strategy()
    assert CONFIG.training.distribution == "none"
    with pytest.raises(cfg.ConfigError, match="training.distribution"):
        config_with("horovod")


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
])
def test_only_the_chief_exports_where_tfx_looks(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.is_chief() is chief
