"""A local run makes no outbound network connection: the whole pipeline runs in a network namespace that has only
loopback (`unshare -rn`), while an audit hook records any connection or host lookup that Python code attempts."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import DATA, REPO

HELPER = os.path.join(REPO, "tests", "helpers", "offline_run.py")


def namespace_problem():
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


@pytest.mark.slow
def test_the_whole_pipeline_runs_with_only_loopback_and_tries_no_connection(tmp_path):
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample", "config.yaml")))
    raw["output"] = str(tmp_path / "run")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "network.json"
    env = dict(os.environ, MTL_NETWORK_LOG=str(log))
    script = f'ip link set lo up && exec "{sys.executable}" "{HELPER}" run --config "{config}"'
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "finished" in proc.stdout and "BLESSED" in proc.stdout
    assert json.loads(log.read_text()) == []
    assert os.listdir(tmp_path / "run" / "serving" / raw["name"])  # pushed


def test_the_audit_hook_sees_outbound_attempts():
    """The check can fail: inside the namespace an outside lookup and a connection are refused at once, and
    both are recorded; loopback traffic is not."""
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    probe = ("import json, socket, sys\n"
             f"sys.path.insert(0, {os.path.dirname(HELPER)!r})\n"
             "import network_audit\nnetwork_audit.install()\n"
             "for call in (lambda: socket.getaddrinfo('pypi.org', 443),\n"
             "             lambda: socket.create_connection(('192.0.2.1', 443), timeout=1),\n"
             "             lambda: socket.create_connection(('127.0.0.1', 9), timeout=1)):\n"
             "    try:\n        call()\n    except OSError:\n        pass\n"
             "print(json.dumps(network_audit.attempts))\n")
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", f'ip link set lo up && exec "{sys.executable}" -c "$0"',
                           probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    attempts = json.loads(proc.stdout)
    assert {"event": "socket.getaddrinfo", "host": "pypi.org"} in attempts
    assert {"event": "socket.connect", "address": ["192.0.2.1", "443"]} in attempts
    assert not [a for a in attempts if "127.0.0.1" in json.dumps(a)]
