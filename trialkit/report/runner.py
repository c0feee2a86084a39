"""The report runner: params files -> run folders of offline HTML reports.

Four steps per report, each a short function (papermill's own shape): **parameterize**
(the params file's values plus ``output_dir``), **execute** (papermill, kernel of the running
interpreter), **export** (``trialkit.report.html.export_html``), **write** (atomically).
Reports of every params file share one pool of ``jobs`` workers.

Run folder (DESIGN.md section 4), one per params file, ``<out>/<run-name>/``::

    index.html        every report, its status (failure reason), link and size
    <report>.html     only for reports that ran to the end
    <report>.ipynb    the executed notebook, kept also when it failed
    tables/ figures/  written by the notebooks into ``output_dir``
    manifest.json     params, input files + sha256, versions, git commit, timings, status

The folder is built as a hidden sibling ``.<run-name>.*.partial`` and swapped in at the
end (:mod:`trialkit.report.swap`: atomic, also under races), so a re-run replaces the
previous reports all at once and a crashed run never leaves a mix. Notebooks see that
staging path as ``output_dir`` and write only there (their working folder is a scratch
folder, removed after the run); the executed ``.ipynb`` records the final run folder.
Kernels are this interpreter with the user's Jupyter and IPython configuration shut out
(:func:`pinned_jupyter_env`). SIGTERM, SIGINT and SIGHUP stop a run promptly and keep the
finished reports as a partial run (:mod:`trialkit.report.signals`); what a killed run
(SIGKILL) left behind is removed by the next run into the same ``--out``.

Example:
    >>> from trialkit.report.runner import run_reports
    >>> result = run_reports(["params/demo.yaml"], out="outputs", jobs=2)  # doctest: +SKIP
    >>> result.exit_code, result.runs[0].path.name                         # doctest: +SKIP
    (0, 'demo_2026-10-31')
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# jsonschema (imported by nbformat) imports the optional rfc3987_syntax only to check the
# "iri" string formats, which no notebook schema uses; that import builds a Lark grammar:
# 0.85 s of CPU per process, a tenth of a whole 2-report run on 2 cores (measured,
# benchmarks/bench_run.py). Skipped only when nothing has imported jsonschema yet (the
# `trialkit run` command); jsonschema then simply does not check "iri" formats.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

import nbformat  # noqa: E402

from trialkit.errors import ParamsError
from trialkit.report import signals
from trialkit.report.files import make_shareable, write_text
from trialkit.report.html import export_html, vega_bundle
from trialkit.report.index import describe_error, write_index
from trialkit.report.pack import write_pack
from trialkit.report.params import (DELIVERY_KEYS, RunParams, collect_parameters, load_params_files,
                                   read_notebook_parameters)
from trialkit.report.signals import RunInterrupted, StopState, interruptible, signal_name
from trialkit.report.swap import hold_scratch_lock, make_out_root, remove_leftovers, swap_folder

def _project_root() -> Path:
    """The checkout holding ``trialkit/`` (editable install), else the working folder.

    ``outputs/`` and ``notebooks/`` live there; an installed (non-editable) package sits in
    site-packages, where neither belongs.
    """
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


REPO_ROOT = _project_root()
PACKAGES = ("trialkit", "polars", "altair", "papermill", "nbconvert", "vl-convert-python",
            "great-tables", "nbformat", "ipykernel")
MAX_ERROR_CHARS = 400  # index and manifest show the reason, not a 300-line traceback
# A cell running longer than this fails its report (a hung cron job would never end);
# TRIALKIT_CELL_TIMEOUT (seconds) overrides it for very large studies.
CELL_TIMEOUT_S = 1800
#: ``trialkit run --fail-on-empty``: every report ran, but in one the cutoff and filters
#: selected no subject (schedulers can tell it from a failure, exit 1).
EXIT_EMPTY = 4
#: Report statuses of a run stopped by a signal: stopped while running, never started.
INTERRUPTED = "interrupted"
NOT_RUN = "not run"
#: The id of papermill's injected-parameters cell: fixed, so that two runs of the same
#: inputs give the same HTML (papermill gives it a random one).
INJECTED_CELL_ID = "injected-parameters"


@dataclass
class ReportTask:
    """One notebook to run for one params file."""

    run: RunParams
    report: str
    notebook: Path
    parameters: dict[str, Any]
    staging: Path
    cwd: Path
    run_time: str

    @property
    def label(self) -> str:
        return f"{self.run.run_name}/{self.report}"


@dataclass
class ReportResult:
    """What happened to one report: status, files, timings, the reason of a failure."""

    report: str
    status: str  # "ok" | "failed"
    title: str | None = None
    notebook: str | None = None
    notebook_sha256: str | None = None
    html: str | None = None
    ipynb: str | None = None
    html_bytes: int | None = None
    execute_s: float | None = None
    export_s: float | None = None
    error: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None  # what the cutoff and filters selected (show_scope)


@dataclass
class RunFolder:
    """One params file's run folder once it is in place."""

    name: str
    path: Path
    params_file: Path
    reports: list[ReportResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ReportResult]:
        return [r for r in self.reports if r.status != "ok"]


@dataclass
class RunResult:
    """Every run folder of one ``trialkit run``; ``exit_code`` is 1 when a report failed,
    128 + the signal number when a signal stopped the run (130 SIGINT, 143 SIGTERM)."""

    runs: list[RunFolder]
    seconds: float
    interrupted: int | None = None  # the signal that stopped the run

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return 128 + self.interrupted
        return 1 if any(run.failed for run in self.runs) else 0

    @property
    def empty(self) -> list[tuple[str, str]]:
        """(run name, report) of every report whose cutoff and filters selected no subject."""
        return [(run.name, r.report) for run in self.runs for r in run.reports
                if r.status == "ok" and (r.selection or {}).get("empty")]


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------

def main_run(params_files: Sequence[str | Path], *, out: str | Path | None = None,
             reports: Sequence[str] | None = None, jobs: int | None = None, email: bool = False,
             fail_on_empty: bool = False) -> int:
    """``trialkit run``: run, print where the run folders are, return the exit code.

    ``email``: then send each run folder whose reports all ran (``trialkit.report.mail``).

    Returns:
        0 when every report ran (also when a selection matched no subject: the report says
        so), 1 when one failed (the others still complete), :data:`EXIT_EMPTY` (4) with
        ``fail_on_empty`` when a report's cutoff and filters selected no subject, 128 + the
        signal number when SIGINT, SIGTERM or SIGHUP stopped the run (finished reports kept).
        With ``email`` the complete runs are then sent (not after a signal), and a failed
        send gives the exit code of ``trialkit email`` when nothing else went wrong.

    Raises:
        ParamsError: a params file is wrong (exit code 2); nothing has run.
        OutputError: ``--out`` cannot be written (exit code 2).
    """
    try:
        result = run_reports(params_files, out=out, reports=reports, jobs=jobs)
    except RunInterrupted as stop:  # before any notebook ran (e.g. waiting for another run)
        print(f"trialkit: stopped by {signal_name(stop.signum)} before any report finished; nothing was written "
              f"(a previous run folder is left as it was).", file=sys.stderr)
        return stop.exit_code
    report_empty_and_interrupted(result)
    for run in result.runs:
        ok = len(run.reports) - len(run.failed)
        print(f"trialkit: {run.path / 'index.html'}  ({ok}/{len(run.reports)} reports ok)")
        for failed in run.failed:
            word = "FAILED" if failed.status == "failed" else failed.status.upper()  # INTERRUPTED, NOT RUN
            print(f"trialkit: {word} {run.name}/{failed.report}: {describe_error(failed.error)}",
                  file=sys.stderr)
    code = result.exit_code
    if code == 0 and fail_on_empty and result.empty:
        code = EXIT_EMPTY
    if email and code < 128:  # a run stopped by a signal sends nothing
        from trialkit.report.mail import email_runs

        emailed = email_runs(result.runs)  # the complete runs also when another one failed
        return code or emailed
    return code
    return result.exit_code


def report_empty_and_interrupted(result: RunResult) -> None:
    """Log lines for a run a signal stopped and for reports whose selection matched no subject."""
    for run_name, report in result.empty:
        print(f"trialkit: {run_name}/{report}: no subject matches these filters (the report says so)",
              file=sys.stderr)
    if result.interrupted is not None:
        kept = sum(r.status == "ok" for run in result.runs for r in run.reports)
        print(f"trialkit: stopped by {signal_name(result.interrupted)}: {kept} finished report(s) kept as a "
              f"partial run", file=sys.stderr)


def run_reports(params_files: Sequence[str | Path], *, out: str | Path | None = None,
                reports: Sequence[str] | None = None, jobs: int | None = None,
                progress: bool | None = None, notebooks_dir: str | Path | None = None,
                pool: str = "thread") -> RunResult:
    """Check every params file, then run the chosen notebooks of each into its run folder.

    Args:
        params_files: YAML params files (see :mod:`trialkit.report.params`).
        out: parent of the run folders (default ``outputs/`` of the project).
        reports: report names to run (default: a file's ``reports`` key, else all).
        jobs: notebooks run at once (default: CPU count).
        progress: one updating line (True), log lines (False), or by whether stderr is a
            terminal (None).
        notebooks_dir: where the notebooks are (default ``$TRIALKIT_NOTEBOOKS_DIR`` or the
            project's ``notebooks/``).
        pool: ``thread`` (default, faster: see :func:`execute_all`) or ``process`` (forked
            workers; kept to re-measure the choice).

    Returns:
        The run folders with per-report status; a failed report does not raise.

    Example:
        >>> run_reports(["params/demo.yaml"], reports=["study_overview"]).exit_code  # doctest: +SKIP
        0
    """
    started = time.perf_counter()
    if jobs is not None and jobs < 1:
        raise ParamsError(f"trialkit: --jobs must be at least 1, got {jobs}.")
    notebooks = find_notebooks(notebooks_dir)
    runs = load_params_files(params_files, notebooks=notebooks, reports=reports)
    out_root = make_out_root(Path(out) if out else REPO_ROOT / "outputs")
    with interruptible() as stop, contextlib.ExitStack() as locks:
        for run in runs:  # two runs never write one run folder at once (the second waits)
            locks.enter_context(run_folder_lock(out_root, run.run_name))
        remove_leftovers(out_root, held=[run.run_name for run in runs],
                         try_lock=lambda name: run_folder_lock(out_root, name, timeout=0))
        return _run_locked(runs, notebooks, out_root, started, jobs=jobs, progress=progress, pool=pool, stop=stop)


def _run_locked(runs: Sequence[RunParams], notebooks: Mapping[str, Path], out_root: Path, started: float, *,
                jobs: int | None, progress: bool | None, pool: str, stop: StopState | None = None) -> RunResult:
    stop = stop or StopState()
    run_time = dt.datetime.now(dt.timezone.utc)
    declared = collect_parameters(notebooks)
    stagings: dict[str, Path] = {}
    try:
        for run in runs:
            stagings[run.run_name] = make_staging(out_root, run.run_name)
        with signals.fresh_registry(), pinned_jupyter_env() as scratch:
            tasks = plan_tasks(runs, notebooks, declared, stagings, scratch, run_time)
            # kernels first; what the parent needs later is prepared while they start up
            context: dict[str, Any] = {"jobs": jobs or os.cpu_count() or 1}
            results = execute_all(tasks, jobs=jobs or os.cpu_count() or 1, progress=progress, pool=pool,
                                  meanwhile=lambda: context.update(
                                      prepare_while_kernels_start(runs, warm_export=pool == "thread")))
        if stop.received is not None:  # stopped by a signal: the finished reports, as a partial run
            context["interrupted"] = signal_name(stop.received)
        with stop.deferred():  # a signal now would cut the index or the swap in half: it waits
            folders = [finish_run(run, stagings[run.run_name], out_root / run.run_name,
                                  results.get(run.run_name, []), run_time=run_time,
                                  ended=dt.datetime.now(dt.timezone.utc), context=context)
                       for run in runs]
    finally:  # stopped early (a signal before any report ran, a bug): the previous run folders stay as they were
        for staging in stagings.values():
            shutil.rmtree(staging, ignore_errors=True)
    return RunResult(runs=folders, seconds=time.perf_counter() - started, interrupted=stop.received)


# ---------------------------------------------------------------------------------------
# planning
# ---------------------------------------------------------------------------------------

def find_notebooks(notebooks_dir: str | Path | None = None) -> dict[str, Path]:
    """``{report name: notebook}`` of every ``*.ipynb`` in the notebooks folder.

    The folder is ``notebooks_dir``, else ``$TRIALKIT_NOTEBOOKS_DIR``, else ``notebooks/``
    beside the ``trialkit`` package. Names starting with ``_`` are skipped (scratch).
    """
    folder = Path(notebooks_dir or os.environ.get("TRIALKIT_NOTEBOOKS_DIR") or REPO_ROOT / "notebooks")
    if not folder.is_dir():
        raise ParamsError(f"trialkit: notebooks folder {folder} does not exist.")
    found = {p.stem: p for p in sorted(folder.glob("*.ipynb")) if not p.name.startswith(("_", "."))}
    if not found:
        raise ParamsError(f"trialkit: no report notebooks (*.ipynb) in {folder}.")
    return found


def plan_tasks(runs: Sequence[RunParams], notebooks: Mapping[str, Path],
               declared: Mapping[str, Mapping[str, Any]], stagings: Mapping[str, Path],
               scratch: Path, run_time: dt.datetime) -> list[ReportTask]:
    """One task per params file x chosen report, in params-file order."""
    tasks = []
    for run in runs:
        for report in run.reports or list(notebooks):
            parameters = parameterize(run, declared[report], stagings[run.run_name])
            cwd = scratch / "cwd" / run.run_name / report
            cwd.mkdir(parents=True, exist_ok=True)
            tasks.append(ReportTask(run=run, report=report, notebook=notebooks[report],
                                    parameters=parameters, staging=stagings[run.run_name], cwd=cwd,
                                    run_time=run_time.strftime("%Y-%m-%d %H:%M UTC")))
    return tasks


def parameterize(run: RunParams, declared: Mapping[str, Any], output_dir: Path) -> dict[str, Any]:
    """The values injected into one notebook: only the names its parameters cell declares.

    A key another notebook needs is valid in the params file but not passed here, so
    papermill never warns about an unknown parameter. ``email`` (who gets the reports) is
    never passed, even to a notebook that declares it.
    """
    values = {k: v for k, v in run.values.items() if k in declared and k not in DELIVERY_KEYS}
    if "output_dir" in declared:
        values["output_dir"] = str(output_dir)
    return values


@contextlib.contextmanager
def run_folder_lock(out_root: Path, run_name: str, *, timeout: float | None = None) -> Iterator[None]:
    """Hold ``<out>/.<run-name>.lock`` while a run writes ``<out>/<run-name>``.

    A second ``trialkit run`` of the same run folder waits (one log line says so) until the
    first is done, then builds its own; after ``timeout`` seconds
    (``$TRIALKIT_LOCK_TIMEOUT``, default 1800) it stops with :class:`RunLockedError` (exit
    75, "try again later"). The lock is an OS file lock (``flock``), so a killed run
    releases it; the file is removed when the run ends. A waiter that wakes on a lock file
    already removed (its inode no longer the path's) takes the new one instead, so two
    runs never both hold the folder.
    """
    import fcntl

    from trialkit.errors import RunLockedError

    limit = float(os.environ.get("TRIALKIT_LOCK_TIMEOUT", 1800)) if timeout is None else timeout
    path = out_root / f".{run_name}.lock"
    deadline, said = time.monotonic() + limit, False
    while True:
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            if time.monotonic() >= deadline:
                raise RunLockedError(
                    f"trialkit: another trialkit run is still writing {out_root / run_name} "
                    f"(waited {limit:.0f} s).\n  Run again when it is done, or give this run "
                    f"another run_name (or --out).") from None
            if not said:
                print(f"trialkit: another trialkit run is writing {out_root / run_name}; waiting for it "
                      f"(up to {limit:.0f} s)", file=sys.stderr, flush=True)
                said = True
            time.sleep(0.1)
            continue
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()  # locked a file the previous holder already removed: take the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still locked: a waiter then sees a new inode and retries
        handle.close()


def make_staging(out_root: Path, run_name: str) -> Path:
    """A hidden sibling of the run folder, same filesystem, so the final swap is a rename."""
    staging = Path(tempfile.mkdtemp(prefix=f".{run_name}.", suffix=".partial", dir=out_root))
    for sub in ("tables", "figures"):
        (staging / sub).mkdir()
    return staging


# ---------------------------------------------------------------------------------------
# executing (the pool) and the four steps of a report
# ---------------------------------------------------------------------------------------

def execute_all(tasks: Sequence[ReportTask], *, jobs: int, progress: bool | None,
                meanwhile: Any = None, pool: str = "thread") -> dict[str, list[ReportResult]]:
    """Run every task on a thread pool; results grouped by run name, in task order.

    Threads by default: the work happens in the kernels (separate processes) and the
    export is short; threads share the imported nbconvert, its templates and the vega
    bundle, where worker processes each build them again (``pool="process"``, forked
    workers, measured slower with benchmarks/bench_run.py on 2 cores). ``meanwhile`` runs
    on the calling thread once every task is submitted, while the kernels start.
    """
    import papermill  # noqa: F401 - imported once here, not by the first worker threads at once

    display = Progress(len(tasks), live=sys.stderr.isatty() if progress is None else progress)
    by_task: dict[int, ReportResult] = {}
    with make_pool(pool, jobs) as executor:
        in_thread = isinstance(executor, ThreadPoolExecutor)  # a forked worker cannot update the display
        futures = {executor.submit(run_report, task, display if in_thread else None): i
                   for i, task in enumerate(tasks)}
        pending = set(futures)
        try:
            if meanwhile is not None:
                meanwhile()
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    by_task[futures[future]] = result = future.result()
                    if not in_thread:
                        display.report(tasks[futures[future]].label, result)
                display.tick()
        except RunInterrupted as stop:
            by_task.update(stop_running(executor, futures, pending, tasks, signum=stop.signum))
    display.close()
    grouped: dict[str, list[ReportResult]] = {}
    for i, task in enumerate(tasks):
        grouped.setdefault(task.run.run_name, []).append(by_task[i])
    return grouped


def stop_running(executor: Any, futures: Mapping[Future, int], pending: set[Future], tasks: Sequence[ReportTask],
                 *, signum: int) -> dict[int, ReportResult]:
    """After a stop signal: kill every kernel, start no other report, collect what each running
    one returns (stopped within a second or two), and mark the others as not run."""
    name = signal_name(signum)
    running = [f for f in pending if not f.cancel()]
    print(f"trialkit: {name} received: stopping {len(running)} running report(s); finished reports are kept",
          file=sys.stderr, flush=True)
    logging.getLogger("papermill").setLevel(logging.CRITICAL)  # "Kernel died ...": we killed it (restored after the run)
    signals.KERNELS.stop_all(reason=name)
    if not isinstance(executor, ThreadPoolExecutor):  # forked workers hold their own kernels
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
    results: dict[int, ReportResult] = {}
    for future in pending:
        task = tasks[futures[future]]
        try:
            results[futures[future]] = future.result() if future in running else None
        except BaseException:  # a killed worker process
            results[futures[future]] = None
        if results[futures[future]] is None:
            results[futures[future]] = ReportResult(
                report=task.report, status=NOT_RUN if future not in running else INTERRUPTED, title=report_title(task),
                error={"stage": "execute", "exception": "Interrupted",
                       "message": f"not started: the run was stopped by {name}" if future not in running
                       else f"stopped by {name}"})
    return results


def make_pool(kind: str, jobs: int) -> Any:
    """A thread pool, or a pool of forked processes (``kind="process"``)."""
    if kind == "process":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="trialkit-report")


def prepare_while_kernels_start(runs: Sequence[RunParams], *, warm_export: bool = True) -> dict[str, Any]:
    """Work the parent needs anyway, done while it would otherwise wait on the kernels.

    Returns what the manifests share: input files with sha256 (once per data folder),
    package versions, git commit. ``warm_export=False`` for forked workers, which export
    in their own process.
    """
    if warm_export:
        warm_up_export(sorted({str(run.values.get("audience", "investigator")) for run in runs}))
    return {"input_files": {d: input_files(d) for d in {run.data_dir for run in runs}},
            "versions": package_versions(), "git_commit": git_commit()}


def warm_up_export(audiences: Sequence[str]) -> None:
    """Build the HTML exporter of each audience and the vega bundle once, up front.

    The first real export would otherwise build them — twice over when two reports finish
    together, as each thread misses the cache at the same time.
    """
    tiny = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("warm-up")])
    with contextlib.suppress(Exception):  # a real export reports its own error later
        for audience in audiences:
            export_html(tiny, audience=audience, title="", study="", data_cutoff=None, run_time="")
        vega_bundle()


def run_report(task: ReportTask, display: Progress | None = None) -> ReportResult:
    """Execute, export and write one report; a failure is recorded, never raised."""
    if display:
        display.start(task.label)
    result = ReportResult(report=task.report, status="failed", title=report_title(task),
                          notebook=_display_path(task.notebook), notebook_sha256=sha256(task.notebook))
    t0 = time.perf_counter()
    if signals.KERNELS.stopping:  # the run was stopped while this report waited for a worker
        result.status = NOT_RUN
        result.error = {"stage": "execute", "exception": "Interrupted",
                        "message": f"not started: the run was stopped by {signals.KERNELS.reason}"}
        return result
    notebook, error = execute(task)
    result.execute_s = round(time.perf_counter() - t0, 3)
    if notebook is not None:
        result.ipynb = f"{task.report}.ipynb"
        result.selection = read_selection(notebook)
    if error is not None and signals.KERNELS.stopping:  # its kernel was killed by the stop signal
        result.status = INTERRUPTED
        cell = f" in cell {error['cell']}" if error.get("cell") is not None else ""
        error = {"stage": "execute", "exception": "Interrupted",
                 "message": f"stopped by {signals.KERNELS.reason}{cell}"}
    if error is None:
        t1 = time.perf_counter()
        try:
            html = export(notebook, task)
            result.html = write_text(html, task.staging / f"{task.report}.html")
            result.html_bytes = len(html.encode("utf-8"))
            result.status = "ok"
        except Exception as exc:  # an export bug must not stop the other reports
            error = {"stage": "export", "exception": type(exc).__name__, "message": _clip(str(exc))}
        result.export_s = round(time.perf_counter() - t1, 3)
    result.error = error
    if display:
        display.finish(task.label, ok=error is None, seconds=time.perf_counter() - t0,
                       reason=describe_error(error))
    return result


def read_selection(notebook: nbformat.NotebookNode) -> dict[str, Any] | None:
    """What the report's cutoff and filters selected, as ``show_scope`` recorded it in its
    output's metadata (``trialkit.selection``); None when the report did not call it."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            mark = output.get("metadata", {}).get("trialkit")
            if isinstance(mark, Mapping) and isinstance(mark.get("selection"), Mapping):
                return dict(mark["selection"])
    return None


def record_final_paths(notebook: nbformat.NotebookNode, task: ReportTask, path: Path) -> None:
    """Make an executed notebook name the final run folder, not the staging folder removed after
    the run: the injected ``output_dir``, papermill's parameters and output path. The
    injected cell gets a fixed id (:data:`INJECTED_CELL_ID`), so that the HTML of two runs
    of the same inputs is the same."""
    staging, final = str(task.staging), str(task.staging.parent / task.run.run_name)
    for cell in notebook.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace(staging, final)
            cell["id"] = INJECTED_CELL_ID
    meta = notebook.metadata.get("papermill", {})
    parameters = meta.get("parameters", {})
    if isinstance(parameters.get("output_dir"), str):
        parameters["output_dir"] = parameters["output_dir"].replace(staging, final)
    if "output_path" in meta:
        meta["output_path"] = str(Path(final) / path.name)


def execute(task: ReportTask) -> tuple[nbformat.NotebookNode | None, dict[str, Any] | None]:
    """Run the notebook with papermill; (executed notebook, None) or (partial notebook, error).

    ``kernel_name="python3"`` is the running interpreter (the kernelspec is pinned by
    :func:`pinned_jupyter_env`). The kernel's working folder is set through nbclient's
    ``resources`` rather than papermill's ``cwd``, which would chdir the whole process
    under the other threads. papermill saves the notebook after every cell (so a kernel
    that dies still leaves what it did; measured: no cost on the demo) under a temp name,
    renamed to ``<report>.ipynb`` at the end (atomic).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    target = task.staging / f"{task.report}.ipynb"
    fd, tmp = tempfile.mkstemp(prefix=f".{task.report}.", suffix=".tmp.ipynb", dir=task.staging)
    os.close(fd)
    try:
        executed = papermill.execute_notebook(
            str(task.notebook), tmp, parameters=task.parameters, kernel_name="python3",
            progress_bar=False, request_save_on_cell_execute=True,
            execution_timeout=int(os.environ.get("TRIALKIT_CELL_TIMEOUT", CELL_TIMEOUT_S)),
            resources={"metadata": {"path": str(task.cwd)}},
            kernel_manager_class=signals.tracked_kernel_manager())  # a stop signal kills it at once
        error = None
    except PapermillExecutionError as exc:
        executed, error = _read_partial(Path(tmp)), cell_error(exc)
    except Exception as exc:  # kernel died, did not start, ...: still a failed report
        executed = _read_partial(Path(tmp))
        error = {"stage": "execute", "exception": type(exc).__name__, "message": _clip(str(exc))}
    if executed is not None and Path(tmp).stat().st_size:
        record_final_paths(executed, task, target)
        nbformat.write(executed, tmp)
        make_shareable(tmp)
        os.replace(tmp, target)
    else:
        os.unlink(tmp)
    return executed, error


def _read_partial(path: Path) -> nbformat.NotebookNode | None:
    """The notebook papermill saved at the failing cell (None when it saved nothing)."""
    try:
        return nbformat.read(str(path), as_version=4) if path.stat().st_size else None
    except Exception:  # a kernel crash can leave nothing readable; the error says why
        return None


def cell_error(exc: Any) -> dict[str, Any]:
    """The concise reason of a failed cell: its number, the exception and its message."""
    source_line = next((line for line in (exc.source or "").splitlines() if line.strip()), "")
    return {"stage": "execute", "cell": exc.exec_count, "cell_index": exc.cell_index,
            "exception": exc.ename, "message": _clip(exc.evalue), "source": _clip(source_line, 120)}


def export(notebook: nbformat.NotebookNode, task: ReportTask) -> str:
    """Offline HTML of an executed notebook, code hidden for the investigator audience.

    Analysts see the injected parameters: ``output_dir`` is shown as the run folder the
    reports end up in, not the hidden staging folder that is gone once the run is done.
    """
    values = task.run.values
    final = str(task.staging.parent / task.run.run_name)
    for cell in notebook.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace(str(task.staging), final)
    return export_html(
        notebook,
        audience=str(values.get("audience") or _parameter_default(task.notebook, "audience") or "investigator"),
        title=report_title(task),
        study=task.run.protocol.display_id,
        data_cutoff=values.get("data_cutoff"),
        run_time=task.run_time,
        confidentiality=task.run.protocol.confidentiality,
    )


def report_title(task: ReportTask) -> str:
    """The params file's title, else the notebook's own default, else its name."""
    return str(task.run.values.get("title") or _parameter_default(task.notebook, "title")
               or task.report.replace("_", " ").capitalize())


def _parameter_default(notebook: Path, name: str) -> Any:
    """A default from the notebook's parameters cell (its own title, audience, study)."""
    return read_notebook_parameters(notebook).get(name)


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------

def finish_run(run: RunParams, staging: Path, final: Path, reports: list[ReportResult], *,
               run_time: dt.datetime, ended: dt.datetime, context: Mapping[str, Any] | None = None) -> RunFolder:
    """Write pack.html, manifest.json and index.html into the staging folder, then swap it into place."""
    folder = RunFolder(name=run.run_name, path=final, params_file=run.path, reports=reports)
    manifest = build_manifest(run, reports, started=run_time, ended=ended, context=context)
    try:  # pack.html: every report in one page (trialkit.report.pack); a bug there loses no report
        manifest["pack"] = write_pack(staging, manifest)
    except Exception as exc:
        manifest["pack"] = {"html": None, "error": _clip(f"{type(exc).__name__}: {exc}")}
    write_text(json.dumps(manifest, indent=2, default=str) + "\n", staging / "manifest.json")
    write_index(staging / "index.html", manifest)
    swap_into_place(staging, final)
    return folder


def swap_into_place(staging: Path, final: Path) -> None:
    """Replace the run folder by the staging folder: two renames, old one removed after.

    A reader sees either the old complete folder or the new complete one (on Linux the two
    are exchanged in one step; elsewhere, for the instant between two renames, none), never
    a mix of two runs; racing swaps take turns and retry (:func:`trialkit.report.swap.swap_folder`).
    """
    make_shareable(staging, folder=True)  # mkdtemp makes 0700
    swap_folder(staging, final)  # atomic, also when other runs swap at the same time


# ---------------------------------------------------------------------------------------
# the manifest
# ---------------------------------------------------------------------------------------

def build_manifest(run: RunParams, reports: Sequence[ReportResult], *, started: dt.datetime,
                   ended: dt.datetime, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to tell what produced this folder, as a JSON-able mapping.

    ``context`` holds what was already collected while the kernels ran (see
    :func:`prepare_while_kernels_start`); anything missing is collected now.
    """
    context = context or {}
    return {
        "run_name": run.run_name,
        "params_file": str(run.path.resolve()),
        "study": study_summary(run.protocol),
        "params": run.values,
        "demo_data": run.demo,
        "run_start": started.isoformat(timespec="seconds"),
        "run_end": ended.isoformat(timespec="seconds"),
        "jobs": context.get("jobs"),  # reports run at once: the timings depend on it
        "reports": [asdict(r) for r in reports],
        "status": (INTERRUPTED if context.get("interrupted") else
                   "failed" if any(r.status != "ok" for r in reports) else "ok"),
        "interrupted": context.get("interrupted"),  # the signal that stopped a partial run
        "input_files": context.get("input_files", {}).get(run.data_dir) or input_files(run.data_dir),
        "versions": context.get("versions") or package_versions(),
        "git_commit": context["git_commit"] if "git_commit" in context else git_commit(),
    }


def study_summary(protocol: Any) -> dict[str, Any]:
    """How the run folder names its study (index, e-mail): from the protocol that applies."""
    return {"id": protocol.study_id, "sponsor_code": protocol.sponsor_code, "display_id": protocol.display_id,
            "title": protocol.title, "confidentiality": protocol.confidentiality,
            "protocol": protocol.source, "generic": protocol.generic}


def input_files(data_dir: Path) -> list[dict[str, Any]]:
    """Every file of the data folder with its size and sha256 (hidden files skipped).

    A file that cannot be read gets its reason instead of a digest: the reports that read
    it say what is wrong, and a manifest never stops a run.
    """
    files = []
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        entry: dict[str, Any] = {"name": path.relative_to(data_dir).as_posix()}
        try:
            entry.update(bytes=path.stat().st_size, sha256=sha256(path))
        except OSError as exc:
            entry.update(bytes=None, sha256=None, error=exc.strerror or type(exc).__name__)
        files.append(entry)
    return files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """HEAD of the project's git checkout (``+dirty`` with local changes), or None."""
    try:
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


# ---------------------------------------------------------------------------------------
# environment and display
# ---------------------------------------------------------------------------------------

# The kernels' entry point: ipykernel_launcher's two steps (drop the cwd from sys.path while
# loading, start the kernel) plus the rfc3987_syntax skip explained at the top of this
# module: altair imports jsonschema in every report kernel, 0.85 s of CPU each; altair
# validates specs without a format checker, so the module is never used there.
KERNEL_LAUNCHER = (
    "import sys; sys.path[:1] = [] if sys.path[0] == '' else sys.path[:1]; "
    "sys.modules.setdefault('rfc3987_syntax', None); "
    "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
)


@contextlib.contextmanager
def pinned_jupyter_env() -> Iterator[Path]:
    """Kernels of this run use this interpreter and nothing from the user's Jupyter setup.

    ``JUPYTER_PATH`` is searched first, so our own ``python3`` kernelspec there (this
    interpreter) wins over a user's or the system's; config, data, runtime and IPython
    profile go to a scratch folder (removed afterwards) so startup files cannot run.

    Yields:
        The scratch folder (also used as the kernels' working folders).
    """
    scratch = Path(tempfile.mkdtemp(prefix="trialkit-run-"))
    release = hold_scratch_lock(scratch)  # alive while held: a later run removes it only once we are gone
    spec_dir = scratch / "share" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    # log_level=CRITICAL: ipykernel logs, on every start, that local TCP is unencrypted and,
    # at shutdown, the interrupt jupyter_client always sends first ("KeyboardInterrupt caught
    # in kernel") — noise that would alarm a cron mail. Cell errors still reach the notebook;
    # a crashed kernel is reported by nbclient ("Kernel died").
    spec = {"argv": [sys.executable, "-c", KERNEL_LAUNCHER, "-f", "{connection_file}",
                     "--IPKernelApp.log_level=CRITICAL"],
            "display_name": "Python 3 (trialkit)", "language": "python", "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    env = {"JUPYTER_PATH": str(scratch / "share"), "JUPYTER_PLATFORM_DIRS": "1",
           "JUPYTER_CONFIG_DIR": str(scratch / "config"), "JUPYTER_DATA_DIR": str(scratch / "data"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "IPYTHONDIR": str(scratch / "ipython"),
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JUPYTER_PREFER_ENV_PATH": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    quiet = logging.getLogger("papermill")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # papermill logs every input/output path at INFO
    try:
        yield scratch
    finally:
        release()
        quiet.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(scratch, ignore_errors=True)


class Progress:
    """One updating line on a terminal; plain log lines otherwise (cron, CI).

    Example (terminal)::

        trialkit: [3/8] 21s  running: demo_2026-10-31/swimmer, demo_2026-10-31/waterfall
    """

    def __init__(self, total: int, *, live: bool, stream: Any = None):
        self.total, self.live, self.stream = total, live, stream or sys.stderr
        self.done, self.running, self.started = 0, [], time.perf_counter()
        self._lock = threading.Lock()
        if not live:
            self._log(f"running {total} report(s)")

    def start(self, label: str) -> None:
        with self._lock:
            self.running.append(label)
            if not self.live:
                self._log(f"start {label}")
        self.tick()

    def finish(self, label: str, *, ok: bool, seconds: float, reason: str = "") -> None:
        with self._lock:
            self.running.remove(label)
            self.done += 1
            status = "ok" if ok else f"FAILED ({reason})"
            line = f"[{self.done}/{self.total}] {label} {status} in {seconds:.1f}s"
            if self.live:
                self._clear()
            self._log(line)
        self.tick()

    def report(self, label: str, result: ReportResult) -> None:
        """Start and finish at once, for a result that comes back from another process."""
        self.start(label)
        seconds = (result.execute_s or 0) + (result.export_s or 0)
        self.finish(label, ok=result.status == "ok", seconds=seconds, reason=describe_error(result.error))

    def tick(self) -> None:
        if not self.live:
            return
        with self._lock:
            elapsed = time.perf_counter() - self.started
            line = f"trialkit: [{self.done}/{self.total}] {elapsed:.0f}s  running: {', '.join(self.running) or '-'}"
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + line[:width].ljust(width))
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self._clear()
        self._log(f"{self.done}/{self.total} report(s) done in {time.perf_counter() - self.started:.1f}s")

    def _clear(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r" + " " * width + "\r")

    def _log(self, line: str) -> None:
        self.stream.write(f"trialkit: {line}\n")
        self.stream.flush()


def _display_path(path: Path) -> str:
    """Relative to the project when inside it (notebooks/x.ipynb), else absolute."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path.resolve())


def _clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
