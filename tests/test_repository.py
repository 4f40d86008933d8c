"""A version that fails to load is retried with exponential back-off while its files stay the same, and at once
when they change; the serving version is never replaced by a broken one."""
import time

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
