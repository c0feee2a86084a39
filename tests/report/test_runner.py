"""The runner on tiny fixture notebooks (tests/report/notebooks): alpha and beta succeed,
broken raises in its second code cell. Each execution is ~1 s (kernel start, no imports)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from pathlib import Path

import pytest

from trialkit.cli import main
from trialkit.report.index import render_index
from trialkit.report.runner import Progress, describe_error, run_reports

FIXTURES = Path(__file__).parent / "notebooks"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """One run of all three fixture notebooks, two at a time."""
    base = tmp_path_factory.mktemp("run")
    (base / "data").mkdir()
    (base / "data" / "dm.csv").write_text("STUDYID,USUBJID,SITEID\nST561-1,S1,01\n")
    params = base / "site_review.yaml"
    params.write_text("data_dir: data\ndata_cutoff: 2026-10-31\nrepeats: 3\naudience: analyst\n")
    result = run_reports([params], out=base / "out", jobs=2, progress=False, notebooks_dir=FIXTURES)
    return result, base


@pytest.mark.slow
def test_failing_notebook_leaves_the_others_complete(failed_run):
    result, base = failed_run
    [run] = result.runs
    assert result.exit_code == 1
    assert run.path == base / "out" / "site_review_2026-10-31"  # default name: stem + cutoff
    status = {r.report: r.status for r in run.reports}
    assert status == {"alpha": "ok", "beta": "ok", "broken": "failed"}
    assert (run.path / "alpha.html").is_file() and (run.path / "beta.html").is_file()
    assert not (run.path / "broken.html").exists()  # never a broken report to e-mail
    executed = json.loads((run.path / "broken.ipynb").read_text())  # kept, with the error in it
    outputs = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert outputs and outputs[0]["ename"] == "ValueError"


@pytest.mark.slow
def test_index_marks_the_failure_with_its_reason(failed_run):
    result, _ = failed_run
    index = (result.runs[0].path / "index.html").read_text()
    assert '<a href="alpha.html">alpha</a>' in index
    assert "failed</span>: cell 4: ValueError: planted failure for the runner tests" in index
    assert "Traceback" not in index and "NCT07334483" in index and "2026-10-31" in index
    assert 'src="http' not in index and 'href="http' not in index


@pytest.mark.slow
def test_manifest_records_inputs_versions_timings_and_status(failed_run):
    result, base = failed_run
    run_dir = result.runs[0].path
    manifest = json.loads((run_dir / "manifest.json").read_text())
    data_file = base / "data" / "dm.csv"
    assert manifest["input_files"] == [{"name": "dm.csv", "bytes": data_file.stat().st_size,
                                        "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest()}]
    assert manifest["params"]["data_dir"] == str((base / "data").resolve())
    assert manifest["params"]["repeats"] == 3 and manifest["status"] == "failed"
    assert {"python", "trialkit", "polars", "altair", "papermill", "nbconvert", "vl-convert-python",
            "great-tables"} <= set(manifest["versions"])
    assert "git_commit" in manifest and manifest["run_start"] <= manifest["run_end"]
    alpha, _, broken = manifest["reports"]
    assert alpha["html_bytes"] == (run_dir / "alpha.html").stat().st_size
    assert alpha["execute_s"] > 0 and alpha["export_s"] > 0
    assert alpha["notebook"] == "tests/report/notebooks/alpha.ipynb"
    assert alpha["notebook_sha256"] == hashlib.sha256((FIXTURES / "alpha.ipynb").read_bytes()).hexdigest()
    assert broken["error"] == {"stage": "execute", "cell": 4, "cell_index": 4, "exception": "ValueError",
                               "message": "planted failure for the runner tests",
                               "source": "raise ValueError('planted failure for the runner tests')"}


@pytest.mark.slow
def test_parameters_and_output_dir_reach_the_notebooks(failed_run):
    result, _ = failed_run
    run_dir = result.runs[0].path
    assert (run_dir / "tables" / "alpha.csv").read_text() == "KEY,VALUE\ndata_cutoff,2026-10-31\n"
    alpha = (run_dir / "alpha.ipynb").read_text()
    assert "alpha 2" in alpha  # repeats: 3 from the params file, not the default 2
    html = (run_dir / "alpha.html").read_text()
    assert "jp-InputArea" in html  # analyst: code shown
    # the injected output_dir names the run folder, not the staging folder removed after the run
    assert f'<span class="s2">"{run_dir}"</span>' in html and ".partial" not in html


@pytest.mark.slow
def test_writes_are_atomic_no_temp_or_staging_left(failed_run):
    _, base = failed_run
    leftovers = [p for p in (base / "out").rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.slow
def test_cli_reports_selection_replaces_the_run_folder(failed_run, capsys, monkeypatch):
    _, base = failed_run
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES))
    code = main(["run", str(base / "site_review.yaml"), "--out", str(base / "out"), "--reports", "beta",
                 "--jobs", "1"])
    run_dir = base / "out" / "site_review_2026-10-31"
    assert code == 0
    assert sorted(p.name for p in run_dir.glob("*.html")) == ["beta.html", "index.html", "pack.html"]
    assert not (run_dir / "broken.ipynb").exists()  # the previous run's files went with it
    assert f"{run_dir / 'index.html'}  (1/1 reports ok)" in capsys.readouterr().out


def test_progress_is_one_updating_line_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(2, live=True, stream=stream)
    progress.start("demo/a")
    progress.finish("demo/a", ok=True, seconds=1.0)
    progress.close()
    text = stream.getvalue()
    assert "\r" in text and "running: demo/a" in text and "[1/2] demo/a ok in 1.0s\n" in text


def test_progress_is_plain_lines_otherwise():
    stream = io.StringIO()
    progress = Progress(1, live=False, stream=stream)
    progress.start("demo/a")
    progress.finish("demo/a", ok=False, seconds=2.0, reason="cell 3: KeyError: 'ARM'")
    assert "\r" not in stream.getvalue()
    assert "trialkit: [1/1] demo/a FAILED (cell 3: KeyError: 'ARM') in 2.0s" in stream.getvalue()


def test_index_escapes_text_from_the_data():
    manifest = {"run_name": "r", "run_start": "2026-11-25T08:00:00+00:00",
                "params": {"study": "NCT07334483", "data_cutoff": "2026-10-31"},
                "reports": [{"report": "swimmer", "status": "failed", "ipynb": "swimmer.ipynb",
                             "error": {"cell": 2, "exception": "DataError",
                                       "message": "site <script>alert(1)</script>"}}]}
    page = render_index(manifest)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_describe_error_is_one_line():
    assert describe_error({"stage": "export", "exception": "OSError", "message": "disk full"}) == \
        "export: OSError: disk full"
    assert describe_error(None) == ""


@pytest.mark.slow
def test_a_users_python3_kernelspec_cannot_shadow_the_running_interpreter(failed_run, tmp_path, monkeypatch):
    _, base = failed_run
    bogus = tmp_path / "jupyter" / "kernels" / "python3"
    bogus.mkdir(parents=True)
    (bogus / "kernel.json").write_text(json.dumps({"argv": ["/bin/false", "{connection_file}"],
                                                   "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    result = run_reports([base / "site_review.yaml"], out=tmp_path / "out", reports=["beta"], progress=False,
                         notebooks_dir=FIXTURES)
    assert result.exit_code == 0
    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "jupyter")  # restored after the run


@pytest.mark.slow
def test_a_kernel_that_dies_is_a_failed_report_with_its_partial_notebook(tmp_path, failed_run):
    _, base = failed_run
    params = tmp_path / "crash.yaml"
    params.write_text("run_name: crash\n")  # the crash notebook reads no data
    result = run_reports([params], out=tmp_path / "out", progress=False, notebooks_dir=FIXTURES / "crash")
    [report] = result.runs[0].reports
    assert result.exit_code == 1
    assert (report.status, report.error["exception"], report.error["message"]) == \
        ("failed", "DeadKernelError", "Kernel died")
    assert "before the crash" in (tmp_path / "out" / "crash" / "dies.ipynb").read_text()


def _manifest(**over):
    manifest = {"run_name": "r", "run_start": "2026-11-25T08:00:00+00:00", "demo_data": False,
                "params": {"study": "NCT07334483", "data_cutoff": "2026-10-31", "data_dir": "/srv/hosp/nct/sdtm"},
                "reports": [{"report": "swimmer", "status": "ok", "html": "swimmer.html", "html_bytes": 2_400_000},
                            {"report": "waterfall", "status": "failed", "ipynb": "waterfall.ipynb",
                             "error": {"cell": 3, "exception": "KeyError", "message": "'ARM'"}}]}
    return manifest | over


def test_index_names_the_data_folder_not_the_servers_path():
    page = render_index(_manifest())
    assert "study data folder sdtm;" in page and "/srv/hosp" not in page


def test_index_status_classes_are_styled_by_the_theme():
    from trialkit.report.html import theme_css

    page = render_index(_manifest())
    classes = set(re.findall(r'<span class="(trialkit-status-[a-z]+)">', page))
    assert classes == {"trialkit-status-ok", "trialkit-status-failed"}
    assert all(f".{c} " in theme_css() for c in classes)


def test_a_run_that_breaks_while_finishing_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    from trialkit.report import runner

    data = tmp_path / "data"
    data.mkdir()
    (data / "dm.csv").write_text("USUBJID\nS1\n")
    params = tmp_path / "weekly.yaml"
    params.write_text("data_dir: data\nrun_name: weekly\n")
    previous = tmp_path / "out" / "weekly"
    previous.mkdir(parents=True)
    (previous / "index.html").write_text("previous run")
    monkeypatch.setattr(runner, "execute_all", lambda tasks, **kw: {
        "weekly": [runner.ReportResult(report=t.report, status="ok") for t in tasks]})

    def disk_full(path, manifest):
        raise OSError("No space left on device")

    monkeypatch.setattr(runner, "write_index", disk_full)  # as the runner imports it
    with pytest.raises(OSError, match="No space"):
        run_reports([params], out=tmp_path / "out", progress=False, notebooks_dir=FIXTURES)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["weekly"]   # no staging left
    assert [p.name for p in previous.iterdir()] == ["index.html"]
    assert (previous / "index.html").read_text() == "previous run"
