"""A run killed with SIGKILL during training is finished by running the same config again: the data half comes
from the cache, MLMD stays readable and consistent, and exactly one model version is pushed."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from conftest import DATA, REPO


@pytest.mark.slow
def test_sigkill_during_training_then_rerun_completes_from_the_cache(tmp_path):
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample", "config.yaml")))
    raw["output"] = str(tmp_path / "run")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    mtl = os.path.join(os.path.dirname(sys.executable), "mtl")
    first = subprocess.Popen([mtl, "run", "--config", str(config)], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    model_runs = tmp_path / "run" / "tfx" / "Trainer" / "model_run"
    deadline = time.time() + 600
    while not (model_runs.is_dir() and any(model_runs.iterdir())) and first.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert first.poll() is None, "the run ended before training started"
    time.sleep(3)  # well inside training
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    serving = tmp_path / "run" / "serving" / raw["name"]
    assert not serving.exists() or os.listdir(serving) == []  # nothing was pushed by the killed run

    second = subprocess.run([mtl, "run", "--config", str(config)], cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    states = {c["name"]: c["state"] for c in summary["components"]}
    for cached in ("CsvExampleGen", "StatisticsGen", "ExampleValidator", "DataGate", "Transform"):
        assert states[cached] == "CACHED", states
    assert states["Trainer"] == states["Evaluator"] == states["Pusher"] == "COMPLETE", states
    assert summary["verdict"] == "BLESSED"
    versions = os.listdir(serving)
    assert len(versions) == 1 and versions[0].isdigit()  # exactly one version, no staging left
    assert os.path.isfile(serving / versions[0] / "saved_model.pb")

    from ml_metadata.proto import metadata_store_pb2

    from pipeline.history import read_only_store

    store = read_only_store(str(tmp_path / "run" / "metadata.sqlite"))  # still a readable, consistent store
    trainer = next(t for t in store.get_execution_types() if t.name.endswith(".Trainer"))
    states = sorted(metadata_store_pb2.Execution.State.Name(e.last_known_state)
                    for e in store.get_executions_by_type(trainer.name))
    assert states == ["COMPLETE", "RUNNING"]  # the killed attempt stays recorded as unfinished
    assert len(store.get_contexts_by_type("pipeline_run")) == 2
