"""Files written whole or not at all (pipeline/files.py), used by the data preparers, the DAG compiler, the
schema staging, the summary, the report and the scale bench; and which files the code version covers."""
import os
import stat

import pytest

from pipeline.files import atomic_file, write_atomically


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_finished_write_replaces_the_file_with_umask_permissions(tmp_path):
    target = tmp_path / "new" / "folder" / "out.bin"
    old = os.umask(0o027)
    try:
        write_atomically(target, b"\x00\x01")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    write_atomically(target, "tekst ü")
    assert target.read_text(encoding="utf-8") == "tekst ü"
    assert os.listdir(target.parent) == ["out.bin"]


def test_code_version_covers_what_computes_and_not_what_reports():
    from pipeline import version

    files = {p.relative_to(version.ROOT).as_posix() for p in version.fingerprinted(version.DATA_CODE + ("trainer",))}
    assert {"pipeline/config.py", "pipeline/pipeline.py", "components/transform.py", "components/gates/data_gate.py",
            "trainer/model.py", "trainer/run.py"} <= files
    assert not any(f.startswith(("pipeline/report/", "pipeline/history.py", "pipeline/cli.py")) for f in files)
