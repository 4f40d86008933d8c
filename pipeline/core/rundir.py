"""The layout of an output directory (`output` in the config), owned in one place.

    <output>/metadata.sqlite      MLMD database (LocalDagRunner)
    <output>/tfx/                 TFX pipeline root: <component>/<output key>/<execution id>/
    <output>/serving/<name>/      pushed SavedModels, one folder per version
    <output>/logs/                run-<time>.log of every `mtl run` (pipeline/progress.py)
    <output>/reports/<run id>/    `mtl report` output
    <output>/schemas/<hash>/      curated schemas staged by content (pipeline/runners/local.py)
    <output>/inference/<run id>.jsonl  answers of the run's BulkInferrer (`inference.data`)
    <output>/summary.json         the latest run's summary
    <output>/.mtl-run.lock        held (flock) by the run using the directory; names its pid
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

METADATA_FILE = "metadata.sqlite"
PIPELINE_ROOT = "tfx"
SERVING_DIR = "serving"
LOG_DIR = "logs"
REPORTS_DIR = "reports"
SCHEMAS_DIR = "schemas"
SUMMARY_FILE = "summary.json"
INFERENCE_DIR = "inference"
LOCK_FILE = ".mtl-run.lock"


@dataclass(frozen=True)
class RunDir:
    """Paths under one output directory (given as is: callers pass an absolute path where they need one)."""

    output: str

    @property
    def metadata(self) -> str:
        return os.path.join(self.output, METADATA_FILE)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output, PIPELINE_ROOT)

    @property
    def serving(self) -> str:
        return os.path.join(self.output, SERVING_DIR)

    def serving_for(self, name: str) -> str:
        """Where the Pusher of pipeline `name` writes its versions."""
        return os.path.join(self.serving, name)

    @property
    def logs(self) -> str:
        return os.path.join(self.output, LOG_DIR)

    def new_log(self) -> str:
        """A log file named by the current time: logs/run-<YYYYmmdd-HHMMSS>.log."""
        return os.path.join(self.logs, time.strftime("run-%Y%m%d-%H%M%S.log"))

    @property
    def reports(self) -> str:
        return os.path.join(self.output, REPORTS_DIR)

    def report_for(self, run_id: str) -> str:
        return os.path.join(self.reports, run_id)

    def inference_for(self, run_id: str) -> str:
        return os.path.join(self.output, INFERENCE_DIR, f"{run_id}.jsonl")

    def schema_for(self, content_hash: str) -> str:
        return os.path.join(self.output, SCHEMAS_DIR, content_hash, "schema.pbtxt")

    @property
    def summary(self) -> str:
        return os.path.join(self.output, SUMMARY_FILE)

    @property
    def lock(self) -> str:
        return os.path.join(self.output, LOCK_FILE)

    @staticmethod
    def lock_text() -> str:
        """What a run writes into the lock file it holds: 'pid <pid>, started <time>'."""
        return f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"

    def lock_holder(self) -> Optional[int]:
        """The pid named in the lock file, None when there is none (or it is unreadable)."""
        try:
            with open(self.lock) as f:
                words = f.read().replace(",", " ").split()
            return int(words[words.index("pid") + 1])
        except (OSError, ValueError, IndexError):
            return None

    def holder_alive(self) -> bool:
        """Whether the process named in the lock file still exists. Reads the file only: taking the lock, even
        briefly, could make a starting run fail."""
        pid = self.lock_holder()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
