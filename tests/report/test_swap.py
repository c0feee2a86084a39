"""The run-folder swap under races, the output folder's OS errors, and leftovers of killed runs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from trialkit.cli import main
from trialkit.errors import OutputError
from trialkit.report import swap
from trialkit.report.runner import run_folder_lock, swap_into_place
from trialkit.report.swap import make_out_root, remove_leftovers

FIXTURES = Path(__file__).parent / "notebooks"

# One racer: builds a complete run folder (its id in two files) and swaps it in, N times.
RACER = """
import sys, tempfile
from pathlib import Path
from trialkit.report.runner import swap_into_place
out, who, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lost = 0
for i in range(n):
    staging = Path(tempfile.mkdtemp(prefix=".weekly.", suffix=".partial", dir=out))
    (staging / "index.html").write_text(f"{who}-{i}")
    (staging / "report.html").write_text(f"{who}-{i}")
    try:
        swap_into_place(staging, out / "weekly")
    except Exception as exc:
        lost += 1
        print(type(exc).__name__, exc, file=sys.stderr)
print(lost)
"""


@pytest.mark.slow
def test_200_racing_swaps_lose_no_run_and_never_show_a_mix(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    seen, stop = [], threading.Event()

    def read_in(folder: int, name: str) -> str:
        with open(os.open(name, os.O_RDONLY, dir_fd=folder)) as handle:
            return handle.read()

    def read() -> None:  # a reader (a browser, the mail job) opening the run folder all along
        while not stop.is_set():
            try:
                folder = os.open(out / "weekly", os.O_RDONLY)
            except FileNotFoundError:
                seen.append(None)  # no run folder at all
                continue
            try:
                seen.append((read_in(folder, "index.html"), read_in(folder, "report.html")))
            except FileNotFoundError:
                pass  # the folder it opened was an old run, removed while it read: it saw no mix
            finally:
                os.close(folder)

    reader = threading.Thread(target=read)
    reader.start()
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(out), f"p{k}", "50"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for k in range(4)]
    results = [r.communicate(timeout=120) for r in racers]
    stop.set()
    reader.join()
    assert [r.returncode for r in racers] == [0] * 4
    assert [stdout.strip() for stdout, _ in results] == ["0"] * 4, [stderr for _, stderr in results]
    # every swap was whole: the two files of a run folder always from the same run
    assert all(a == b for a, b in (s for s in seen if s is not None))
    if swap._renameat2 is not None:  # exchanged in one step: once there, the folder never went missing
        first = next(i for i, s in enumerate(seen) if s is not None)
        assert None not in seen[first:]
    last = (out / "weekly" / "index.html").read_text()
    assert last.split("-")[0] in {"p0", "p1", "p2", "p3"} and last.endswith("-49")
    assert [p.name for p in out.iterdir()] == ["weekly"]          # no staging or old folder left


def test_threads_of_one_process_swapping_at_once(tmp_path):
    """The old swap named its aside folder by the process id: threads collided on it."""
    errors = []

    def racer(k: int) -> None:
        for i in range(10):
            staging = Path(tempfile.mkdtemp(prefix=".weekly.", suffix=".partial", dir=tmp_path))
            (staging / "index.html").write_text(f"t{k}-{i}")
            try:
                swap_into_place(staging, tmp_path / "weekly")
            except Exception as exc:  # noqa: BLE001 - counted
                errors.append(exc)

    threads = [threading.Thread(target=racer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [p.name for p in tmp_path.iterdir()] == ["weekly"]


def test_the_swap_falls_back_to_two_renames_without_an_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(swap, "_renameat2", None)
    (tmp_path / "weekly").mkdir()
    (tmp_path / "weekly" / "index.html").write_text("old")
    staging = Path(tempfile.mkdtemp(prefix=".weekly.", suffix=".partial", dir=tmp_path))
    (staging / "index.html").write_text("new")
    swap_into_place(staging, tmp_path / "weekly")
    assert (tmp_path / "weekly" / "index.html").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["weekly"]


def test_a_swap_retries_when_someone_puts_a_folder_in_the_way(tmp_path, monkeypatch):
    monkeypatch.setattr(swap, "_renameat2", None)
    real_rename, intruded = os.rename, []

    def rename(src, dst):  # between the two renames, someone else creates the run folder
        real_rename(src, dst)
        if str(dst).endswith(".old") and not intruded:
            intruded.append(True)
            (tmp_path / "weekly").mkdir()
            (tmp_path / "weekly" / "stray.txt").write_text("someone else's")

    monkeypatch.setattr(swap.os, "rename", rename)
    (tmp_path / "weekly").mkdir()
    staging = Path(tempfile.mkdtemp(prefix=".weekly.", suffix=".partial", dir=tmp_path))
    (staging / "index.html").write_text("new")
    swap_into_place(staging, tmp_path / "weekly")
    assert intruded and sorted(p.name for p in (tmp_path / "weekly").iterdir()) == ["index.html"]


# ---------------------------------------------------------------------------------------------
# --out: operating-system errors are one line naming the path and the fix, exit 2
# ---------------------------------------------------------------------------------------------
def _params(tmp_path: Path) -> Path:
    path = tmp_path / "weekly.yaml"
    path.write_text("run_name: weekly\n")
    return path


def test_an_out_that_is_a_file_is_exit_2_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES / "crash"))
    (tmp_path / "out").write_text("a file")
    assert main(["run", str(_params(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"trialkit: --out {tmp_path / 'out'} is a file, not a folder; "
                                       f"remove it or give another --out.\n")


def test_an_out_under_a_file_is_exit_2_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES / "crash"))
    (tmp_path / "file").write_text("a file")
    assert main(["run", str(_params(tmp_path)), "--out", str(tmp_path / "file" / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trialkit: cannot ") and str(tmp_path / "file") in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("code, words", [
    (errno.EACCES, "Permission denied; give the user running trialkit access to it (chmod/chown), or use another path"),
    (errno.ENOSPC, "No space left on device; the disk is full: free some space, or write to another disk"),
    (errno.EROFS, "Read-only file system; the file system is read-only: use a writable folder"),
])
def test_an_out_that_cannot_be_written_is_exit_2_with_the_fix(tmp_path, monkeypatch, capsys, code, words):
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES / "crash"))
    target = tmp_path / "out"

    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # the tests run as root, for whom chmod changes nothing
        if self == target:
            raise OSError(code, os.strerror(code), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["run", str(_params(tmp_path)), "--out", str(target)]) == 2
    assert capsys.readouterr().err == f"trialkit: cannot write the output folder {target}: {words}.\n"


def test_a_full_disk_while_writing_the_run_is_exit_2_not_a_bug(tmp_path, monkeypatch, capsys):
    from trialkit.report import runner

    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES / "crash"))
    monkeypatch.setattr(runner, "execute_all", lambda tasks, **kw: {
        "weekly": [runner.ReportResult(report=t.report, status="ok") for t in tasks]})

    def disk_full(path, manifest):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "write_index", disk_full)
    assert main(["run", str(_params(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trialkit: cannot use ") and "index.html: No space left on device; the disk is full" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == []   # no staging left


@pytest.mark.slow
def test_a_relative_out_keeps_the_tables_the_notebooks_write(tmp_path, monkeypatch):
    """The notebooks run in a scratch folder: a relative output_dir sent their tables there."""
    from trialkit.report.runner import run_reports

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dm.csv").write_text("STUDYID,USUBJID,SITEID\nST561-1,S1,01\n")
    (tmp_path / "rel.yaml").write_text("data_dir: data\nrun_name: rel\n")
    monkeypatch.chdir(tmp_path)
    result = run_reports(["rel.yaml"], out="out", reports=["alpha"], progress=False, notebooks_dir=FIXTURES)
    assert result.exit_code == 0 and result.runs[0].path == tmp_path / "out" / "rel"
    assert (tmp_path / "out" / "rel" / "tables" / "alpha.csv").read_text() == "KEY,VALUE\ndata_cutoff,None\n"


def test_make_out_root_creates_parents(tmp_path):
    assert make_out_root(tmp_path / "a" / "b").is_dir()
    with pytest.raises(OutputError, match="is a file, not a folder"):
        make_out_root(Path(__file__))


# ---------------------------------------------------------------------------------------------
# leftovers: only those of runs that are gone
# ---------------------------------------------------------------------------------------------
def test_leftovers_of_a_live_run_are_never_removed(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    dead = Path(tempfile.mkdtemp(prefix=".dead.", suffix=".partial", dir=out))
    dead_old = out / ".dead.1234.old"
    dead_old.mkdir()
    live = Path(tempfile.mkdtemp(prefix=".live.", suffix=".partial", dir=out))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    gone_scratch, live_scratch = temp / "trialkit-run-gone", temp / "trialkit-run-live"
    gone_scratch.mkdir()
    (gone_scratch / swap.SCRATCH_LOCK).write_text("")     # its run died without letting go: nobody holds it
    live_scratch.mkdir()
    release = swap.hold_scratch_lock(live_scratch)
    lines: list[str] = []
    try:
        with run_folder_lock(out, "live"):                # a run that is still going
            removed = remove_leftovers(out, try_lock=lambda name: run_folder_lock(out, name, timeout=0),
                                       log=lines.append)
    finally:
        release()
    assert sorted(removed) == sorted([dead, dead_old, gone_scratch])
    assert live.is_dir() and live_scratch.is_dir()
    assert f"trialkit: removed the staging folder {dead} left by an interrupted run" in lines
    assert f"trialkit: removed the old run folder {dead_old} left by an interrupted run" in lines


@pytest.mark.parametrize("command, code", [("run", 2), ("validate", 1)])
def test_any_other_os_error_is_one_line_naming_the_path_not_an_internal_error(tmp_path, monkeypatch, capsys,
                                                                              command, code):
    from trialkit.report import runner
    from trialkit import study

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/trial/locked")

    monkeypatch.setattr(runner, "run_reports", refuse)
    monkeypatch.setattr(study, "validate_folder", refuse)
    args = ["run", str(_params(tmp_path))] if command == "run" else ["validate", str(tmp_path)]
    assert main(args) == code
    assert capsys.readouterr().err == ("trialkit: cannot use /srv/trial/locked: Permission denied; give the user "
                                       "running trialkit access to it (chmod/chown), or use another path.\n")


def test_a_data_file_that_cannot_be_read_does_not_stop_the_manifest(tmp_path, monkeypatch):
    from trialkit.report import runner

    (tmp_path / "dm.csv").write_text("USUBJID\nS1\n")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    real = runner.sha256

    def refuse(path):
        if path.name == "notes.pdf":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(runner, "sha256", refuse)
    listed = runner.input_files(tmp_path)
    assert [(f["name"], f.get("error")) for f in listed] == [("dm.csv", None), ("notes.pdf", "Permission denied")]
    assert listed[1]["sha256"] is None and len(listed[0]["sha256"]) == 64
