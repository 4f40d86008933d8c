"""Start-up noise that every `mtl` command printed on a CPU-only machine, kept off the terminal without hiding
real errors (`install`, called by the CLI before anything imports TensorFlow).

- TensorFlow's C++ log level: TF_CPP_MIN_LOG_LEVEL=2 (its info and warning lines off, errors on) unless the
  user set it. It is read once, when TensorFlow loads.
- TensorFlow 2.16 registers its CUDA plugins twice and logs "Unable to register cuDNN/cuFFT/cuBLAS factory" as
  errors on every import, GPU or not (tensorflow/tensorflow#62075). The first import of tensorflow runs with
  file descriptor 2 captured; every line but those three is written back when the import ends (or fails).
- absl: TFX warns that `custom_executor_spec` is deprecated whenever a pipeline is built, because the
  ExampleGen and Pusher executors are swapped for this project's on purpose (pipeline/pipeline.py).
- Google client libraries warn at import about Python 3.10 and about their own versions.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import warnings

CUDA_REGISTRATION = re.compile(rb"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for "
                               rb"plugin cu(DNN|FFT|BLAS) when one has already been registered")
ABSL_DEPRECATION = "`custom_executor_spec` is deprecated"


def install() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
    absl_logger = logging.getLogger("absl")
    if not any(isinstance(f, _DropAbslDeprecation) for f in absl_logger.filters):
        absl_logger.addFilter(_DropAbslDeprecation())
    if "tensorflow" not in sys.modules and not any(isinstance(f, FilteredFirstImport) for f in sys.meta_path):
        sys.meta_path.insert(0, FilteredFirstImport("tensorflow", CUDA_REGISTRATION))


class _DropAbslDeprecation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ABSL_DEPRECATION)


class FilteredFirstImport(importlib.abc.MetaPathFinder):
    """On the first import of module `name`, drops the lines of what it writes to file descriptor 2 (C++ logs
    included) that match `noise`; the rest is written back. Finds nothing itself: it leaves the meta path and
    wraps the real loader's exec_module, so the module, its spec and its loader are the usual ones."""

    def __init__(self, name: str, noise: "re.Pattern[bytes]"):
        self.name, self.noise = name, noise

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module
            spec.loader.exec_module = lambda module: self._filtered(execute, module)
        return spec

    def _filtered(self, execute, module) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                execute(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = b"".join(line for line in captured.read().splitlines(keepends=True)
                                if not self.noise.search(line))
                if kept:
                    with open(2, "wb", closefd=False) as stderr:
                        stderr.write(kept)
