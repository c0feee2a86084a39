"""Fixtures of the browser tests: Debian chromium driven by pip playwright, one demo run.

Skipped with the reason when ``/usr/bin/chromium`` or ``playwright`` is missing, except
under ``CI=true``, where a missing browser fails the suite (CI must really test the HTML).
Never ``playwright install``: it downloads a browser; Debian's chromium is used instead.

The session runs the demo study once through the real pipeline (``run_reports`` on
``params/demo.yaml`` and ``params/demo_analyst.yaml``; until the runner exists, papermill +
``export_html``) plus one run on a copy of the demo data whose site ids hold HTML/script,
and every browser test looks at every HTML file of those run folders.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRIALKIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=window.__xss=2>"
PARAMS = [ROOT / "params" / "demo.yaml", ROOT / "params" / "demo_analyst.yaml"]


def _require_browser() -> None:
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (install Debian's chromium: `make chromium` or apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install -e '.[test]')")
    if problems:
        message = "browser tests need " + "; ".join(problems)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _source_data_dir(tmp: Path) -> Path:
    """The built-in demo data, or a small hand-made SDTM folder while the demo is missing.

    ``TRIALKIT_BROWSER_DATA`` names another study folder to use instead (debugging).
    """
    if os.environ.get("TRIALKIT_BROWSER_DATA"):
        return Path(os.environ["TRIALKIT_BROWSER_DATA"])
    try:
        from trialkit.demo import demo_data_dir
    except ImportError:
        import polars as pl

        folder = tmp / "handmade"
        folder.mkdir()
        rows = []
        for i in range(40):
            failed = i % 5 == 4
            arm = "SCRNFAIL" if failed else "ABCD"[i % 4]
            rows.append({"STUDYID": "NCT07334483", "DOMAIN": "DM", "USUBJID": f"NCT07334483-{i:03d}",
                         "SUBJID": f"{i:03d}", "SITEID": f"0{1 + i % 3}", "ARMCD": arm,
                         "ARM": "Screen Failure" if failed else f"Arm {arm}", "ACTARMCD": arm,
                         "ACTARM": "Screen Failure" if failed else f"Arm {arm}",
                         "RFICDTC": f"2025-{9 + i % 3:02d}-{1 + i % 28:02d}", "AGE": 40 + i, "SEX": "F"})
        pl.DataFrame(rows).write_parquet(folder / "dm.parquet")
        return folder
    return Path(demo_data_dir())


def _make_xss_data(source: Path, target: Path) -> Path:
    """A copy of ``source`` whose DM SITEID holds a <script> and an <img onerror> for some subjects."""
    import polars as pl

    shutil.copytree(source, target)
    dm_files = [p for p in target.iterdir() if p.stem.lower() == "dm"]
    assert dm_files, f"no DM dataset in {source}"
    dm_path = dm_files[0]
    if dm_path.suffix.lower() != ".parquet":
        dm = pl.read_csv(dm_path) if dm_path.suffix.lower() == ".csv" else None
        assert dm is not None, f"cannot rewrite {dm_path} (parquet or csv expected)"
    else:
        dm = pl.read_parquet(dm_path)
    index = pl.int_range(pl.len())
    dm = dm.with_columns(
        pl.when(index % 7 == 3).then(pl.lit(XSS_SCRIPT))
        .when(index % 7 == 5).then(pl.lit(XSS_IMG))
        .otherwise(pl.col("SITEID").cast(pl.String)).alias("SITEID"))
    dm_path.unlink()
    dm.write_parquet(target / "dm.parquet")
    return target


@dataclass
class DemoRun:
    """The run folders of the session and every HTML page in them."""

    folders: list[Path]
    xss_folder: Path
    pages: list[Path] = field(default_factory=list)
    xss_literals: tuple[str, ...] = (XSS_SCRIPT, XSS_IMG)


def _run_with_runner(params: list[Path], out: Path) -> list[Path]:
    from trialkit.report.runner import run_reports

    result = run_reports([str(p) for p in params], out=out, jobs=2, progress=False)
    failures = [(run.name, r.report, r.error) for run in result.runs for r in run.failed]
    assert not failures, f"demo run failed: {failures}"
    return [run.path for run in result.runs]


def _run_by_hand(params: list[dict], out: Path) -> list[Path]:
    """papermill + export_html + page(): the pipeline without the runner."""
    import html

    import nbformat
    import papermill

    from trialkit.report.html import export_html, page

    folders = []
    run_time = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for values in params:
        folder = out / values.pop("_name")
        folder.mkdir(parents=True)
        links = []
        for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
            executed = folder / notebook.name
            papermill.execute_notebook(str(notebook), str(executed), parameters={**values, "output_dir": str(folder)},
                                       kernel_name="python3", progress_bar=False, cwd=str(folder))
            text = export_html(nbformat.read(executed, as_version=4), audience=values.get("audience", "investigator"),
                               title=notebook.stem.replace("_", " ").capitalize(), study="NCT07334483",
                               data_cutoff=values.get("data_cutoff") or None, run_time=run_time)
            (folder / f"{notebook.stem}.html").write_text(text, encoding="utf-8")
            links.append(f'<tr><td><a href="{html.escape(notebook.stem)}.html">{html.escape(notebook.stem)}</a></td>'
                         '<td class="trialkit-status-ok">ok</td></tr>')
        body = ("<h2>Reports</h2><table class=\"trialkit-index\"><tr><th>Report</th><th>Status</th></tr>"
                + "".join(links) + "</table>")
        (folder / "index.html").write_text(page("Report run", body, study="NCT07334483", data_cutoff=None,
                                                run_time=run_time), encoding="utf-8")
        folders.append(folder)
    return folders


def _make_demo_run(out: Path) -> DemoRun:
    xss_data = _make_xss_data(_source_data_dir(out), out / "xss_data")
    custom_data = os.environ.get("TRIALKIT_BROWSER_DATA", "")
    runner_ready = all(p.exists() for p in PARAMS) and not custom_data
    try:
        import trialkit.report.runner  # noqa: F401
    except ImportError:
        runner_ready = False
    if runner_ready:
        import yaml

        xss_params = out / "xss.yaml"
        base = yaml.safe_load(PARAMS[0].read_text(encoding="utf-8")) or {}
        base["data_dir"] = str(xss_data)
        base["title"] = "Study overview (escaping check)"
        xss_params.write_text(yaml.safe_dump(base), encoding="utf-8")
        folders = _run_with_runner([*PARAMS, xss_params], out / "outputs")
    else:
        folders = _run_by_hand([{"_name": "demo", "audience": "investigator", "data_dir": custom_data},
                                {"_name": "demo_analyst", "audience": "analyst", "data_dir": custom_data},
                                {"_name": "xss", "audience": "investigator", "data_dir": str(xss_data)}],
                               out / "outputs")
    pages = sorted(p for folder in folders for p in folder.glob("*.html"))
    assert pages, f"the demo run wrote no HTML under {out}"
    return DemoRun(folders=folders, xss_folder=folders[-1], pages=pages)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """One demo run per test session, shared by every xdist worker.

    The workers share the run through a lock in the session's base folder: the first one
    runs it, the others wait and read its folders. (``xdist_group``/``--dist loadgroup``
    would pin the tests to one worker instead, but pytest-xdist 3.8 ignores it under
    pytest 9.2.)
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _make_demo_run(tmp_path_factory.mktemp("browser_run"))
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent      # the session's folder, above popen-gw*
    out, done = shared / "browser_run", shared / "browser_run.json"
    with open(shared / "browser_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            saved = json.loads(done.read_text(encoding="utf-8"))
            return DemoRun(folders=[Path(f) for f in saved["folders"]], xss_folder=Path(saved["xss_folder"]),
                           pages=[Path(p) for p in saved["pages"]])
        out.mkdir()
        run = _make_demo_run(out)
        done.write_text(json.dumps({"folders": [str(f) for f in run.folders], "xss_folder": str(run.xss_folder),
                                    "pages": [str(p) for p in run.pages]}), encoding="utf-8")
        return run
