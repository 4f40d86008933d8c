"""A local run makes no outbound network connection: the whole pipeline runs in a network namespace that has only
loopback (`unshare -rn`), while an audit hook records any connection or host lookup that Python code attempts."""
import json
import os
import subprocess
import sys

import pytest

from helpers.tiny_run import OFFLINE_RUN as HELPER, namespace_problem


@pytest.mark.slow
def test_the_whole_pipeline_runs_with_only_loopback_and_tries_no_connection(tiny_run):
    """The session's tiny run (tests/helpers/tiny_run.py) ran the whole pipeline inside the namespace."""
    if tiny_run.offline_problem:
        pytest.skip(tiny_run.offline_problem)
    proc = tiny_run.result
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "finished" in proc.stdout and "BLESSED" in proc.stdout
    assert tiny_run.attempts == []
    assert os.listdir(tiny_run.root / "run" / "serving" / "tiny")  # pushed


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
