"""Model versions under a Pusher directory, loaded the way TF Serving does it: the newest version serves, a newly
pushed version is picked up by polling, and a version directory is loaded only once its files have stopped
changing and the load succeeds (a half-copied directory is retried later, never served; a version that keeps
failing with the same files is retried with exponential back-off, and at once when its files change)."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from serving.contract import CONTRACT_FILE, ModelContract

log = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 300.0  # a broken version is retried with exponential back-off up to this interval


@dataclass
class LoadedVersion:
    version: int
    path: Path
    signatures: Dict[str, Any]            # name -> concrete function (keyword arguments = input names)
    contract: Optional[ModelContract]     # None for a SavedModel exported elsewhere
    state: str = "AVAILABLE"


@dataclass
class VersionStatus:
    version: int
    state: str                      # START, LOADING, AVAILABLE, UNLOADING, END (TF Serving's names)
    error: str = ""


def _fingerprint(path: Path) -> Tuple:
    """(relative path, size, mtime) of every file: equal on two scans = the copy has settled."""
    found = []
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                stat = os.stat(full)
            except FileNotFoundError:
                continue
            found.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


@dataclass
class ModelRepository:
    """The versions of one model. `refresh()` scans once; `watch()` scans every `poll_seconds` in a thread."""

    name: str
    base_dir: Path
    poll_seconds: float = 2.0
    _current: Optional[LoadedVersion] = None
    _status: Dict[int, VersionStatus] = field(default_factory=dict)
    _seen: Dict[int, Tuple] = field(default_factory=dict)
    _failed: Dict[int, Tuple[Tuple, int, float]] = field(default_factory=dict)  # fingerprint, attempts, next try
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self.base_dir = Path(self.base_dir)

    # ------------------------------------------------------------------------------------------- access
    def current(self, version: Optional[int] = None) -> LoadedVersion:
        """The serving version (or the requested one, which must be the one serving). Raises LookupError."""
        loaded = self._current
        if loaded is None:
            raise LookupError(f"Servable not found for request: Latest({self.name})")
        if version is not None and version != loaded.version:
            raise LookupError(f"Servable not found for request: Specific({self.name}, {version})")
        return loaded

    def statuses(self):
        with self._lock:
            return sorted(self._status.values(), key=lambda s: s.version)

    # ------------------------------------------------------------------------------------------ loading
    def candidates(self):
        if not self.base_dir.is_dir():
            return []
        return sorted((int(d.name) for d in self.base_dir.iterdir()
                       if d.is_dir() and d.name.isdigit() and (d / "saved_model.pb").is_file()), reverse=True)

    def refresh(self, require_settled: bool = True) -> Optional[int]:
        """Load the newest version that has settled and is newer than the serving one; return it, if any."""
        serving = self._current.version if self._current else -1
        for version in self.candidates():
            if version <= serving:
                break
            path = self.base_dir / str(version)
            fingerprint = _fingerprint(path)
            settled = self._seen.get(version) == fingerprint
            self._seen[version] = fingerprint
            if require_settled and not settled:
                continue  # seen for the first time or still changing: look again on the next scan
            failed = self._failed.get(version)
            if failed and failed[0] == fingerprint and time.monotonic() < failed[2]:
                continue  # the same files failed to load: wait out the back-off (changed files retry at once)
            try:
                loaded = self._load(version, path)
            except Exception as exc:  # a half-written or broken version: keep serving the old one
                attempts = failed[1] + 1 if failed and failed[0] == fingerprint else 1
                delay = min(self.poll_seconds * 2 ** attempts, MAX_RETRY_SECONDS)
                self._failed[version] = (fingerprint, attempts, time.monotonic() + delay)
                with self._lock:
                    self._status[version] = VersionStatus(version, "START", f"{type(exc).__name__}: {exc}")
                log.warning("version %s of %s not loaded (attempt %d; next in %.0f s, or when its files change): %s",
                            version, self.name, attempts, delay, exc)
                continue
            self._failed.pop(version, None)
            with self._lock:
                old = self._current
                self._current = loaded
                self._status[version] = VersionStatus(version, "AVAILABLE")
                if old is not None:
                    self._status[old.version] = VersionStatus(old.version, "END")
            log.info("serving %s version %s", self.name, version)
            return version
        return None

    def _load(self, version: int, path: Path) -> LoadedVersion:
        import tensorflow as tf

        with self._lock:
            self._status[version] = VersionStatus(version, "LOADING")
        model = tf.saved_model.load(str(path))
        signatures = dict(model.signatures)
        contract = ModelContract.load(path) if (path / CONTRACT_FILE).is_file() else None
        loaded = LoadedVersion(version, path, signatures, contract)
        loaded.model = model  # keep the trackable alive: signatures reference its variables
        return loaded

    def watch(self) -> threading.Thread:
        def loop():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.refresh()
                except Exception:  # never let the watcher die
                    log.exception("scanning %s failed", self.base_dir)

        thread = threading.Thread(target=loop, name=f"watch-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self):
        self._stop.set()
