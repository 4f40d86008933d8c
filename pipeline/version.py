"""Code version: package version plus a fingerprint of the sources, so cached TFX outputs never go stale."""
import functools
import hashlib
from pathlib import Path

from pipeline import __version__

DATA_CODE = ("pipeline", "components")
MODEL_CODE = ("pipeline", "trainer")


@functools.lru_cache(maxsize=None)
def code_version(packages=DATA_CODE + ("trainer",)) -> str:
    """Version + fingerprint of the given packages' sources (a component passes the code it runs)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
