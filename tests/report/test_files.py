"""Atomic writes with the permissions of an ordinary file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from trialkit.report.files import write_bytes, write_text


def test_write_text_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "tables" / "orr.csv"
    assert write_text("ARM,N\nA,30\n", target) == "orr.csv"
    assert target.read_text(encoding="utf-8") == "ARM,N\nA,30\n"
    assert [p.name for p in target.parent.iterdir()] == ["orr.csv"]


# The expected modes are written out here, never computed from the module's own UMASK: each case
# runs in a fresh interpreter whose umask is set first, as cron or systemd would set it.
WRITE_UNDER_UMASK = """
import os, sys
from pathlib import Path
os.umask(int(sys.argv[2], 8))
from trialkit.report.files import make_shareable, write_bytes
out = Path(sys.argv[1])
write_bytes(b"<svg/>", out / "figures" / "chart.svg")
import tempfile
folder = tempfile.mkdtemp(dir=out)   # a staging folder: 0700 until made shareable
make_shareable(folder, folder=True)
print(folder)
"""


@pytest.mark.parametrize("umask, file_mode, folder_mode", [("022", 0o644, 0o755), ("027", 0o640, 0o750),
                                                            ("077", 0o600, 0o700)])
def test_written_files_get_the_mode_the_umask_gives_not_a_private_one(tmp_path, umask, file_mode, folder_mode):
    result = subprocess.run([sys.executable, "-c", WRITE_UNDER_UMASK, str(tmp_path), umask],
                            capture_output=True, text=True, check=True)
    assert stat.S_IMODE(os.stat(tmp_path / "figures" / "chart.svg").st_mode) == file_mode
    assert stat.S_IMODE(os.stat(result.stdout.strip()).st_mode) == folder_mode


@pytest.mark.slow
def test_a_run_folder_under_umask_022_is_readable_by_group_and_others(tmp_path):
    params = tmp_path / "modes.yaml"
    params.write_text("run_name: modes\n")
    env = {**os.environ, "TRIALKIT_NOTEBOOKS_DIR": str(Path(__file__).parent / "notebooks" / "signals")}
    subprocess.run([sys.executable, "-m", "trialkit", "run", str(params), "--out", str(tmp_path / "out"),
                    "--reports", "fast"], env=env, check=True, capture_output=True, preexec_fn=lambda: os.umask(0o022))
    run = tmp_path / "out" / "modes"
    modes = {p.relative_to(run).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [run, *run.rglob("*")]}
    assert modes == {".": 0o755, "tables": 0o755, "figures": 0o755, "fast.html": 0o644, "fast.ipynb": 0o644,
                     "index.html": 0o644, "manifest.json": 0o644, "pack.html": 0o644}


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    write_text("old", target)

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_text("new", target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
