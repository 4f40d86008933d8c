"""Code version: package version plus a fingerprint of the sources, so cached TFX outputs never go stale."""
import functools
import hashlib
from pathlib import Path

from pipeline import __version__

DATA_CODE = ("pipeline", "components")
MODEL_CODE = ("pipeline", "trainer")
# What reads results back or prints them, never what computes them: editing these keeps every cached output.
PRESENTATION = ("pipeline/report/", "pipeline/history.py", "pipeline/summary.py", "pipeline/progress.py",
                "pipeline/cli.py", "pipeline/docs.py")
ROOT = Path(__file__).resolve().parent.parent


def fingerprinted(packages) -> list:
    """The source files whose content is in the code version of these packages."""
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))
            if not path.relative_to(ROOT).as_posix().startswith(PRESENTATION)]


@functools.lru_cache(maxsize=None)
def code_version(packages=DATA_CODE + ("trainer",)) -> str:
    """Version + fingerprint of the given packages' sources (a component passes the code it runs)."""
    digest = hashlib.sha256()
    for path in fingerprinted(packages):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
