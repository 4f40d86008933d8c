"""What the REST and gRPC APIs share: TF Serving's status codes, the request limits, which version answers, and
running a signature once its inputs have been checked.

Inputs reach `Servable.predict` unconverted (`InputValue`: a shape known without building the array, and a way
to build it), so that a request's names, ranks, batch size and value count are refused before any memory is
spent on it. TensorFlow's own refusals of a value (a feature of the wrong type, a required feature missing) are
INVALID_ARGUMENT with the op's message; anything else is INTERNAL with an incident number that the server log
explains. No message a client sees carries a path of the server's file system.
"""
from __future__ import annotations

import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from serving.repository import LoadedVersion, ModelRepository, VersionStatus

log = logging.getLogger("serving.server")

HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404, "UNIMPLEMENTED": 501,
               "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500}
DEFAULT_MAX_BATCH = 1024
MAX_REQUEST_BYTES = 64 << 20  # REST bodies and gRPC messages
CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; checked before anything is converted."""

    max_batch: int = DEFAULT_MAX_BATCH      # rows (examples, instances, first dimension of an input)
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_values: int = 1 << 22               # values in one input tensor (product of its shape)
    max_depth: int = 32                     # nesting of JSON arrays and objects


class ServingError(Exception):
    """A request TF Serving would refuse: `code` is the gRPC status code name."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class ArrayInput:
    """An input that is already an array (serialized examples built by the server)."""

    def __init__(self, value: np.ndarray):
        self.value = value
        self.shape = tuple(value.shape)

    def array(self, key: str, spec) -> np.ndarray:
        return self.value


def _op_message(message: str) -> str:
    """The op's own error, as TF Serving reports it, without eager execution's wrapper text."""
    message = message.split("<stack traces unavailable>\n", 1)[-1]
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    message = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", message)
    message = re.sub(r"\s*\[\[\{\{node [^\]]*\]\]", "", message).replace("Name: <unknown>, ", "").strip()
    mismatch = re.search(r"Key: (?P<key>.+?), Index: (?P<index>\d+)\.\s+Data types don't match\. Data type: "
                         r"(?P<got>\w+) but expected type: (?P<want>\w+)", message)
    if mismatch:  # name the feature first: the client's mistake, in its words
        return (f"feature '{mismatch['key']}' of example {mismatch['index']}: the model expects {mismatch['want']} "
                f"values, the request has {mismatch['got']} ({message})")
    return message


class Servable:
    """Find the version, check and run a signature, describe the model: one rule for each, for both APIs."""

    def __init__(self, repository: ModelRepository, limits: Limits = Limits()):
        self.repository = repository
        self.limits = limits

    # ----------------------------------------------------------------------------------- model, version
    def _check_name(self, name: str) -> None:
        if name != self.repository.name:
            raise ServingError("NOT_FOUND", f"Could not find any versions of model {str(name)[:200]}")

    def version(self, name: str, version: Optional[int]) -> LoadedVersion:
        if name != self.repository.name:
            raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({str(name)[:200]})")
        try:
            return self.repository.current(version)
        except LookupError as exc:
            raise ServingError("NOT_FOUND", str(exc)) from None

    def statuses(self, name: str, version: Optional[int]) -> List[VersionStatus]:
        """GetModelStatus / GET /v1/models/<name>[/versions/<v>]: every version's state (errors redacted)."""
        self._check_name(name)
        found = [s for s in self.repository.statuses() if version is None or s.version == version]
        if not found:
            raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}" if version is None
                               else f"Could not find version {version} of model {name}")
        return found

    def metadata(self, name: str, version: Optional[int]):
        """(version, SignatureDefMap) for GetModelMetadata / GET .../metadata (kept in memory since loading)."""
        loaded = self.version(name, version)
        return loaded, loaded.signature_defs

    def signature(self, loaded: LoadedVersion, signature_name: Any) -> Tuple[str, Any]:
        """(name, concrete function) of a signature; "" means serving_default."""
        if not isinstance(signature_name, str):
            raise ServingError("INVALID_ARGUMENT", f"'signature_name' must be a string, got "
                               f"{type(signature_name).__name__}")
        signature_name = signature_name or "serving_default"
        function = loaded.signatures.get(signature_name)
        if function is None:
            raise ServingError("FAILED_PRECONDITION", f"Serving signature name: \"{signature_name[:200]}\" not "
                               f"found in signature def; available: {', '.join(sorted(loaded.signatures))}")
        return signature_name, function

    @staticmethod
    def input_specs(function) -> Dict[str, Any]:
        return function.structured_input_signature[1]

    # ------------------------------------------------------------------------------------------- checks
    def check_batch(self, rows: int, what: str) -> None:
        if rows > self.limits.max_batch:
            raise ServingError("INVALID_ARGUMENT", f"{what}: batch size {rows} is larger than the maximum allowed "
                               f"batch size {self.limits.max_batch}")

    def check_shape(self, key: str, shape: Sequence[int], spec) -> None:
        """Rank, fixed dimensions, batch size and value count of one input, before it is converted."""
        want = list(spec.shape)
        if len(shape) != len(want):
            raise ServingError("INVALID_ARGUMENT", f"input '{key}': expected rank {len(want)} (shape "
                               f"{spec.shape}), got shape {list(shape)[:8]}")
        for axis, (got, expected) in enumerate(zip(shape, want)):
            if got < 0 or (expected is not None and got != expected):
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': dimension {axis} is {got}, expected "
                                   f"{expected if expected is not None else 'a size >= 0'} (shape {spec.shape})")
        if shape:
            self.check_batch(shape[0], f"input '{key}'")
        values = math.prod(shape)
        if values > self.limits.max_values:
            raise ServingError("INVALID_ARGUMENT", f"input '{key}': {values} values exceed the limit of "
                               f"{self.limits.max_values} per input")

    # ---------------------------------------------------------------------------------------------- run
    def predict(self, name: str, version: Optional[int], signature_name: Any,
                inputs: Mapping[str, Any]) -> Tuple[LoadedVersion, str, Dict[str, np.ndarray]]:
        """Check `inputs` (name -> InputValue) against the signature, convert them, run it."""
        import tensorflow as tf

        loaded = self.version(name, version)
        signature_name, function = self.signature(loaded, signature_name)
        specs = self.input_specs(function)
        missing, extra = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
        if missing or extra:
            raise ServingError("INVALID_ARGUMENT", f"input tensor alias not found in signature: "
                               f"{', '.join(k[:100] for k in extra[:10]) or '-'}; missing inputs: "
                               f"{', '.join(missing) or '-'}. Inputs expected to be in the set "
                               f"{{{', '.join(sorted(specs))}}}.")
        for key, spec in specs.items():
            self.check_shape(key, inputs[key].shape, spec)
        feed = {}
        for key, spec in specs.items():
            value = inputs[key].array(key, spec)
            if spec.dtype == tf.string and value.dtype.kind not in "SUO":
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': expects DT_STRING, got {value.dtype}")
            if spec.dtype != tf.string and value.dtype.kind in "SUO":
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': expects {spec.dtype.name} numbers, got "
                                   "strings or mixed values")
            try:
                feed[key] = tf.constant(value, dtype=spec.dtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': expects {spec.dtype.name}: "
                                   f"{str(exc)[:300]}") from None
        try:
            outputs = function(**feed)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as exc:
            raise ServingError("INVALID_ARGUMENT", self.repository.redact(_op_message(exc.message))) from None
        except UnicodeDecodeError:  # the op refused a value and quoted its bytes, which are not UTF-8
            raise ServingError("INVALID_ARGUMENT", f"signature '{signature_name}' could not parse its input (a value "
                               "that is not what the signature reads, e.g. bytes that are not a serialized "
                               "tf.Example)") from None
        except Exception as exc:  # noqa: BLE001 - a failure of the model, not of the request
            if self.repository.check_removed(loaded):
                raise ServingError("UNAVAILABLE", f"version {loaded.version} of {name} was removed while "
                                   "answering; retry") from None
            raise self.internal(exc, f"signature '{signature_name}' of {name} version {loaded.version}") from None
        return loaded, signature_name, {k: v.numpy() for k, v in outputs.items()}

    def run_examples(self, name: str, version: Optional[int], signature_name: Any, method: str,
                     serialized: List[bytes]) -> Tuple[LoadedVersion, Dict[str, np.ndarray]]:
        """Classify / Regress: the signature must carry TF Serving's `method` name; examples are serialized
        tf.Examples (the caller has checked their count)."""
        loaded = self.version(name, version)
        signature_name, _ = self.signature(loaded, signature_name)
        definition = loaded.signature_defs.signature_def[signature_name]
        if definition.method_name != method:
            kind = "classification" if method == CLASSIFY else "regression"
            raise ServingError("INVALID_ARGUMENT", f"Expected {kind} signature method_name to be {method}. Was: "
                               f"{definition.method_name}")
        if not serialized:
            raise ServingError("INVALID_ARGUMENT", "Input is empty")
        loaded, _, outputs = self.predict(name, version, signature_name,
                                          {"inputs": ArrayInput(np.array(serialized, dtype=object))})
        return loaded, outputs

    def internal(self, exc: BaseException, doing: str) -> ServingError:
        """INTERNAL for a failure that is not the request's fault: logged in full, the client gets an id."""
        incident = uuid.uuid4().hex[:12]
        log.error("incident %s: %s failed", incident, doing, exc_info=(type(exc), exc, exc.__traceback__))
        return ServingError("INTERNAL", f"internal error in {doing} (incident {incident} in the server log)")
