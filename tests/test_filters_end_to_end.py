"""The overview on the demo with ``sites``, ``arms`` and ``data_cutoff`` set, end to end (``trialkit run``).

The shipped params files leave ``sites`` and ``arms`` empty, so this is where the filters run
through the runner, the params checks, the notebook and the page. Every count of the run's
tables is compared with a count made here, from the SDTM files, with plain polars and the
rules of the README ("The data cutoff"), not with trialkit's own functions. The same run,
run twice, gives the same HTML byte for byte but for its run time; a cutoff before the
first subject gives a report that says no subject matches (exit 0, or 4 with
``--fail-on-empty``).
"""

from __future__ import annotations

import fcntl
import json
import pickle
import re
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

CUTOFF = "2026-03-31"
SITES = ["01", "03"]
ARMS = ["A", "C"]
ALL_ARMS = ["A", "B", "C", "D"]  # the trial's four arms (DESIGN, README)
FILTERED = (f"data_cutoff: {CUTOFF}\n"
            "sites: [1, 3]            # numbers, as a hand-edited file may have them: sites 01 and 03\n"
            "arms: [A, C]\naudience: analyst\nreports: [study_overview]\nrun_name: filtered\n")
EMPTY = "data_cutoff: 2020-01-01\nreports: [study_overview]\nrun_name: nobody\n"  # before the first consent
RUN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, default_demo, worker_id):
    """The runs, made once for the whole session: pytest-xdist workers share them (a file lock)."""
    from trialkit.report.runner import run_reports

    # under xdist the parent of a worker's temp folder is this session's, the same for every worker
    session = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    base = session / "filters_end_to_end"
    base.mkdir(exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "runs.pickle").is_file():
            (base / "filtered.yaml").write_text(FILTERED)
            (base / "empty.yaml").write_text(EMPTY)
            first = run_reports([base / "filtered.yaml", base / "empty.yaml"], out=base / "out", jobs=2,
                                progress=False)
            first_html = (base / "out" / "filtered" / "study_overview.html").read_text(encoding="utf-8")
            second = run_reports([base / "filtered.yaml"], out=base / "out", progress=False)  # the same run again
            (base / "runs.pickle").write_bytes(pickle.dumps((first, second, first_html)))
        first, second, first_html = pickle.loads((base / "runs.pickle").read_bytes())
    return SimpleNamespace(first=first, second=second, first_html=first_html, out=base / "out", demo=default_demo)


def _first_day(column: str) -> pl.Expr:
    """An ISO date, full or partial, as its first possible day (the README's cutoff rule), as text."""
    text = pl.col(column).str.slice(0, 10)
    return (pl.when(text.str.len_chars() == 4).then(text + "-01-01")
            .when(text.str.len_chars() == 7).then(text + "-01").otherwise(text))


@pytest.fixture(scope="module")
def expected(runs) -> pl.DataFrame:
    """Every subject of DM with what the filtered run must make of it, counted here from the files."""
    dm = pl.read_parquet(runs.demo / "dm.parquet")
    ds = pl.read_parquet(runs.demo / "ds.parquet")
    randomized = (ds.filter(pl.col("DSDECOD").str.to_uppercase() == "RANDOMIZED")
                  .group_by("USUBJID").agg(_first_day("DSSTDTC").min().alias("RANDDTC")))
    # the end of screening of a subject not randomized: the first DS disposition event
    ended = (ds.filter(pl.col("DSCAT").str.to_uppercase() == "DISPOSITION EVENT")
             .group_by("USUBJID").agg(_first_day("DSSTDTC").min().alias("ENDDTC")))
    armnrs = pl.col("ARMNRS").str.to_uppercase() if "ARMNRS" in dm.columns else pl.lit(None, pl.String)
    subjects = dm.join(randomized, on="USUBJID", how="left").join(ended, on="USUBJID", how="left").with_columns(
        # randomized by the cutoff; randomized after it = still in screening at it
        RAND=pl.col("ARMCD").is_in(ALL_ARMS) & (pl.col("RANDDTC").is_null() | (pl.col("RANDDTC") <= CUTOFF)),
        # a screen failure by the cutoff; one whose screening ended after it was still in screening
        SF=((pl.col("ARMCD").str.to_uppercase() == "SCRNFAIL") | (armnrs == "SCREEN FAILURE").fill_null(False))
        & (pl.col("ENDDTC").is_null() | (pl.col("ENDDTC") <= CUTOFF)))
    # a partial consent date cannot be shown to be after the cutoff: kept (derive_left_out's rule)
    consent = pl.col("RFICDTC").str.slice(0, 10)
    reason = (pl.when((consent.str.len_chars() == 10) & (consent > CUTOFF))
              .then(pl.lit(f"consented after the data cutoff {CUTOFF}"))
              .when(~pl.col("SITEID").is_in(SITES)).then(pl.lit("site not in the sites filter"))
              .when(pl.col("RAND") & ~pl.col("ARMCD").is_in(ARMS)).then(pl.lit("arm not in the arms filter")))
    return subjects.with_columns(reason.alias("REASON"))


def _table(runs, name: str) -> pl.DataFrame:
    return pl.read_csv(runs.out / "filtered" / "tables" / f"{name}.csv", infer_schema=False)


@pytest.mark.slow
def test_the_filtered_run_counts_what_plain_polars_counts(runs, expected):
    kept = expected.filter(pl.col("REASON").is_null())
    assert 0 < kept.height < expected.height and kept["RAND"].sum() > 0
    table = _table(runs, "subjects_by_site")
    arm_columns = {c.split(":")[0]: c for c in table.columns if re.match(r"^[A-D]:", c)}
    assert sorted(arm_columns) == ALL_ARMS
    rows = {row["Site"].split()[0] if row["Site"] != "All sites" else "All": row for row in table.iter_rows(named=True)}
    assert list(rows) == [*SITES, "All"]                       # the sites filter: no other site
    for site in [*SITES, "All"]:
        mine = kept if site == "All" else kept.filter(pl.col("SITEID") == site)
        want = {"Screened": mine.height, "Screen failures": int(mine["SF"].sum()), "Randomized": int(mine["RAND"].sum())}
        want["Other, not randomized"] = want["Screened"] - want["Screen failures"] - want["Randomized"]
        for arm in ALL_ARMS:   # the arms filter: B and D are zero
            want[arm_columns[arm]] = mine.filter(pl.col("RAND") & (pl.col("ARMCD") == arm)).height
        assert {k: int(rows[site][k]) for k in want} == want, site
    assert all(int(rows["All"][arm_columns[a]]) == 0 for a in ("B", "D"))
    assert all(int(rows["All"][arm_columns[a]]) > 0 for a in ARMS)


@pytest.mark.slow
def test_the_chart_tables_follow_the_filters_too(runs, expected):
    kept = expected.filter(pl.col("REASON").is_null())
    by_arm = _table(runs, "subjects_by_arm_site").select("SITEID", "ARMCD", pl.col("N").cast(pl.Int64))
    want = [(site, arm, kept.filter((pl.col("SITEID") == site) & pl.col("RAND") & (pl.col("ARMCD") == arm)).height)
            for site in SITES for arm in ALL_ARMS]
    assert sorted(by_arm.rows()) == sorted(want)
    screening = _table(runs, "screening_by_site").select("SITEID", "STATUS", pl.col("N").cast(pl.Int64))
    for site in SITES:
        mine = kept.filter(pl.col("SITEID") == site)
        assert dict(screening.filter(pl.col("SITEID") == site).select("STATUS", "N").rows()) == {
            "SCREENED": mine.height, "RANDOMIZED": int(mine["RAND"].sum()), "SCREEN FAILURE": int(mine["SF"].sum())}


@pytest.mark.slow
def test_every_subject_left_out_is_listed_with_the_first_reason_that_applies(runs, expected):
    listed = _table(runs, "left_out").select("Subject", "Reason").sort("Subject")
    want = expected.filter(pl.col("REASON").is_not_null()).select(
        pl.col("USUBJID").alias("Subject"), pl.col("REASON").alias("Reason")).sort("Subject")
    assert listed.rows() == want.rows()
    assert set(listed["Reason"]) == {f"consented after the data cutoff {CUTOFF}", "site not in the sites filter",
                                     "arm not in the arms filter"}


@pytest.mark.slow
def test_the_cutoff_counts_the_records_dated_after_it(runs):
    ex = pl.read_parquet(runs.demo / "ex.parquet")
    after = ex.filter(_first_day("EXSTDTC") > CUTOFF).height
    cutoff = _table(runs, "cutoff")
    assert int(cutoff.filter(pl.col("Dataset") == "EX")["Records after the cutoff"].item()) == after > 0


@pytest.mark.slow
def test_the_params_reach_the_notebook_as_the_protocol_writes_them(runs):
    manifest = json.loads((runs.out / "filtered" / "manifest.json").read_text())
    assert (manifest["params"]["sites"], manifest["params"]["arms"]) == (SITES, ARMS)
    assert manifest["reports"][0]["selection"]["sites"] == SITES and not manifest["reports"][0]["selection"]["empty"]


@pytest.mark.slow
def test_two_runs_of_the_same_inputs_give_the_same_html_but_for_the_run_time(runs):
    assert runs.first.exit_code == runs.second.exit_code == 0
    second_html = (runs.out / "filtered" / "study_overview.html").read_text(encoding="utf-8")
    assert len(RUN_TIME.findall(runs.first_html)) >= 2        # the header and the footer
    assert RUN_TIME.sub("<run time>", runs.first_html) == RUN_TIME.sub("<run time>", second_html)


@pytest.mark.slow
def test_the_executed_notebook_records_the_final_run_folder(runs):
    path = runs.out / "filtered" / "study_overview.ipynb"
    text = path.read_text(encoding="utf-8")
    assert ".partial" not in text
    notebook = json.loads(text)
    assert notebook["metadata"]["papermill"]["parameters"]["output_dir"] == str(runs.out / "filtered")
    assert notebook["metadata"]["papermill"]["output_path"] == str(path)
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert [c["id"] for c in injected] == ["injected-parameters"]
    assert f'output_dir = "{runs.out / "filtered"}"' in "".join(injected[0]["source"])


# ---------------------------------------------------------------------------------------------
# a cutoff before the first subject: a report that says so, not a crash
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_selection_that_matches_nobody_is_a_report_that_says_so(runs):
    dm = pl.read_parquet(runs.demo / "dm.parquet")
    run = next(r for r in runs.first.runs if r.name == "nobody")
    [report] = run.reports
    assert (report.status, report.error) == ("ok", None) and report.selection["empty"] is True
    assert report.selection["left_out"] == {"consented after the data cutoff 2020-01-01": dm.height}
    page = " ".join(re.sub(r"<[^>]+>", " ", (run.path / "study_overview.html").read_text(encoding="utf-8")).split())
    assert (f"No subject matches these filters. Data cutoff 2020-01-01, every site, every arm: of the "
            f"{dm.height} subjects in DM, {dm.height} consented after the data cutoff 2020-01-01.") in page
    table = pl.read_csv(run.path / "tables" / "subjects_by_site.csv", infer_schema=False)
    assert table.rows() == [("All sites", *["0"] * (table.width - 1))]
    assert "ok</span> — no subject matches these filters" in (run.path / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_fail_on_empty_gives_its_own_exit_code(runs, monkeypatch, capsys):
    from trialkit.report import runner

    monkeypatch.setattr(runner, "run_reports", lambda *a, **k: runs.first)
    assert runner.main_run(["filtered.yaml", "empty.yaml"]) == 0
    assert runner.main_run(["filtered.yaml", "empty.yaml"], fail_on_empty=True) == 4 == runner.EXIT_EMPTY
    assert "nobody/study_overview: no subject matches these filters" in capsys.readouterr().err
    monkeypatch.setattr(runner, "run_reports", lambda *a, **k: runs.second)   # nothing empty there
    assert runner.main_run(["filtered.yaml"], fail_on_empty=True) == 0
