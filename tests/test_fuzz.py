"""Fuzzing (hypothesis): the config loader and the raw-row -> tf.Example client path either succeed or raise the
project's own error type (ConfigError, RequestError) — never an unhandled exception; what the request paths
return is checked by round trips (a row's tf.Example holds its values, a JSON body parses to what json.loads reads,
b64 instances decode to their bytes) and bodies over a limit are named INVALID_ARGUMENTs."""
import base64
import copy
import json
import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA
from pipeline import config as cfg
from serving.contract import RequestError
from serving.server import Limits, ServingError, parse_body, rest_inputs
from serving.server.rest_json import json_examples
from helpers.contracts import CONTRACT

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_JSON = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-2 ** 80, max_value=2 ** 80),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
VALID = yaml.safe_load(open(os.path.join(DATA, "census_sample", "config.yaml")))


def leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaf_paths(value, prefix + (i,))
    yield prefix


PATHS = list(leaf_paths(VALID))


@FUZZ
@given(text=st.text(max_size=300))
def test_any_yaml_text_loads_or_is_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        cfg.load_config(path)
    except cfg.ConfigError:
        pass


@FUZZ
@given(raw=values)
def test_any_structure_parses_or_is_a_config_error(raw):
    try:
        cfg.parse_config(raw)
    except cfg.ConfigError:
        pass


@FUZZ
@given(path=st.sampled_from(PATHS), value=values, delete=st.booleans())
def test_a_valid_config_with_one_part_replaced_or_removed_parses_or_is_a_config_error(path, value, delete):
    raw = copy.deepcopy(VALID)
    if path:
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    try:
        cfg.parse_config(raw)
    except cfg.ConfigError:
        pass




def _plausible(spec):
    """Values a caller would send for a feature of this kind: most are accepted, so the round trip runs."""
    if spec.kind == "bytes":
        base = st.one_of(st.text(max_size=12), st.binary(max_size=8), st.integers(-10 ** 6, 10 ** 6),
                         st.floats(allow_nan=False, allow_infinity=False, width=32))
    elif spec.kind == "int":
        base = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.integers(-1000, 1000).map(float),
                         st.integers(-1000, 1000).map(str))
    else:
        base = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(-10 ** 6, 10 ** 6),
                         st.floats(-1e6, 1e6).map(repr))
    return base if spec.required else st.one_of(st.none(), base)


rows = st.one_of(values, st.dictionaries(st.one_of(st.sampled_from(sorted(CONTRACT.features)), st.text(max_size=8),
                                                   st.integers()), values, max_size=6),
                 st.fixed_dictionaries({name: values for name in CONTRACT.features}),
                 st.fixed_dictionaries({name: _plausible(spec) for name, spec in CONTRACT.features.items()}))
LIMITS = Limits()


def _expected(spec, value):
    """What a raw value becomes in the tf.Example (the contract's documented conversion), or None if absent."""
    if value is None or (value == "" and spec.type != "text"):
        return None
    if spec.kind == "bytes":
        return [bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")]
    number = value if isinstance(value, int) else float(value)
    return [int(number)] if spec.kind == "int" else [float(np.float32(number))]


def _values(feature):
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


@FUZZ
@given(batch=st.lists(rows, max_size=4), ignore_unknown=st.booleans())
def test_rows_become_examples_holding_their_values_or_a_request_error(batch, ignore_unknown):
    """Round trip: every accepted row's tf.Example holds exactly its values, converted by the contract's kinds;
    and its JSON example (what RestClient sends to :classify) becomes the same tf.Example in the server."""
    from tensorflow.core.example import example_pb2

    try:
        serialized = CONTRACT.examples(batch, ignore_unknown=ignore_unknown)
        entries = CONTRACT.json_examples(batch, ignore_unknown=ignore_unknown)
    except RequestError:
        return
    assert len(serialized) == len(entries) == len(batch)
    body = parse_body(json.dumps({"examples": entries}).encode(), LIMITS)
    for row, data, from_json in zip(batch, serialized, json_examples(body, LIMITS)):
        example = example_pb2.Example.FromString(data)
        assert example_pb2.Example.FromString(from_json) == example
        features = example.features.feature
        for name, spec in CONTRACT.features.items():
            expected = _expected(spec, row.get(name))
            assert (name in features) == (expected is not None), (name, row.get(name))
            if expected is not None:
                assert _values(features[name]) == expected, (name, row.get(name))
        assert set(features) <= set(CONTRACT.features)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                                     st.floats(allow_nan=False), st.text(max_size=12)),
                           lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=5)),
                           max_leaves=20)
batches = st.lists(json_values, max_size=6)
bodies = st.fixed_dictionaries({}, optional={
    "instances": st.one_of(batches, json_values), "examples": batches, "signature_name": json_values,
    "inputs": st.one_of(batches, st.dictionaries(st.text(max_size=4), st.one_of(batches, json_values), max_size=3)),
    "context": json_values})


@FUZZ_JSON
@given(body=bodies)
def test_a_json_body_within_the_limits_parses_to_what_json_loads_reads(body):
    """Round trip: the bounded reader returns exactly the object `json.loads` builds."""
    text = json.dumps(body).encode()
    assert parse_body(text, LIMITS) == json.loads(text)


def _depth(node, level=0):
    """The deepest level of a list or object (the body is level 0), -1 for a scalar."""
    if isinstance(node, (list, dict)):
        return max([level] + [_depth(c, level + 1) for c in (node.values() if isinstance(node, dict) else node)])
    return -1


def _longest_batch(body):
    lists = [body.get(k) for k in ("instances", "examples", "inputs")]
    if isinstance(body.get("inputs"), dict):
        lists += list(body["inputs"].values())
    return max([len(v) for v in lists if isinstance(v, list)] + [0])


@FUZZ_JSON
@given(body=bodies, max_batch=st.integers(1, 3), max_depth=st.integers(1, 5), which=st.sampled_from(["batch", "depth"]))
def test_a_body_over_a_limit_and_only_such_a_body_is_an_invalid_argument_naming_the_limit(body, max_batch, max_depth,
                                                                                          which):
    """One limit at a time (the other out of reach): refused exactly when over it, with that limit named."""
    limits = Limits(max_batch=max_batch) if which == "batch" else Limits(max_depth=max_depth)
    text = json.dumps(body).encode()
    over = _longest_batch(body) > limits.max_batch if which == "batch" else _depth(body) >= limits.max_depth
    if not over:
        assert parse_body(text, limits) == json.loads(text)
        return
    with pytest.raises(ServingError) as error:
        parse_body(text, limits)
    named = f"maximum allowed batch size {limits.max_batch}" if which == "batch" else \
        f"nested deeper than {limits.max_depth} levels"
    assert error.value.code == "INVALID_ARGUMENT" and named in str(error.value), str(error.value)


@FUZZ_JSON
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_bytes_are_a_json_object_or_an_invalid_argument(data):
    try:
        body = parse_body(data, LIMITS)
    except ServingError as exc:
        assert exc.code == "INVALID_ARGUMENT" and str(exc)
        return
    assert isinstance(body, dict) and body == json.loads(data)


@FUZZ_JSON
@given(blobs=st.lists(st.one_of(st.binary(max_size=20), st.binary(min_size=40, max_size=400)), min_size=1, max_size=6),
       named=st.booleans())
def test_b64_instances_decode_to_their_bytes(blobs, named):
    """`instances` of {"b64": ...} values (row format, named or not) -> the original bytes, in order."""
    import tensorflow as tf

    encoded = [{"b64": base64.b64encode(b).decode()} for b in blobs]
    body = parse_body(json.dumps({"instances": [{"examples": e} for e in encoded] if named else encoded}).encode(),
                      LIMITS)
    inputs, row_format = rest_inputs(body, {"examples"})
    assert row_format and set(inputs) == {"examples"} and inputs["examples"].shape == (len(blobs),)
    array = inputs["examples"].array("examples", tf.TensorSpec([None], tf.string))
    assert array.tolist() == blobs
