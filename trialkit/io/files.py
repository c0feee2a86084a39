"""Finding and reading the dataset files of a study data folder (DESIGN section 2).

Reading rules, the same for every format:

- column names are upper-cased (SAS and R exports mix cases);
- text is stripped and an empty string becomes null (SAS pads, CSV writes ``""`` for missing);
- CSV is read as UTF-8 (a byte-order mark is accepted), every column as text; the numeric and
  date columns are cast afterwards by :mod:`trialkit.io.checks`, so a stray "n/a" in ``AGE`` is
  reported with its row instead of turning the whole column into text. Files that are not
  UTF-8 (GBK site names, latin-1 exports) are **not** guessed: a wrong guess silently
  garbles names, which is worse in trial data than stopping. The error shows the offending
  line decoded as GB18030 and as latin-1 and says how to convert the file, or pass
  ``encoding="gbk"`` when the encoding is known.
  A header naming a column twice, or a row with more or fewer fields than the header, is an
  error: polars would rename the second column or pad the row, silently;
- SAS XPT and sas7bdat are read by pyreadstat straight into polars; SAS date-formatted
  numbers arrive as ``pl.Date`` (unformatted ADaM ``--DT`` numbers are read as days since
  1960-01-01). An XPT whose size is not a multiple of its 80-byte records is truncated:
  pyreadstat would silently return the rows before the cut, so that is an error.

Files that are not datasets are listed by :func:`find_unread_files`, so a ``ds.xlsx`` next
to the data is reported instead of silently skipped. Odd entries are never skipped in
silence either:

- a folder named like a dataset, ``ex.parquet/``, is what partitioned writers (Spark,
  polars, pyarrow) produce: it is read as one dataset from the ``*.parquet`` files in it and
  its ``key=value`` subfolders (the partition columns, read as text); Spark's ``_SUCCESS``
  and hidden ``.crc`` files are skipped. Such a folder holding no parquet file or other
  files, and a folder named ``dm.csv/`` or ``dm.xpt/``, are errors saying why;
- a symbolic link whose target is gone, a file that may not be read, a folder that may not
  be listed: errors naming the path and the fix.

Example:
    >>> find_datasets("data/")                # doctest: +SKIP
    {'dm': PosixPath('data/DM.xpt'), 'rs': PosixPath('data/rs.parquet')}
"""

from __future__ import annotations

import csv
import errno
import io as _stdio
import os
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from trialkit.errors import DataError, MissingDatasetError, UnreadableFileError
from trialkit.io.findings import Finding

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
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise MissingDatasetError(
            f"trialkit: the study data folder {folder} cannot be listed: {exc.strerror or exc}.\n"
            f"  Give the user running trialkit read and search (r-x) permission on it.",
            path=str(folder)) from None
    for path in entries:
        if path.name.startswith(".") or not _is_dataset_entry(path):
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


def _is_dataset_entry(path: Path) -> bool:
    """A file, a folder with a dataset suffix (``ex.parquet/``), or a dangling symbolic link."""
    try:
        if path.is_file():
            return True
        if path.is_dir():
            return path.suffix.lower() in FORMATS
        return path.is_symlink()  # its target is gone (or loops): read_dataset says so
    except OSError:
        return True  # cannot even be looked at: read_dataset names it and the fix


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
    try:
        return _read_dataset(path, name, where, encoding)
    except OSError as exc:  # permissions, an I/O error, a file removed while reading
        raise UnreadableFileError(
            f"trialkit: {where} cannot be read: {exc.strerror or exc}.\n"
            f"  {_os_fix(exc)}", dataset=name, path=str(path)) from None


def _os_fix(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ("Give the user running trialkit read permission on the file (and search permission "
                "on its folders), e.g. chmod o+r, or copy the data to a folder it can read.")
    return "Copy or export the file again; check the disk and the network share it is on."


def _read_dataset(path: Path, name: str, where: str, encoding: str | None) -> pl.DataFrame:
    if path.is_symlink() and not path.exists():
        raise UnreadableFileError(
            f"trialkit: {where} is a symbolic link to {os.readlink(path)}, which does not exist.\n"
            f"  Restore the file it points to, or remove the link.", dataset=name, path=str(path))
    if path.is_dir():
        return _tidy(_read_parquet_folder(path, name, where), path, name)
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
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
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


def _read_parquet_folder(path: Path, name: str, where: str) -> pl.DataFrame:
    """A partitioned parquet dataset: every ``*.parquet`` file of a folder and its subfolders.

    ``key=value`` subfolders (hive partitioning) give columns, read as text so that a site
    ``SITEID=01`` stays "01". Files whose name starts with ``_`` or ``.`` (Spark's
    ``_SUCCESS``, ``.crc`` checksums, ``_metadata``) are skipped; any other file is an
    error, as is a folder with no parquet file or one that is not ``.parquet``.
    """
    if path.suffix.lower() != ".parquet":
        raise UnreadableFileError(
            f"trialkit: {where} is a folder, not a file. trialkit reads a folder only as a "
            f"partitioned parquet dataset (ex.parquet/ holding part files, as Spark, polars or "
            f"pyarrow write them).\n  Give the dataset as one {path.suffix} file, or write it as parquet.",
            dataset=name, path=str(path))
    files = sorted(p for p in path.rglob("*")
                   if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts) and not p.is_dir())
    parts = [p for p in files if p.suffix.lower() == ".parquet"]
    others = [p.relative_to(path).as_posix() for p in files if p.suffix.lower() != ".parquet"]
    if others:
        raise UnreadableFileError(
            f"trialkit: {where} is a folder read as a partitioned parquet dataset, but it also holds "
            f"{len(others)} file(s) that are not parquet: {', '.join(_clip(o, 60) for o in others[:3])}"
            f"{' ...' if len(others) > 3 else ''}.\n  Move them out of the folder (a partitioned "
            f"dataset holds only its .parquet part files).", dataset=name, path=str(path))
    if not parts:
        raise UnreadableFileError(
            f"trialkit: {where} is a folder with no parquet part file in it.\n"
            f"  The partitioned write probably failed; write the dataset again, or remove the folder.",
            dataset=name, path=str(path))
    keys = sorted({part.split("=", 1)[0] for p in parts for part in p.relative_to(path).parts[:-1] if "=" in part})
    try:
        return pl.scan_parquet(parts, hive_partitioning=bool(keys), hive_schema={k: pl.String for k in keys} or None,
                               try_parse_hive_dates=False).collect()
    except Exception as exc:  # parts of different schemas, a corrupt part
        raise UnreadableFileError(
            f"trialkit: {where} is a partitioned parquet dataset ({len(parts)} part file(s)) that cannot "
            f"be read as one: {_first_line(exc)}\n  Its part files must share one set of columns "
            f"and types; write the dataset again in one go.", dataset=name, path=str(path)) from None


def _read_binary(path: Path, name: str, fmt: str, encoding: str | None) -> pl.DataFrame:
    where = f"dataset '{name}' ({path})"
    try:
        if fmt == "parquet":
            return pl.read_parquet(path)
        import pyreadstat  # imported here: a cost only for SAS files

        reader = pyreadstat.read_xport if fmt == "xpt" else pyreadstat.read_sas7bdat
        frame, _meta = reader(str(path), output_format="polars", encoding=encoding)
        return frame
    except OSError:
        raise  # permissions, I/O: read_dataset says so, with the fix
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



def read_datasets(files: Mapping[str, Path], *, encoding: str | None = None
                  ) -> tuple[dict[str, pl.DataFrame], list[Finding]]:
    """Read several files; a file that cannot be read becomes an error finding, not a raise.

    Used by :func:`read_study` and ``trialkit validate`` so one bad file does not hide the
    state of the others.
    """
    frames: dict[str, pl.DataFrame] = {}
    findings: list[Finding] = []
    for name, path in files.items():
        try:
            frames[name] = read_dataset(path, dataset=name, encoding=encoding)
        except DataError as exc:
            findings.append(Finding("error", name, None, str(exc), path=str(path),
                                    kind=type(exc).__name__))
    return frames, findings



# Files next to the data that are metadata, not datasets: never reported as unread.
_COMPANIONS = re.compile(r"(\.labels\.json|^demo_truth\.json|^readme.*|^license.*|\.md|\.txt|\.pdf|"
                         r"\.html?|^define\.xml|\.xsl)$", re.I)


def find_unread_files(data_dir: str | Path) -> list[Path]:
    """Files of a data folder that are not read as datasets (``ds.xlsx``, ``dm (1).csv``, ``ae.rds``).

    Hidden files and known companions (``*.labels.json``, README, define.xml, ...) are
    not listed; everything else that :func:`find_datasets` skips is.

    Example:
        >>> find_unread_files("data/")   # doctest: +SKIP
        [PosixPath('data/ds.xlsx')]
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        return []
    read = set(find_datasets(folder).values())
    return [p for p in sorted(folder.iterdir())
            if not p.name.startswith(".") and p not in read and p.is_file() and not _COMPANIONS.search(p.name)]
