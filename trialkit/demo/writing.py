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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import polars as pl

from trialkit.demo.dates import compute_iso_date
from trialkit.errors import ParamsError, TrialkitError

FORMATS = {"parquet": "parquet", "csv": "csv", "xpt": "xpt"}
TRUTH_FILE = "demo_truth.json"
XPT_MAX_CHARS = 200
_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")


BATCH_ROWS = 50_000          # base rows (scans, lab visits, subjects) made into records at a time
WRITERS = 2                  # files written at once


class Planned:
    """A dataset given as a compact base frame and the lazy plan that makes its records
    (``explode`` into one row per lesion, test or response, then the SDTM text).

    The writer makes and writes the records ``BATCH_ROWS`` base rows at a time, so 10
    million TR rows never exist as text at once, whatever the engine's scheduling; the
    plan must depend on each base row only (sequence numbers are carried in the base).

    Example:
        >>> p = Planned(pl.DataFrame({"N": [1, 2]}), lambda lf: lf.with_columns(M=pl.col("N") * 2))
        >>> p.collect()["M"].to_list()
        [2, 4]
    """

    def __init__(self, base: pl.DataFrame, plan: Callable[[pl.LazyFrame], pl.LazyFrame],
                 base_date: pl.Expr | None = None):
        self.base, self.plan, self.base_date = base, plan, base_date

    def count_after(self, cutoff: datetime.date) -> int | None:
        """Records dated after ``cutoff``, made only from the base rows dated after it (every
        record has its base row's date); None without ``base_date``."""
        if self.base_date is None:
            return None
        return int(self.plan(self.base.lazy().filter(self.base_date > cutoff)).select(pl.len()).collect().item())

    def lazy(self) -> pl.LazyFrame:
        return self.plan(self.base.lazy())

    def collect_schema(self) -> pl.Schema:
        return self.lazy().collect_schema()

    def collect(self) -> pl.DataFrame:
        return self.lazy().collect()

    def batches(self, rows: int = BATCH_ROWS):
        for start in range(0, max(self.base.height, 1), rows):
            yield self.plan(self.base.slice(start, rows).lazy()).collect()


def _batches(frame) -> Any:
    """The frame's records as SDTM text, in batches (a plain frame in slices)."""

    if isinstance(frame, Planned):
        for batch in frame.batches():
            yield finalize_frame(batch)
        return
    frame = finalize_frame(frame)
    for start in range(0, max(frame.height, 1), BATCH_ROWS * 4):
        yield frame.slice(start, BATCH_ROWS * 4)


def write_parquet(frame, path: Path) -> None:
    """Parquet (pyarrow's writer, zstd level 3, statistics) written batch by batch; no
    timestamp is written, so bytes repeat for a seed."""
    import pyarrow.parquet as pq

    writer = None
    try:
        for batch in _batches(frame):
            table = batch.to_arrow(compat_level=pl.CompatLevel.oldest())   # large_string: any reader
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema, compression="zstd", compression_level=3,
                                          write_statistics=True)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def write_csv(frame, path: Path) -> None:
    """UTF-8 CSV with a header row; null is an empty field; written batch by batch."""
    with open(path, "wb") as handle:
        for i, batch in enumerate(_batches(frame)):
            batch.write_csv(handle, include_header=i == 0)


def write_xpt(frame: pl.DataFrame, path: Path, *, name: str, stamp: datetime.date) -> None:
    """SAS transport v5: names ≤ 8 characters, text ≤ 200 characters, fixed header stamps."""
    import pyreadstat

    frame = pl.concat(list(_batches(frame)))
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
        def write_one(name: str) -> str:
            path = tmp / f"{name.lower()}.{FORMATS[fmt]}"
            frame = datasets[name]
            if fmt == "parquet":
                write_parquet(frame, path)
            elif fmt == "csv":
                write_csv(frame, path)
            else:
                write_xpt(frame, path, name=name, stamp=stamp)
            if progress:
                progress(f"wrote {path.name}")
            return path.name

        # two files at a time, the planned (largest) first: making a batch (polars) and
        # compressing one (pyarrow) overlap; each file is still written by one thread, in
        # order, so the bytes do not depend on the scheduling
        order = sorted(datasets, key=lambda n: (not isinstance(datasets[n], Planned), n))
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            written = list(pool.map(write_one, order))
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


def finalize_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """SDTM text of a generated frame: dates (``pl.Date``) as ISO 8601 --DTC text through
    :func:`compute_iso_date`, categoricals as text; a lazy frame is collected. The writer
    applies the same expressions slice by slice (:func:`write_datasets`),
    so 100,000 subjects never hold every string at once."""
    if isinstance(frame, Planned):
        frame = frame.lazy()
    out = frame.with_columns(finalize_exprs(frame))
    return out.collect() if isinstance(out, pl.LazyFrame) else out


def finalize_exprs(frame: pl.DataFrame | pl.LazyFrame) -> list[pl.Expr]:
    schema = frame.schema if isinstance(frame, pl.DataFrame) else frame.collect_schema()
    out = []
    for name, dtype in schema.items():
        if dtype == pl.Date:
            out.append(compute_iso_date(pl.col(name)).alias(name))
        elif isinstance(dtype, (pl.Categorical, pl.Enum)):
            out.append(pl.col(name).cast(pl.String))
    return out
