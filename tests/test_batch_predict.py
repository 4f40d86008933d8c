"""Batch inference (`mtl predict --input rows.csv --output answers.jsonl|csv`, serving/batch.py) on the census
sample's pushed model: the same answers as `mtl predict --json` row by row, in any batch size, in-process and
through the REST server; a bad cell named by file and line with nothing written."""
import csv
import json
import os

import pytest
from click.testing import CliRunner

from pipeline.cli import main

pytestmark = pytest.mark.slow

ROWS = 300


@pytest.fixture(scope="module")
def scored(census_run, tmp_path_factory):
    """(config, model dir, the eval CSV's first ROWS rows as a file and as dicts, --json answers for them)."""
    config, summary = census_run
    assert summary.pushed_to, summary.render()
    directory = tmp_path_factory.mktemp("batch")
    with open(config.data.eval, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [next(reader) for _ in range(ROWS)]
    path = directory / "rows.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    dicts = [dict(zip(header, row)) for row in rows]
    one_by_one = CliRunner().invoke(main, ["predict", "--model-dir", summary.pushed_to, "--ignore-unknown",
                                           "--json", json.dumps(dicts)])
    assert one_by_one.exit_code == 0, one_by_one.output
    expected = [json.loads(line) for line in one_by_one.output.splitlines()]
    return config, summary.pushed_to, path, dicts, expected


def _invoke(*args):
    return CliRunner().invoke(main, ["predict", *args])


def _close(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == pytest.approx(b, abs=1e-6)
    return a == b


def test_csv_file_to_json_lines_equals_predict_json_in_any_batch_size(scored, tmp_path):
    config, model, path, dicts, expected = scored
    for batch in ("7", "256"):
        out = tmp_path / f"answers-{batch}.jsonl"
        result = _invoke("--model-dir", model, "--input", str(path), "--output", str(out), "--ignore-unknown",
                         "--keep", "marital_stat", "--batch-size", batch)
        assert result.exit_code == 0, result.output + result.stderr
        assert f"{ROWS} rows answered: {out}" in result.stderr
        answers = [json.loads(line) for line in out.read_text().splitlines()]
        assert [a.pop("marital_stat") for a in answers] == [d["marital_stat"] for d in dicts]  # --keep
        assert len(answers) == ROWS and all(_close(a, e) for a, e in zip(answers, expected))
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".partial")]
    streamed = _invoke("--model-dir", model, "--input", str(path), "--ignore-unknown")  # no --output: stdout
    assert [json.loads(line) for line in streamed.stdout.splitlines()] == expected


def test_csv_output_has_one_column_per_answer_field(scored, tmp_path):
    config, model, path, dicts, expected = scored
    out = tmp_path / "answers.csv"
    result = _invoke("--model-dir", model, "--input", str(path), "--output", str(out), "--ignore-unknown",
                     "--task", "income")
    assert result.exit_code == 0, result.output + result.stderr
    written = list(csv.DictReader(open(out, encoding="utf-8")))
    assert list(written[0]) == ["income.label", "income.probability"]
    assert [r["income.label"] for r in written] == [e["income"]["label"] for e in expected]
    assert [float(r["income.probability"]) for r in written] == pytest.approx(
        [e["income"]["probability"] for e in expected], abs=1e-6)


def test_through_the_rest_server_the_same_answers(scored, tmp_path):
    from serving.server import ModelServer

    config, model, path, dicts, expected = scored
    running = ModelServer(os.path.dirname(model), config.name, rest_port=0, grpc_port=0).start()
    try:
        out = tmp_path / "remote.jsonl"
        result = _invoke("--model-dir", model, "--input", str(path), "--output", str(out), "--ignore-unknown",
                         "--url", f"http://127.0.0.1:{running.rest_port}", "--batch-size", "100")
    finally:
        running.stop()
    assert result.exit_code == 0, result.output + result.stderr
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(answers) == ROWS and all(_close(a, e) for a, e in zip(answers, expected))


def test_a_bad_cell_is_named_by_line_and_nothing_is_written(scored, tmp_path):
    config, model, path, dicts, expected = scored
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = next(csv.reader([lines[200]]))
    cells[header.index("age")] = "forty"
    lines[200] = ",".join(f'"{c}"' if "," in c else c for c in cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    result = _invoke("--model-dir", model, "--input", str(bad), "--output", str(out), "--ignore-unknown",
                     "--batch-size", "64")  # three batches were answered before line 201
    assert result.exit_code == 1
    assert f"{bad}:201: 'age' expects a number, got 'forty'" in result.stderr, result.stderr
    assert os.listdir(tmp_path) == ["bad.csv"]  # no output, no partial file
    unknown = _invoke("--model-dir", model, "--input", str(path), "--output", str(out))
    assert unknown.exit_code == 1 and "'income'" in unknown.stderr
    assert "'marital_stat'" in unknown.stderr and "are not model features" in unknown.stderr
    assert "--ignore-unknown drops such columns" in unknown.stderr and not out.exists()
