"""notebooks/screening.ipynb through `trialkit run` on the demo, the pharmaverse SDTM and an ADaM-only folder.

One run_reports call runs the three folders in parallel (module scope); each test reads its
run folder: no crash, the DESIGN section 5 tables, what each folder cannot show said.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import polars as pl
import pytest

from trialkit.report.runner import run_reports

pytestmark = [pytest.mark.slow]

MAX_HTML_BYTES = 2.5 * 2**20
CONTRACT = {
    "screening_subjects": ["USUBJID", "SITEID", "STATUS", "N_FAILED_CRITERIA"],
    "screening_failures": ["USUBJID", "SITEID", "IECAT", "IETESTCD", "IETEST", "CATEGORY"],
    "screening_by_criterion": ["IECAT", "IETESTCD", "IETEST", "CATEGORY", "N_SUBJECTS", "PCT_OF_SCREEN_FAILURES"],
    "consort": ["STAGE", "GROUP", "LABEL", "N"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data_dir, demo_dir):
    base = tmp_path_factory.mktemp("screening_run")
    files = {"demo": f"data_dir: {demo_dir}\ndata_cutoff: 2026-10-31\naudience: investigator\n"}
    if shared_data_dir is not None:
        adam = base / "adam_only"
        adam.mkdir()
        shutil.copy(shared_data_dir / "adam" / "adsl.parquet", adam / "adsl.parquet")
        files["pharmaverse"] = f"data_dir: {shared_data_dir / 'sdtm'}\naudience: analyst\n"
        files["adam_only"] = f"data_dir: {adam}\n"
    params = []
    for name, text in files.items():
        path = base / f"{name}.yaml"
        path.write_text(text + "reports: [screening]\n", encoding="utf-8")
        params.append(path)
    result = run_reports(params, out=base / "out", jobs=3, progress=False)
    return {run.path.name.split("_")[0] if not run.path.name.startswith("adam_only") else "adam_only": run
            for run in result.runs}


def _table(run, name: str) -> pl.DataFrame:
    return pl.read_csv(run.path / "tables" / f"{name}.csv", infer_schema_length=0)


def _header(run, name: str) -> list[str]:
    with open(run.path / "tables" / f"{name}.csv", encoding="utf-8") as f:
        return next(csv.reader(f))


def test_demo_runs_writes_the_contract_tables_and_stays_small(runs):
    run = runs["demo"]
    assert [r.status for r in run.reports] == ["ok"], [r.error for r in run.reports]
    for name, columns in CONTRACT.items():
        assert _header(run, name)[:len(columns)] == columns, name
    html = run.path / "screening.html"
    assert html.stat().st_size <= MAX_HTML_BYTES
    text = html.read_text(encoding="utf-8")
    assert "CONSORT 2025 flow diagram" in text and 'id="tk-consort-assessed"' in text
    assert not (run.path / "tables" / "screening_subjects.csv").read_text().count("[")   # lists as text, no brackets


def test_demo_tables_agree_with_each_other(runs):
    run = runs["demo"]
    subjects = _table(run, "screening_subjects")
    consort = _table(run, "consort").with_columns(pl.col("N").cast(pl.Int64))
    assessed = consort.filter(pl.col("LABEL") == "Assessed for eligibility")["N"].item()
    assert assessed == subjects.filter(pl.col("COUNTED") == "Y").height
    randomized = consort.filter(pl.col("LABEL") == "Randomized")["N"].item()
    arms = consort.filter(pl.col("LABEL").str.starts_with("Allocated to"))["N"].sum()
    assert randomized == arms == subjects.filter(pl.col("STATUS") == "RANDOMIZED").height
    by = _table(run, "screening_by_criterion").filter(pl.col("IECAT").is_in(["INCLUSION", "EXCLUSION"]))
    failures = _table(run, "screening_failures").filter(pl.col("STATUS") == "SCREEN FAILURE")
    counts = failures.group_by("IETESTCD").len()
    assert dict(counts.iter_rows()) == {c: int(n) for c, n in by.select("IETESTCD", "N_SUBJECTS").iter_rows() if int(n)}
    checks = _table(run, "consort_checks")
    assert set(checks["RESULT"]) <= {"adds up", "explained"}


def test_pharmaverse_runs_and_says_the_reasons_are_not_available(runs):
    if "pharmaverse" not in runs:
        pytest.skip("pharmaverse reference data not found beside this checkout")
    run = runs["pharmaverse"]
    assert [r.status for r in run.reports] == ["ok"], [r.error for r in run.reports]
    text = (run.path / "screening.html").read_text(encoding="utf-8")
    assert "There is no IE dataset: the reasons of screen failure" in text
    assert "no eligibility catalog" in text
    funnel = _table(run, "screening_funnel").filter(pl.col("SITEID") == "ALL")
    assert dict(funnel.select("STAGE", "N").iter_rows())["SCREEN FAILURE"] == "52"
    consort = _table(run, "consort")
    assert consort.filter(pl.col("LABEL") == "Randomized")["N"].item() == "254"
    assert consort.filter(pl.col("LABEL") == "Received allocated intervention")["N"].cast(pl.Int64).sum() == 254


def test_adam_only_folder_runs_and_says_what_cannot_be_shown(runs):
    if "adam_only" not in runs:
        pytest.skip("pharmaverse reference data not found beside this checkout")
    run = runs["adam_only"]
    assert [r.status for r in run.reports] == ["ok"], [r.error for r in run.reports]
    text = (run.path / "screening.html").read_text(encoding="utf-8")
    assert "This folder holds ADaM only (ADSL, no DM)" in text and "There is no IE dataset" in text
    for name in CONTRACT:
        assert (run.path / "tables" / f"{name}.csv").is_file(), name
