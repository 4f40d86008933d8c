"""Code version: package version plus a fingerprint of the sources, so cached TFX outputs never go stale."""
import functools
import hashlib
from pathlib import Path

from pipeline import __version__

_PACKAGES = ("pipeline", "components", "trainer")


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
