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
    assert report == os.path.join(str(output), "reports", run_ids[-1].replace(":", "-"), "report.html")
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", f"file://{report}")
    from PIL import Image

    image = Image.open(shot)
    assert image.size == (1280, 2400)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 200  # text, tables and plots, not blank
    dom = Dom(chromium(tmp_path, "--dump-dom", f"file://{report}").stdout)

    summary = json.load(open(os.path.join(output, "summary.json")))
    assert dom.ids["verdict-verdict"] == summary["verdict"] == "BLESSED"
    table = {(r[0], r[1]): r for r in dom.rows if len(r) == 7}  # task, metric, value, blessed, change, bar, result
    for metric in summary["metrics"]:
        if metric["metric"] == "example_count":
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
                "label distribution of intent", "escalate auc by slice"}
    assert expected <= set(dom.images)
    for src in dom.images.values():  # embedded, so the file opens offline
        assert src.startswith("data:image/png;base64,")
        assert Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size[0] > 300
    text = "".join(dom.text)
    tiers = {row["tier"] for row in csv.DictReader(open(os.path.join(DATA, "four_tasks", "eval.csv")))}
    slices = {r[0] for r in dom.rows if r and r[0].startswith("tier = ")}
    assert slices == {f"tier = {t}" for t in tiers}  # raw values, not vocabulary ids
    assert "skew" in text and "message" in text  # DriftGate's measurements are in the data section
    assert "intent_accuracy" not in text  # metrics are named as in the config, not Keras' log keys


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
    assert sorted(os.listdir(tmp_path / "first")) == ["report.html", "report.md", "report_files"]  # no leftovers

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
    slices += [collect.SliceMetrics(f"city = c{i}", {"t": {"example_count": float(i), "accuracy": 0.5}})
               for i in range(1, 151)]
    classes = [f"k{i}" for i in range(40)]
    matrix = [[float(i == j) * (i + 1) for j in range(40)] for i in range(40)]
    part = collect.EvaluationPart(slices=slices, checks=[], confusion={"t": (classes, matrix)})
    report = collect.ReportData(history.RunRecord("r", "p", 0.0, 0.0), 0, evaluation=part)
    section = layout.evaluation(report)
    table = next(b for b in section.blocks if isinstance(b, layout.Table))
    assert len(table.rows) == layout.MAX_TABLE_SLICES
    assert table.rows[0][0] == "Overall" and table.rows[1][0] == "city = c150" and table.rows[-1][0] == "city = c52"
    notes = [b.text for b in section.blocks if isinstance(b, layout.Text) and b.css == "note"]
    assert "51 smaller slices not shown" in notes[0] and "30 classes with the most examples (of 40)" in notes[1]
    assert [b.name for b in section.blocks if isinstance(b, layout.Figure)] == ["confusion-t"]


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
