"""Files written whole or not at all: a temporary file beside the target, renamed over it when complete."""
from __future__ import annotations

import contextlib
import os
from typing import IO, Iterator, Union


@contextlib.contextmanager
def atomic_file(path: Union[str, os.PathLike], mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a new temporary file in path's folder (created if needed) and yield it; when the block ends
    without an error, rename it over `path` (one step on POSIX: readers see the old file or the new one),
    otherwise remove it. Opened with 'x', not mkstemp, so it gets the usual umask permissions."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomically(path: Union[str, os.PathLike], content: Union[str, bytes]) -> None:
    """`content` to `path` through atomic_file (text as UTF-8)."""
    if isinstance(content, bytes):
        with atomic_file(path, "wb") as f:
            f.write(content)
    else:
        with atomic_file(path, "w", encoding="utf-8") as f:
            f.write(content)
