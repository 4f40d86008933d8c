"""Drift and skew gates in real runs: the reference is the training data of the last run that passed, so
re-running drifted data keeps failing (exit status 4), and returning to the accepted data passes again."""
import csv
import html
import json
import os
import re

import pytest
import yaml
from click.testing import CliRunner

from conftest import DATA, REPO
from pipeline.cli import main
from pipeline.core import drift_record

pytestmark = pytest.mark.slow


def _run(config_path):
    result = CliRunner().invoke(main, ["run", "--config", str(config_path), "--until", "transform"])
    assert "Traceback" not in result.output, result.output
    return result


def _accepted_reports(output):
    root = os.path.join(output, "tfx", "DriftGate", "accepted_statistics")
    return sorted(os.listdir(root), key=int) if os.path.isdir(root) else []  # execution ids


def test_drift_blocks_until_the_data_returns_and_skew_is_measured(tmp_path):
    os.chdir(REPO)
    sample = os.path.join(DATA, "census_sample")
    rows = list(csv.reader(open(os.path.join(sample, "train.csv"))))
    age = rows[0].index("age")
    shifted = [rows[0]] + [row[:age] + [str(int(row[age]) + 30)] + row[age + 1:] for row in rows[1:]]
    csv.writer(open(tmp_path / "shifted.csv", "w", newline="")).writerows(shifted)
    raw = yaml.safe_load(open(os.path.join(sample, "config.yaml")))
    raw["output"] = str(tmp_path / "run")
    raw["validation"] = {"drift": {"numeric": 0.1, "categorical": 0.1}, "skew": {"numeric": 0.5, "categorical": 0.2}}
    config = tmp_path / "config.yaml"

    def write(train):
        raw["data"]["train"] = train
        config.write_text(yaml.safe_dump(raw))

    write(os.path.join(sample, "train.csv"))
    first = _run(config)
    assert first.exit_code == 0, first.output
    accepted = os.path.join(raw["output"], "tfx", "DriftGate", "accepted_statistics")
    first_accepted = os.path.join(accepted, _accepted_reports(raw["output"])[0])
    report = open(os.path.join(first_accepted, "report.md")).read()
    assert "no earlier run passed this gate yet" in report and "| skew | age | Jensen-Shannon |" in report
    record = drift_record.read(first_accepted)  # the same measurements, typed, beside the Markdown
    assert "no earlier run passed this gate yet" in record.notes[0]
    skew = {m.feature: m for m in record.measurements if m.check == "skew"}
    assert skew["age"].measure == "Jensen-Shannon" and skew["age"].threshold == 0.5 and skew["age"].passed
    assert (skew["age"].split, skew["age"].reference_split) == ("train", "eval")
    assert f"| skew | age | Jensen-Shannon | {skew['age'].value:.4f} | 0.5 | ok |" in report

    write(str(tmp_path / "shifted.csv"))
    for attempt in range(2):  # the second time, the drifted statistics must not have become the reference
        drifted = _run(config)
        assert drifted.exit_code == 4, drifted.output  # the gate stopped it (`mtl run --help`)
        assert "drift age: Jensen-Shannon" in drifted.output and "ABOVE BOUND" in drifted.output, drifted.output
        assert "drift education" not in drifted.output  # only age moved
        assert len(_accepted_reports(raw["output"])) == 1, attempt
        report_line = next(line for line in drifted.output.splitlines() if line.startswith("report: "))
        page = html.unescape(open(report_line.split()[1], encoding="utf-8").read())
        assert '<p class="bad" id="verdict-verdict">FAILED at DriftGate</p>' in page
        assert re.search(r"<td>drift</td><td>age</td><td>Jensen-Shannon</td><td>[\d.]+</td><td>0.1</td>"
                         r'<td class="bad">above bound</td>', page), "the failed gate's measurements are reported"

    write(os.path.join(sample, "train.csv"))
    back = _run(config)
    assert back.exit_code == 0, back.output
    reports = _accepted_reports(raw["output"])
    assert len(reports) == 2
    report = open(os.path.join(raw["output"], "tfx", "DriftGate", "accepted_statistics", reports[-1],
                               "report.md")).read()
    assert "| drift | age | Jensen-Shannon | 0.0000 |" in report
    drift = {m.feature: m for m in drift_record.read(os.path.join(accepted, reports[-1])).measurements
             if m.check == "drift"}
    assert drift["age"].value == pytest.approx(0) and drift["age"].threshold == 0.1
    summary = json.load(open(os.path.join(raw["output"], "summary.json")))
    assert {c["name"]: c["state"] for c in summary["components"]}["Transform"] == "CACHED"
