"""The impression-funnel generator: deterministic per seed, conversion only after a click, the documented rates,
would_convert the counterfactual of conversion, the tasks related but different, bad arguments clear errors that
write nothing, and `mtl data funnel` writing the files."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from components.datasets import funnel
from pipeline.cli import main


@pytest.fixture(scope="module")
def columns():
    return funnel.impressions(200_000, seed=3)


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    funnel.generate(tmp_path / "a", rows=2000, seed=5)
    funnel.generate(tmp_path / "b", rows=2000, seed=5)
    funnel.generate(tmp_path / "c", rows=2000, seed=6)
    for split in ("train", "eval"):
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() == (tmp_path / "b" / f"{split}.csv").read_bytes()
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() != (tmp_path / "c" / f"{split}.csv").read_bytes()


def test_same_seed_same_bytes_across_processes(tmp_path):
    mtl = os.path.join(os.path.dirname(sys.executable), "mtl")
    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run([mtl, "data", "funnel", "--rows", "3000", "--seed", "5", "--out", str(tmp_path / name)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
    for split in ("train", "eval"):
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() == (tmp_path / "b" / f"{split}.csv").read_bytes()


def test_split_sizes_header_and_values(tmp_path):
    result = funnel.generate(tmp_path, rows=20000, seed=1, eval_fraction=0.25)
    train, evaluation = _read(tmp_path / "train.csv"), _read(tmp_path / "eval.csv")
    assert (len(train), len(evaluation)) == (15000, 5000) == (result["train_rows"], result["eval_rows"])
    assert list(train[0]) == list(funnel.COLUMNS)
    assert result["eval_conversions"] == sum(r["conversion"] == "1" for r in evaluation)
    rows = train + evaluation
    assert {r["user_segment"] for r in rows} == set(funnel.SEGMENTS)
    assert {r["device"] for r in rows} == set(funnel.DEVICES)
    assert {r["item_category"] for r in rows} == {r["user_interest"] for r in rows} == set(funnel.CATEGORIES)
    assert {int(r["hour"]) for r in rows} == set(range(24))
    assert all(1 <= int(r["position"]) <= 50 and float(r["price"]) > 0 for r in rows)
    assert 2000 <= len({r["user_id"] for r in rows}) <= funnel.USERS  # a few thousand users
    assert {r[c] for r in rows for c in ("click", "conversion", "would_convert")} == {"0", "1"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_conversion_only_after_a_click_and_the_counterfactual_on_clicked_rows(columns):
    click, conversion, would = columns["click"], columns["conversion"], columns["would_convert"]
    assert not np.any((conversion == 1) & (click == 0))
    assert np.array_equal(conversion[click == 1], would[click == 1])
    assert np.any((would == 1) & (click == 0))  # the counterfactual exists where no click was observed


def test_rates_within_the_documented_bands(columns):
    rates = funnel.rates(columns)
    assert 0.01 <= rates["ctr"] <= 0.04
    assert 0.01 <= rates["cvr"] <= 0.05
    assert 0.0003 <= rates["ctcvr"] <= 0.002
    # selection bias: clicked impressions convert more often than impressions in general
    assert rates["cvr"] > 1.3 * rates["would_convert"]


def test_default_size_leaves_a_few_hundred_eval_conversions():
    conversion = funnel.impressions(1_000_000, seed=7)["conversion"]
    assert conversion[-200_000:].sum() >= 250


def _rate(label, rows):
    return label[rows].mean()


def test_clicks_and_conversions_follow_the_documented_effects(columns):
    click, would = columns["click"], columns["would_convert"]
    position, price = columns["position"], columns["price"].astype(float)
    # position moves clicks only
    assert _rate(click, position <= 2) > 1.5 * _rate(click, position >= 10)
    assert abs(_rate(would, position <= 2) / _rate(would, position >= 10) - 1) < 0.15
    # price moves conversions (of bargain hunters most) and not clicks
    cheap, dear = price < np.quantile(price, 0.25), price > np.quantile(price, 0.75)
    assert _rate(would, cheap) > 1.5 * _rate(would, dear)
    assert abs(_rate(click, cheap) / _rate(click, dear) - 1) < 0.2
    # segments: loyal users convert more than new ones
    segment = columns["user_segment"]
    assert _rate(would, segment == "loyal") > 2 * _rate(would, segment == "new")


def test_the_tasks_are_related_but_different(columns):
    """Within one segment and device, clicked impressions would convert far more often than unclicked ones (the
    shared user-item affinity), yet click and would_convert are weakly correlated (position, attractiveness,
    price and purchase fit act on one task only)."""
    rows = (columns["user_segment"] == "casual") & (columns["device"] == "mobile")
    click, would = columns["click"][rows], columns["would_convert"][rows]
    assert would[click == 1].mean() > 1.5 * would[click == 0].mean()
    assert np.corrcoef(click, would)[0, 1] < 0.2


def test_favourite_category_impressions_click_and_convert_more(columns):
    match = columns["user_interest"] == columns["item_category"]
    assert 0.05 < match.mean() < 0.12  # 1 in 12 categories
    assert _rate(columns["click"], match) > 2 * _rate(columns["click"], ~match)
    assert _rate(columns["would_convert"], match) > 2 * _rate(columns["would_convert"], ~match)


def test_true_logits_rank_well_and_leave_room(columns):
    """The documented oracle AUCs: the click and conversion logits rank their labels well, not perfectly."""
    from sklearn.metrics import roc_auc_score

    found = funnel.impressions(200_000, seed=7, logits=True)
    assert 0.78 < roc_auc_score(found["click"], found["z_click"]) < 0.85
    assert 0.80 < roc_auc_score(found["would_convert"], found["z_conversion"]) < 0.90
    assert set(funnel.COLUMNS) <= set(found) and "z_click" not in columns


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 50}, "--rows: 50 is too few"),
    ({"eval_fraction": 1.0}, "--eval-fraction: 1.0 is not between 0 and 1"),
    ({"eval_fraction": 0.0}, "--eval-fraction: 0.0 is not between 0 and 1"),
])
def test_bad_arguments_are_clear_errors_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(funnel.FunnelDataError, match=message):
        funnel.generate(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_file_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(funnel.FunnelDataError, match="exists and is not a directory"):
        funnel.generate(tmp_path / "file", rows=200)
    assert (tmp_path / "file").read_text() == "x"


def test_cli_writes_the_files_and_reports_errors(tmp_path):
    result = CliRunner().invoke(main, ["data", "funnel", "--rows", "1000", "--seed", "4", "--out",
                                       str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "800 rows" in result.output and "200 rows" in result.output and "CTR" in result.output
    assert len(_read(tmp_path / "d" / "train.csv")) == 800 and len(_read(tmp_path / "d" / "eval.csv")) == 200
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, ["data", "funnel", "--rows", "200", "--out", str(tmp_path / "file")])
    assert result.exit_code != 0 and "file" in result.output
    result = CliRunner().invoke(main, ["data", "funnel", "--rows", "3"])
    assert result.exit_code == 2 and "--rows" in result.output
