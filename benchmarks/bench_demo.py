"""Benchmark: ``trialkit demo --subjects 100000`` against its budget (60 s, 4 GB; issue 8).

Runs the CLI in a child process (so its peak memory is its own, measured with
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) writing parquet to a temporary folder,
and reports wall time, peak resident memory and the rows written.

    .venv/bin/python benchmarks/bench_demo.py            # or: make bench

Example:
    >>> rows = main()  # doctest: +SKIP
    >>> rows[0]["figure"]
    'demo --subjects 100000: wall time'
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = 100_000
TIME_BUDGET_S = 60.0
MEMORY_BUDGET_MB = 4096.0


def _run_child(out: Path) -> tuple[float, float, str]:
    cmd = [sys.executable, "-m", "trialkit", "demo", "--out", str(out), "--subjects", str(SUBJECTS)]
    start = time.perf_counter()
    # ru_maxrss of RUSAGE_CHILDREN is the largest of the waited-for children: measure in a
    # fresh intermediate process so earlier children of this interpreter do not count.
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
             "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True,
                          env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"trialkit demo failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    kb = next(float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("MAXRSS_KB"))
    return wall, kb / 1024.0, proc.stdout


def main() -> list[dict]:
    """Generate the 100,000-subject demo once; return time and memory against the budget."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        out = Path(tmp) / "demo"
        wall, peak_mb, _ = _run_child(out)
        rows_written = 0
        import polars as pl

        for p in out.glob("*.parquet"):
            rows_written += pl.scan_parquet(p).select(pl.len()).collect().item()
        size_mb = sum(p.stat().st_size for p in out.iterdir()) / 2**20
    return [
        {"figure": f"demo --subjects {SUBJECTS}: wall time", "value": wall, "unit": "s",
         "reference": TIME_BUDGET_S, "ratio": wall / TIME_BUDGET_S},
        {"figure": f"demo --subjects {SUBJECTS}: peak memory (RSS)", "value": peak_mb, "unit": "MB",
         "reference": MEMORY_BUDGET_MB, "ratio": peak_mb / MEMORY_BUDGET_MB},
        {"figure": f"demo --subjects {SUBJECTS}: rows written", "value": float(rows_written), "unit": "rows",
         "reference": None, "ratio": None},
        {"figure": f"demo --subjects {SUBJECTS}: parquet size", "value": size_mb, "unit": "MB",
         "reference": None, "ratio": None},
    ]


if __name__ == "__main__":
    for row in main():
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']:.2f}"
        ref = "" if row["reference"] is None else f" (budget {row['reference']:g} {row['unit']})"
        print(f"{row['figure']}: {row['value']:.1f} {row['unit']}{ref}{ratio}")
