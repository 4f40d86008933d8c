"""When the machine, not the config, is the problem: a read-only or full file system, a malformed run history, and
TFX's temporary files. Each case runs the real `mtl` command in its own process and asserts a one-line error that
names the path and what to do, no traceback, and nothing half-written.

Read-only and full file systems are real ones: a tmpfs mounted (read-only, or a few KB large) in a private mount
namespace of the command's process (tests/helpers/mounts.py), invisible to the rest of the machine and gone when
the process ends. Where no such namespace can be made those cases are skipped, saying so.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
import yaml

from conftest import REPO
from helpers.mounts import needs_mounts, with_mounts
from helpers.tiny_run import tiny_config
from pipeline import beam


def mtl(*args, mounts=None, then="", env=None, timeout=1500):
    """`mtl ARGS` in a new process (with `mounts` {path: tmpfs options} in a private mount namespace, and the
    shell command `then` run in it afterwards, while the mounts still exist)."""
    command = [sys.executable, "-m", "pipeline.cli", *map(str, args)]
    if mounts:
        command = with_mounts(command, mounts, then)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def files_below(directory):
    """{relative path: size} of every file below a directory."""
    return {os.path.relpath(os.path.join(root, name), directory): os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(directory) for name in names}


# ------------------------------------------------------------------------------------ output directory
@needs_mounts
@pytest.mark.parametrize("where", ["parent", "output"])
def test_a_read_only_output_directory_is_a_named_error_and_nothing_is_written(tmp_path, where):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    output = read_only / "run" if where == "parent" else read_only
    config = tiny_config(tmp_path, output=str(output))
    result = mtl("run", "--config", config, mounts={read_only: "ro,size=16k"}, then=f"ls -A {read_only} > "
                 f"{tmp_path / 'listing'}")
    assert result.returncode == 1
    assert (f"Error: output directory {output} cannot be written: the file system is read-only; set `output` to a "
            "writable directory") in result.stderr
    assert (tmp_path / "listing").read_text() == ""  # as seen inside the namespace: nothing written


def test_an_output_path_below_a_file_is_a_named_error(tmp_path):
    (tmp_path / "taken").write_text("a file where the output's parent should be")
    config = tiny_config(tmp_path, output=str(tmp_path / "taken" / "run"))
    result = mtl("run", "--config", config)
    assert result.returncode == 1
    assert (f"Error: output directory {tmp_path / 'taken' / 'run'} cannot be written: {tmp_path / 'taken'} is a "
            "file, not a directory") in result.stderr
    assert (tmp_path / "taken").read_text().startswith("a file")


def test_the_os_refusal_is_read_from_real_errors_and_their_chains():
    """/dev/full refuses every write with ENOSPC: through Python (OSError) and through tf.io.gfile, which raises
    ResourceExhaustedError as the Pusher's copy does; a wrapping error (TFX, Beam) still names it."""
    import tensorflow as tf

    from pipeline.os_errors import os_failure

    with pytest.raises(OSError) as python_error:
        with open("/dev/full", "w") as f:
            f.write("x")
    with pytest.raises(tf.errors.ResourceExhaustedError) as tf_error:
        with tf.io.gfile.GFile("/dev/full", "w") as f:
            f.write("x" * 100_000)
    assert os_failure(python_error.value) == ("the disk is full", str(python_error.value))
    assert os_failure(tf_error.value) == ("the disk is full", "/dev/full; No space left on device")
    try:
        try:
            raise tf_error.value
        except tf.errors.OpError as exc:
            raise RuntimeError("Transform failed [while running 'WriteTransformFn']\nmore") from exc
    except RuntimeError as wrapped:
        assert os_failure(wrapped) == ("the disk is full", "/dev/full; No space left on device")
    assert os_failure(ValueError("column 'age' is not numeric")) is None


# --------------------------------------------------------------------------------------- run history
@pytest.mark.parametrize("content, reason", [
    (bytes(range(256)) * 20, "file is not a database"),
    (None, "an SQLite file without ML Metadata's tables"),  # another program's SQLite database
])
def test_a_malformed_metadata_database_stops_mtl_run_before_anything_is_written(tmp_path, content, reason):
    import sqlite3

    output = tmp_path / "run"
    output.mkdir()
    database = output / "metadata.sqlite"
    if content is None:
        with sqlite3.connect(database) as connection:
            connection.execute("create table notes (text)")
    else:
        database.write_bytes(content)
    before = database.read_bytes()
    result = mtl("run", "--config", tiny_config(tmp_path, output=str(output)))
    assert result.returncode == 1
    assert f"Error: {database} is not a readable ML Metadata database ({reason}" in result.stderr
    assert "move it away to start a new history" in result.stderr
    assert os.listdir(output) == ["metadata.sqlite"] and database.read_bytes() == before  # no lock, no artifacts


# ------------------------------------------------------------------------------------------ start-up
def test_compile_for_kubeflow_names_every_missing_option_at_once_without_importing_tfx(tmp_path):
    code = ("import sys\nfrom pipeline.cli import main\n"
            f"try:\n    main(['compile', '--config', {str(tiny_config(tmp_path))!r}, '--target', 'kubeflow', "
            f"'--out', {str(tmp_path / 'spec.txt')!r}])\n"
            "except SystemExit as done:\n    assert done.code == 1\n"
            "print('imported tfx' if 'tfx' in sys.modules else 'no tfx')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "no tfx", result.stderr
    assert "Error: kubeflow:\n  - no container image: set orchestration.image" in result.stderr
    assert "\n  - no pipeline root: set orchestration.pipeline_root" in result.stderr
    assert "\n  - output file must end in .yaml (PipelineSpec) or .json (PipelineJob)" in result.stderr


def test_commands_that_need_no_tensorflow_do_not_import_it(tmp_path):
    """`mtl --help`, validate, deploy, runs, compare (and a compile that lacks options) start without TF/TFX."""
    config = str(tiny_config(tmp_path))
    commands = [["--help"], ["validate", "--config", config], ["deploy", "--config", config, "--out",
                str(tmp_path / "deploy")], ["runs", "--output", str(tmp_path)], ["compare", "--output", str(tmp_path)],
                ["compile", "--config", config, "--target", "kubeflow"]]
    code = ("import sys\nfrom pipeline.cli import main\n"
            f"for args in {commands!r}:\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "    heavy = sorted(m for m in ('tensorflow', 'tfx', 'apache_beam', 'ml_metadata') if m in sys.modules)\n"
            "    print(args[0], heavy or 'light', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.split(" ")[0] in {c[0] for c in commands}]
    assert lines == [f"{c[0]} light" for c in commands], result.stderr
    assert (tmp_path / "deploy" / "models.config").exists()


def test_noise_written_to_fd_2_during_the_first_import_is_dropped_and_the_rest_kept(tmp_path):
    """The filter that hides TensorFlow's CUDA-registration errors, on a module that writes to file descriptor 2
    as TensorFlow's C++ code does; a real error line next to the noise survives, and so does an import error."""
    (tmp_path / "noisy.py").write_text(
        "import os\n"
        "os.write(2, b'E0000 cuda_dnn.cc:10575] Unable to register cuDNN factory: Attempting to register factory "
        "for plugin cuDNN when one has already been registered\\n')\n"
        "os.write(2, b'E0000 real.cc:1] something is really wrong\\n')\n"
        "if os.environ.get('FAIL'):\n    raise ImportError('broken install')\n")
    code = ("import sys\nfrom pipeline.quiet import CUDA_REGISTRATION, FilteredFirstImport\n"
            "sys.meta_path.insert(0, FilteredFirstImport('noisy', CUDA_REGISTRATION))\n"
            "try:\n    import noisy\nexcept ImportError as e:\n    print('import failed:', e)\n"
            "import noisy\n")  # a second import (or a retry) is not filtered again
    for fail in ("", "1"):
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(tmp_path), "FAIL": fail})
        assert "Unable to register cuDNN" not in result.stderr.splitlines()[0]
        assert result.stderr.splitlines()[0] == "E0000 real.cc:1] something is really wrong"
        assert ("import failed: broken install" in result.stdout) == bool(fail)


@pytest.mark.slow
def test_mtl_compile_prints_its_warnings_and_no_tensorflow_or_absl_noise(tmp_path):
    config = tiny_config(tmp_path)
    result = mtl("compile", "--config", config, "--target", "kubeflow", "--image", "example/tfx-mtl:1",
                 "--pipeline-root", "gs://bucket/root", "--out", tmp_path / "spec.yaml", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Unable to register" not in result.stderr and "custom_executor_spec" not in result.stderr
    assert "FutureWarning" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings and len(warnings) == len(result.stderr.strip().splitlines()), result.stderr


# ------------------------------------------------------------------------------ TFX's temporary files
def test_tfx_builds_no_package_for_direct_runner_args(tmp_path, monkeypatch):
    """TFX's Beam executors copy TFX into /tmp and build an sdist (49 MB, never removed) unless the args name
    the workers' dependencies: beam.plan's DirectRunner args do, so TFX returns them as they are."""
    from tfx.utils import dependency_utils

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where TFX's mkdtemp() would write
    direct = [beam.IN_MEMORY, beam.MULTI_PROCESSING, plan(["--direct_running_mode=multi_threading"]),
              plan(["--runner=direct"])]
    for args in direct:
        assert dependency_utils.make_beam_dependency_flags(args) == args
    assert os.listdir(tmp_path) == []


def plan(beam_args):
    from conftest import load

    return beam.plan(load("census_sample/config.yaml", beam_args=beam_args))


def test_remote_runner_args_and_named_dependencies_are_left_as_given():
    dataflow = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/t"]
    assert plan(dataflow) == dataflow  # remote workers need TFX's package: TFX builds it as before
    own = ["--direct_running_mode=in_memory", "--setup_file=./setup.py"]
    assert plan(own) == own
    assert plan(["--direct_num_workers=2"]) == ["--direct_num_workers=2", beam.LOCAL_WORKERS]


@pytest.mark.parametrize("mode_args", [beam.IN_MEMORY, beam.MULTI_PROCESSING + ["--direct_num_workers=1"]],
                         ids=["in_memory", "multi_processing"])
def test_the_direct_runner_ignores_the_flag_in_both_modes(tmp_path, monkeypatch, mode_args):
    """A real Beam pipeline under the args: it computes, and stages no dependency anywhere in the temp dir."""
    import apache_beam as beam_sdk
    from apache_beam.testing.util import assert_that, equal_to

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # multi_processing workers are subprocesses
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with beam_sdk.Pipeline(argv=mode_args) as p:
        assert_that(p | beam_sdk.Create(range(100)) | beam_sdk.CombineGlobally(sum), equal_to([4950]))
    assert [n for n in os.listdir(tmp_path) if not n.startswith("beam-pipeline-temp")] == []


@pytest.mark.slow
def test_a_run_leaves_nothing_in_the_temp_dir(tiny_run):
    """The session's tiny run (tests/helpers/tiny_run.py: a real `mtl run` process with its own TMPDIR)."""
    result = tiny_run.result
    assert result.returncode == 0, result.stderr[-3000:]
    assert "BLESSED" in result.stdout and "Traceback" not in result.stderr + result.stdout
    assert tiny_run.temp_left == []  # before: one 49 MB tmpXXXX/build/tfx per Beam component
    assert "Unable to register" not in result.stderr and "custom_executor_spec" not in result.stderr


@needs_mounts
@pytest.mark.slow
def test_a_full_disk_in_the_pusher_is_a_named_error_and_publishes_nothing(tiny_run):
    """The same data with a new threshold (only the Evaluator and the Pusher run again), pushed onto a 16 KB
    file system mounted over <output>/serving."""
    from pipeline import history
    from pipeline.runners import local

    root, temp = tiny_run.root, tiny_run.temp
    assert tiny_run.result.returncode == 0, tiny_run.result.stderr[-3000:]
    raw = yaml.safe_load(tiny_run.config.read_text())
    raw["tasks"]["income"]["thresholds"] = {"auc": {"min": 0.05}}
    config = root / "new-threshold.yaml"  # the same data files (rewriting them would re-run ExampleGen)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    serving = root / "run" / "serving"
    before = files_below(serving)
    assert any(path.endswith("saved_model.pb") for path in before)
    result = mtl("run", "--config", config, mounts={serving: "size=16k"}, env={"TMPDIR": str(temp)},
                 then=f"find {serving} -mindepth 1 > {root / 'listing'}")
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and error[0].startswith(f"Error: push to {serving / 'tiny'} failed: the disk is full ("), \
        result.stderr[-3000:]
    assert "No space left on device). No version was published and the staged copy was removed" in error[0]
    assert (root / "listing").read_text().split() == [str(serving / "tiny")]  # no version, no staging left
    assert files_below(serving) == before  # the version pushed before is untouched
    record = history.list_runs(str(root / "run" / "metadata.sqlite"))[0]
    assert record.failed_at == "Pusher"
    assert {c.name for c in record.components if c.state == "COMPLETE"} >= {"Evaluator"}
    assert os.listdir(temp) == []
    with local.output_lock(str(root / "run")):  # released
        pass
