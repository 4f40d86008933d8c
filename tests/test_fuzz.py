"""Fuzzing (hypothesis): the config loader and the raw-row -> tf.Example client path either succeed or raise the
project's own error type (ConfigError, RequestError) — never an unhandled exception."""
import copy
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA
from pipeline import config as cfg
from serving.contract import RequestError
from test_serving_contract import CONTRACT

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


rows = st.one_of(values, st.dictionaries(st.one_of(st.sampled_from(sorted(CONTRACT.features)), st.text(max_size=8),
                                                   st.integers()), values, max_size=6),
                 st.fixed_dictionaries({name: values for name in CONTRACT.features}))


@FUZZ
@given(batch=st.lists(rows, max_size=4), ignore_unknown=st.booleans())
def test_any_rows_become_examples_or_a_request_error(batch, ignore_unknown):
    try:
        serialized = CONTRACT.examples(batch, ignore_unknown=ignore_unknown)
        CONTRACT.json_examples(batch, ignore_unknown=ignore_unknown)
    except RequestError:
        return
    assert len(serialized) == len(batch) and all(isinstance(s, bytes) for s in serialized)
