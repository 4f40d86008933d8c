"""The smallest full pipeline run (two binary tasks on 400 census rows, one epoch), made once per test session by
the `tiny_run` fixture (conftest.py) as a real `mtl run` process with a fresh TMPDIR and - where the machine allows
one - inside a network namespace that has only loopback, with the network audit hook recording every connection
or host lookup attempted. test_no_network.py and test_env_failures.py read it; the latter runs it on."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(REPO, "tests", "data", "census_sample")
OFFLINE_RUN = os.path.join(REPO, "tests", "helpers", "offline_run.py")
with open(os.path.join(SAMPLE, "config.yaml")) as _f:
    SAMPLE_TASKS = yaml.safe_load(_f)["tasks"]  # never_married lists its negative values


def tiny_config(directory: Path, **changes) -> Path:
    """Two binary tasks on 400 census rows, one epoch: the smallest full pipeline run."""
    for split, rows in (("train", 401), ("eval", 201)):
        with open(os.path.join(SAMPLE, f"{split}.csv")) as src, open(directory / f"{split}.csv", "w") as dst:
            dst.writelines(line for _, line in zip(range(rows), src))
    raw = {"name": "tiny", "data": {"train": str(directory / "train.csv"), "eval": str(directory / "eval.csv")},
           "features": {"age": {"type": "numeric"}, "sex": {"type": "categorical"}},
           "tasks": {"income": {"type": "binary", "label": "income", "positive": "50000+.",
                                "thresholds": {"auc": {"min": 0.1}}},
                     "never_married": {**SAMPLE_TASKS["never_married"], "thresholds": {}}},
           "model": {"shared_units": [8], "tower_units": [4]}, "training": {"epochs": 1, "batch_size": 64},
           "output": str(directory / "run")}
    raw.update(changes)
    path = directory / f"config-{len(list(directory.glob('config*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def namespace_problem() -> Optional[str]:
    """Why a loopback-only network namespace cannot be made here (None when it can)."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "needs util-linux `unshare` and iproute2 `ip`"
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up && ip -o link"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        return f"unprivileged network namespaces are not allowed here: {probe.stderr.strip()[:200]}"
    if [line for line in probe.stdout.splitlines() if ": lo:" not in line]:
        return "the namespace has interfaces besides loopback"
    return None


@dataclass
class TinyRun:
    root: Path
    config: Path
    result: subprocess.CompletedProcess
    temp: Path  # the run's TMPDIR
    temp_left: List[str]  # what was in it right after the run
    attempts: Optional[list]  # network attempts the audit hook recorded; None without a namespace
    offline_problem: Optional[str]  # why the run could not be made loopback-only


def run(root: Path) -> TinyRun:
    temp = root / "tmp"
    temp.mkdir()
    config = tiny_config(root)
    log = root / "network.json"
    env = {**os.environ, "TMPDIR": str(temp), "MTL_NETWORK_LOG": str(log)}
    problem = namespace_problem()
    command = f'exec "{sys.executable}" "{OFFLINE_RUN}" run --config "{config}"'
    command = command if problem else f"ip link set lo up && {command}"
    result = subprocess.run(["sh", "-c", command] if problem else ["unshare", "-rn", "sh", "-c", command], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=1500)
    attempts = json.loads(log.read_text()) if log.exists() and not problem else None
    return TinyRun(root, config, result, temp, os.listdir(temp), attempts, problem)
