"""Benchmark: the response tables of the 100,000-subject demo against a bare polars scan of the same files.

    .venv/bin/python benchmarks/bench_response.py          # or: make bench (benchmarks/run_all.py)

(a) a bare scan: ``pl.scan_parquet(file).collect()`` of DM, DS, TU, TR and RS, every column;
(b) the response tables from the same files: the columns the derivations read (a lazy scan
    with projection, as a report reading a large study would), then the subjects,
    ``derive_response_analysis`` (time points, sums, % change, BOR, best % change, the
    recomputation check), ``waterfall.csv``, ``orr.csv``, the BOR counts, the waterfall and
    spider chart rows, ``pfs.csv`` and the Kaplan-Meier tables.

Each side runs in a fresh child process, so its wall time and peak resident memory
(``ru_maxrss``) are its own. The demo is ``benchmarks/common.py``'s (generated once, not timed). The machine is shared,
so (a) and (b) alternate ``TRIALKIT_BENCH_REPEAT`` times (default 2) and the fastest of each
counts. Targets (issue 11): b / a <= 3 and b's peak <= 3 GB.

Example:
    >>> rows = main()  # doctest: +SKIP
    >>> rows[2]["figure"]
    'response tables / bare scan'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import demo_100k  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = 100_000
RATIO_TARGET = 3.0
MEMORY_BUDGET_MB = 3072.0
DATASETS = ("dm", "ds", "tu", "tr", "rs")

# what each derivation reads (a column absent from a file is simply not read)
COLUMNS = {
    "dm": ["STUDYID", "USUBJID", "SITEID", "ARMCD", "ARM", "ACTARMCD", "ARMNRS", "RFICDTC", "DTHDTC"],
    "ds": ["USUBJID", "DSDECOD", "DSSTDTC", "DSDTC"],
    "tu": ["USUBJID", "TULNKID", "TUSTRESC", "TULOC", "TUEVAL", "TUEVALID"],
    "tr": ["USUBJID", "TRLNKID", "TRTESTCD", "TRSTRESN", "TRSTRESC", "TRSTAT", "TRDTC", "TRCAT", "TREVAL",
           "TREVALID", "TRACPTFL", "TRGRPID", "VISITNUM", "VISIT"],
    "rs": ["USUBJID", "RSTESTCD", "RSSTRESC", "RSORRES", "RSDTC", "RSCAT", "RSEVAL", "RSEVALID", "RSACPTFL",
           "RSSEQ", "VISIT"],
    "cm": ["USUBJID", "CMTRT", "CMDECOD", "CMCAT", "CMSCAT", "CMSTDTC"],
}

SCAN = """
import json, resource, sys, time
from pathlib import Path
import polars as pl
folder = Path(sys.argv[1])
start = time.perf_counter()
rows = sum(pl.scan_parquet(folder / f"{{name}}.parquet").collect().height for name in {datasets!r})
print(json.dumps({{"seconds": time.perf_counter() - start, "rows": rows,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

TABLES = """
import json, resource, sys, time
from pathlib import Path
import polars as pl
from trialkit.derive import efficacy, response
from trialkit.derive.subjects import derive_subjects
from trialkit.protocol import load_protocol
folder = Path(sys.argv[1])
columns = {columns!r}
start = time.perf_counter()
frames = {{}}
for name, wanted in columns.items():
    path = folder / f"{{name}}.parquet"
    if path.exists():
        lf = pl.scan_parquet(path)
        frames[name] = lf.select([c for c in wanted if c in lf.collect_schema().names()]).collect()
read = time.perf_counter() - start
protocol = load_protocol("NCT07334483")
subjects = derive_subjects(frames, protocol)
analysis = response.derive_response_analysis(frames, subjects, protocol)
arms = response.select_arms(protocol.arm_labels)
waterfall = response.summarize_waterfall(analysis)
orr = efficacy.summarize_orr(analysis, arms)
counts = efficacy.summarize_bor_counts(analysis.subjects, arms)
bars = response.summarize_waterfall_chart(waterfall)
spider = response.summarize_spider(analysis, bars)
pfs = efficacy.derive_pfs(analysis, protocol=protocol)
km = efficacy.summarize_km(pfs, arms)
print(json.dumps({{"seconds": time.perf_counter() - start, "read_seconds": read, "subjects": waterfall.height,
                  "plotted": int((waterfall["PLOTTED"] == "Y").sum()), "maxrss_mb":
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _child(code: str, folder: Path) -> dict:
    env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")}
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env,
                          cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(folder: Path, repeat: int) -> tuple[dict, dict]:
    """The fastest of ``repeat`` alternating runs of the scan and of the tables."""
    scans, tables = [], []
    for _ in range(max(1, repeat)):
        scans.append(_child(SCAN.format(datasets=DATASETS), folder))
        tables.append(_child(TABLES.format(columns=COLUMNS), folder))
    return min(scans, key=lambda r: r["seconds"]), min(tables, key=lambda r: r["seconds"])


def main() -> list[dict]:
    """Rows for ``benchmarks/run_all.py`` (see the module notes)."""
    repeat = int(os.environ.get("TRIALKIT_BENCH_REPEAT", "2"))
    scan, tables = measure(demo_100k(), repeat)
    ratio = tables["seconds"] / scan["seconds"]
    return [
        {"figure": f"bare scan of {', '.join(DATASETS)} ({scan['rows']:,} rows)", "value": scan["seconds"],
         "unit": "s", "reference": None, "ratio": None},
        {"figure": f"response tables, {tables['subjects']:,} randomized ({tables['plotted']:,} plotted), read "
                   f"{tables['read_seconds']:.1f} s", "value": tables["seconds"], "unit": "s", "reference": None,
         "ratio": None},
        {"figure": "response tables / bare scan", "value": ratio, "unit": "x", "reference": RATIO_TARGET,
         "ratio": ratio / RATIO_TARGET},
        {"figure": "response tables: peak memory (RSS)", "value": tables["maxrss_mb"], "unit": "MB",
         "reference": MEMORY_BUDGET_MB, "ratio": tables["maxrss_mb"] / MEMORY_BUDGET_MB},
        {"figure": "bare scan: peak memory (RSS)", "value": scan["maxrss_mb"], "unit": "MB", "reference": None,
         "ratio": None},
    ]


if __name__ == "__main__":
    for row in main():
        ratio = "" if row["ratio"] is None else f"  ({row['ratio']:.2f} of the target)"
        print(f"{row['figure']}: {row['value']:.2f} {row['unit']}{ratio}")
