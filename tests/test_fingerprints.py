"""Cache fingerprints follow what a component imports (pipeline/version.py): editing a file outside a
component's import closure keeps its fingerprint (its cached outputs stay), editing one inside changes it (the
component re-runs). Computed on a copy of the source tree; no pipeline runs."""
import shutil
from pathlib import Path

import pytest

from pipeline import version

PACKAGES = ("pipeline", "components", "trainer", "serving")


@pytest.fixture
def tree(tmp_path):
    for package in PACKAGES:
        shutil.copytree(version.ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def _touch(root: Path, path: str) -> None:
    with open(root / path, "a") as f:
        f.write("\n# edited\n")


@pytest.mark.parametrize("path", ["pipeline/runners/airflow.py", "components/datasets/support.py",
                                  "pipeline/report/layout.py", "pipeline/cli.py", "pipeline/history.py",
                                  "serving/server/rest.py", "serving/contract.py"])
def test_editing_unused_code_keeps_both_fingerprints(tree, path):
    before = version.fingerprint(version.DATA_CODE, tree), version.fingerprint(version.MODEL_CODE, tree)
    _touch(tree, path)
    assert (version.fingerprint(version.DATA_CODE, tree), version.fingerprint(version.MODEL_CODE, tree)) == before


@pytest.mark.parametrize("path, data, model", [
    ("components/gates/drift_gate.py", True, False),
    ("components/gates/artifacts.py", True, False),
    ("pipeline/core/drift_record.py", True, False),  # written by the DriftGate
    ("components/transform.py", True, False),
    ("components/tokens.py", True, True),  # the tokenizer: Transform's, and the tokens a tagging model returns
    ("pipeline/core/csvdata.py", True, True),
    ("pipeline/config.py", True, True),
    ("trainer/export.py", False, True),
    ("pipeline/core/model_contract.py", False, True),  # the contract file's layout: written by trainer/export.py
    ("trainer/weighting/pcgrad.py", False, True),
    ("pipeline/core/names.py", False, True),  # HISTORY_FILE, PROGRESS_LOGGER: imported by trainer/run.py
])
def test_editing_used_code_changes_its_fingerprint(tree, path, data, model):
    before = version.fingerprint(version.DATA_CODE, tree), version.fingerprint(version.MODEL_CODE, tree)
    _touch(tree, path)
    after = version.fingerprint(version.DATA_CODE, tree), version.fingerprint(version.MODEL_CODE, tree)
    assert (after[0] != before[0], after[1] != before[1]) == (data, model)


def test_function_level_imports_count(tmp_path):
    """A module imported only inside a function is part of the closure (it runs when the function does)."""
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "run.py").write_text("def run_fn():\n    from trainer import late\n")
    (tmp_path / "trainer" / "late.py").write_text("X = 1\n")
    (tmp_path / "trainer" / "other.py").write_text("X = 1\n")
    files = {p.name for p in version.fingerprinted(["trainer.run"], tmp_path)}
    assert files == {"__init__.py", "run.py", "late.py"}


def test_the_order_of_features_in_the_yaml_does_not_change_how_examplegen_reads():
    """ExampleGen's cache key (its custom_config) is the same when the YAML lists the features in another order
    (yaml.safe_dump sorts keys): a config rewritten by a tool must not re-run every component."""
    import os

    import yaml

    from pipeline import config as cfg
    from pipeline.pipeline import reading

    raw = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "data", "census_sample", "config.yaml")))
    reordered = dict(raw, features=dict(reversed(list(raw["features"].items()))))
    assert list(reordered["features"]) != list(raw["features"])
    assert reading(cfg.parse_config(reordered)) == reading(cfg.parse_config(raw))
