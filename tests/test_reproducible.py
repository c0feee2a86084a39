"""Every report of the demo, run twice, gives the same files but for the run time (issue 13).

Table rows whose order depends on a hash (a ``group_by`` or ``unique`` without an order) would
make two runs of the same data differ, in the CSVs, the HTML and the e-mail; this catches them
for every report, not only the overview.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_TIME = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\+00:00)?")


@pytest.mark.slow
def test_two_runs_of_the_demo_give_the_same_files(tmp_path):
    from trialkit.report.runner import run_reports

    import shutil

    params = tmp_path / "twice.yaml"
    params.write_text("audience: analyst\nrun_name: twice\n")
    first = tmp_path / "first"
    for _ in range(2):  # the same run into the same folder, as a schedule does
        result = run_reports([params], out=tmp_path / "out", jobs=2, progress=False)
        assert result.exit_code == 0
        if not first.exists():
            shutil.copytree(result.runs[0].path, first)
    second = result.runs[0].path

    def files(folder: Path) -> list[Path]:  # the executed notebooks carry papermill's timings
        return sorted(p.relative_to(folder) for p in folder.rglob("*")
                      if p.is_file() and p.name != "manifest.json" and p.suffix != ".ipynb")

    names = files(first)
    assert names == files(second)
    assert {n.name for n in names} >= {"screening.html", "swimmer.html", "waterfall.html", "efficacy.html"}
    differ = [str(n) for n in names
              if RUN_TIME.sub(b"", (first / n).read_bytes()) != RUN_TIME.sub(b"", (second / n).read_bytes())]
    assert differ == []
