"""The model card (pipeline/report/model_card.py) of the census sample's run (session fixture census_run): its
content against what the pipeline wrote (the run summary, the data files, the config), user text escaped, the
report linking it, the config block strict and unseen by every component."""
import csv
import json
import os
from dataclasses import replace

import pytest
import yaml

from pipeline import config as cfg
from pipeline.report import model_card
from conftest import DATA

INFO = {"owners": [{"name": "<b>ML team</b>", "contact": "ml@example.com"}], "license": "Apache-2.0",
        "intended_use": "Rank <script>alert('use')</script> census rows | offline analysis only",
        "users": ["analysts & economists"], "limitations": ["US data from 1994-95 <only>"],
        "ethical_considerations": [{"name": "sex and race are inputs", "mitigation_strategy": "report per slice"}]}
SCHEMA_KEYS = {"schema_version", "model_details", "model_parameters", "quantitative_analysis", "considerations"}


@pytest.fixture(scope="module")
def card(census_run, tmp_path_factory):
    """The census run's report and card written with the config block above: (config, summary, folder, card JSON)."""
    from pipeline import report

    config, summary = census_run
    out = tmp_path_factory.mktemp("card")
    written = report.write_report(config.output, summary.run_id, str(out), card_info=cfg.ModelCardInfo(**INFO))
    assert written.model_card == os.path.join(str(out), model_card.HTML_FILE)
    return config, summary, str(out), json.load(open(out / model_card.JSON_FILE))


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_card_holds_every_task_metric_threshold_slice_and_the_training_data(card):
    config, summary, _, found = card
    assert set(found) == SCHEMA_KEYS and found["schema_version"] == "0.0.2"  # the schema's top level, no more
    metrics = found["quantitative_analysis"]["performance_metrics"]
    overall = {m["type"]: m for m in metrics if m["slice"] == "Overall"}
    for check in summary.metrics:
        entry = overall[f"{check.task}/{check.metric}"]
        assert entry["value"] == pytest.approx(check.value, abs=1e-6)
        assert entry.get("threshold") == (check.bound or None) and entry.get("passed") == check.passed
    assert {(m["task"], m["metric"], m["threshold"]) for m in metrics if "threshold" in m} == {
        ("income", "auc", ">= 0.75"), ("never_married", "auc", ">= 0.85")}
    sexes = {r["sex"] for r in _rows(config.data.eval)}
    for task in config.tasks:
        assert {m["slice"] for m in metrics if m["task"] == task} == {"Overall", *(f"sex = {s}" for s in sexes)}

    data = {d["name"]: d for d in found["model_parameters"]["data"]}
    rows = (data["train"]["rows"], data["eval"]["rows"])
    assert rows == (len(_rows(config.data.train)), len(_rows(config.data.eval)))
    features = {f["name"]: f["type"] for f in data["train"]["features"]}
    assert features == {n: f.type for n, f in config.features.items()}
    assert {f["name"]: f.get("stored_as") for f in data["train"]["features"]}["age"] == "INT"  # TFDV's kind
    incomes = {v["value"]: v["count"] for v in data["train"]["label_distributions"]["income"]["values"]}
    labels = [r["income"] for r in _rows(config.data.train)]
    assert incomes == {value: labels.count(value) for value in set(labels)}

    parameters = found["model_parameters"]
    assert parameters["model_architecture"].startswith("shared_bottom (shared_units [64, 32], tower_units [16]")
    assert parameters["loss_weighting"] == "fixed"
    assert sorted((t["name"], t["type"], t["loss_weight"]) for t in parameters["tasks"]) == [
        ("income", "binary", 1.0), ("never_married", "binary", 1.0)]

    details = found["model_details"]
    assert details["verdict"] == summary.verdict == "BLESSED" and details["pushed_to"] == summary.pushed_to
    assert details["version"]["name"] == os.path.basename(summary.pushed_to) and details["run_id"] == summary.run_id
    considerations = found["considerations"]
    assert considerations["use_cases"] == [{"description": INFO["intended_use"]}]
    assert considerations["users"] == [{"description": "analysts & economists"}]
    assert considerations["ethical_considerations"] == INFO["ethical_considerations"]
    assert details["owners"] == INFO["owners"] and details["licenses"] == [{"identifier": "Apache-2.0"}]
    assert not os.path.exists(os.path.join(summary.pushed_to, "assets.extra", model_card.JSON_FILE))  # as pushed
    assert model_card.recorded_info(card[2]) == cfg.ModelCardInfo(**INFO)  # what `mtl report` keeps without a config


def test_html_and_markdown_escape_user_text_and_the_report_links_the_card(card):
    _, summary, out, _ = card
    page = open(os.path.join(out, model_card.HTML_FILE), encoding="utf-8").read()
    for raw in ("<script>", "<b>ML team</b>", "<only>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&#39;use&#39;)&lt;/script&gt;" in page and "analysts &amp; economists" in page
    assert 'href="report.html"' in page and '<p id="card-verdict" class="good">BLESSED</p>' in page
    for check in summary.metrics:
        if check.bound:
            bound = check.bound.replace(">", "&gt;").replace("<", "&lt;")
            assert f"<td>{check.metric}</td><td>{check.value:.4f}</td><td>{bound}</td>" in page
    text = open(os.path.join(out, model_card.MARKDOWN_FILE), encoding="utf-8").read()
    assert "<script>" not in text and "&lt;script&gt;" in text and "census rows \\| offline" in text
    assert 'href="model_card.html"' in open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert "[Model card](model_card.md)" in open(os.path.join(out, "report.md"), encoding="utf-8").read()


def test_a_not_blessed_run_says_so_and_names_the_failing_thresholds(card):
    """The same run read back, its verdict and income's check turned into a failure: the card says NOT BLESSED,
    not pushed, and which bar failed."""
    from pipeline.report import collect

    config, summary, _, _ = card
    data = collect.collect(config.output, summary.run_id)
    checks = [replace(c, passed=False) if (c.task, c.metric) == ("income", "auc") else c
              for c in data.evaluation.checks]
    data.run = replace(data.run, blessed=False, pushed_to=None, pushed_version=None, pushed_now=False)
    data.evaluation.checks = checks
    found = model_card.build(data).to_json()
    details = found["model_details"]
    value = next(c.value for c in checks if c.passed is False)
    assert details["verdict"] == "NOT BLESSED" and details["version"]["name"] == "not pushed"
    assert details["failing_thresholds"] == [f"income auc = {value:.4f} (needs >= 0.75)"]
    assert "NOT BLESSED: not pushed; failing thresholds: income auc" in details["overview"]
    assert found["considerations"]["limitations"][0]["description"].startswith("NOT BLESSED: failing thresholds")
    assert "pushed_to" not in details


def test_config_block_is_strict_and_no_component_sees_it():
    from pipeline.pipeline import trainer_view

    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample", "config.yaml")))
    plain = cfg.parse_config(raw)
    with_card = cfg.parse_config({**raw, "model_card": INFO})
    assert with_card.model_card.intended_use == INFO["intended_use"]
    assert trainer_view(with_card) == trainer_view(plain)  # the Trainer's cache key: no re-training
    assert cfg.data_contract(with_card) == cfg.data_contract(plain)  # DataGate and Transform: no re-run
    for block, key in (({**INFO, "intended_usee": "x"}, "model_card.intended_usee"),
                       ({"owners": [{"name": "a", "mail": "b"}]}, "model_card.owners.0.mail")):
        with pytest.raises(cfg.ConfigError, match=f"{key}: unknown key"):
            cfg.parse_config({**raw, "model_card": block})
