"""Benchmark: the swimmer's tables and deviation checks on the 100,000-subject demo, against a bare scan.

    .venv/bin/python benchmarks/bench_swimmer.py      # or: make bench (benchmarks/run_all.py)

The demo is ``benchmarks/common.py``'s 100,000-subject demo (generated once, then cached). Then, each in a fresh child process so that its
peak memory is its own (``ru_maxrss``), timed inside the child after the imports:

(a) a bare polars scan: ``pl.scan_parquet(f).collect()`` of the files the swimmer reads
    (DM, DS, EX, PR, RS, and AE, CM when present);
(b) the same scan, then the swimmer's derivations: subjects (``derive_subjects``), the
    swimmer subjects and events (``derive_swimmer``), the deviation checks
    (``derive_deviations``), the flags on the events and the chart's lanes;
(c) for information: the report's own path, ``open_study("swimmer")`` (read, check, cut
    off, filter: the data layer) and the same derivations.

Targets (issue 10): (b) at most 3 x (a); (b) at most 3 GB peak. The machine is shared, so
(a) and (b) alternate ``TRIALKIT_BENCH_REPEAT`` times (default 3) and the fastest of each
counts, as ``timeit`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import demo_100k  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = 100_000
CUTOFF = "2026-10-31"
RATIO_TARGET = 3.0
MEMORY_BUDGET_MB = 3072.0
DATASETS = ("dm", "ds", "ex", "pr", "rs", "ae", "cm")

_CHILD = r"""
import resource, sys, time
from pathlib import Path
import polars as pl
folder, mode, cutoff = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
names = sys.argv[4].split(",")
if mode != "scan":
    import datetime as dt
    from trialkit.derive import deviations, exposure, swimmer
    from trialkit.derive.subjects import derive_subjects
    from trialkit.protocol import load_protocol
    from trialkit.study import open_study
start = time.perf_counter()
if mode == "report":
    data = open_study("swimmer", data_dir=folder, data_cutoff=cutoff)
    frames, randomized, protocol, cut = data.frames, data.randomized, data.protocol, data.params.data_cutoff
else:
    frames = {p.stem.lower(): pl.scan_parquet(p).collect() for p in sorted(folder.glob("*.parquet"))
              if p.stem.lower() in names}
if mode == "swimmer":
    protocol = load_protocol("NCT07334483")
    randomized = derive_subjects(frames, protocol).filter(pl.col("STATUS") == "RANDOMIZED")
    cut = dt.date.fromisoformat(cutoff)
if mode != "scan":
    swim = exposure.derive_swimmer(frames, randomized, protocol=protocol, data_cutoff=cut)
    found = deviations.derive_deviations(swim.records, randomized, protocol=protocol, adverse_events=frames.get("ae"))
    lanes = swimmer.derive_swimmer_lanes(swim.subjects, deviations.derive_event_flags(swim.events, found))
    rows = swim.subjects.height + swim.events.height + found.height
else:
    rows = sum(f.height for f in frames.values())
elapsed = time.perf_counter() - start
print("RESULT", elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rows)
"""


def _child(folder: Path, mode: str) -> tuple[float, float, int]:
    env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(folder), mode, CUTOFF, ",".join(DATASETS)],
                          capture_output=True, text=True, env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"bench_swimmer {mode} failed: {proc.stderr.strip()[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    _, seconds, mb, rows = line.split()
    return float(seconds), float(mb), int(rows)


def main() -> list[dict]:
    """Rows for ``benchmarks/run_all.py`` (see the module docstring)."""
    repeat = max(1, int(os.environ.get("TRIALKIT_BENCH_REPEAT", "3")))
    folder = demo_100k()
    scans, derived = [], []
    for i in range(repeat):
        scans.append(_child(folder, "scan"))
        derived.append(_child(folder, "swimmer"))
        print(f"bench_swimmer: round {i + 1}: scan {scans[-1][0]:.2f} s, swimmer {derived[-1][0]:.2f} s "
              f"({derived[-1][1]:.0f} MB)", file=sys.stderr)
    report = _child(folder, "report")
    scan = min(s[0] for s in scans)
    swim = min(d[0] for d in derived)
    peak = max(d[1] for d in derived)
    rows = derived[0][2]
    return [
        {"figure": f"(a) bare polars scan of {', '.join(DATASETS)} ({SUBJECTS:,} subjects)", "value": scan,
         "unit": "s", "reference": None, "ratio": None},
        {"figure": "(b) same scan + swimmer subjects, events, deviations and lanes", "value": swim, "unit": "s",
         "reference": None, "ratio": None},
        {"figure": "(b) / (a): swimmer tables + deviations against the bare scan", "value": swim / scan,
         "unit": "x", "reference": RATIO_TARGET, "ratio": swim / scan / RATIO_TARGET},
        {"figure": "(b) peak memory (RSS)", "value": peak, "unit": "MB", "reference": MEMORY_BUDGET_MB,
         "ratio": peak / MEMORY_BUDGET_MB},
        {"figure": f"(b) rows derived (subjects + events + deviations)", "value": float(rows), "unit": "rows",
         "reference": None, "ratio": None},
        {"figure": "(c) the report's path: open_study (read, check, cut off) + the same derivations",
         "value": report[0], "unit": "s", "reference": None, "ratio": None},
        {"figure": "(c) peak memory (RSS)", "value": report[1], "unit": "MB", "reference": None, "ratio": None},
    ]


if __name__ == "__main__":
    for row in main():
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']:.2f}"
        ref = "" if row["reference"] is None else f" (target {row['reference']:g} {row['unit']})"
        print(f"{row['figure']}: {row['value']:.2f} {row['unit']}{ref}{ratio}")
