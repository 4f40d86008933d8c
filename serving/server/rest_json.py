"""TF Serving's REST JSON, read within limits and written back.

`parse_body` reads a request body without trusting it: UTF-8 checked, the `instances` / `examples` / `inputs`
lists read one element at a time so that a batch over the limit is refused after `max_batch + 1` elements (not
after parsing and converting a million), nesting deeper than `max_depth` refused (lists and objects at depth
`max_depth` or more; the body object is depth 0), integers too long to convert named. `rest_inputs` turns the body into unconverted inputs (shape
first, array later), `json_examples` builds tf.Examples from JSON examples by TF Serving's rules (whole numbers
-> int64_list, other numbers -> float_list, strings and {"b64": ...} -> bytes_list), naming the example and the
feature of any value it cannot take.
"""
from __future__ import annotations

import base64
import json
import json.scanner
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from serving.server.core import Limits, ServingError

_WS = re.compile(r"[ \t\n\r]*")
INT64 = (-2 ** 63, 2 ** 63 - 1)


def _bad(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


class _Reader:
    """A JSON object read member by member, its batch lists element by element (the C scanner does the rest)."""

    def __init__(self, text: str, limits: Limits):
        self.text, self.limits = text, limits
        self.scan = json.scanner.make_scanner(json.JSONDecoder())

    def ws(self, i: int) -> int:
        return _WS.match(self.text, i).end()

    def fail(self, message: str, i: int):
        raise _bad(f"JSON Parse error: {json.JSONDecodeError(message, self.text, i)}")

    def expect(self, char: str, i: int, message: str) -> int:
        i = self.ws(i)
        if self.text[i:i + 1] != char:
            self.fail(message, i)
        return self.ws(i + 1)

    def value(self, i: int, depth: int, where: str) -> Tuple[Any, int]:
        try:
            value, end = self.scan(self.text, i)
        except StopIteration:
            self.fail("Expecting value", i)
        except json.JSONDecodeError as exc:
            raise _bad(f"JSON Parse error: {exc}") from None
        except RecursionError:
            raise _bad(f"{where}: JSON nested deeper than {self.limits.max_depth} levels") from None
        except ValueError:  # an integer literal longer than Python converts (4,300 digits)
            raise _bad(f"{where}: a number too long to convert (an integer of thousands of digits)") from None
        self._check(value, depth, where, i, end)
        return value, end

    def _check(self, value, depth: int, where: str, start: int, end: int) -> None:
        """Nesting depth of one parsed value at `depth` (the body is 0); walked only when its brackets could reach
        the limit."""
        limit = self.limits.max_depth
        if depth + self.text.count("[", start, end) + self.text.count("{", start, end) <= limit:
            return
        stack = [(value, depth)]
        while stack:
            node, level = stack.pop()
            if isinstance(node, (list, dict)):
                self.nested(level, where)
                stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))

    def nested(self, level: int, where: str) -> None:
        """Refuse a list or object at nesting `level` when it is at or past the limit."""
        if level >= self.limits.max_depth:
            raise _bad(f"{where}: JSON nested deeper than {self.limits.max_depth} levels")

    def items(self, i: int, close: str, depth: int, where: str, member):
        """Members of an object (close '}') or elements of a list (close ']'), `member(i, n) -> end` each."""
        i, n = self.ws(i + 1), 0
        if self.text[i:i + 1] == close:
            return i + 1
        while True:
            i = self.ws(member(i, n))
            n += 1
            char = self.text[i:i + 1]
            if char == close:
                return i + 1
            if char != ",":
                self.fail("Expecting ',' delimiter", i)
            i = self.ws(i + 1)

    def batch(self, i: int, depth: int, where: str) -> Tuple[List, int]:
        self.nested(depth, f"'{where}'")
        found: List = []

        def element(j, n):
            if n >= self.limits.max_batch:
                raise _bad(f"'{where}': batch size {n + 1} or more is larger than the maximum allowed batch size "
                           f"{self.limits.max_batch}")
            value, end = self.value(j, depth + 1, f"'{where}'[{n}]")
            found.append(value)
            return end
        return found, self.items(i, "]", depth, where, element)

    def member_values(self, i: int, depth: int, where: str, batched=(), batch_all: bool = False) -> Tuple[Dict, int]:
        self.nested(depth, where)
        found: Dict = {}

        def member(j, n):
            if self.text[j:j + 1] != '"':
                self.fail("Expecting property name enclosed in double quotes", j)
            key, j = self.value(j, depth + 1, where)
            j = self.expect(":", j, "Expecting ':' delimiter")
            name = key if depth == 0 else f"{where}.{key}"
            if (batch_all or key in batched) and self.text[j:j + 1] == "[":
                found[key], j = self.batch(j, depth + 1, name)
            elif depth == 0 and key == "inputs" and self.text[j:j + 1] == "{":
                found[key], j = self.member_values(j, depth + 1, "inputs", batch_all=True)
            else:
                found[key], j = self.value(j, depth + 1, name)
            return j
        return found, self.items(i, "}", depth, where, member)


def parse_body(data: bytes, limits: Limits) -> Dict[str, Any]:
    """A REST request body -> its JSON object, refusing what is over the limits before building it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"JSON Parse error: the body is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 4]!r})") \
            from None
    reader = _Reader(text, limits)
    i = reader.ws(0)
    if i == len(text):
        raise _bad("JSON Parse error: the request body is empty")
    if text[i] != "{":
        reader.value(i, 0, "body")
        raise _bad("JSON Value: request body must be a JSON object")
    body, end = reader.member_values(i, 0, "body", ("instances", "examples", "inputs"))
    if reader.ws(end) != len(text):
        reader.fail("Extra data", reader.ws(end))
    return body


# ------------------------------------------------------------------------------------------------ predict
def _decode_binary(value, where: str):
    """Replace {"b64": ...} objects by bytes (the body's depth is already bounded)."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            encoded = value["b64"]
            try:
                if not isinstance(encoded, str):
                    raise TypeError
                return base64.b64decode(encoded.encode("ascii"), validate=True)
            except (ValueError, TypeError, UnicodeEncodeError):
                raise _bad(f"{where}: Unable to base64 decode {str(encoded)[:40]!r}") from None
        return {k: _decode_binary(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_binary(v, where) for v in value]
    return value


class ListInput:
    """A JSON (nested list) input: its shape read from the first elements, the array built only on demand."""

    def __init__(self, value, where: str):
        self.value, self.where = value, where
        shape, node = [], value
        while isinstance(node, list):
            shape.append(len(node))
            if not node:
                break
            node = node[0]
        self.shape = tuple(shape)

    def array(self, key: str, spec) -> np.ndarray:
        import tensorflow as tf

        value = _decode_binary(self.value, self.where)
        strings = spec.dtype == tf.string
        try:
            array = np.array(value, dtype=object if strings else None)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _bad(f"input '{key}': ragged or mixed-type lists ({str(exc)[:200]})") from None
        if array.shape != self.shape:
            raise _bad(f"input '{key}': ragged lists (rows of different lengths or nested differently)")
        if strings:
            flat = array.reshape(-1)
            for n, item in enumerate(flat):
                if isinstance(item, str):
                    try:
                        flat[n] = item.encode("utf-8")
                    except UnicodeEncodeError as exc:
                        raise _bad(f"input '{key}': value {n} is not valid Unicode text ({exc.reason})") from None
                elif not isinstance(item, bytes):
                    raise _bad(f"input '{key}': expects DT_STRING, got {type(item).__name__} {item!r}"[:300])
            return flat.reshape(array.shape)
        return _numbers(array, key, spec)


def _numbers(array: np.ndarray, key: str, spec) -> np.ndarray:
    """A numeric input's array, refused where TensorFlow would silently change a value (2.5 -> 2, true -> 1)."""
    import tensorflow as tf

    name, kind = spec.dtype.name, array.dtype.kind
    if kind in "SU":
        return array  # the servable names it: strings for a number input
    if kind == "b" and spec.dtype != tf.bool:
        raise _bad(f"input '{key}': expects {name} numbers, got true/false")
    if kind == "O":
        items = array.reshape(-1)
        odd = [v for v in items if isinstance(v, bool) or not isinstance(v, (int, float))][:1]
        if odd:
            odd = odd[0]
            raise _bad(f"input '{key}': expects {name} numbers, got {type(odd).__name__} {odd!r}"[:300])
        if spec.dtype.is_integer:
            big = next((v for v in items if isinstance(v, int) and not INT64[0] <= v <= INT64[1]), None)
            if big is not None:
                raise _bad(f"input '{key}': integer {str(big)[:40]} is outside the 64-bit range")
        array = array.astype(np.float64)
    if spec.dtype.is_integer and array.dtype.kind == "f":
        wrong = ~np.isfinite(array) | (array != np.round(array)) | (np.abs(array) >= 2.0 ** 63)
        if wrong.any():
            raise _bad(f"input '{key}': expects {name}: {array[wrong].reshape(-1)[0]!r} is not a whole number in the "
                       "64-bit range")
    return array


def rest_inputs(body: Dict[str, Any], input_names) -> Tuple[Dict[str, ListInput], bool]:
    """TF Serving's JSON request -> ({input: ListInput}, row_format)."""
    if "instances" in body and "inputs" in body:
        raise _bad("Request body can have either 'instances' or 'inputs', not both")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise _bad("'instances' must be a non-empty JSON list")
        named = [isinstance(i, dict) and set(i) != {"b64"} for i in instances]
        if all(named):
            keys = set(instances[0])
            if any(set(i) != keys for i in instances):
                raise _bad("Failed to process element: every instance must name the same inputs")
            return {k: ListInput([i[k] for i in instances], f"'instances' input '{k}'") for k in keys}, True
        if any(named):
            raise _bad("'instances' mixes objects naming inputs with bare values")
        if len(input_names) != 1:
            raise _bad(f"instances must be objects naming the inputs {sorted(input_names)}")
        return {next(iter(input_names)): ListInput(instances, "'instances'")}, True
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict) and set(inputs) != {"b64"}:
            return {k: ListInput(v, f"'inputs' input '{k}'") for k, v in inputs.items()}, False
        if len(input_names) != 1:
            raise _bad(f"'inputs' must be an object naming {sorted(input_names)}")
        return {next(iter(input_names)): ListInput(inputs, "'inputs'")}, False
    raise _bad("Missing 'inputs' or 'instances' key")


# ------------------------------------------------------------------------------------- classify / regress
def json_example(values: Any, context: Optional[Dict[str, Any]] = None, index: int = 0):
    """A tf.Example from TF Serving's JSON example; `context` features are added to it."""
    from tensorflow.core.example import example_pb2

    if not isinstance(values, dict):
        raise _bad(f"Failed to process element: examples[{index}] must be a JSON object, got "
                   f"{type(values).__name__}")
    example = example_pb2.Example()
    for key, value in {**(context or {}), **values}.items():
        where = f"examples[{index}] feature '{key[:100]}'"
        items = value if isinstance(value, list) else [value]
        feature = example.features.feature[key]
        kinds = set()
        for item in items:
            item = _decode_binary(item, where) if isinstance(item, dict) else item
            if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
                raise _bad(f"Failed to process element: {where} has an unsupported value {item!r}"[:300])
            if isinstance(item, (bytes, str)):
                kinds.add("bytes")
                if isinstance(item, str):
                    try:
                        item = item.encode("utf-8")
                    except UnicodeEncodeError as exc:
                        raise _bad(f"Failed to process element: {where} is not valid Unicode text ({exc.reason} "
                                   f"at character {exc.start})") from None
                feature.bytes_list.value.append(item)
            elif isinstance(item, int):
                kinds.add("int64")
                if not INT64[0] <= item <= INT64[1]:
                    raise _bad(f"Failed to process element: {where}: integer {str(item)[:40]} is outside the "
                               "64-bit range")
                feature.int64_list.value.append(item)
            else:
                kinds.add("float")
                feature.float_list.value.append(item)
        if len(kinds) > 1:
            raise _bad(f"Failed to process element: {where} mixes value types ({', '.join(sorted(kinds))})")
    return example


def json_examples(body: Dict[str, Any], limits: Limits) -> List[bytes]:
    """`examples` (and `context`) of a :classify / :regress body -> serialized tf.Examples."""
    examples, context = body.get("examples"), body.get("context")
    if not isinstance(examples, list):
        raise _bad("'examples' must be a JSON list of objects")
    if len(examples) > limits.max_batch:
        raise _bad(f"'examples': batch size {len(examples)} is larger than the maximum allowed batch size "
                   f"{limits.max_batch}")
    if context is not None and not isinstance(context, dict):
        raise _bad(f"'context' must be a JSON object, got {type(context).__name__}")
    return [json_example(e, context, n).SerializeToString() for n, e in enumerate(examples)]


# --------------------------------------------------------------------------------------------- answers
def _json_value(array: np.ndarray, binary: bool):
    if array.dtype.kind in "SO":
        convert = (lambda b: {"b64": base64.b64encode(b).decode()}) if binary else \
            (lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b)
        return np.vectorize(convert, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def rest_outputs(outputs: Dict[str, np.ndarray], row_format: bool):
    values = {k: _json_value(v, k.endswith("_bytes")) for k, v in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(values.values())))
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(rows)]}


def results(regress: bool, outputs: Dict[str, np.ndarray]):
    """:classify -> [[[class, score], ...] per example]; :regress -> [value per example]."""
    if regress:
        return np.reshape(outputs["outputs"], [-1]).tolist()
    classes = _json_value(outputs["classes"], False)
    return [[[c, float(p)] for c, p in zip(row_classes, row_scores)]
            for row_classes, row_scores in zip(classes, outputs["scores"].tolist())]
