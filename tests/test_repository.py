"""A version that fails to load is retried with exponential back-off while its files stay the same, and at once
when they change; the serving version is never replaced by a broken one; a version is loaded only once its files
have settled; a deleted serving version gives way to the newest remaining one."""
import os
import shutil
import time
from pathlib import Path

import pytest

from serving import repository
from serving.repository import ModelRepository


def broken_version(base, version=5, content=b"not a SavedModel"):
    path = base / str(version)
    path.mkdir(parents=True, exist_ok=True)
    (path / "saved_model.pb").write_bytes(content)
    return path


def attempts(repo, version=5):
    return repo._failed[version][1]


def test_a_broken_version_backs_off_and_retries_when_its_files_change(tmp_path):
    repo = ModelRepository("m", tmp_path, poll_seconds=0.1)
    path = broken_version(tmp_path)
    assert repo.refresh(require_settled=False) is None
    assert attempts(repo) == 1 and repo.statuses()[0].state == "START" and repo.statuses()[0].error
    for _ in range(20):  # 20 fast scans inside the 0.2 s back-off: no new load attempt
        repo.refresh(require_settled=False)
    assert attempts(repo) == 1
    time.sleep(0.25)
    repo.refresh(require_settled=False)
    assert attempts(repo) == 2  # retried after the back-off, which doubles
    assert repo._failed[5][2] - time.monotonic() > 0.3
    (path / "saved_model.pb").write_bytes(b"still not a SavedModel, but new bytes")
    repo.refresh(require_settled=False)
    assert attempts(repo) == 1  # changed files: retried at once, count restarts
    assert repo._current is None  # nothing broken ever serves


def test_the_back_off_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(repository, "MAX_RETRY_SECONDS", 0.5)
    repo = ModelRepository("m", tmp_path, poll_seconds=10.0)
    broken_version(tmp_path)
    repo.refresh(require_settled=False)
    assert repo._failed[5][2] - time.monotonic() <= 0.5


# ------------------------------------------------------------------ the hot-swap safety: settled copies only
@pytest.fixture(scope="module")
def tiny_version(tmp_path_factory):
    from helpers.tiny_model import export_tiny

    return Path(export_tiny(tmp_path_factory.mktemp("tiny") / "tiny" / "1"))


def test_a_version_loads_only_once_its_files_have_stopped_changing(tiny_version, tmp_path):
    """refresh() with require_settled=True (what the watcher runs): a version is loaded on the scan after the one
    that saw its files unchanged — never on first sight, never while a copy is still landing."""
    repo = ModelRepository("tiny", tmp_path, poll_seconds=0.1)
    shutil.copytree(tiny_version, tmp_path / "1")
    assert repo.refresh() is None and repo._current is None  # first sight: not yet
    assert repo.refresh() == 1  # same files on the second scan: settled, loaded
    (tmp_path / "2").mkdir()  # a Pusher copy landing in steps
    shutil.copy(tiny_version / "saved_model.pb", tmp_path / "2")
    assert repo.refresh() is None
    shutil.copytree(tiny_version / "variables", tmp_path / "2" / "variables")
    assert repo.refresh() is None  # changed since the last scan: still landing
    for item in tiny_version.iterdir():
        if not (tmp_path / "2" / item.name).exists():
            (shutil.copytree if item.is_dir() else shutil.copy)(item, tmp_path / "2" / item.name)
    assert repo.refresh() is None and repo.current().version == 1
    assert repo.refresh() == 2 and repo.current().version == 2
    assert {s.version: s.state for s in repo.statuses()} == {1: "END", 2: "AVAILABLE"}
    assert not any(s.error for s in repo.statuses())  # never tried half-copied: no failed load on record


def test_a_deleted_serving_version_falls_back_to_the_newest_remaining_one(tiny_version, tmp_path):
    repo = ModelRepository("tiny", tmp_path, poll_seconds=0.1)
    for version in (1, 3, 7):
        shutil.copytree(tiny_version, tmp_path / str(version))
    assert repo.refresh(require_settled=False) == 7
    repo.refresh()  # a scan that fingerprints every version (the fallback must not wait for a second one)
    shutil.rmtree(tmp_path / "7")
    assert repo.refresh() == 3 and repo.current().version == 3  # the newest remaining, at once
    shutil.rmtree(tmp_path / "3")
    shutil.rmtree(tmp_path / "1")
    assert repo.refresh() is None
    with pytest.raises(LookupError, match=r"Servable not found for request: Latest\(tiny\)"):
        repo.current()
    assert {s.version: s.state for s in repo.statuses()} == {3: "END", 7: "END"}
    shutil.copytree(tiny_version, tmp_path / "2")  # a new push serves again
    repo.refresh()
    assert repo.refresh() == 2


def test_errors_kept_for_clients_name_no_server_path(tmp_path):
    repo = ModelRepository("m", tmp_path, poll_seconds=0.1)
    broken_version(tmp_path)
    repo.refresh(require_settled=False)
    [status] = repo.statuses()
    assert "<model base path>/5/saved_model.pb" in status.error, status.error
    assert str(tmp_path) not in status.error and os.path.realpath(tmp_path) not in status.error
