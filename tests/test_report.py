"""`mtl report`: two real runs (MMoE with DWA loss weighting, every task type, skew check on), the second
compared with the first's blessed model; the HTML rendered in headless Chromium (screenshot + DOM), the
numbers in it checked against what the pipeline itself wrote (summary.json, history.json, `mtl runs`)."""
import base64
import csv
import html
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.summary import is_count
from conftest import DATA, REPO

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars"]


def browser():
    """Chromium's path; CI installs it and sets MTL_REQUIRE_BROWSER=1, so there a missing browser fails."""
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        if os.environ.get("MTL_REQUIRE_BROWSER"):
            pytest.fail("MTL_REQUIRE_BROWSER is set but no chromium is installed (.ci/run installs Debian's)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


def chromium(tmp_path, *args):
    profile = tmp_path / "chromium-profile"
    return subprocess.run([browser(), *BROWSER_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=True)


class Dom(HTMLParser):
    """Text of every element with an id, the table rows as cell lists, the <img> sources."""

    def __init__(self, markup):
        super().__init__()
        self.rows, self.images, self.ids, self.text = [], {}, {}, []
        self._row, self._cell, self._open_ids = None, None, []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images[attrs.get("alt")] = attrs.get("src", "")
        if "id" in attrs:
            self._open_ids.append((tag, attrs["id"], len(self.text)))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            _, name, start = self._open_ids.pop()
            self.ids[name] = "".join(self.text[start:])

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _config(tmp_path, epochs, output):
    raw = yaml.safe_load(open(os.path.join(DATA, "four_tasks", "config.yaml")))
    raw["model"] = {"architecture": "mmoe", "experts": 3, "tower_units": [16]}
    raw["training"] = {"epochs": epochs, "batch_size": 32, "learning_rate": 0.01, "loss_weighting": "dwa"}
    raw["tasks"]["escalate"]["thresholds"]["auc"]["max_drop"] = 0.5  # a change threshold: needs the baseline
    raw["validation"] = {"skew": {"categorical": 1.0, "numeric": 1.0}}
    raw["output"] = str(output)
    path = tmp_path / f"config-{epochs}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """`mtl run` twice on one output (the second trains one epoch more, so it is evaluated against the first's
    blessed model); returns (output, [run ids oldest first], the second run's `mtl run` output)."""
    os.chdir(REPO)
    tmp_path = tmp_path_factory.mktemp("report")
    output = tmp_path / "run"
    outputs = []
    for epochs in (4, 5):
        result = CliRunner().invoke(main, ["run", "--config", _config(tmp_path, epochs, output)])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    runs = json.loads(CliRunner().invoke(main, ["runs", "--output", str(output), "--json"]).output)
    return output, [r["run_id"] for r in reversed(runs)], outputs[-1]


def _report_path(run_output):
    line = next(line for line in run_output.splitlines() if line.startswith("report: "))
    return line.split()[1]


@pytest.mark.slow
def test_report_renders_in_chromium_with_the_runs_own_numbers(two_runs, tmp_path):
    output, run_ids, run_output = two_runs
    report = _report_path(run_output)
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", f"file://{report}")
    from PIL import Image

    image = Image.open(shot)
    assert image.size == (1280, 2400)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 200  # text, tables and plots, not blank
    check_content(Dom(chromium(tmp_path, "--dump-dom", f"file://{report}").stdout), output, run_ids)


@pytest.mark.slow
def test_report_file_holds_the_runs_own_numbers(two_runs):
    """The same checks on the HTML file as written (no browser needed), and the run id spelled one way."""
    output, run_ids, run_output = two_runs
    report = _report_path(run_output)
    assert report == os.path.join(str(output), "reports", run_ids[-1], "report.html")  # the id as `mtl runs` says
    assert ":" not in run_ids[-1] and f"run {run_ids[-1]} of pipeline" in run_output
    check_content(Dom(open(report, encoding="utf-8").read()), output, run_ids)


def check_content(dom, output, run_ids):
    """The report's numbers against what the pipeline wrote (summary.json, history.json), its plots, slices."""
    from PIL import Image

    summary = json.load(open(os.path.join(output, "summary.json")))
    assert dom.ids["verdict-verdict"] == summary["verdict"] == "BLESSED"
    table = {(r[0], r[1]): r for r in dom.rows if len(r) == 7}  # task, metric, value, blessed, change, bar, result
    for metric in summary["metrics"]:
        if is_count(metric["metric"]):  # example_count, <macro>_classes: in the evaluation tables
            continue
        row = table[(metric["task"], metric["metric"])]
        assert float(row[2]) == pytest.approx(metric["value"], abs=6e-5)
        if metric["change"] is not None:  # against the first run's model: value - baseline = change
            assert float(row[4]) == pytest.approx(metric["change"], abs=6e-5)
            assert float(row[2]) - float(row[3]) == pytest.approx(metric["change"], abs=2e-4)
        assert row[6] == ("pass" if metric["passed"] else "FAIL" if metric["passed"] is False else "")
    assert table[("escalate", "auc")][5] == ">= 0.7, drop <= 0.5"
    assert any(r == ["compared with", f"run {run_ids[0]} (latest blessed model)"] for r in dom.rows)

    model_runs = os.path.join(output, "tfx", "Trainer", "model_run")  # <execution id>/history.json
    history_file = os.path.join(model_runs, max(os.listdir(model_runs), key=int), "history.json")
    last = json.load(open(history_file))[-1]
    gates = {r[0]: r[1] for r in dom.rows if len(r) == 2 and r[0].endswith("_gate")}
    assert set(gates) == {f"{t}_gate" for t in ("escalate", "intent", "keywords", "minutes")}
    for name, usage in last["gates"].items():
        assert [float(v) for v in gates[name].split(", ")] == pytest.approx(usage, abs=6e-4)

    expected = {"calibration of escalate", "confusion matrix of intent", "expert gate usage",
                "task loss weights per epoch", *(f"training curves of {t}" for t in ("escalate", "intent",
                                                                                     "keywords", "minutes")),
                "label distribution of intent", "escalate auc by tier",
                "ROC and precision-recall curves of escalate", "predicted against actual minutes"}
    assert expected <= set(dom.images)
    for src in dom.images.values():  # embedded, so the file opens offline
        assert src.startswith("data:image/png;base64,")
        assert Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size[0] > 300
    text = "".join(dom.text)
    tiers = {row["tier"] for row in csv.DictReader(open(os.path.join(DATA, "four_tasks", "eval.csv")))}
    slices = {r[0].removesuffix(" ⚠") for r in dom.rows if r and r[0].startswith("tier = ")}
    assert slices == {f"tier = {t}" for t in tiers}  # raw values, not vocabulary ids
    assert "escalate by tier" in text and "minutes by tier" in text  # one table per slicing
    counted = [r for r in dom.rows if r and r[0].startswith("tier = ")]
    assert any(r[0].endswith(" ⚠") for r in counted)  # the fixture's eval split has ~100 rows per tier
    assert all(r[0].endswith(" ⚠") == (int(r[1]) < 100) for r in counted)  # example_count is the first column
    columns = next(r for r in dom.rows if r[:2] == ["column", "role"])
    label = dict(zip(columns, next(r for r in dom.rows if r[:2] == ["escalate", "label of escalate"])))
    assert label["mean"] == "" and label["distinct"] == "2"  # a 0/1 INT label: value counts, not a mean
    header = next(r for r in dom.rows if r[:1] == ["slice"] and "macro_f1" in r)
    assert header.index("macro_f1_classes") == header.index("macro_f1") + 1
    assert "skew" in text and "message" in text  # DriftGate's measurements are in the data section
    assert "intent_accuracy" not in text  # metrics are named as in the config, not Keras' log keys
    assert "The exported model is that of epoch" in text and "last epoch loss" not in text
    assert "latest_blessed_model (found)" in text  # a resolver is an input looked up, not a component
    assert not any(r and r[0] == "latest_blessed_model" for r in dom.rows)


@pytest.mark.slow
def test_progress_lines_name_the_output_folders_of_new_and_cached_components(two_runs):
    output, _, run_output = two_runs
    lines = {line.split()[0]: line for line in run_output.splitlines() if " -> " in line}
    assert lines["CsvExampleGen"].split()[1] == "cached"  # the first run's folder, not this run's execution id
    assert lines["CsvExampleGen"].endswith("-> tfx/CsvExampleGen/examples/1")
    trainer = re.search(r"-> tfx/Trainer/\{model,model_run\}/(\d+)$", lines["Trainer"])
    assert trainer and os.path.isdir(os.path.join(output, "tfx", "Trainer", "model", trainer.group(1)))


@pytest.mark.slow
def test_markdown_says_what_the_html_says_and_links_its_plots(two_runs):
    output, run_ids, run_output = two_runs
    report = _report_path(run_output)
    markdown = open(report.replace(".html", ".md"), encoding="utf-8").read()
    dom = Dom(open(report, encoding="utf-8").read())
    assert "**BLESSED**" in markdown
    for row in (r for r in dom.rows if len(r) == 7 and r[0] != "task"):
        assert "| " + " | ".join(cell or " " for cell in row[:5]) in markdown
    links = [line[line.index("](") + 2:-1] for line in markdown.splitlines() if line.startswith("![")]
    assert len(links) == len(dom.images)
    for link in links:
        assert open(os.path.join(os.path.dirname(report), link), "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_command_writes_an_earlier_run_and_needs_a_run_database(two_runs, tmp_path):
    output, run_ids, _ = two_runs
    result = CliRunner().invoke(main, ["report", "--run", str(output), "--run-id", "previous",
                                       "--out", str(tmp_path / "first")])
    assert result.exit_code == 0, result.output
    dom = Dom(open(tmp_path / "first" / "report.html", encoding="utf-8").read())
    assert [run_ids[0]] == [r[1] for r in dom.rows if r and r[0] == "run"]
    assert any(r[0] == "compared with" and r[1].startswith("no earlier blessed model") for r in dom.rows)
    assert sorted(os.listdir(tmp_path / "first")) == ["model_card.html", "model_card.json", "model_card.md",
                                                      "report.html", "report.md", "report_files"]  # no leftovers

    missing = CliRunner().invoke(main, ["report", "--run", str(tmp_path / "nothing-here")])
    assert missing.exit_code != 0 and "no ML Metadata database" in missing.output and "Traceback" not in missing.output


def test_html_escapes_every_value_and_markdown_escapes_pipes():
    from pipeline.report import layout, render

    sections = [layout.Section("Data", "data", [
        layout.Text("<script>alert(1)</script>"),
        layout.Table(["column", "value"], [["a|b", "<img src=x onerror=alert(1)>"]], [["", "bad"]])])]
    page = render.html("t", sections, "0", "now")
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape("<script>alert(1)</script>", quote=False) in page
    assert '<td class="bad">&lt;img src=x onerror=alert(1)&gt;</td>' in page
    markdown = render.markdown("t", sections, "0", "now")
    assert "| a\\|b | **&lt;img src=x onerror=alert(1)&gt;** |" in markdown


def test_many_slices_and_classes_are_cut_to_the_largest_with_a_note():
    from pipeline import history
    from pipeline.report import collect, layout

    slices = [collect.SliceMetrics("Overall", {"t": {"example_count": 10_000.0, "accuracy": 0.9}})]
    slices += [collect.SliceMetrics(f"city = c{i}", {"t": {"example_count": float(i), "accuracy": 0.5}},
                                    slicing=("city",)) for i in range(1, 151)]
    classes = [f"k{i}" for i in range(40)]
    matrix = [[float(i == j) * (i + 1) for j in range(40)] for i in range(40)]
    part = collect.EvaluationPart(slices=slices, checks=[], confusion={"t": (classes, matrix)})
    report = collect.ReportData(history.RunRecord("r", "p", 0.0, 0.0), 0, evaluation=part)
    section = layout.evaluation(report)
    table = next(b for b in section.blocks if isinstance(b, layout.Table))
    assert len(table.rows) == 1 + layout.MAX_TABLE_SLICES  # Overall, then the 100 largest
    assert table.rows[0][0] == "Overall" and table.rows[1][0] == "city = c150" and table.rows[-1][0] == "city = c51 ⚠"
    notes = [b.text for b in section.blocks if isinstance(b, layout.Text) and b.css == "note"]
    assert any("50 smaller slices by city not shown" in n for n in notes)
    assert any("30 classes with the most examples (of 40)" in n for n in notes)
    assert [b.name for b in section.blocks if isinstance(b, layout.Figure)] == ["confusion-t"]


def _evaluation(slices, checks=()):
    from pipeline import history
    from pipeline.report import collect, layout

    part = collect.EvaluationPart(slices=slices, checks=list(checks))
    return layout.evaluation(collect.ReportData(history.RunRecord("r", "p", 0.0, 0.0), evaluation=part))


def test_one_slice_table_per_slicing_overall_first_and_small_slices_marked():
    from pipeline.report import collect, layout
    from pipeline.summary import MetricCheck

    def entry(name, count, auc, slicing):
        return collect.SliceMetrics(name, {"t": {"example_count": count, "auc": auc}}, slicing=slicing)

    section = _evaluation([entry("Overall", 5000.0, 0.95, ()), entry("sex = F", 2600.0, 0.94, ("sex",)),
                           entry("sex = M", 2400.0, 0.99, ("sex",)), entry("race = A", 4950.0, 0.95, ("race",)),
                           entry("race = B", 50.0, 0.80, ("race",))],
                          [MetricCheck("t", "auc", 0.95, ">= 0.9", True)])
    tables = [b for b in section.blocks if isinstance(b, layout.Table)]
    assert [[row[0] for row in t.rows] for t in tables] == [["Overall", "race = A", "race = B ⚠", "threshold"],
                                                            ["Overall", "sex = F", "sex = M", "threshold"]]
    assert tables[0].rows[2][1] == "50" and tables[0].marks[2][:2] == ["warn", "warn"]  # count whole, marked
    assert not any("warn" in marks for marks in tables[1].marks)
    texts = [b.text for b in section.blocks if isinstance(b, layout.Text)]
    assert "t by sex" in texts and "t by race" in texts and layout.SMALL_NOTE in texts
    assert [b.name for b in section.blocks if isinstance(b, layout.Figure)] == ["slices-t-auc-race",
                                                                                 "slices-t-auc-sex"]


def test_slice_chart_is_zoomed_to_the_values_and_thresholds_and_has_no_legend():
    import matplotlib.pyplot as plt

    from pipeline.report import plots

    figure, axis = plots.metric_by_slice_figure("t", "auc", [("Overall", 0.97), ("sex = F", 0.94),
                                                             ("sex = M", 0.99)], [0.92], slicing="sex")
    low, high = axis.get_xlim()
    assert 0.85 < low < 0.92 and 0.99 < high < 1.05  # 0.94 and 0.99 are far apart on it; the line is on it
    assert axis.get_legend() is None and "threshold 0.92" in axis.get_title()
    heights = {t.get_text(): t.get_position()[1] for t in axis.get_yticklabels()}
    assert heights["Overall"] > heights["sex = F"] > heights["sex = M"]  # Overall on top, then in order
    plt.close(figure)
    figure, axis = plots.metric_by_slice_figure("t", "mae", [("Overall", 2.0), ("tier = a", 2.5)], [3.0, 1.0])
    assert axis.get_xlim()[0] < 1.0 and axis.get_xlim()[1] > 3.0  # both bounds of min and max shown
    plt.close(figure)


def test_macro_metrics_say_they_average_the_classes_present():
    from pipeline.report import collect, layout

    section = _evaluation([collect.SliceMetrics("Overall", {"t": {"example_count": 500.0, "macro_f1": 0.8,
                                                                  "macro_f1_classes": 3.0}})])
    assert layout.MACRO_NOTE in [b.text for b in section.blocks if isinstance(b, layout.Text)]
    (table,) = [b for b in section.blocks if isinstance(b, layout.Table)]
    assert table.header == ["slice", "example_count", "macro_f1", "macro_f1_classes"] and table.rows[0][3] == "3"


def test_the_training_section_names_the_epoch_the_model_keeps():
    from pipeline import history
    from pipeline.report import collect, layout

    epochs = [{"epoch": i + 1, "loss": 1.0 - i / 10, "val_loss": v} for i, v in enumerate([0.6, 0.4, 0.45, 0.47])]
    assert collect.kept_epoch(epochs, patience=2, planned=10)[0] == 2
    assert "stopped early after 4 of 10" in collect.kept_epoch(epochs, patience=2, planned=10)[1]
    assert collect.kept_epoch(epochs, patience=0, planned=4) == (4, "the last epoch (early stopping off)")
    assert collect.kept_epoch(epochs[:1] + [{"epoch": 2, "val_loss": 0.6}], 2, 2)[0] == 1  # ties: the first
    kept, why = collect.kept_epoch(epochs, patience=2, planned=10)
    part = collect.TrainingPart(epochs=epochs, tasks={}, kept_epoch=kept, kept_reason=why)
    section = layout.training(collect.ReportData(history.RunRecord("r", "p", 0.0, 0.0), training=part))
    text = section.blocks[0].text
    assert "exported model is that of epoch 2" in text and "validation loss 0.4000" in text


def test_resolvers_are_inputs_looked_up_not_components():
    from pipeline import history
    from pipeline.report import collect, layout
    from pipeline.summary import ComponentRun, RunSummary

    record = history.RunRecord("r", "p", 0.0, 0.0, components=[ComponentRun("Trainer", "COMPLETE", 3.0),
                                                                 ComponentRun("latest_blessed_model", "NONE", 0.1)],
                               resolvers=["latest_blessed_model"])
    section = layout.components(collect.ReportData(record))
    assert [row[0] for row in section.blocks[0].rows] == ["Trainer"]
    assert "latest_blessed_model (nothing yet)" in section.blocks[1].text
    summary = RunSummary("p", "r", [ComponentRun("Trainer", "COMPLETE", 3.0)],
                         resolvers=[ComponentRun("latest_blessed_model", "COMPLETE", 0.1)])
    lines = summary.render().splitlines()
    assert not any(line.startswith("latest_blessed_model") for line in lines)
    assert "inputs looked up: latest_blessed_model (found)" in lines


def test_integer_coded_categorical_columns_get_value_counts(tmp_path):
    """A categorical column stored as integers: TFDV describes it by a mean; the report counts its values
    from the run's tf.Examples (real gzipped TFRecords, read back by TensorFlow)."""
    import pandas as pd
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from pipeline.report import collect, examples, layout

    codes = [3] * 60 + [7] * 30 + [11] * 10
    stats = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"industry": codes}))
    (feature,) = stats.datasets[0].features
    row = collect.feature_row(feature, "categorical", 100)
    assert row.numbers["mean"] == pytest.approx(5.0)  # what the table showed before
    split = tmp_path / "Split-train"
    split.mkdir()
    with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for code in codes:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "industry": tf.train.Feature(int64_list=tf.train.Int64List(value=[code]))})).SerializeToString())
    counts, read = examples.value_counts(examples.split_files(str(tmp_path), "train"), ["industry"])
    assert read == 100 and dict(counts["industry"]) == {3: 60, 7: 30, 11: 10}
    collect.as_categorical(row, counts["industry"], read)
    table = layout.feature_table([row])
    cells = dict(zip(table.header, table.rows[0]))
    assert cells["mean"] == cells["std"] == cells["median"] == ""
    assert cells["distinct"] == "3" and cells["most frequent"] == "3"
    assert row.top == [("3", 60.0), ("7", 30.0), ("11", 10.0)]


def test_roc_and_precision_recall_curves_from_tfma_confusion_matrices(tmp_path):
    """A binary task through real TFMA with the project's EvalConfig: its ConfusionMatrixPlot is read into
    ROC / PR points and drawn; the points agree with the AUC TFMA computed."""
    from helpers import tfma_rows
    from pipeline import config as cfg
    from pipeline.report import collect, evaluator_output, plots

    config = cfg.parse_config({"name": "hand", "data": {"train": "unused.csv"}, "features": {"x": {"type": "numeric"}},
                               "tasks": {"churn": {"type": "binary", "label": "churn", "positive": "yes"}}})
    labels = [0, 0, 1, 0, 1, 1, 0, 1, 1, 0] * 3
    scores = [0.1, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.2] * 3
    out = tfma_rows.evaluate(config, {"churn_label": labels, "churn_scores": scores,
                                      "churn_weight": [1.0] * len(labels)}, str(tmp_path / "tfma"))
    part = evaluator_output.read(out, config, collect.EvaluationPart())
    points = sorted(part.curves["churn"])
    assert len(points) > 100 and points[0][1] + points[0][4] == 15  # every threshold: tp + fn = positives
    fpr = [fp / (fp + tn) for _, _, fp, tn, _ in points][::-1]
    tpr = [tp / (tp + fn) for _, tp, _, _, fn in points][::-1]
    area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    assert area == pytest.approx(part.slices[0].values["churn"]["auc"], abs=0.01)
    assert plots.roc_pr("churn", part.curves["churn"], 0.8, 0.8)[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.roc_pr("churn", [(0.5, 3.0, 0.0, 0.0, 1.0)]) is None  # no negatives: no curve


def test_a_failed_trainer_still_shows_the_epochs_it_trained(tmp_path):
    """A diverged Trainer publishes nothing, but its history.json (written every epoch) explains the failure."""
    from pipeline import history
    from pipeline.report import collect
    from pipeline.summary import ComponentRun

    folder = tmp_path / "tfx" / "Trainer" / "model_run" / "7"
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps([{"epoch": 1, "loss": 0.7, "a_loss": 0.7, "a_auc": 0.6,
                                                      "a_weight": 1.0}]))
    record = history.RunRecord("r", "p", 0.0, 0.0, components=[ComponentRun("Trainer", "FAILED", 3.0)],
                               executions={"Trainer": 7})
    part, why = collect.training_part(record, None, str(tmp_path))
    assert why == "" and part.epochs[0]["a_auc"] == 0.6 and list(part.tasks) == ["a"]
    (folder / "history.json").unlink()
    part, why = collect.training_part(record, None, str(tmp_path))
    assert part is None and why.startswith("Trainer failed in this run")
    assert collect.training_part(history.RunRecord("r", "p", 0.0, 0.0, data_half_only=True), None,
                                 str(tmp_path))[1] == "Trainer did not run in this run (`--until transform`)"


def test_drift_section_is_read_from_the_gates_drift_json(tmp_path):
    """The drift table comes from the DriftGate's drift.json, never from its Markdown: a value changed in the
    JSON is the value the report shows, a malformed file names itself and the field, and an accepted folder
    from before drift.json says where its measurements are."""
    from pipeline.core import drift_record
    from pipeline.core.drift_record import DriftMeasurement, DriftRecord, DriftRecordError
    from pipeline.records import ComponentRun, RunRecord
    from pipeline.report import collect, layout, render

    folder = tmp_path / "tfx" / "DriftGate" / "accepted_statistics" / "5"
    folder.mkdir(parents=True)
    drift_record.write(str(folder), DriftRecord([DriftMeasurement("drift", "age", "Jensen-Shannon", 0.0123, 0.1),
                                                 DriftMeasurement("skew", "city", "L-infinity", 0.3, 0.2, "train",
                                                                  "eval")], ["skew: a note"]))
    (folder / "report.md").write_text("| check | column | measure | value | bound | verdict |\n|---|\n"
                                      "| drift | age | Jensen-Shannon | 9.9999 | 0.1 | ok |\n")  # for people only
    run = RunRecord("r", "p", 0.0, 0.0, components=[ComponentRun("DriftGate", "COMPLETE", 1.0)],
                    outputs={"DriftGate": {"accepted_statistics": [str(folder)]}})

    def page():
        found, missing = collect.drift_part(run, None, {}, None)
        return render.html("t", [layout.Section("Data", "data", layout.drift_blocks(found, missing))], "0", "now")

    shown = page()
    assert "9.9999" not in shown and "skew: a note" in shown
    assert ('<td>skew</td><td>city</td><td>L-infinity</td><td>0.3000</td><td>0.2</td><td class="bad">above bound'
            '</td></tr>\n<tr><td>drift</td><td>age</td><td>Jensen-Shannon</td><td>0.0123</td><td>0.1</td><td>ok</td>'
            ) in shown  # the one above its bound first
    raw = json.loads((folder / drift_record.DRIFT_FILE).read_text())
    raw["measurements"][0].update(value=0.0456)
    (folder / drift_record.DRIFT_FILE).write_text(json.dumps(raw))
    assert "<td>Jensen-Shannon</td><td>0.0456</td><td>0.1</td><td>ok</td>" in page()
    raw["measurements"][0].update(value="low")
    (folder / drift_record.DRIFT_FILE).write_text(json.dumps(raw))
    with pytest.raises(DriftRecordError, match=re.escape(f"{folder / drift_record.DRIFT_FILE}: field "
                                                         "'measurements[0].value' must be a number, not 'low'")):
        page()
    (folder / drift_record.DRIFT_FILE).unlink()
    assert (f"wrote no drift.json (an older version): its measurements are in {folder / 'report.md'}"
            in html.unescape(page()))
    (folder / "report.md").unlink()
    assert "Drift and skew checks: off" in page()  # the gate measured nothing (no `validation:` bounds)
