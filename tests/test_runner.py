"""Local runner set-up that needs no pipeline run."""
import os

import pytest

from pipeline import config as cfg
from pipeline.runners.local import stage_schema


def _config(schema_path):
    return cfg.parse_config({"name": "s", "data": {"train": "x.csv"}, "schema": str(schema_path),
                             "features": {"a": {"type": "numeric"}}, "tasks": {"t": {"type": "regression",
                                                                                     "label": "y"}}})


def test_edited_schema_gets_a_new_staged_path(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "a" type: FLOAT }\n')
    first = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    again = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    schema.write_text('feature { name: "a" type: INT }\n')
    edited = stage_schema(_config(schema), str(tmp_path / "out")).schema_path
    assert first == again != edited
    assert open(first).read() != open(edited).read() == schema.read_text()


def test_config_without_schema_is_unchanged(tmp_path):
    config = cfg.parse_config({"name": "s", "data": {"train": "x.csv"}, "features": {"a": {"type": "numeric"}},
                               "tasks": {"t": {"type": "regression", "label": "y"}}})
    assert stage_schema(config, str(tmp_path)) is config
    assert not os.listdir(tmp_path)


def test_a_second_run_on_the_same_output_fails_at_once_naming_the_holder(tmp_path):
    import subprocess
    import sys

    from conftest import REPO, load
    from pipeline.runners import local

    code = ("import sys, time\nfrom pipeline.runners.local import output_lock\n"
            "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        os.chdir(REPO)
        with pytest.raises(local.RunLocked, match=f"in use by another run \\(pid {holder.pid}, started "):
            local.run(load("census_sample/config.yaml", output=str(tmp_path)))
        assert os.listdir(tmp_path) == [local.LOCK_FILE]  # nothing else written: no MLMD, no artifacts
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait()
    with local.output_lock(str(tmp_path)):  # the OS released the dead holder's lock
        assert open(tmp_path / local.LOCK_FILE).read().startswith(f"pid {os.getpid()},")
