"""The Pusher publishes a version atomically: a watcher polling the serving directory (as TF Serving does) sees
no version or a complete one, never a half-copied one. Real TFX executors and artifacts on real files."""
import os
import threading
import time

import pytest
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.pusher import STAGING_PREFIX, AtomicPusherExecutor, remove_stale_staging
from helpers.mounts import needs_mounts, with_mounts

VARIABLES_BYTES = 96 << 20  # big enough that copying it takes a while


def model_artifacts(tmp_path, blessed=True):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    serving = tmp_path / "model" / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"pb" * 1000)
    with open(serving / "variables" / "variables.data-00000-of-00001", "wb") as f:
        f.truncate(VARIABLES_BYTES)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    return {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}


def push(executor_class, tmp_path, base, blessed=True):
    inputs, outputs = model_artifacts(tmp_path, blessed)
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(base)))
    executor_class().Do(inputs, outputs, {"push_destination": proto_utils.proto_to_json(destination)})
    return outputs["pushed_model"][0]


def watch(base, stop, seen):
    """Record, for every numeric version directory seen, whether it was complete at that moment."""
    while not stop.is_set():
        for name in os.listdir(base) if os.path.isdir(base) else []:
            if name.isdigit():
                variables = os.path.join(base, name, "variables", "variables.data-00000-of-00001")
                complete = (os.path.exists(os.path.join(base, name, "saved_model.pb")) and os.path.exists(variables)
                            and os.path.getsize(variables) == VARIABLES_BYTES)
                seen.append(complete)


def push_watched(executor_class, tmp_path):
    base = tmp_path / "serving"
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=watch, args=(str(base), stop, seen))
    watcher.start()
    try:
        pushed = push(executor_class, tmp_path, base)
        time.sleep(0.05)
    finally:
        stop.set()
        watcher.join()
    return base, pushed, seen


def test_a_watcher_never_sees_a_partial_version(tmp_path):
    base, pushed, seen = push_watched(AtomicPusherExecutor, tmp_path)
    assert seen and all(seen)
    version = pushed.get_string_custom_property("pushed_version")
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == str(base / version)
    assert sorted(os.listdir(base)) == [version]  # no staging directory left
    assert os.path.getsize(base / version / "variables" / "variables.data-00000-of-00001") == VARIABLES_BYTES


def test_the_watcher_does_catch_tfx_copying_file_by_file(tmp_path):
    """The check can fail: with TFX's own executor the version directory shows up before its files."""
    _, _, seen = push_watched(tfx_pusher.Executor, tmp_path)
    assert seen and not all(seen)


def test_an_unblessed_model_pushes_nothing_and_leaves_nothing(tmp_path):
    base = tmp_path / "serving"
    pushed = push(AtomicPusherExecutor, tmp_path, base, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert os.listdir(base) == []


def test_staging_left_by_a_crashed_push_is_removed_once_stale(tmp_path):
    old, fresh = tmp_path / f"{STAGING_PREFIX}old", tmp_path / f"{STAGING_PREFIX}new"
    for path in (old, fresh):
        (path / "1").mkdir(parents=True)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    remove_stale_staging(str(tmp_path))
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("name", ["1700000000", ".staging-abc"])
def test_serving_ignores_staging_names(tmp_path, name):
    from serving.contract import latest_version

    (tmp_path / name).mkdir()
    (tmp_path / name / "saved_model.pb").write_bytes(b"x")
    if name.isdigit():
        assert latest_version(tmp_path).name == name
    else:
        with pytest.raises(FileNotFoundError):
            latest_version(tmp_path)



PUSH_ONTO = """\
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import test_pusher
from components.pusher import AtomicPusherExecutor, PushError
test_pusher.VARIABLES_BYTES = 4 << 20  # more than the file system holds
for name in ("full", "read-only"):
    base = Path({tmp!r}) / name / "model"
    try:
        test_pusher.push(AtomicPusherExecutor, base.parent.parent / (name + "-artifacts"), base)
    except PushError as exc:
        print(name, "PushError:", exc)
    print(name, "left:", sorted(os.listdir(base)) if base.exists() else None)
"""


@needs_mounts
def test_a_push_onto_a_full_or_read_only_file_system_is_a_named_error_and_leaves_nothing(tmp_path):
    """Real file systems as the serving directory, in a private mount namespace: a 1 MB tmpfs and a read-only one."""
    import subprocess
    import sys

    from conftest import REPO

    for name in ("full", "read-only"):
        (tmp_path / name).mkdir()
        (tmp_path / f"{name}-artifacts").mkdir()
    code = PUSH_ONTO.format(tests=os.path.dirname(os.path.abspath(__file__)), tmp=str(tmp_path))
    mounts = {tmp_path / "full": "size=1m", tmp_path / "read-only": "ro,size=1m"}
    result = subprocess.run(with_mounts([sys.executable, "-c", code], mounts), cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    lines = result.stdout.splitlines()
    assert len(lines) == 4, result.stdout + result.stderr[-2000:]
    for (name, problem, left), error, listing in zip([("full", "the disk is full", "[]"),
                                                      ("read-only", "the file system is read-only", "None")],
                                                     lines[::2], lines[1::2]):
        assert error.startswith(f"{name} PushError: push to {tmp_path / name / 'model'} failed: {problem} (")
        assert "No version was published and the staged copy was removed" in error
        assert listing == f"{name} left: {left}"  # no version, no staging directory
