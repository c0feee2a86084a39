"""The whole demo run against the same notebooks run one by one with the command lines.

    .venv/bin/python benchmarks/bench_run.py          # or: make bench (benchmarks/run_all.py)

Measured in one process, one after the other, on the same machine state:

(a) ``trialkit run params/*.yaml --out TMP`` — every notebook x every params file, HTML
    export included, as one command (parallel jobs, one process, export in-process);
(b) for each params file x notebook: ``papermill NB OUT.ipynb -f PARAMS -k python3`` then
    ``jupyter nbconvert --to html OUT.ipynb`` (``--no-input`` for the investigator audience),
    each a new process, one after the other — what a cron script would do without trialkit.

Both get the same resolved parameters (demo data folder, cutoff, ``output_dir``), and the
demo data are generated before timing starts so neither side pays for it. The machine is
shared (other test runs), so (a) and (b) alternate ``TRIALKIT_BENCH_REPEAT`` times (default
3) and the fastest of each counts, as ``timeit`` does. Target (issue 4): a / b <= 0.5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: trialkit, papermill, jupyter
TARGET = 0.5


def main() -> list[dict]:
    """Time (a) and (b) once each; rows for ``benchmarks/run_all.py`` (see module docstring)."""
    sys.path.insert(0, str(ROOT))
    from trialkit.report.params import load_params_files
    from trialkit.report.runner import find_notebooks

    params_files = sorted(ROOT.glob("params/*.yaml"))
    notebooks = find_notebooks()
    runs = load_params_files(params_files, notebooks=notebooks)  # also builds the demo data once
    env = pinned_env()
    times_a, times_b, times_p = [], [], []
    for i in range(max(1, int(os.environ.get("TRIALKIT_BENCH_REPEAT", "3")))):
        with tempfile.TemporaryDirectory(prefix="trialkit-bench-") as tmp:
            times_a.append(time_trialkit_run(params_files, Path(tmp) / "a", env))
            times_b.append(time_command_lines(runs, notebooks, Path(tmp) / "b", env))
            times_p.append(time_trialkit_run(params_files, Path(tmp) / "p", env, pool="process"))
        print(f"bench_run: round {i + 1}: a {times_a[-1]:.2f} s, b {times_b[-1]:.2f} s, "
              f"a with processes {times_p[-1]:.2f} s", file=sys.stderr)
    a, b, p = min(times_a), min(times_b), min(times_p)
    n = sum(len(r.reports or notebooks) for r in runs)
    label = f"{len(params_files)} params x {len(notebooks)} notebooks = {n} reports"
    return [
        {"figure": f"(a) trialkit run params/*.yaml, HTML included ({label})", "value": a, "unit": "s",
         "reference": None, "ratio": None},
        {"figure": "(b) same, one by one: papermill + jupyter nbconvert CLIs", "value": b, "unit": "s",
         "reference": None, "ratio": None},
        {"figure": "(a) with forked worker processes instead of threads (the runner uses threads)",
         "value": p, "unit": "s", "reference": None, "ratio": None},
        {"figure": "a / b (target <= 0.5)", "value": a / b, "unit": "x", "reference": TARGET,
         "ratio": (a / b) / TARGET},
    ]


def pinned_env() -> dict[str, str]:
    """The Makefile's Jupyter pinning, so (b)'s kernels are the venv's interpreter as well."""
    env = dict(os.environ)
    env.update({"JUPYTER_PATH": "", "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    return env


def time_trialkit_run(params_files: list[Path], out: Path, env: dict[str, str], pool: str = "thread") -> float:
    """(a): one ``trialkit run`` command, wall time including interpreter start.

    ``pool="process"`` runs the same through ``run_reports(pool="process")`` (no CLI
    option: it only exists to re-measure the thread/process choice).
    """
    command = [str(BIN / "trialkit"), "run", *map(str, params_files), "--out", str(out)]
    if pool != "thread":
        command = [sys.executable, "-c", "import sys; from trialkit.report.runner import run_reports; "
                   f"sys.exit(run_reports(sys.argv[1:], out={str(out)!r}, pool={pool!r}).exit_code)",
                   *map(str, params_files)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_command_lines(runs, notebooks: dict[str, Path], out: Path, env: dict[str, str]) -> float:
    """(b): papermill then nbconvert per report, each a new process, sequentially."""
    total = 0.0
    for run in runs:
        for report in run.reports or notebooks:
            folder = out / run.run_name
            folder.mkdir(parents=True, exist_ok=True)
            params = folder / f"{report}.params.yaml"
            # JSON is YAML: dates already ISO text, so papermill injects the same values as (a)
            params.write_text(json.dumps({**run.values, "output_dir": str(folder)}))
            executed = folder / f"{report}.ipynb"
            no_input = ["--no-input"] if run.values.get("audience", "investigator") == "investigator" else []
            start = time.perf_counter()
            subprocess.run([str(BIN / "papermill"), str(notebooks[report]), str(executed), "-f", str(params),
                            "-k", "python3", "--no-progress-bar"],
                           check=True, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", *no_input, str(executed)],
                           check=True, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            total += time.perf_counter() - start
    return total


if __name__ == "__main__":
    rows = main()
    for row in rows:
        print(f"{row['figure']}: {row['value']:.2f} {row['unit']}")
