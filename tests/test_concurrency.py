"""Two runs at once on different outputs do not interfere (each its own MLMD, artifacts and lock); a second run
on the same output is refused while the first holds it (tests/test_runner.py covers the lock itself)."""
import os
import sqlite3
import subprocess
import sys

import pytest
import yaml

from conftest import DATA, REPO

pytestmark = pytest.mark.slow


def _config(tmp_path, name):
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample", "config.yaml")))
    raw["output"] = str(tmp_path / name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path), raw["output"]


def _start(config):
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--until", "transform"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_runs_on_different_outputs_at_the_same_time(tmp_path):
    (a_config, a_out), (b_config, b_out) = _config(tmp_path, "a"), _config(tmp_path, "b")
    runs = [_start(a_config), _start(b_config)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, text in zip(runs, outputs):
        assert run.returncode == 0, text[-3000:]
    for output in (a_out, b_out):
        db = sqlite3.connect(os.path.join(output, "metadata.sqlite"))
        uris = [u for (u,) in db.execute("SELECT uri FROM Artifact") if u]
        runs_seen = db.execute("SELECT COUNT(*) FROM Context c JOIN Type t ON c.type_id = t.id "
                               "WHERE t.name = 'pipeline_run'").fetchone()[0]
        transform = db.execute("SELECT COUNT(*) FROM Execution e JOIN Type t ON e.type_id = t.id "
                               "WHERE t.name LIKE '%Transform' AND e.last_known_state = 3").fetchone()[0]
        assert runs_seen == 1 and transform == 1
        assert uris and all(u.startswith(os.path.join(output, "")) or not u.startswith("/") for u in uris), uris
        assert os.path.isdir(os.path.join(output, "tfx", "Transform", "transform_graph"))
