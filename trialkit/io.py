"""Read a study data folder into polars frames, checked once at the edge (DESIGN.md section 2).

A study data folder holds one file per dataset, named by its CDISC name in any case
(``dm.parquet``, ``IE.xpt``, ``Rs.csv``, ``ae.sas7bdat``). :func:`read_study` finds them,
reads them, validates them against what the report needs (``trialkit.validate``) and raises
one error listing everything that is wrong; warnings stay in ``study.findings``.

Reading rules, the same for every format:

- column names are upper-cased (SAS and R exports mix cases);
- text is stripped and an empty string becomes null (SAS pads, CSV writes ``""`` for missing);
- CSV is read as UTF-8 (a byte-order mark is accepted), every column as text; the numeric and
  date columns are cast afterwards by the validation spec, so a stray "n/a" in ``AGE`` is
  reported with its row instead of turning the whole column into text. Files that are not
  UTF-8 (GBK site names, latin-1 exports) are **not** guessed: a wrong guess silently
  garbles names, which is worse in trial data than stopping. The error shows the offending
  line decoded as GB18030 and as latin-1 and says how to convert the file, or pass
  ``encoding="gbk"`` (to :func:`read_dataset` or :func:`read_study`) when the encoding is known.
  A header naming a column twice, or a row with more or fewer fields than the header, is an
  error: polars would rename the second column or pad the row, silently;
- SAS XPT and sas7bdat are read by pyreadstat straight into polars; SAS date-formatted
  numbers arrive as ``pl.Date`` (unformatted ADaM ``--DT`` numbers are read as days since
  1960-01-01). An XPT whose size is not a multiple of its 80-byte records is truncated:
  pyreadstat would silently return the rows before the cut, so that is an error;
- after reading, :mod:`trialkit.validate` gives every format the same types: the numeric
  columns of its spec (``AGE``, ``--STRESN``, ``--SEQ``, ``--DY``, ``AVAL``, ...) are
  Float64, ``--DTC`` are ISO text, ADaM ``--DT`` are ``pl.Date``; numbers in text columns
  (``SITEID`` 1) become text. A demo study written as parquet, CSV and XPT reads to equal
  frames (tests/io/test_readers.py).

Errors: ``read_study`` raises when any check fails; one error is raised as its own class
(``MissingColumnError``, ``UnreadableFileError``, ...), several as ``ValidationFailed``
whose message lists them grouped by dataset; both carry ``.findings``.

Dates (``compute_date``): ISO 8601 text, full or partial; datetimes are truncated to their
date; a partial date is null unless a rule asks for imputation (admiral's convention: a
start date to the first day of the missing period, an end date to the last).

Example:
    >>> from trialkit.io import read_study, derive_dates
    >>> study = read_study("data/")                        # doctest: +SKIP
    >>> exposure = derive_dates(study["ex"])                # EXSTDT, EXSTDTF, EXENDT, ...  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io as _stdio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from trialkit.errors import DataError, MissingDatasetError, UnreadableFileError

if TYPE_CHECKING:  # validate imports io; only the type is needed here
    from trialkit.validate import Finding

#: File suffix (lower case) -> reader format.
FORMATS: dict[str, str] = {".parquet": "parquet", ".csv": "csv", ".xpt": "xpt", ".sas7bdat": "sas7bdat"}

# A dataset name is a CDISC name: letters, digits, underscore (dm, suppdm, adtte, tu_onco...).
# Files such as ``dm.labels.json`` or ``notes.txt`` are not datasets and are ignored.
_DATASET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_HOW_TO_FIX_FORMAT = ("Re-export the dataset (parquet, UTF-8 CSV with a header row, SAS XPT or "
                      "sas7bdat), or remove the file from the folder.")


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------
def find_datasets(data_dir: str | Path) -> dict[str, Path]:
    """Map each dataset of a study data folder to its file.

    Names are case-insensitive (``DM.XPT`` is ``dm``); files of other kinds
    (``dm.labels.json``, ``README.md``) and hidden files are ignored.

    Args:
        data_dir: the study data folder.

    Returns:
        Lower-case dataset name -> file path, sorted by name.

    Raises:
        MissingDatasetError: the folder does not exist or is not a folder.
        DataError: two files hold the same dataset (``dm.csv`` and ``DM.xpt``).

    Example:
        >>> find_datasets("data/")  # doctest: +SKIP
        {'dm': PosixPath('data/DM.xpt'), 'rs': PosixPath('data/rs.parquet')}
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise MissingDatasetError(
            f"trialkit: the study data folder {folder} {what}.\n"
            f"  Give the folder that holds one file per dataset (dm.parquet, ie.xpt, rs.csv, ...),\n"
            f"  e.g. `trialkit validate path/to/sdtm`, or leave data_dir unset for the demo study.",
            path=str(folder))
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix not in FORMATS or not _DATASET_NAME.match(path.stem):
            continue
        name = path.stem.lower()
        if name in found:
            raise DataError(
                f"trialkit: dataset '{name}' is in two files in {folder}: "
                f"{found[name].name} and {path.name}.\n"
                f"  trialkit cannot tell which one is current; keep one of them (move the other "
                f"out of the folder).",
                dataset=name, path=str(path))
        found[name] = path
    return found


# --------------------------------------------------------------------------------------------
# Reading one file
# --------------------------------------------------------------------------------------------
def read_dataset(path: str | Path, *, dataset: str | None = None,
                 encoding: str | None = None) -> pl.DataFrame:
    """Read one dataset file into a polars frame.

    Column names are upper-cased, text is stripped and ``""`` becomes null. CSV columns are
    all text (the validation spec casts numeric and date columns later, in
    :func:`read_study`).

    Args:
        path: a ``.parquet``, ``.csv``, ``.xpt`` or ``.sas7bdat`` file.
        dataset: the dataset name used in messages (default: the file's stem, lower case).
        encoding: the text encoding of a CSV or SAS file when it is known not to be UTF-8
            (e.g. ``"gbk"``, ``"latin-1"``); None reads CSV as strict UTF-8 and lets
            pyreadstat use the encoding recorded in the SAS file.

    Returns:
        The dataset as a DataFrame.

    Raises:
        MissingDatasetError: the file does not exist.
        UnreadableFileError: the file is empty, truncated, corrupt, not in the encoding
            expected, a CSV with ragged rows, or of an unknown format. The message names the
            file, the dataset and what would fix it.

    Example:
        >>> dm = read_dataset("data/DM.xpt")   # doctest: +SKIP
        >>> dm.columns[:3]                     # doctest: +SKIP
        ['STUDYID', 'DOMAIN', 'USUBJID']
    """
    path = Path(path)
    name = (dataset or path.stem).lower()
    where = f"dataset '{name}' ({path})"
    if not path.is_file():
        raise MissingDatasetError(
            f"trialkit: {where} does not exist.\n  Check the path, or run `trialkit validate "
            f"{path.parent}` to list the datasets that are there.", dataset=name, path=str(path))
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnreadableFileError(
            f"trialkit: {where} has the suffix '{path.suffix}', which trialkit does not read.\n"
            f"  Formats read: {', '.join(FORMATS)}. {_HOW_TO_FIX_FORMAT}",
            dataset=name, path=str(path))
    if path.stat().st_size == 0:
        raise UnreadableFileError(
            f"trialkit: {where} is empty (0 bytes).\n"
            f"  The export or copy probably failed; export the dataset again, or remove the file "
            f"if the dataset is not collected.", dataset=name, path=str(path))
    if fmt == "xpt" and path.stat().st_size % 80:
        # SAS transport files are sequences of 80-byte records; pyreadstat silently returns
        # the rows before the cut of a truncated file, so the size is the one reliable sign.
        raise UnreadableFileError(
            f"trialkit: {where} is truncated: its size ({path.stat().st_size} bytes) is not a "
            f"multiple of the 80-byte records of a SAS transport file.\n"
            f"  The transfer or export stopped early; copy or export the file again.",
            dataset=name, path=str(path))
    if fmt == "csv":
        frame = _read_csv(path, name, encoding)
    else:
        frame = _read_binary(path, name, fmt, encoding)
    return _tidy(frame, path, name)


def _read_binary(path: Path, name: str, fmt: str, encoding: str | None) -> pl.DataFrame:
    where = f"dataset '{name}' ({path})"
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        import pyreadstat  # imported here: a cost only for SAS files

        reader = pyreadstat.read_xport if fmt == "xpt" else pyreadstat.read_sas7bdat
        frame, _meta = reader(str(path), output_format="polars", encoding=encoding)
        return frame
    except Exception as exc:  # every reader failure becomes one clear message
        detail = _first_line(exc)
        hint = {
            "parquet": "The file is not a complete parquet file (truncated copy, or another "
                       "format renamed to .parquet); write it again with a parquet writer.",
            "xpt": "The file is not a complete SAS transport (XPT v5/v8) file (truncated "
                   "transfer, or another format renamed to .xpt); export it again with "
                   "PROC COPY/XPORT or pyreadstat.write_xport.",
            "sas7bdat": "The file is not a complete SAS dataset (truncated transfer, or another "
                        "format renamed to .sas7bdat); copy it again or export it as XPT.",
        }[fmt]
        if any(word in detail.lower() for word in ("encoding", "iconv", "convert string", "codec", "decode")):
            hint = ("Its text is not UTF-8 (nor the encoding the file declares), e.g. GBK site "
                    "names or a latin-1 export; pass the encoding when it is known "
                    "(read_study(..., encoding=\"gbk\")), or export the file again as UTF-8.")
        raise UnreadableFileError(
            f"trialkit: {where} cannot be read as {fmt}: {detail}\n  {hint}",
            dataset=name, path=str(path)) from None


def _read_csv(path: Path, name: str, encoding: str | None) -> pl.DataFrame:
    where = f"dataset '{name}' ({path})"
    raw = path.read_bytes()
    if encoding is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(_not_utf8_message(where, raw, exc), dataset=name,
                                      path=str(path)) from None
    else:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise UnreadableFileError(
                f"trialkit: {where} cannot be decoded as {encoding}: {exc}.\n"
                f"  Give the file's real encoding, or convert it to UTF-8.",
                dataset=name, path=str(path)) from None
    if not text.strip():
        raise UnreadableFileError(
            f"trialkit: {where} holds no header row (only blank lines).\n"
            f"  Export the dataset again with its header row.", dataset=name, path=str(path))
    _assert_rectangular(text, where, name, path)
    _assert_unique_header(text, where, name, path)
    try:
        # infer_schema=False: every column as text; the validation spec casts numbers and
        # dates afterwards and reports the rows it cannot cast.
        frame = pl.read_csv(_stdio.StringIO(text), infer_schema=False)
    except Exception as exc:
        raise UnreadableFileError(
            f"trialkit: {where} is not a well-formed CSV file: {_first_line(exc)}\n"
            f"  Check the quoting near the place named (an unclosed \" swallows the rest of the "
            f"file); write the file again with a CSV writer (comma-separated, UTF-8).",
            dataset=name, path=str(path)) from None
    # blank lines (often at the end of hand-edited files) are read as all-empty rows
    return frame.filter(~pl.all_horizontal(pl.all().is_null())) if frame.width else frame


def _assert_rectangular(text: str, where: str, name: str, path: Path) -> None:
    """Raise when a CSV row has more or fewer fields than the header.

    polars pads short rows with nulls silently, which would shift a stray delimiter's damage
    into the wrong columns; counting commas per line (outside quoted parts) finds the row.
    A line with an odd number of quotes means a quoted value spans lines; such files are
    counted record by record with Python's csv module instead (slower, so only for them).
    """
    lines = pl.Series("line", text.splitlines())
    if (lines.str.count_matches('"', literal=True) % 2).sum() > 0:
        # a quoted value spans lines: count fields per record, numbered by its first line
        reader = csv.reader(_stdio.StringIO(text))
        starts, counts, texts = [], [], []
        start = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    starts.append(start)
                    counts.append(len(row))
                    texts.append(",".join(row))
                start = reader.line_num + 1
        except csv.Error:  # malformed quoting: polars' parser reports it with its place
            return
        frame = pl.DataFrame({"LINE": starts, "N": counts, "TEXT": texts},
                             schema={"LINE": pl.Int64, "N": pl.Int64, "TEXT": pl.String})
    else:
        counts = (lines.str.replace_all(r'"[^"]*"', "").str.count_matches(",", literal=True) + 1)
        frame = pl.DataFrame({"LINE": pl.int_range(1, len(lines) + 1, eager=True), "N": counts,
                              "TEXT": lines}).filter(pl.col("TEXT").str.strip_chars() != "")
    if not frame.height:
        return
    expected = frame["N"][0]
    bad = frame.filter(pl.col("N") != expected)
    if bad.height:
        examples = "; ".join(f"line {ln}: {n} fields" for ln, n in bad.select("LINE", "N").head(3).iter_rows())
        first = bad["TEXT"][0]
        raise UnreadableFileError(
            f"trialkit: {where} has rows with a different number of fields than its header "
            f"({expected}): {examples}{' ...' if bad.height > 3 else ''} ({bad.height} row(s)).\n"
            f"  First such line: {_clip(first)}\n"
            f"  A stray comma inside a value (a site or drug name) needs the value in double "
            f"quotes; re-export with a CSV writer that quotes, or fix those lines.",
            dataset=name, path=str(path))


def _assert_unique_header(text: str, where: str, name: str, path: Path) -> None:
    """Raise when the header names a column twice (any case).

    polars would rename the second ``AGE`` to ``AGE_duplicated_0`` and the report would read
    the first one without a word; which one is right is for the data manager to say.
    """
    header = next(csv.reader(_stdio.StringIO(text)), [])
    upper = [c.strip().upper() for c in header]
    twice = sorted({c for c in upper if upper.count(c) > 1})
    if twice:
        raise UnreadableFileError(
            f"trialkit: {where} names the column(s) {', '.join(twice)} more than once in its "
            f"header row.\n  Header: {_clip(text.splitlines()[0])}\n"
            f"  Column names are case-insensitive; keep one column per name (rename or drop "
            f"the other) and export again.", dataset=name, path=str(path))


def _not_utf8_message(where: str, raw: bytes, exc: UnicodeDecodeError) -> str:
    line_no = raw[: exc.start].count(b"\n") + 1
    start = raw.rfind(b"\n", 0, exc.start) + 1
    end = raw.find(b"\n", exc.start)
    line = raw[start: end if end >= 0 else len(raw)]
    previews = []
    for enc in ("gb18030", "latin-1"):
        try:
            previews.append(f"as {enc}: {_clip(line.decode(enc))}")
        except UnicodeDecodeError:
            continue
    return (
        f"trialkit: {where} is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line_no} "
        f"cannot be decoded.\n"
        f"  That line reads {' | or '.join(previews)}\n"
        f"  trialkit reads CSV as UTF-8 and does not guess (a wrong guess garbles site and "
        f"subject names silently). Convert the file, e.g. `iconv -f GBK -t UTF-8` (Chinese "
        f"text) or `iconv -f LATIN1 -t UTF-8`, or pass encoding=\"gbk\" to read_study.")


def _tidy(frame: pl.DataFrame, path: Path, name: str) -> pl.DataFrame:
    """Upper-case column names, strip text, turn "" into null, categoricals into text."""
    upper = [c.strip().upper() for c in frame.columns]
    clashes = sorted({c for c in upper if upper.count(c) > 1})
    if clashes:
        raise UnreadableFileError(
            f"trialkit: dataset '{name}' ({path}) has columns that differ only in case: "
            f"{', '.join(c for c in frame.columns if c.upper() in clashes)}.\n"
            f"  CDISC names are case-insensitive; keep one column per name.",
            dataset=name, path=str(path))
    frame = frame.rename(dict(zip(frame.columns, upper)))
    categorical = [c for c, t in frame.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
    if categorical:
        frame = frame.with_columns(pl.col(categorical).cast(pl.String))
    text = pl.col(pl.String).str.strip_chars()
    return frame.with_columns(pl.when(text != "").then(text).otherwise(None).name.keep())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _clip(text: str, width: int = 120) -> str:
    text = text.rstrip("\r\n")
    return repr(text if len(text) <= width else text[:width] + "...")


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
@dataclass
class Study:
    """A study data folder as read and validated.

    Attributes:
        data_dir: the folder.
        files: dataset name -> file, for every dataset found (read or not).
        frames: dataset name -> frame, for the datasets read (validated and cast).
        findings: warnings (and errors, when built by :func:`trialkit.validate.validate_study`).

    Example:
        >>> study = read_study("data/", report="screening")   # doctest: +SKIP
        >>> "ie" in study, study["dm"].height                 # doctest: +SKIP
        (True, 200)
    """

    data_dir: Path
    files: dict[str, Path]
    frames: dict[str, pl.DataFrame]
    findings: list[Finding] = field(default_factory=list)

    def __getitem__(self, name: str) -> pl.DataFrame:
        key = name.lower()
        if key in self.frames:
            return self.frames[key]
        if key in self.files:
            reason = (f"was found ({self.files[key].name}) but not read: the report this study "
                      f"was read for does not use it; call read_study without report=")
        else:
            reason = "is not in the folder; add it (e.g. " + key + ".parquet or " + key.upper() + ".xpt)"
        raise MissingDatasetError(
            f"trialkit: dataset '{key}' {reason}.\n"
            f"  Datasets read from {self.data_dir}: {', '.join(sorted(self.frames)) or '(none)'}",
            dataset=key, path=str(self.data_dir))

    def get(self, name: str, default: pl.DataFrame | None = None) -> pl.DataFrame | None:
        """The frame of a dataset, or ``default`` when it was not read."""
        return self.frames.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.frames

    @property
    def warnings(self) -> list[Finding]:
        """The warning-level findings (shown in reports, never stop a run)."""
        return [f for f in self.findings if f.level == "warning"]


def read_datasets(files: Mapping[str, Path], *, encoding: str | None = None
                  ) -> tuple[dict[str, pl.DataFrame], list[Finding]]:
    """Read several files; a file that cannot be read becomes an error finding, not a raise.

    Used by :func:`read_study` and ``trialkit validate`` so one bad file does not hide the
    state of the others.
    """
    from trialkit.validate import Finding

    frames: dict[str, pl.DataFrame] = {}
    findings: list[Finding] = []
    for name, path in files.items():
        try:
            frames[name] = read_dataset(path, dataset=name, encoding=encoding)
        except DataError as exc:
            findings.append(Finding("error", name, None, str(exc), path=str(path),
                                    kind=type(exc).__name__))
    return frames, findings


def read_study(data_dir: str | Path, *, report: str | None = None, protocol: Any = None,
               encoding: str | None = None,
               warn_only: Iterable[str] = ()) -> Study:
    """Read and validate a study data folder.

    Reads every dataset found, or with ``report`` only the datasets that report needs or uses
    (plus DM/ADSL, the subject reference). Numeric and date columns are cast by the
    validation spec (``trialkit.validate``), so every frame has the same types whatever the
    file format.

    Args:
        data_dir: the study data folder.
        report: a report name of ``trialkit.validate.REPORT_NEEDS`` (``screening``,
            ``swimmer``, ...), or None for every dataset and the overview's needs.
        protocol: a study id, protocol YAML path or loaded ``Protocol`` (default: the
            package's default protocol); gives the known arm codes.
        encoding: the text encoding of the CSV and SAS files when it is known not to be
            UTF-8 (e.g. ``"gbk"``); by default CSV must be UTF-8 (see the module notes).
        warn_only: finding kinds (exception class names, e.g. ``"UnknownArmError"``) to keep
            as warnings instead of errors, e.g. to explore another trial's data whose arms
            this protocol does not define.

    Returns:
        The :class:`Study`; its ``findings`` hold the warnings.

    Raises:
        MissingDatasetError: the folder does not exist.
        DataError: two files hold one dataset.
        ValidationFailed: several errors; the message lists every one, grouped by dataset,
            and ``.findings`` holds them. A single error is raised as its own class
            (``MissingColumnError``, ``UnreadableFileError``, ...) with ``.findings`` set too.

    Example:
        >>> study = read_study("data/", report="swimmer")   # doctest: +SKIP
        >>> study["ex"].select("USUBJID", "EXTRT").head(2)  # doctest: +SKIP
    """
    from trialkit import validate

    folder = Path(data_dir)
    files = find_datasets(folder)
    wanted = validate.datasets_read_for(report, files)
    frames, read_findings = read_datasets({k: v for k, v in files.items() if k in wanted},
                                          encoding=encoding)
    frames, findings = validate.check_frames(frames, files, data_dir=folder, report=report,
                                             protocol=protocol, read_findings=read_findings)
    findings = validate.downgrade(findings, warn_only)
    validate.raise_on_errors(findings, data_dir=folder)
    return Study(data_dir=folder, files=files, frames=frames, findings=findings)


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------
# ISO 8601 as SDTM writes it: YYYY, YYYY-MM, YYYY-MM-DD, optionally THH, THH:MM, THH:MM:SS(.f)
# and a zone. Anything else ("31/12/2025", "2025-9-3", "UNK") is not a date.
_TIME = r"(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)"
_ISO = (r"^(?<date>(?<y>\d{4})(?:-(?<m>\d{2})(?:-(?<d>\d{2})" + _TIME + r"?)?)?)$")
_ISO_POLARS = _ISO.replace("?<", "?P<")
# SDTMIG writes a missing middle component as a hyphen: "2025---15" is year and day, month
# unknown. The day cannot be used without the month, so it is read as the year ("2025"),
# as admiral's impute_dtc_dt does.
_MISSING_MONTH = r"^(\d{4})---(?:0[1-9]|[12]\d|3[01])" + _TIME + "?$"


def _dtc_text(dtc: pl.Expr) -> pl.Expr:
    """ISO 8601 text, stripped, with SDTM's missing-month form reduced to the year."""
    return dtc.cast(pl.String).str.strip_chars().str.replace(_MISSING_MONTH, "${1}")


def _iso_parts(dtc: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    text = _dtc_text(dtc)
    year = text.str.extract(_ISO_POLARS, 2).cast(pl.Int32, strict=False)
    month = text.str.extract(_ISO_POLARS, 3).cast(pl.Int32, strict=False)
    day_text = text.str.extract(_ISO_POLARS, 4)
    return year, month, day_text


def compute_date(dtc: pl.Expr, *, impute: Literal["start", "end"] | None = None) -> pl.Expr:
    """ISO 8601 text -> ``pl.Date``.

    Full dates and datetimes (truncated to their date) parse as they are. A partial date
    (``"2025-09"``, ``"2025"``) is null unless ``impute`` is given, then admiral's convention
    applies: ``"start"`` takes the first day of the missing period, ``"end"`` the last
    (leap years included). SDTM's missing-month form ``"2025---15"`` counts as ``"2025"``.
    Text that is not ISO 8601 or not a real date (``"2025-02-30"``,
    ``"2025-13"``, ``"31/12/2025"``) is null; ``trialkit.validate`` reports such values.

    Args:
        dtc: an expression of ISO 8601 text (a ``--DTC`` column).
        impute: None (partial dates are null), ``"start"`` or ``"end"``.

    Example:
        >>> frame = pl.DataFrame({"EXENDTC": ["2024-02", "2025-09-03T10:15", "2025"]})
        >>> frame.select(compute_date(pl.col("EXENDTC"), impute="end"))["EXENDTC"].to_list()
        [datetime.date(2024, 2, 29), datetime.date(2025, 9, 3), datetime.date(2025, 12, 31)]
    """
    year, month, day_text = _iso_parts(dtc)
    # the first 10 characters of a matched full date or datetime are YYYY-MM-DD; to_date
    # rejects impossible days (2025-02-30) with null
    full = (_dtc_text(dtc).str.extract(_ISO_POLARS, 1).str.slice(0, 10)
            .str.to_date("%Y-%m-%d", strict=False))
    month_ok = month.is_between(1, 12)
    if impute is None:
        partial = pl.lit(None, dtype=pl.Date)
    elif impute == "start":
        partial = pl.when(month.is_null()).then(pl.date(year, 1, 1)).when(month_ok).then(
            pl.date(year, month.clip(1, 12), 1))
    elif impute == "end":
        partial = pl.when(month.is_null()).then(pl.date(year, 12, 31)).when(month_ok).then(
            pl.date(year, month.clip(1, 12), 1).dt.month_end())
    else:
        raise ValueError(f"impute must be None, 'start' or 'end', not {impute!r}")
    return (pl.when(day_text.is_not_null()).then(full)
            .when(year.is_not_null()).then(partial)
            .otherwise(None).cast(pl.Date))


def compute_date_imputation_flag(dtc: pl.Expr) -> pl.Expr:
    """admiral's ``--DTF``: which part of a date imputation would fill in.

    ``"D"`` the day is missing (``"2025-09"``), ``"M"`` month and day (``"2025"``,
    ``"2025---15"``), ``"Y"``
    the year too (a ``--DTC`` that is given but empty of a date, e.g. ``"--09-03"``); null
    for a complete date, a missing value, or text that is not a date at all.

    Example:
        >>> frame = pl.DataFrame({"DTC": ["2025-09-03", "2025-09", "2025", None]})
        >>> frame.select(compute_date_imputation_flag(pl.col("DTC")))["DTC"].to_list()
        [None, 'D', 'M', None]
    """
    text = _dtc_text(dtc)
    year, month, day_text = _iso_parts(dtc)
    # "--09-03" / "-----T10:00": SDTM writes missing components as hyphens
    year_missing = text.str.contains(r"^-{2,}")
    return (pl.when(year_missing).then(pl.lit("Y"))
            .when(year.is_null()).then(None)
            .when(month.is_null()).then(pl.lit("M"))
            .when(~month.is_between(1, 12)).then(None)
            .when(day_text.is_null()).then(pl.lit("D"))
            .otherwise(None).name.keep())  # named after the --DTC column, like compute_date


def compute_dtc_is_valid(dtc: pl.Expr) -> pl.Expr:
    """True when ISO 8601 text is a real (full or partial) date; null for a missing value.

    ``"2025"``, ``"2025-09"``, ``"2025-09-03T10:15"`` are valid; ``"2025-02-30"``,
    ``"2025-13"``, ``"31/12/2025"`` are not.

    Example:
        >>> frame = pl.DataFrame({"DTC": ["2025-09", "2025-02-30", "31/12/2025", None]})
        >>> frame.select(compute_dtc_is_valid(pl.col("DTC")))["DTC"].to_list()
        [True, False, False, None]
    """
    text = _dtc_text(dtc)
    year, month, day_text = _iso_parts(dtc)
    return (pl.when(text.is_null()).then(None)
            .when(year.is_null()).then(False)
            .when(month.is_null()).then(True)
            .when(day_text.is_null()).then(month.is_between(1, 12))
            .otherwise(compute_date(dtc).is_not_null()).name.keep())


def _is_end_date(column: str) -> bool:
    # --ENDTC (EXENDTC, AEENDTC, RFENDTC, RFXENDTC, RFPENDTC) and SVENDTC are period ends.
    return column.endswith("ENDTC")


def derive_dates(frame: pl.DataFrame, *, columns: Iterable[str] | None = None,
                 impute: Literal["start", "end"] | None = "start") -> pl.DataFrame:
    """Add a ``--DT`` date and a ``--DTF`` imputation flag for each ``--DTC`` column.

    ``EXSTDTC`` -> ``EXSTDT``, ``EXSTDTF``; ``RFICDTC`` -> ``RFICDT``, ``RFICDTF``. With
    ``impute="start"`` (the default) start dates are imputed to the first day of the
    missing period and end dates (``--ENDTC``) to the last, admiral's convention; with
    ``impute="end"`` every column is imputed to the end; with None partial dates stay null.
    The flag (``"D"``, ``"M"``) is set only where a date was imputed. Columns whose ``--DT``
    already exists (ADaM datasets) are left alone.

    Args:
        frame: any dataset.
        columns: the ``--DTC`` columns to convert (default: every text column ending in DTC).
        impute: the imputation rule for start dates (end dates always use "end" when set).

    Returns:
        The same rows with the new columns.

    Example:
        >>> ex = pl.DataFrame({"EXSTDTC": ["2025-02"], "EXENDTC": ["2025-02"]})
        >>> derive_dates(ex).row(0)
        ('2025-02', '2025-02', datetime.date(2025, 2, 1), 'D', datetime.date(2025, 2, 28), 'D')
    """
    names = list(columns) if columns is not None else [
        c for c, t in frame.schema.items() if c.endswith("DTC") and t == pl.String]
    exprs = []
    for name in names:
        target = name[:-1]
        if target in frame.columns:
            continue
        rule = None if impute is None else ("end" if _is_end_date(name) else impute)
        date = compute_date(pl.col(name), impute=rule)
        flag = (compute_date_imputation_flag(pl.col(name)) if rule else pl.lit(None, pl.String))
        exprs += [date.alias(target), pl.when(date.is_not_null()).then(flag).otherwise(None)
                  .cast(pl.String).alias(target + "F")]
    return frame.with_columns(exprs) if exprs else frame


# --------------------------------------------------------------------------------------------
# Subject-level derivations needed at the edge
# --------------------------------------------------------------------------------------------
def _col_or_null(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String) if name in frame.columns else pl.lit(None, pl.String)


def _norm(expr: pl.Expr) -> pl.Expr:
    """Upper case with single spaces: "Screen  failure " -> "SCREEN FAILURE"; "" -> null."""
    text = expr.str.strip_chars().str.to_uppercase().str.replace_all(r"\s+", " ")
    # a frame not read by read_study may hold "" for a blank ARMCD: blank, not an arm
    return pl.when(text != "").then(text)


def derive_randomization_date(subjects: pl.DataFrame, *, disposition: pl.DataFrame | None = None,
                              adsl: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``RANDDT`` and ``RANDDT_SOURCE`` (which source gave it) to one row per subject.

    ADSL.RANDDT first (``adsl``, or ``subjects`` itself when it has a ``RANDDT`` column),
    else the earliest DS milestone with DSDECOD "RANDOMIZED" (any case), dated by DSSTDTC
    (DSDTC when DSSTDTC is empty). A partial DS date is not imputed: such a subject gets no
    randomization date rather than a guessed one. First dose is never used: a subject with
    neither source has RANDDT null and RANDDT_SOURCE null.

    Args:
        subjects: one row per subject with ``USUBJID`` (DM or ADSL).
        disposition: the DS dataset, if any.
        adsl: ADSL, if any (with ``RANDDT`` as a date or ISO text).

    Returns:
        ``subjects`` with ``RANDDT`` (Date) and ``RANDDT_SOURCE`` ("ADSL.RANDDT" |
        "DS RANDOMIZED") replacing any earlier such columns.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["S1", "S2"]})
        >>> ds = pl.DataFrame({"USUBJID": ["S1"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": ["2025-09-03"]})
        >>> derive_randomization_date(dm, disposition=ds)["RANDDT_SOURCE"].to_list()
        ['DS RANDOMIZED', None]
    """
    base = subjects.drop([c for c in ("RANDDT", "RANDDT_SOURCE") if c in subjects.columns])
    if adsl is None and "RANDDT" in subjects.columns:
        adsl = subjects
    parts = []
    if adsl is not None and "RANDDT" in adsl.columns:
        randdt = pl.col("RANDDT")
        dtype = adsl.schema["RANDDT"]
        if isinstance(dtype, pl.Datetime):
            randdt = randdt.dt.date()  # a datetime cast to text ("2025-09-01 00:00:00") is no ISO date
        elif dtype != pl.Date:
            randdt = compute_date(randdt.cast(pl.String))
        parts.append(adsl.select("USUBJID", randdt.alias("_ADSL_RANDDT"))
                     .filter(pl.col("_ADSL_RANDDT").is_not_null())
                     .group_by("USUBJID").agg(pl.col("_ADSL_RANDDT").min()))
    if disposition is not None and {"USUBJID", "DSDECOD"} <= set(disposition.columns):
        when = pl.coalesce(_col_or_null(disposition, "DSSTDTC"), _col_or_null(disposition, "DSDTC"))
        parts.append(disposition
                     .filter(_norm(pl.col("DSDECOD")) == "RANDOMIZED")
                     .select("USUBJID", compute_date(when).alias("_DS_RANDDT"))
                     .filter(pl.col("_DS_RANDDT").is_not_null())
                     .group_by("USUBJID").agg(pl.col("_DS_RANDDT").min()))
    result = base
    for part in parts:
        result = result.join(part, on="USUBJID", how="left")
    adsl_dt = pl.col("_ADSL_RANDDT") if "_ADSL_RANDDT" in result.columns else pl.lit(None, pl.Date)
    ds_dt = pl.col("_DS_RANDDT") if "_DS_RANDDT" in result.columns else pl.lit(None, pl.Date)
    return result.with_columns(
        pl.coalesce(adsl_dt, ds_dt).cast(pl.Date).alias("RANDDT"),
        pl.when(adsl_dt.is_not_null()).then(pl.lit("ADSL.RANDDT"))
        .when(ds_dt.is_not_null()).then(pl.lit("DS RANDOMIZED"))
        .otherwise(None).cast(pl.String).alias("RANDDT_SOURCE"),
    ).drop([c for c in ("_ADSL_RANDDT", "_DS_RANDDT") if c in result.columns])


#: ARMCD/ACTARMCD codes that are conventions, not arms (SDTMIG <= 3.2), any case.
NON_ARM_CODES: dict[str, str] = {"SCRNFAIL": "SCREEN FAILURE", "NOTASSGN": "NOT ASSIGNED",
                                 "NOTTRT": "ASSIGNED, NOT TREATED", "UNPLAN": "UNPLANNED TREATMENT"}


def compute_arm_status(armcd: pl.Expr, actarmcd: pl.Expr, armnrs: pl.Expr) -> pl.Expr:
    """Why a subject has no (or an unusual) arm, in ARMNRS terms, else ``"ASSIGNED"``.

    SDTMIG <= 3.2 codes (``SCRNFAIL``, ``NOTASSGN``, ``NOTTRT``, ``UNPLAN`` in ARMCD or
    ACTARMCD, any case) and SDTMIG >= 3.3 ARMNRS text (``"SCREEN FAILURE"``, ``"NOT
    ASSIGNED"``, ...) give the same answer; a blank ARMCD without ARMNRS is
    ``"NOT ASSIGNED"``.
    """
    code = _norm(armcd)
    actual = _norm(actarmcd)
    reason = _norm(armnrs)
    expr = pl.when(code == "SCRNFAIL").then(pl.lit("SCREEN FAILURE"))
    expr = expr.when(reason == "SCREEN FAILURE").then(pl.lit("SCREEN FAILURE"))
    expr = expr.when(actual == "SCRNFAIL").then(pl.lit("SCREEN FAILURE"))
    for key, label in NON_ARM_CODES.items():
        if key != "SCRNFAIL":
            expr = expr.when(code == key).then(pl.lit(label))
    expr = expr.when(code.is_null() & reason.is_not_null()).then(reason)
    expr = expr.when(code.is_null()).then(pl.lit("NOT ASSIGNED"))
    # assigned to an arm, but the actual arm says otherwise (SDTMIG <= 3.2 codes in ACTARMCD,
    # >= 3.3 a reason in ARMNRS next to a filled ARMCD)
    for key in ("NOTTRT", "UNPLAN"):
        expr = expr.when(actual == key).then(pl.lit(NON_ARM_CODES[key]))
    expr = expr.when(reason.is_not_null()).then(reason)
    return expr.otherwise(pl.lit("ASSIGNED"))


def derive_screen_failure(subjects: pl.DataFrame) -> pl.DataFrame:
    """Add ``SCRNFAIL`` ("Y"/"N") and ``ARMSTAT`` to DM (or ADSL).

    A screen failure is ARMCD or ACTARMCD ``SCRNFAIL`` in any case (SDTMIG <= 3.2, e.g.
    pharmaverse's ``Scrnfail``) or blank arms with ARMNRS ``"SCREEN FAILURE"`` (SDTMIG
    >= 3.3). ``NOTASSGN`` / ARMNRS ``"NOT ASSIGNED"`` (consented, never assigned, e.g. the
    study closed) is *not* a screen failure and not randomized: ``SCRNFAIL`` "N",
    ``ARMSTAT`` "NOT ASSIGNED". ``ARMSTAT`` is one of ASSIGNED, SCREEN FAILURE, NOT
    ASSIGNED, ASSIGNED, NOT TREATED, UNPLANNED TREATMENT (or another ARMNRS text as given);
    subjects with SCREEN FAILURE or NOT ASSIGNED were not randomized, the others were.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "ARMCD": ["A", "Scrnfail", None, "NOTASSGN"],
        ...                    "ARMNRS": [None, None, "SCREEN FAILURE", None]})
        >>> derive_screen_failure(dm)["SCRNFAIL"].to_list()
        ['N', 'Y', 'Y', 'N']
    """
    status = compute_arm_status(_col_or_null(subjects, "ARMCD"), _col_or_null(subjects, "ACTARMCD"),
                                _col_or_null(subjects, "ARMNRS"))
    return subjects.with_columns(status.alias("ARMSTAT")).with_columns(
        pl.when(pl.col("ARMSTAT") == "SCREEN FAILURE").then(pl.lit("Y")).otherwise(pl.lit("N"))
        .alias("SCRNFAIL"))
