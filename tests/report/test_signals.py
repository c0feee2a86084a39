"""Signals and kills during ``trialkit run``, on two tiny fixture notebooks (tests/report/notebooks/signals):
``fast`` ends in a second, ``slow`` sleeps for five minutes in its second cell.

Each test runs ``python -m trialkit run`` as a process of its own session, with its own
temp folder (``TMPDIR``), waits for ``fast`` to finish, then signals it as ``timeout``,
systemd (SIGTERM) or a person (SIGINT) would, or kills it (SIGKILL). Whatever the test
started is killed by its id at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trialkit.report.runner import run_folder_lock

NOTEBOOKS = Path(__file__).parent / "notebooks" / "signals"
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds left kernels through /proc (Linux)")


class Run:
    """One ``trialkit run`` process and the lines it writes to stderr."""

    def __init__(self, tmp_path: Path, *args: str):
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.out = tmp_path / "out"
        params = tmp_path / "sig.yaml"
        params.write_text("run_name: sig\n")
        env = {**os.environ, "TRIALKIT_NOTEBOOKS_DIR": str(NOTEBOOKS), "TMPDIR": str(self.tmp)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trialkit", "run", str(params), "--out", str(self.out), "--jobs", "2", *args],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert self.process.poll() is None, f"the run ended before {text!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.stderr}"
            time.sleep(0.05)

    def finish(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kernels(self) -> list[int]:
        """Kernel processes this run started: their command line names our temp folder."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(self.tmp) in cmdline and "kernelapp" in cmdline:
                    found.append(int(proc.name))
        return found

    def kill_all(self) -> None:
        """Clean up after the test: this run's process and its kernels, by their ids."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(10)
        for pid in self.kernels():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def start(tmp_path):
    runs: list[Run] = []

    def _start(*args: str) -> Run:
        runs.append(Run(tmp_path, *args))
        return runs[-1]

    yield _start
    for run in runs:
        run.kill_all()


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _kernels_gone(run: Run, grace: float = 5.0) -> bool:
    deadline = time.monotonic() + grace
    while run.kernels() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not run.kernels()


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_promptly_keeps_finished_reports_and_leaves_no_staging(start, signum, code):
    run = start()
    run.wait_for("sig/fast ok")
    run.wait_for("start sig/slow")
    sent = time.monotonic()
    run.process.send_signal(signum)
    assert run.finish() == code
    assert time.monotonic() - sent < 10, "the running notebook was waited for instead of stopped"
    name = signal.Signals(signum).name
    assert f"trialkit: stopped by {name}: 1 finished report(s) kept as a partial run" in run.stderr
    assert "Traceback" not in run.stderr and "Kernel died" not in run.stderr   # a cron mail says only what matters
    # no staging, no lock, no old folder, no scratch folder, no kernel left
    assert [p.name for p in run.out.iterdir()] == ["sig"] and _hidden(run.out / "sig") == []
    assert list(run.tmp.glob("trialkit-run-*")) == []
    assert _kernels_gone(run)
    # the finished report is kept, the stopped one has its executed notebook, the index says it is partial
    folder = run.out / "sig"
    assert (folder / "fast.html").is_file() and not (folder / "slow.html").exists()
    assert "slow started" in (folder / "slow.ipynb").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["status"], manifest["interrupted"]) == ("interrupted", name)
    assert [(r["report"], r["status"]) for r in manifest["reports"]] == [("fast", "ok"), ("slow", "interrupted")]
    index = (folder / "index.html").read_text()
    assert f"Partial run: stopped by {name}. 1 of 2 reports finished and ready" in index
    assert '<a href="fast.html">fast</a>' in index and "interrupted</span>: execute: Interrupted: stopped by" in index


@pytest.mark.slow
def test_after_a_sigkill_the_next_run_into_the_same_out_cleans_up(start):
    run = start()
    run.wait_for("start sig/slow")
    run.wait_for("sig/fast ok")
    staging = [p for p in run.out.iterdir() if p.name.endswith(".partial")]
    scratch = list(run.tmp.glob("trialkit-run-*"))
    assert len(staging) == 1 and len(scratch) == 1
    run.process.kill()                       # SIGKILL: nothing can be cleaned up by the run itself
    assert run.finish() == -signal.SIGKILL
    run.kill_all()                           # its orphaned kernel too (a container's init may not reap it)
    assert staging[0].is_dir() and scratch[0].is_dir()

    again = start("--reports", "fast")
    assert again.finish(60) == 0
    assert f"trialkit: removed the staging folder {staging[0]} left by an interrupted run" in again.stderr
    assert f"trialkit: removed the scratch folder {scratch[0]} left by an interrupted run" in again.stderr
    assert [p.name for p in run.out.iterdir()] == ["sig"] and list(run.tmp.glob("trialkit-run-*")) == []
    assert (run.out / "sig" / "fast.html").is_file()


def test_a_signal_while_waiting_for_another_run_writes_nothing(start, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with run_folder_lock(out, "sig"):           # another run holds the run folder
        run = start()
        run.wait_for("waiting for it")
        run.process.send_signal(signal.SIGTERM)
        assert run.finish() == 143
    assert "trialkit: stopped by SIGTERM before any report finished; nothing was written" in run.stderr
    assert list(out.iterdir()) == [] and list(run.tmp.iterdir()) == []
