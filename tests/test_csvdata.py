"""The one CSV reader (pipeline/core/csvdata.py): header rule, BOM, gzip, missing-value spellings, cell types, the
sample the pre-flight reads, and named errors for files that are not CSV text. Pure Python: no TensorFlow."""
import codecs
import gzip

import pytest

from pipeline.core import csvdata

NA = frozenset(csvdata.DEFAULT_NA_VALUES)


def _file(tmp_path, content: bytes, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_header_names_are_stripped_and_may_be_quoted(tmp_path):
    path = _file(tmp_path, b'age, sex ,"income, yearly",\tzip\n1,m,2,3\n')
    assert csvdata.header(path) == ["age", "sex", "income, yearly", "zip"]


def test_bom_and_gzip_are_read_through(tmp_path):
    body = "age, sex\n30,male\n".encode()
    plain = _file(tmp_path, codecs.BOM_UTF8 + body, "bom.csv")
    zipped = _file(tmp_path, gzip.compress(codecs.BOM_UTF8 + body), "data.csv.gz")
    renamed = _file(tmp_path, gzip.compress(body), "no_suffix.csv")  # gzip recognized by its bytes, not its name
    for path in (plain, zipped, renamed):
        assert csvdata.header(path) == ["age", "sex"], path
        assert list(csvdata.records(path, 2)) == [(2, ["30", "male"])], path
        assert csvdata.has_data_row(path)
    assert csvdata.has_bom(plain) and csvdata.has_bom(zipped) and not csvdata.has_bom(renamed)
    assert csvdata.is_gzip(zipped) and csvdata.is_gzip(renamed) and not csvdata.is_gzip(plain)


@pytest.mark.parametrize("content, expected", [
    (b"PK\x03\x04\x00\x00binary\x00zip", r"data.csv, line 1: line contains NUL \(a binary file\? expected CSV text\)"),
    (gzip.compress(b"a,b\n" + "".join(f"{i},{i * i}\n" for i in range(2000)).encode(), mtime=0)[:3000],  # mtime 0:
     # the same bytes, so the same test id, in every xdist worker
     r"data.csv: a gzip file that cannot be decompressed"),
    (b"a,b\n1,2\n3,caf\xe9\n", r"data.csv, line 3: bytes that are not UTF-8"),
    (b"a,b\n1,2\n3\n", r"data.csv, line 3: 1 fields, the header has 2"),
])
def test_files_that_are_not_csv_text_are_named(tmp_path, content, expected):
    path = _file(tmp_path, content)
    with pytest.raises(csvdata.CsvError, match=expected):
        csvdata.header(path)
        list(csvdata.records(path, 2))


def test_missing_cells_exact_spellings_after_stripping():
    assert csvdata.missing("", None) and not csvdata.missing(" ", None) and not csvdata.missing("NA", None)
    for cell in ("", " ", "NA", " NA ", "N/A", "NaN", "nan", "null", "None", "?", "#N/A"):
        assert csvdata.missing(cell, NA), cell
    for cell in ("na", "Na", "none", "NA/NA", "0", "unknown", "n.a."):
        assert not csvdata.missing(cell, NA), cell  # letter case counts; no partial matches
    assert not csvdata.missing("NA", frozenset())


def test_cell_types_follow_tfx_bsl():
    assert [csvdata.cell_type(c) for c in ("3", "-9223372036854775808", "99999999999999999999", "3.5", "1e39",
                                           "nan", "x", "3 apples")] == \
        ["INT", "INT", "BYTES", "FLOAT", "FLOAT", "FLOAT", "BYTES", "BYTES"]


def test_sample_reports_spellings_first_text_and_label_values(tmp_path):
    rows = "".join(f"{i},{'NA' if i % 5 == 0 else i},{'male' if i % 2 else ' female'}\n" for i in range(1, 30))
    first = _file(tmp_path, ("id,size,sex\n" + rows).encode(), "a.csv")
    second = _file(tmp_path, b"id,size,sex\n30,big,unknown\n31,7,male\n", "b.csv")
    found = csvdata.sample([first, second], ["size", "sex"], csvdata.DEFAULT_NA_VALUES, keep_values=["sex"])
    assert found.rows == 31 and found.complete
    assert dict(found.columns["size"].spellings) == {"NA": 5}
    assert found.columns["size"].text == 1 and found.columns["size"].first_text == (second, 2, "big")
    assert dict(found.columns["sex"].values) == {"male": 16, "female": 14, "unknown": 1}
    assert found.columns["sex"].where["unknown"] == (second, 2)
    limited = csvdata.sample([first, second], ["size"], (), limit=29)
    assert limited.rows == 29 and not limited.complete  # the second file's rows were not read
    assert limited.columns["size"].first_text == (first, 6, "NA")  # no spellings: 'NA' is text
