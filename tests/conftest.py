"""Shared test set-up: importing the project first sets TF_USE_LEGACY_KERAS before TensorFlow loads; the one
pipeline runs that several test modules read (support, census sample, four tasks, the tiny offline run)."""
import os
import sys

import pytest
import yaml

import pipeline  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
sys.path.insert(0, REPO)

# 3,200 training rows instead of 16,000: the shipped bars are for the full set, these for a fifth of it.
SMALL_DATA_BARS = {"intent": {"accuracy": {"min": 0.75}, "macro_auc": {"min": 0.9}},
                   "keywords": {"micro_auc": {"min": 0.85}, "macro_auc": {"min": 0.8}},
                   "sentiment": {"accuracy": {"min": 0.7}, "macro_auc": {"min": 0.75}},
                   "escalate": {"auc": {"min": 0.65}},
                   "handling_minutes": {"mae": {"max": 4.0}},
                   "slots": {"span_f1": {"min": 0.8}}}


@pytest.fixture(scope="session")
def support_run(tmp_path_factory):
    """configs/support.yaml on 4,000 generated tickets (seed 21) through the whole pipeline: (config, summary)."""
    from components.datasets import support
    from pipeline import config as cfg
    from pipeline.runners import local

    os.chdir(REPO)
    data = tmp_path_factory.mktemp("support-data")
    support.generate(data, rows=4000, seed=21)
    raw = yaml.safe_load(open(os.path.join(REPO, "configs", "support.yaml")))
    raw["data"] = {"train": str(data / "train.csv"), "eval": str(data / "eval.csv")}
    raw["output"] = str(tmp_path_factory.mktemp("support-run"))
    for task, bars in SMALL_DATA_BARS.items():
        raw["tasks"][task]["thresholds"] = bars
    config = cfg.parse_config(raw)
    return config, local.run(config)


def load(path, **overrides):
    """A config under tests/data with top-level keys replaced."""
    from pipeline import config as cfg

    raw = yaml.safe_load(open(os.path.join(DATA, path)))
    raw.update(overrides)
    return cfg.parse_config(raw)


@pytest.fixture(scope="session")
def census_run(tmp_path_factory):
    """The census sample (real census rows, every 100th) through the whole pipeline, with fairness indicators and
    its BulkInferrer scoring the eval file: (config, summary)."""
    from pipeline.runners import local

    os.chdir(REPO)
    config = load("census_sample/config.yaml", output=str(tmp_path_factory.mktemp("census")),
                  inference={"data": "tests/data/census_sample/eval.csv", "keep": ["marital_stat"]},
                  evaluation={"slices": [["sex"]], "fairness": {}})
    return config, local.run(config)


@pytest.fixture(scope="session")
def four_tasks_run(tmp_path_factory):
    """The four-task fixture (every task type, text, partial labels) through the whole pipeline."""
    from pipeline.runners import local

    os.chdir(REPO)
    config = load("four_tasks/config.yaml", output=str(tmp_path_factory.mktemp("four-tasks")))
    return config, local.run(config)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The smallest full `mtl run`, offline where possible, with a fresh TMPDIR (tests/helpers/tiny_run.py)."""
    from helpers import tiny_run as tiny

    return tiny.run(tmp_path_factory.mktemp("tiny-run"))


@pytest.fixture(autouse=True)
def _seeded(request):
    """Every test starts from the same Python/NumPy/TensorFlow seeds, so random initial weights and data cannot
    make a test pass on one run and fail on the next (tests that need variety pass their own seeds)."""
    if "tensorflow" in sys.modules:
        import tf_keras

        tf_keras.utils.set_random_seed(1234)
    yield


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """Group the tests for pytest-xdist (`make test` runs `-n 2 --dist loadgroup`): one group per test file, so
    a file's module fixtures (most build a pipeline run) are made once, on one worker, and its tests keep their
    order (some build on the previous test's cached pipeline run). The session runs above are made once per
    worker that needs them: one group for all the files reading them would put most of the end-to-end work on
    one worker. Until 2026-12-07 the groups were silently ignored (tests of one file ran on both workers, each
    building its fixtures): this hook ran after xdist's, which reads the markers, and pytest 9 no longer reads
    the `item._nodeid` xdist 3.8 writes them into (requirements-test.in pins pytest < 9)."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0].replace("/", "_")))
