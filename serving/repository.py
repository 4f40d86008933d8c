"""Model versions under a Pusher directory, loaded the way TF Serving does it: the newest version serves, a newly
pushed version is picked up by polling, and a version directory is loaded only once its files have stopped
changing and the load succeeds (a half-copied directory is retried later, never served; a version that keeps
failing with the same files is retried with exponential back-off, and at once when its files change). A serving
version whose directory disappears is unloaded and the newest remaining version takes over (none left: nothing
serves), noticed on the next scan or at once when a request fails. A version carrying TF Serving's warm-up file
(`assets.extra/tf_serving_warmup_requests`, serving/warmup.py) replays it while LOADING, as TF Serving does: a
request that fails fails the load (the error names the file and the record). Errors kept for clients never carry
the server's paths (`redact`)."""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from serving import warmup
from serving.contract import CONTRACT_FILE, ModelContract

log = logging.getLogger(__name__)
MAX_RETRY_SECONDS = 300.0  # a broken version is retried with exponential back-off up to this interval
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.>])/(?:[^\s/'\"<>:,;]+/)+[^\s/'\"<>:,;]*")


@dataclass
class LoadedVersion:
    version: int
    path: Path
    signatures: Dict[str, Any]            # name -> concrete function (keyword arguments = input names)
    contract: Optional[ModelContract]     # None for a SavedModel exported elsewhere
    signature_defs: Any = None            # the SignatureDefMap of saved_model.pb (metadata, method names)
    model: Any = None                     # the loaded trackable: signatures reference its variables
    state: str = "AVAILABLE"
    warmup_seconds: Optional[float] = None  # replaying the warm-up file took this long (None: no file)


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


def signature_def_map(path: Path):
    """The SavedModel's SignatureDefMap (read from saved_model.pb, as TF Serving reports it)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    result = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in warmup.signature_defs(path).items():
        result.signature_def[key].CopyFrom(signature)
    return result


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
    _lock: threading.Lock = field(default_factory=threading.Lock)          # _status, _current
    _scan_lock: threading.RLock = field(default_factory=threading.RLock)   # one scan at a time
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

    def statuses(self) -> List[VersionStatus]:
        with self._lock:
            return sorted(self._status.values(), key=lambda s: s.version)

    def redact(self, text: str) -> str:
        """`text` without the server's file system paths (the model directory becomes `<model base path>`)."""
        for root in sorted({str(self.base_dir), os.path.realpath(self.base_dir),
                            str(self.base_dir.absolute())}, key=len, reverse=True):
            text = text.replace(root, "<model base path>")
        return _ABSOLUTE_PATH.sub("<path>", text)

    # ------------------------------------------------------------------------------------------ loading
    def candidates(self) -> List[int]:
        """Version numbers whose directory holds saved_model.pb, newest first."""
        try:
            entries = list(self.base_dir.iterdir())
        except OSError:
            return []
        return sorted((int(d.name) for d in entries
                       if d.name.isdigit() and (d / "saved_model.pb").is_file()), reverse=True)

    def refresh(self, require_settled: bool = True) -> Optional[int]:
        """One scan: load the newest settled version newer than the serving one (or, when the serving version's
        directory is gone, the newest remaining one) and return it; None when nothing changed or loaded."""
        with self._scan_lock:
            candidates = self.candidates()
            settled = {}
            for version in candidates:  # every version, so that a fallback is known settled when it is needed
                fingerprint = _fingerprint(self.base_dir / str(version))
                settled[version] = self._seen.get(version) == fingerprint
                self._seen[version] = fingerprint
            self._forget(candidates)
            current = self._current
            removed = current is not None and current.version not in candidates
            serving = -1 if current is None or removed else current.version
            for version in candidates:
                if version <= serving:
                    break
                if require_settled and not settled[version]:
                    continue  # seen for the first time or still changing: look again on the next scan
                if self._try_load(version):
                    return version
            if removed:
                with self._lock:
                    self._current = None
                    self._status[current.version] = VersionStatus(current.version, "END")
                log.warning("version %s of %s was removed and no other version loads: nothing serves", current.version,
                            self.name)
            return None

    def check_removed(self, loaded: LoadedVersion) -> bool:
        """After a failed request: if `loaded`'s directory is gone, scan at once (unload it, fall back) -> True."""
        if (loaded.path / "saved_model.pb").is_file():
            return False
        log.warning("version %s of %s: its directory is gone", loaded.version, self.name)
        self.refresh()
        return True

    def _forget(self, candidates) -> None:
        """Drop what is known about version directories that no longer exist (a serving one ends in `refresh`)."""
        for version in [v for v in self._seen if v not in candidates]:
            self._seen.pop(version, None)
            self._failed.pop(version, None)
            with self._lock:
                status = self._status.get(version)
                if status is not None and status.state in ("START", "LOADING"):
                    del self._status[version]

    def _try_load(self, version: int) -> bool:
        path = self.base_dir / str(version)
        fingerprint = self._seen.get(version)
        failed = self._failed.get(version)
        if failed and failed[0] == fingerprint and time.monotonic() < failed[2]:
            return False  # the same files failed to load: wait out the back-off (changed files retry at once)
        try:
            loaded = self._load(version, path)
        except Exception as exc:  # a half-written or broken version: keep serving the old one
            attempts = failed[1] + 1 if failed and failed[0] == fingerprint else 1
            delay = min(self.poll_seconds * 2 ** attempts, MAX_RETRY_SECONDS)
            self._failed[version] = (fingerprint, attempts, time.monotonic() + delay)
            with self._lock:
                self._status[version] = VersionStatus(version, "START",
                                                      self.redact(f"{type(exc).__name__}: {exc}")[:2000])
            log.warning("version %s of %s not loaded (attempt %d; next in %.0f s, or when its files change): %s",
                        version, self.name, attempts, delay, exc)
            return False
        self._failed.pop(version, None)
        with self._lock:
            old = self._current
            self._current = loaded
            self._status[version] = VersionStatus(version, "AVAILABLE")
            if old is not None:
                self._status[old.version] = VersionStatus(old.version, "END")
        log.info("serving %s version %s", self.name, version)
        return True

    def _load(self, version: int, path: Path) -> LoadedVersion:
        import tensorflow as tf

        with self._lock:
            self._status[version] = VersionStatus(version, "LOADING")
        requests = warmup.warmup_path(path)
        logs = warmup.read(requests) if requests.is_file() else None  # a corrupt file fails before the load
        model = tf.saved_model.load(str(path))
        contract = ModelContract.load(path) if (path / CONTRACT_FILE).is_file() else None
        loaded = LoadedVersion(version, path, dict(model.signatures), contract, signature_def_map(path), model)
        if logs is not None:  # TF Serving replays it before the version serves; a failed request fails the load
            loaded.warmup_seconds = warmup.replay(loaded.signatures, logs, dict(loaded.signature_defs.signature_def),
                                                  str(requests))
            log.info("version %s of %s: replayed %d warm-up requests in %.0f ms", version, self.name, len(logs),
                     loaded.warmup_seconds * 1000)
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
