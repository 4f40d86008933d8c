"""The light commands - `mtl --help` (and every subcommand's), `runs`, `compare`, `predict --url` / `--grpc` - run
through the installed `mtl` entry point in their own process: they import none of TensorFlow, TFMA, TFX, tf_keras
or Beam (MLMD and TFMA's protos are read through pipeline/core/protos.py and pipeline/tfma_files.py, requests are
built by serving/client.py and serving/contract.py), and they work: on a missing or empty output, against a
closed port, against `mtl serve`'s server with the tiny model (tests/helpers/tiny_model.py) and, slow, on the
session's tiny run directory with a second run added."""
import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from pipeline.cli import main

MTL = os.path.join(os.path.dirname(sys.executable), "mtl")
# The entry point run as it is installed; at exit the heavy packages in sys.modules and TensorFlow's shared
# libraries mapped into the process (a real TensorFlow import maps them for good, whatever sys.modules says after).
PROBE = r"""
import atexit, json, os, runpy, sys

HEAVY = {"tensorflow", "tensorflow_model_analysis", "tfx", "tf_keras", "apache_beam"}


def report():
    modules = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    with open("/proc/self/maps") as maps:
        libraries = sorted({line.split()[-1] for line in maps if "/tensorflow/" in line and ".so" in line})
    with open(os.environ["LIGHT_PROBE"], "w") as out:
        json.dump({"modules": modules, "libraries": libraries}, out)


atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/self/maps (Linux)")


def mtl(tmp_path, *args, timeout=300):
    """`mtl ARGS` in a fresh process: (CompletedProcess, heavy modules imported, TensorFlow libraries mapped)."""
    probe = tmp_path / f"probe-{len(list(tmp_path.glob('probe-*')))}.json"
    result = subprocess.run([sys.executable, "-c", PROBE, MTL, *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "LIGHT_PROBE": str(probe)})
    found = json.loads(probe.read_text())
    return result, found["modules"], found["libraries"]


def light(tmp_path, *args, code=0):
    """`mtl ARGS` that must exit with `code` and load nothing heavy: the CompletedProcess."""
    result, modules, libraries = mtl(tmp_path, *args)
    assert result.returncode == code, result.stdout[-2000:] + result.stderr[-3000:]
    assert modules == [] and libraries == [], (args, modules[:10], libraries[:3])
    return result


def commands():
    found = [[]]
    for name, command in sorted(main.commands.items()):
        found.append([name])
        found += [[name, sub] for sub in sorted(getattr(command, "commands", {}))]
    return found


@pytest.mark.parametrize("command", commands(), ids=lambda c: " ".join(c) or "mtl")
def test_help_imports_nothing_heavy(tmp_path, command):
    result = light(tmp_path, *command, "--help")
    assert result.stdout.startswith(f"Usage: mtl {' '.join(command)}".rstrip())


def test_runs_and_compare_name_a_missing_or_empty_output(tmp_path):
    for output in (tmp_path / "nowhere", tmp_path):
        for command in ("runs", "compare"):
            result = light(tmp_path, command, "--output", output, code=1)
            assert f"Error: no ML Metadata database at {output / 'metadata.sqlite'}" in result.stderr
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(tmp_path / "metadata.sqlite")
    metadata_store.MetadataStore(connection)  # a real, empty database
    assert "no pipeline run recorded in" in light(tmp_path, "runs", "--output", tmp_path).stdout
    assert light(tmp_path, "runs", "--output", tmp_path, "--json").stdout.strip() == "[]"
    assert "no pipeline run recorded in" in light(tmp_path, "compare", "--output", tmp_path, code=1).stderr


# ------------------------------------------------------------------- predict: the tiny model, `mtl serve`'s server
@pytest.fixture(scope="module")
def tiny_version(tmp_path_factory):
    from helpers.tiny_model import export_tiny

    return export_tiny(tmp_path_factory.mktemp("tiny-model") / "tiny" / "1")


@pytest.fixture(scope="module")
def server(tiny_version):
    from serving.server import ModelServer

    running = ModelServer(os.path.dirname(tiny_version), "tiny", rest_port=0, grpc_port=0).start()
    yield running
    running.stop()


ROWS = [{"x": 1.0, "n": 2}, {"x": -3.0, "city": "paris"}]


def answers(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the with block ends: nothing listens there


def test_predict_against_a_closed_port_is_a_clear_error(tmp_path, tiny_version):
    port = closed_port()
    for where in (["--url", f"http://127.0.0.1:{port}"], ["--grpc", f"127.0.0.1:{port}"]):
        result = light(tmp_path, "predict", "--model-dir", tiny_version, *where, "--timeout", 2, "--json",
                       json.dumps(ROWS[0]), code=1)
        (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
        assert error.startswith("Error: UNAVAILABLE: ") and f"127.0.0.1:{port}" in error, result.stderr
        assert "Traceback" not in result.stderr


def test_predict_over_rest_and_grpc_answers_as_the_model_does(tmp_path, tiny_version, server):
    from helpers.tiny_model import expected

    for where in (["--url", f"http://127.0.0.1:{server.rest_port}"], ["--grpc", f"127.0.0.1:{server.grpc_port}"]):
        found = answers(light(tmp_path, "predict", "--model-dir", os.path.dirname(tiny_version), *where, "--json",
                              json.dumps(ROWS)))
        for row, answer in zip(ROWS, found, strict=True):
            score, value = expected(row["x"], row.get("n", 0))
            assert answer["score"]["probability"] == pytest.approx(score, rel=1e-5)
            assert answer["score"]["label"] == ("yes" if score >= 0.5 else "no")
            assert answer["value"]["value"] == pytest.approx(value, rel=1e-5)
        one = answers(light(tmp_path, "predict", "--model-dir", tiny_version, *where, "--task", "value", "--json",
                            json.dumps(ROWS)))  # TF Serving's Regress API
        assert [a["value"]["value"] for a in one] == pytest.approx([a["value"]["value"] for a in found], rel=1e-5)


def test_the_probe_sees_tensorflow_when_a_command_loads_it(tmp_path, tiny_version):
    """Without --url/--grpc the model is loaded in-process: the probe reports TensorFlow's modules and libraries
    (so an empty report above means none were loaded, not that the probe is blind)."""
    result, modules, libraries = mtl(tmp_path, "predict", "--model-dir", tiny_version, "--json", json.dumps(ROWS[0]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow" in modules and any("tensorflow_framework" in lib for lib in libraries), libraries
    assert answers(result)[0]["score"]["label"] in ("no", "yes")


# -------------------------------------------------------------------------- runs, compare: a real run directory
@pytest.fixture(scope="module")
def two_tiny_runs(tiny_run, tmp_path_factory):
    """The session's tiny run and one more on its output with another income AUC bar (only the Evaluator and
    the Pusher run again): (output directory, [run ids, oldest first]; the first is the tiny run's own)."""
    assert tiny_run.result.returncode == 0, tiny_run.result.stderr[-3000:]
    from pipeline import history

    output = tiny_run.root / "run"
    raw = yaml.safe_load(tiny_run.config.read_text())
    raw["tasks"]["income"]["thresholds"] = {"auc": {"min": 0.07}}
    config = tmp_path_factory.mktemp("light") / "other-bar.yaml"  # the same data files: ExampleGen is cached
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = subprocess.run([MTL, "run", "--config", str(config)], capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    records = history.list_runs(str(output / "metadata.sqlite"), metrics=False)
    return output, [r.run_id for r in reversed(records)]


@pytest.mark.slow
def test_runs_lists_the_runs_with_the_metrics_the_pipeline_wrote(tmp_path, two_tiny_runs):
    output, run_ids = two_tiny_runs
    table = light(tmp_path, "runs", "--output", output).stdout
    assert all(run_id in table for run_id in run_ids) and "BLESSED" in table, table
    listed = json.loads(light(tmp_path, "runs", "--output", output, "--json").stdout)
    assert [r["run_id"] for r in listed] == run_ids[::-1]
    saved = json.load(open(output / "summary.json"))  # written by the run itself, TFMA loaded
    assert listed[0]["run_id"] == saved["run_id"] and listed[0]["verdict"] == "BLESSED"
    assert listed[0]["metrics"] == [m for m in saved["metrics"] if m["bound"]] != []
    assert "Evaluator" in listed[0]["ran"] and "Trainer" in listed[0]["cached"]


@pytest.mark.slow
def test_compare_shows_the_changed_bar_and_both_runs_metrics(tmp_path, two_tiny_runs):
    output, run_ids = two_tiny_runs
    text = light(tmp_path, "compare", "--output", output).stdout  # previous latest
    assert f"A  {run_ids[-2]}" in text and f"B  {run_ids[-1]}" in text, text
    text = light(tmp_path, "compare", run_ids[0], "latest", "--output", output).stdout
    changed = [line.split() for line in text.splitlines() if line.startswith("tasks.")]
    assert ["tasks.income.thresholds.auc.min", "0.1", "0.07"] in changed, text
    pair = json.loads(light(tmp_path, "compare", run_ids[0], "latest", "--output", output, "--json").stdout)
    auc = next(m for m in pair["metrics"] if (m["task"], m["metric"]) == ("income", "auc"))
    assert auc["a"] == pytest.approx(auc["b"]) and (auc["bound_a"], auc["bound_b"]) == (">= 0.1", ">= 0.07")
