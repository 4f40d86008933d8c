"""What `mtl run` shows while it runs: one line when a component ends (done, cached or failed, with its
seconds), a 'running' line once one has run ANNOUNCE_SECONDS and then every HEARTBEAT_SECONDS, and one line per
training epoch
(each task's loss, metric and loss weight). TFX, Beam, TensorFlow and Python warnings go to a log file under
<output>/logs/ instead; `--verbose` shows them on the terminal too.

The component lines come from LocalDagRunner's own log records ("Component X is running." / "is finished.",
the launcher's "Going to run a new execution N", "A cached execution N is used." and "Execution N failed.");
a finished component's line ends with its output folders, read from MLMD by that execution id (a cached
component's are an earlier run's). Epoch lines come from the logger PROGRESS_LOGGER, which trainer/run.py's
EpochLog writes to.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
import warnings
from typing import Callable, Iterator, Optional

from pipeline.core.names import PROGRESS_LOGGER
from pipeline.core.rundir import LOG_DIR, RunDir  # noqa: F401 (LOG_DIR: progress.LOG_DIR for its callers)

ANNOUNCE_SECONDS = 2.0  # quicker components (cached ones, gates) only get their end line
HEARTBEAT_SECONDS = 30.0
OWN_HANDLERS = ("tensorflow",)  # tf.get_logger() has a stderr handler of its own and does not propagate
_RUNNING = re.compile(r"Component (\S+) is running\.")
_FINISHED = re.compile(r"Component (\S+) is finished\.")
_NEW = re.compile(r"Going to run a new execution:? (?:ExecutionInfo\(execution_id=)?(\d+)")
_CACHED = re.compile(r"A cached execution (\d+) is used\.")
_FAILED = re.compile(r"Execution \d+ failed\.")


class ComponentProgress(logging.Handler):
    """Turns the runner's log records into progress lines (see the module docstring)."""

    def __init__(self, echo: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 output: Optional[str] = None):
        super().__init__(level=logging.INFO)
        self.echo, self.clock, self.output = echo, clock, output
        self._store = None
        self.component: Optional[str] = None
        self.execution: Optional[str] = None
        self.started = self.next_line = 0.0
        self.cached = self.failed = False
        self.lines = []
        self._lock = threading.RLock()
        self._busy = False  # handling a record: records logged meanwhile (MLMD logs on connect) are not ours

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break the run
            return
        with self._lock:
            if self._busy:
                return
            self._busy = True
            try:
                self._handle(record.name, message)
            finally:
                self._busy = False

    def _handle(self, logger: str, message: str) -> None:
        if logger == PROGRESS_LOGGER:
            self._say(f"    {message}")
            return
        if match := _RUNNING.search(message):
            self.component, self.started, self.cached, self.failed = match.group(1), self.clock(), False, False
            self.next_line = self.started + ANNOUNCE_SECONDS
            self.execution = None
        elif match := _NEW.search(message):
            self.execution = match.group(1)
        elif match := _CACHED.search(message):
            self.cached, self.execution = True, match.group(1)
        elif _FAILED.search(message) and self.component:
            self.failed = True
            self._say(f"  {self.component:<22} FAILED after {self.clock() - self.started:.1f} s")
        elif (match := _FINISHED.search(message)) and match.group(1) == self.component:
            state = "cached" if self.cached else "done"
            self._say(f"  {self.component:<22} {state:<7} {self.clock() - self.started:6.1f} s"
                      + self._artifacts())
            self.component = None

    def _artifacts(self) -> str:
        """'  -> tfx/Trainer/{model,model_run}/7': the execution's output folders, relative to the output
        directory, from <output>/metadata.sqlite (empty when they cannot be read: progress never fails a run)."""
        if not self.output or not self.execution:
            return ""
        try:
            from pipeline.store import outputs_of, read_only_store

            if self._store is None:
                self._store = read_only_store(RunDir(self.output).metadata)
            uris = [a.uri for found in outputs_of(self._store, int(self.execution)).values() for a in found]
        except Exception:  # noqa: BLE001
            return ""
        return f"  -> {shown_paths(uris, self.output)}" if uris else ""

    def tick(self) -> None:
        """Called about every second: a 'running' line when the component in progress is due one."""
        with self._lock:
            now = self.clock()
            if self.component and not self.failed and now >= self.next_line:
                self._say(f"  {self.component:<22} running {now - self.started:6.0f} s")
                self.next_line = now + HEARTBEAT_SECONDS

    def _say(self, line: str) -> None:
        self.lines.append(line)
        self.echo(line)


def shown_paths(uris, base: str) -> str:
    """URIs relative to base, TFX's <root>/<component>/<key>/<id> folders of one execution folded into
    <root>/<component>/{key1,key2}/<id>."""
    relative = sorted(os.path.relpath(u, base) if "://" not in u else u for u in uris)
    parts = [path.split("/") for path in relative]
    if len(parts) > 1 and all(len(p) > 2 and p[:-2] == parts[0][:-2] and p[-1] == parts[0][-1] for p in parts):
        return "/".join(parts[0][:-2] + ["{" + ",".join(p[-2] for p in parts) + "}", parts[0][-1]])
    return ", ".join(relative)


def _keep_level(level) -> None:
    """setLevel of the root and absl loggers while a run is live: ignored."""


def log_path(output: str) -> str:
    return RunDir(output).new_log()


@contextlib.contextmanager
def live(output: str, echo: Callable[[str], None], verbose: bool = False) -> Iterator[str]:
    """Route every log record to <output>/logs/run-<time>.log and progress lines to `echo` for the duration;
    with verbose, the full log goes to stderr too. Yields the log file's path."""
    path = log_path(output)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    progress = ComponentProgress(echo, output=output)
    handlers = [file_handler, progress]
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(file_handler.formatter)
        handlers.append(stream)
    root, absl = logging.getLogger(), logging.getLogger("absl")
    saved = (root.handlers[:], root.level, absl.handlers[:], absl.propagate, absl.level)
    own = [logging.getLogger(name) for name in OWN_HANDLERS]  # loggers that print to stderr themselves
    saved_own = [(logger.handlers[:], logger.propagate) for logger in own]
    for logger in own:
        logger.handlers, logger.propagate = [], True
    root.handlers, absl.handlers = handlers, []
    root.setLevel(logging.INFO)
    absl.setLevel(logging.INFO)
    absl.propagate = True
    for logger in (root, absl):  # a library raising the level mid-run (one does during the Trainer) would
        logger.setLevel = _keep_level  # silence the runner's records and with them the progress lines
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
    logging.captureWarnings(True)
    stop = threading.Event()

    def beat():
        while not stop.wait(1.0):
            progress.tick()

    echo(f"log: {path}")
    ticker = threading.Thread(target=beat, name="mtl-progress", daemon=True)
    ticker.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield path
    finally:
        stop.set()
        logging.captureWarnings(False)
        for logger in (root, absl):
            del logger.setLevel  # back to logging.Logger.setLevel
        root.handlers, absl.handlers, absl.propagate = saved[0], saved[2], saved[3]
        for logger, (own_handlers, propagate) in zip(own, saved_own):
            logger.handlers, logger.propagate = own_handlers, propagate
        root.setLevel(saved[1])
        absl.setLevel(saved[4])
        file_handler.close()
