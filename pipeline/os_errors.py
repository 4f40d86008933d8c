"""What the operating system said when a write failed, in the words a user acts on ("the disk is full"), for the
named errors of `mtl run` and the Pusher. Pure Python: imports nothing heavy."""
from __future__ import annotations

import errno
import os
from typing import Optional, Tuple

PROBLEMS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied"}


def os_failure(exc: Optional[BaseException]) -> Optional[Tuple[str, str]]:
    """(problem, the OS's own line) when an exception, or one it was raised from, is the OS refusing a write: an
    OSError with one of PROBLEMS' codes, or an error carrying the OS's words, as TensorFlow's file-system errors do
    (ResourceExhaustedError '<file>; No space left on device'; Beam wraps them in longer messages). None otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in PROBLEMS:
            return PROBLEMS[exc.errno], str(exc)
        for code, problem in PROBLEMS.items():
            words = os.strerror(code)
            line = next((line.strip() for line in str(exc).splitlines() if words in line), None)
            if line:
                return problem, line[-300:]
        exc = exc.__cause__ or exc.__context__
    return None


def os_problem(exc: Optional[BaseException]) -> Optional[str]:
    """os_failure's problem alone ('the disk is full'), or None."""
    found = os_failure(exc)
    return found[0] if found else None
