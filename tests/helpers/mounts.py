"""Real read-only and full file systems for tests: tmpfs mounts in a private mount namespace of one command
(`unshare -m` as root; `unshare -rm`, a user namespace, for other users where the kernel allows it), invisible to
the rest of the machine and gone when the command ends."""
from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence

import pytest


@functools.lru_cache(maxsize=None)
def unshare() -> Optional[List[str]]:
    """The unshare command that may mount a tmpfs here, or None."""
    if shutil.which("unshare") is None:
        return None
    for command in (["unshare", "-m"], ["unshare", "-rm"]):
        with tempfile.TemporaryDirectory() as directory:
            probe = subprocess.run([*command, "sh", "-c", f"mount -t tmpfs -o ro,size=16k tmpfs {directory}"],
                                   capture_output=True)
        if probe.returncode == 0:
            return command
    return None


needs_mounts = pytest.mark.skipif(unshare() is None, reason="a real read-only / full file system needs a private "
                                  "mount namespace (unshare -m as root, or -rm with user namespaces allowed)")


def with_mounts(command: Sequence[str], mounts: Dict[object, str], then: str = "") -> List[str]:
    """`command` run with tmpfs file systems mounted ({path: mount options, e.g. 'ro,size=16k'}); the shell command
    `then` runs afterwards while they are still mounted. The exit status is the command's."""
    script = "".join(f"mount -t tmpfs -o {options} tmpfs {shlex.quote(str(path))} && "
                     for path, options in mounts.items())
    script += f"{shlex.join(map(str, command))}; rc=$?; {then or ':'}; exit $rc"
    return [*unshare(), "sh", "-c", script]
