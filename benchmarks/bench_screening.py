"""Benchmark: every screening table of the 100,000-subject demo, against a bare polars scan of the same files.

    .venv/bin/python benchmarks/bench_screening.py       # or: make bench

1. The 100,000-subject demo of ``benchmarks/common.py`` (generated once, then cached).
2. A child process reads the datasets the screening report reads, the columns its
   derivations name (a lazy scan with projection, as a report on a large study could;
   checked first: on the 120-subject demo the tables are the same from every column), then
   the data layer's type casts ``conform_frames``, places the subjects at the demo's
   cutoff (``trialkit.study.prepare_study``), then alternates, ``TRIALKIT_BENCH_REPEAT``
   times (default 3): (a) a bare ``pl.scan_parquet(...).collect()`` of the same files and
   (b) ``trialkit.derive.screening.create_screening``, which derives every table of the
   report (the four of DESIGN section 5 and the rest). The fastest of each counts, as
   ``timeit`` does, because the machine is shared. Target: b <= 3 x a. Then, in a second
   child with jemalloc returning freed pages at once (``RESIDENT``), the resident memory
   while (b) runs (the study in memory and the tables being derived; sampled every 5 ms)
   is held to 3 GB.
3. For information, not held to a target: the data layer's own steps on the same folder,
   ``open_study`` (read + every check + cutoff; shared by every report) and ``prepare_study``.
4. The screening report of the built-in demo through ``trialkit run``: its HTML size
   (target: at most 2.5 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import demo_100k  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUBJECTS = 100_000
RATIO_TARGET = 3.0
MEMORY_BUDGET_MB = 3072.0
HTML_BUDGET_MB = 2.5
DATASETS = ("dm", "ds", "ie", "lb", "vs", "qs", "fa", "ex", "pr")

CHILD = r"""
import gc, json, os, resource, sys, threading, time
from pathlib import Path
import polars as pl
from trialkit.demo import DEFAULT_CUTOFF
from trialkit.derive.scope import as_date
from trialkit.derive.screening import create_screening
from trialkit.io import Study
from trialkit.io.checks import conform_frames
from trialkit.protocol import load_protocol
from trialkit.study import StudyParams, prepare_study

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Peak(threading.Thread):
    # the resident memory while the tables are derived, sampled every 5 ms
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.on = 0.0, threading.Event()

    def run(self):
        while True:
            if self.on.is_set():
                self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)


folder, repeat = Path(sys.argv[1]), int(sys.argv[2])
files = {name: folder / f"{name}.parquet" for name in sys.argv[3].split(",")}
columns = json.loads(sys.argv[4])
protocol = load_protocol("NCT07334483")
t = time.perf_counter()
# the columns the derivations read (a lazy scan with projection, as a report on a large study could)
frames, _ = conform_frames({k: pl.scan_parquet(v).select(columns[k]).collect() for k, v in files.items()}, files)
params = StudyParams(study=None, data_dir=folder, demo=False, data_cutoff=as_date(DEFAULT_CUTOFF))
data = prepare_study(Study(data_dir=folder, files=files, frames=frames, protocol=protocol), params)
prepare = time.perf_counter() - t
del frames
gc.collect()
held = rss_mb()
peak = Peak()
peak.start()
scans, derives = [], []
for _ in range(repeat):
    t = time.perf_counter()
    scanned = [pl.scan_parquet(p).collect() for p in files.values()]
    scans.append(time.perf_counter() - t)
    del scanned
    gc.collect()
    peak.on.set()
    t = time.perf_counter()
    tables = create_screening(data.subjects, data.frames, data.protocol, data_cutoff=data.params.data_cutoff,
                              source=data.source, has_screening=data.has_screening)
    derives.append(time.perf_counter() - t)
    peak.on.clear()
    del tables
    gc.collect()
print(json.dumps({"scan": scans, "derive": derives, "prepare": prepare, "held_mb": held, "peak_mb": peak.peak,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

OPEN_CHILD = r"""
import json, resource, sys, time
from trialkit.demo import DEFAULT_CUTOFF
from trialkit.study import open_study
t = time.perf_counter()
data = open_study("screening", data_dir=sys.argv[1], data_cutoff=DEFAULT_CUTOFF)
print(json.dumps({"open": time.perf_counter() - t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2"), **extra}


# polars' allocator (jemalloc) keeps freed pages resident for a while: the data layer's copies of
# every dataset would count as memory of the derivation. Returned at once, the resident memory is
# what the data and the tables take (measured: 3.2 GB resident by default, 2.0 GB so).
RESIDENT = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}


def _child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=_env(**(env or {})), cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _html_size(out: Path) -> float:
    params = out / "screening_demo.yaml"
    params.write_text("reports: [screening]\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "trialkit", "run", str(params), "--out", str(out / "run")], check=True,
                   env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (page,) = (out / "run").glob("*/screening.html")
    return page.stat().st_size / 2**20


# The modules whose code reads the datasets' columns: every column they name (a literal such as
# "LBTESTCD", or a domain prefix + suffix such as f"{p}STRESN") is read, the others are not.
READERS = ("derive/screening.py", "derive/eligibility.py", "derive/consort.py", "derive/subjects.py",
           "derive/scope.py", "study.py", "io/terms.py")


def used_columns(folder: Path) -> dict[str, list[str]]:
    """Per dataset, the columns of its file that the screening derivations name."""
    import re

    import polars as pl

    code = "\n".join((ROOT / "trialkit" / m).read_text(encoding="utf-8") for m in READERS)
    names = set(re.findall(r'"([A-Z][A-Z0-9_]{1,9})"', code))
    suffixes = set(re.findall(r'f"\{(?:p|prefix)\}([A-Z]{2,8})"', code))
    out = {}
    for name in DATASETS:
        schema = pl.read_parquet_schema(folder / f"{name}.parquet")
        prefix = name.upper()
        out[name] = [c for c in schema if c in names or (c.startswith(prefix) and c[len(prefix):] in suffixes)]
    return out


def check_projection(folder: Path, columns: dict[str, list[str]]) -> None:
    """The screening tables of the 120-subject demo are the same from all columns and from the projection."""
    code = r"""
import json, sys
from pathlib import Path
import polars as pl
from trialkit.demo import DEFAULT_CUTOFF
from trialkit.derive.screening import create_screening
from trialkit.io import read_study
from trialkit.study import resolve_parameters, prepare_study
folder, columns = Path(sys.argv[1]), json.loads(sys.argv[2])
params = resolve_parameters(data_dir=folder, data_cutoff=DEFAULT_CUTOFF)
full = read_study(folder, report="screening")
part = read_study(folder, report="screening")
part.frames = {k: (v.select([c for c in v.columns if c in columns.get(k, v.columns)])) for k, v in part.frames.items()}
a, b = prepare_study(full, params), prepare_study(part, params)
ta = create_screening(a.subjects, a.frames, a.protocol, data_cutoff=a.params.data_cutoff)
tb = create_screening(b.subjects, b.frames, b.protocol, data_cutoff=b.params.data_cutoff)
bad = [f for f in ("subjects", "failures", "by_criterion", "consort", "recheck", "discrepancies", "funnel", "values")
       if not getattr(ta, f).equals(getattr(tb, f))]
print(json.dumps({"differ": bad}))
"""
    from trialkit.demo import demo_data_dir

    result = _child(code, str(demo_data_dir()), json.dumps(columns))
    if result["differ"]:
        raise RuntimeError(f"bench_screening: the column projection changes {result['differ']}; widen READERS")


def main() -> list[dict]:
    """Time and memory of the screening tables at 100,000 subjects; rows for ``benchmarks/run_all.py``."""
    repeat = max(1, int(os.environ.get("TRIALKIT_BENCH_REPEAT", "3")))
    with tempfile.TemporaryDirectory(prefix="bench-screening-") as tmp:
        folder = demo_100k()
        columns = used_columns(folder)
        check_projection(folder, columns)
        wanted = json.dumps(columns)
        derive = _child(CHILD, str(folder), str(repeat), ",".join(DATASETS), wanted)           # times
        resident = _child(CHILD, str(folder), "1", ",".join(DATASETS), wanted, env=RESIDENT)   # memory taken
        opened = _child(OPEN_CHILD, str(folder))
        html_mb = _html_size(Path(tmp))
    scan, tables = min(derive["scan"]), min(derive["derive"])
    label = f"{SUBJECTS:,}-subject demo"
    return [
        {"figure": f"screening tables, {label}: bare polars scan of the same files", "value": scan, "unit": "s",
         "reference": None, "ratio": None},
        {"figure": f"screening tables, {label}: derive every table (create_screening)", "value": tables, "unit": "s",
         "reference": RATIO_TARGET * scan, "ratio": tables / (RATIO_TARGET * scan)},
        {"figure": "screening tables: derive / scan (target <= 3)", "value": tables / scan, "unit": "x",
         "reference": RATIO_TARGET, "ratio": tables / scan / RATIO_TARGET},
        {"figure": "screening tables: peak memory while deriving (the study in memory + tables)",
         "value": resident["peak_mb"], "unit": "MB", "reference": MEMORY_BUDGET_MB,
         "ratio": resident["peak_mb"] / MEMORY_BUDGET_MB},
        {"figure": "  for information: the study in memory before deriving", "value": resident["held_mb"],
         "unit": "MB", "reference": None, "ratio": None},
        {"figure": "  for information: the same peak, the allocator keeping freed pages", "value": derive["peak_mb"],
         "unit": "MB", "reference": None, "ratio": None},
        {"figure": "  for information: data layer prepare_study (cutoff, subjects, filters)", "value": derive["prepare"],
         "unit": "s", "reference": None, "ratio": None},
        {"figure": "  for information: prepare_study peak memory (two copies of every dataset)",
         "value": derive["maxrss_mb"], "unit": "MB", "reference": None, "ratio": None},
        {"figure": "  for information: open_study (read + every check + cutoff)", "value": opened["open"], "unit": "s",
         "reference": None, "ratio": None},
        {"figure": "  for information: open_study peak memory", "value": opened["rss_mb"], "unit": "MB",
         "reference": None, "ratio": None},
        {"figure": "screening.html of the demo (trialkit run)", "value": html_mb, "unit": "MB",
         "reference": HTML_BUDGET_MB, "ratio": html_mb / HTML_BUDGET_MB},
    ]


if __name__ == "__main__":
    for row in main():
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']:.2f}"
        ref = "" if row["reference"] is None else f" (target {row['reference']:.3g} {row['unit']})"
        print(f"{row['figure']}: {row['value']:.3g} {row['unit']}{ref}{ratio}")
