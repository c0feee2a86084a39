"""Write the demo datasets as parquet, CSV or SAS XPT (v5), byte-identical for a seed.

Each dataset goes to ``<name>.<ext>`` (lower-case CDISC name) and the planted facts to
``demo_truth.json``. Files are first written into a temporary folder beside the target and
then moved in with ``os.replace``, so a reader never sees a half-written file.

Determinism: parquet is written by polars with fixed zstd compression and no timestamps;
XPT headers carry creation/modification timestamps, which are replaced by a fixed one (the
data cutoff) so two runs give the same bytes.

Example:
    >>> write_datasets({"dm": pl.DataFrame({"USUBJID": ["X-1"]})}, {"seed": 1}, Path("out"),
    ...                fmt="csv", stamp=datetime.date(2026, 10, 31))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import polars as pl

from trialkit.errors import ParamsError, TrialkitError

FORMATS = {"parquet": "parquet", "csv": "csv", "xpt": "xpt"}
TRUTH_FILE = "demo_truth.json"
XPT_MAX_CHARS = 200
_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


def _final(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The frame as SDTM text, lazily: dates to ISO 8601, categoricals to text. Sinking it
    converts slice by slice, so the text of 10 million rows is never all in memory."""
    from trialkit.demo import finalize_exprs

    lazy = frame.lazy()
    return lazy.with_columns(finalize_exprs(lazy))


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Parquet with a fixed codec and level; polars writes no timestamp, so bytes repeat
    (the streaming sink's row groups do not depend on the number of threads)."""
    _final(frame).sink_parquet(path, compression="zstd", compression_level=3, statistics=True)


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """UTF-8 CSV with a header row; null is an empty field."""
    _final(frame).sink_csv(path)


def write_xpt(frame: pl.DataFrame, path: Path, *, name: str, stamp: datetime.date) -> None:
    """SAS transport v5: names ≤ 8 characters, text ≤ 200 characters, fixed header stamps."""
    import pyreadstat

    frame = _final(frame).collect()
    too_long = [c for c in frame.columns if len(c) > 8]
    if too_long:
        raise ParamsError(f"trialkit: dataset '{name}' has column names longer than 8 characters, "
                          f"which XPT v5 cannot hold: {', '.join(too_long)}")
    frame = frame.with_columns(pl.col(pl.String).str.slice(0, XPT_MAX_CHARS))
    # pyreadstat takes pandas; integers with nulls become floats (XPT numbers are doubles).
    pdf = frame.with_columns(pl.col(pl.Boolean).cast(pl.Int8)).to_pandas()
    for col in frame.columns:
        if frame[col].dtype == pl.String:
            pdf[col] = pdf[col].fillna("")
    pyreadstat.write_xport(pdf, str(path), table_name=name.upper()[:8], file_format_version=5)
    fixed = stamp.strftime("%d%b%y").upper().encode() + b":00:00:00"
    data = path.read_bytes()
    end = data.find(b"HEADER RECORD*******OBS     HEADER RECORD")
    head = _XPT_STAMP.sub(fixed, data[:end if end > 0 else 0])
    path.write_bytes(head + data[len(head):])


def dump_truth(truth: dict[str, Any]) -> str:
    """Deterministic JSON: sorted keys, dates as ISO strings."""
    return json.dumps(truth, sort_keys=True, indent=1, ensure_ascii=False, default=str) + "\n"


def write_datasets(datasets: dict[str, pl.DataFrame], truth: dict[str, Any], out: Path, *,
                   fmt: str = "parquet", stamp: datetime.date,
                   progress: Callable[[str], None] | None = None) -> Path:
    """Write every dataset and ``demo_truth.json`` into ``out`` atomically.

    Files of the same datasets in the other formats are removed, so a folder never holds
    both ``dm.csv`` and ``dm.parquet`` from different runs.

    Args:
        datasets: name -> frame (names are lower-cased for the files).
        truth: what was planted; written as sorted JSON.
        out: the target folder (created).
        fmt: parquet | csv | xpt.
        stamp: the date put into XPT headers instead of the wall clock.
        progress: called with a line after each file (for long runs).
    """
    if fmt not in FORMATS:
        raise ParamsError(f"trialkit: unknown demo format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParamsError(f"trialkit: cannot write the demo study to {out}: it is a file, not a folder. "
                          f"Pass a new or existing folder with --out.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as exc:
        raise TrialkitError(f"trialkit: cannot write the demo study to {out}: {exc.strerror or exc}.") from None
    os.chmod(tmp, 0o755)      # mkdtemp makes it private; it may become the output folder
    try:
        written = []
        for name in sorted(datasets):
            path = tmp / f"{name.lower()}.{FORMATS[fmt]}"
            frame = datasets[name]
            if fmt == "parquet":
                write_parquet(frame, path)
            elif fmt == "csv":
                write_csv(frame, path)
            else:
                write_xpt(frame, path, name=name, stamp=stamp)
            written.append(path.name)
            if progress:
                rows = frame.height if isinstance(frame, pl.DataFrame) else None
                progress(f"wrote {path.name}" + (f" ({rows:,} rows)" if rows is not None else ""))
        (tmp / TRUTH_FILE).write_text(dump_truth(truth), encoding="utf-8")
        if not out.exists():
            os.replace(tmp, out)
            return out
        out.mkdir(parents=True, exist_ok=True)
        for name in sorted(datasets):
            for other in FORMATS.values():
                stale = out / f"{name.lower()}.{other}"
                if other != FORMATS[fmt] and stale.exists():
                    stale.unlink()
        for fname in written + [TRUTH_FILE]:   # the truth file last: it marks a complete demo
            os.replace(tmp / fname, out / fname)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
