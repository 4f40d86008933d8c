"""Code version: package version plus a fingerprint of the sources a component actually runs, so cached TFX
outputs never go stale and never re-run for code they do not use.

A component's code is the import closure of its entry modules (pipeline/core/imports.py: every in-repo import,
function-level ones too): the data code is what ExampleGen, the gates and Transform import (and
pipeline/pipeline.py, which sets how they read the data); the model code is what the Trainer's run_fn imports
(trainer/export.py -> pipeline/core/model_contract.py included). Editing a module outside a closure (the runners, the
report, a dataset generator) keeps every cached output; editing one inside re-runs what uses it."""
import functools
import hashlib
from pathlib import Path
from typing import Iterable, List

from pipeline import __version__
from pipeline.core import imports

# Entry modules; a package name stands for every module in it.
DATA_CODE = ("components.example_gen", "components.gates", "components.transform", "pipeline.pipeline")
MODEL_CODE = ("trainer.run",)
ROOT = Path(__file__).resolve().parent.parent


def fingerprinted(entries: Iterable[str], root: Path = ROOT) -> List[Path]:
    """The source files whose content is in the code version of these entry modules (or packages)."""
    edges = imports.graph(root)
    starts = [m for entry in entries for m in edges if m == entry or m.startswith(entry + ".")]
    if not starts:
        raise KeyError(f"no module or package {list(entries)} under {root}")
    known = imports.modules(root)
    return sorted(known[m] for m in imports.closure(edges, starts))


def fingerprint(entries: Iterable[str], root: Path = ROOT) -> str:
    """Version + hash of the paths (relative to root) and contents of fingerprinted(entries, root)."""
    digest = hashlib.sha256()
    for path in fingerprinted(entries, root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=None)
def code_version(entries=DATA_CODE + ("trainer",)) -> str:
    """fingerprint(entries) of this checkout (a component passes the code it runs)."""
    return fingerprint(entries)
