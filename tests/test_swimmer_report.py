"""The swimmer report end to end: `trialkit run` on the demo and the pharmaverse folders, once.

The demo's expected values come from its ``demo_truth.json`` and from the SDTM it wrote,
re-derived here with plain polars (no trialkit derivation), never from numbers of the demo.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import polars as pl
import pytest

from trialkit.protocol import load_protocol

pytestmark = pytest.mark.slow
PROTOCOL = load_protocol("NCT07334483")
SUBJECTS = ["USUBJID", "ARM", "RANDDT", "LAST_DAY", "END_STATUS", "ONGOING"]
EVENTS = ["USUBJID", "ARM", "EVENT", "START_DAY", "END_DAY", "DETAIL"]
DEVIATIONS = ["USUBJID", "ARM", "RULE", "DATE", "DAY", "EXPECTED", "OBSERVED", "DETAIL"]
MAX_HTML_BYTES = 2.5 * 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data_dir):
    from trialkit.report.runner import run_reports

    base = tmp_path_factory.mktemp("swimmer")
    params = {"demo": "sort_order: bor\n"}
    if shared_data_dir is not None:
        params["pharmaverse_sdtm"] = f"data_dir: {shared_data_dir / 'sdtm'}\ntime_unit: weeks\n"
        params["pharmaverse_adam"] = f"data_dir: {shared_data_dir / 'adam'}\nsort_order: time_to_response\n"
    files = []
    for name, text in params.items():
        path = base / f"{name}.yaml"
        path.write_text(text + f"run_name: {name}\nreports: [swimmer]\n")
        files.append(path)
    result = run_reports(files, out=base / "out", progress=False)
    return {run.name: run for run in result.runs}


def table(run, name: str) -> pl.DataFrame:
    return pl.read_csv(run.path / "tables" / f"{name}.csv", infer_schema=False)


def page_text(run) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", (run.path / "swimmer.html").read_text("utf-8"))).split())


@pytest.mark.parametrize("name", ["demo", "pharmaverse_sdtm", "pharmaverse_adam"])
def test_the_report_runs_on_every_folder(runs, name):
    if name not in runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    run = runs[name]
    assert [(r.report, r.status, r.error) for r in run.reports] == [("swimmer", "ok", None)]
    assert "Traceback" not in (run.path / "swimmer.html").read_text("utf-8")
    for name_, columns in (("swimmer_subjects", SUBJECTS), ("swimmer_events", EVENTS), ("dosing_deviations", DEVIATIONS)):
        assert table(run, name_).columns[:len(columns)] == columns, name_
    assert (run.path / "figures" / "swimmer.svg").stat().st_size > 10_000


def test_the_demo_report_is_small_enough_to_email(runs):
    size = (runs["demo"].path / "swimmer.html").stat().st_size
    assert size <= MAX_HTML_BYTES, f"swimmer.html is {size / 2**20:.2f} MB"


def test_the_deviation_listing_equals_the_deviations_planted_in_the_demo(runs, default_demo):
    truth = json.loads((default_demo / "demo_truth.json").read_text())
    planted = {(d["USUBJID"], d["RULE"], d["DATE"]) for d in truth["deviations"]}
    listed = set(table(runs["demo"], "dosing_deviations").select("USUBJID", "RULE", "DATE").iter_rows())
    assert planted and listed == planted
    rules = table(runs["demo"], "dosing_rules")
    assert set(rules["Status"]) <= {"checked", "checked without the toxicity exception: the data folder has no AE "
                                               "dataset, so every late dose is listed"}


def demo_sdtm(default_demo):
    frames = {p.stem.lower(): pl.read_parquet(p) for p in default_demo.glob("*.parquet")}
    cutoff = json.loads((default_demo / "demo_truth.json").read_text())["cutoff"]
    return frames, cutoff


def test_one_lane_per_subject_randomized_by_the_cutoff(runs, default_demo):
    frames, cutoff = demo_sdtm(default_demo)
    randomized = (frames["ds"].filter((pl.col("DSDECOD") == "RANDOMIZED") & (pl.col("DSSTDTC").str.slice(0, 10) <= cutoff))
                  .select("USUBJID", RANDDT=pl.col("DSSTDTC").str.slice(0, 10)).sort("USUBJID"))
    subjects = table(runs["demo"], "swimmer_subjects").select("USUBJID", "RANDDT").sort("USUBJID")
    assert subjects.equals(randomized)


def test_nothing_after_the_cutoff_in_any_table(runs, default_demo):
    _, cutoff = demo_sdtm(default_demo)
    run = runs["demo"]
    subjects = table(run, "swimmer_subjects").select("USUBJID", pl.col("CUTOFF_DAY").cast(pl.Int64),
                                                     pl.col("LAST_DAY").cast(pl.Int64))
    assert (subjects["LAST_DAY"] <= subjects["CUTOFF_DAY"]).all()
    events = table(run, "swimmer_events").join(subjects, on="USUBJID")
    for column in ("START_DATE", "END_DATE"):
        assert (events[column].drop_nulls() <= cutoff).all(), column
    late = events.filter(pl.max_horizontal(pl.col("START_DAY").cast(pl.Int64), pl.col("END_DAY").cast(pl.Int64))
                         > pl.col("CUTOFF_DAY"))
    assert late.is_empty(), late.head()
    lanes = table(run, "swimmer").join(subjects, on="USUBJID")
    assert lanes.select((pl.max_horizontal(pl.col("DAY").cast(pl.Int64), pl.col("DAY2").cast(pl.Int64))
                         <= pl.col("CUTOFF_DAY")).all()).item()
    assert (table(run, "dosing_deviations")["DATE"] <= cutoff).all()


def test_camrelizumab_cycles_re_derived_from_ex(runs, default_demo):
    frames, cutoff = demo_sdtm(default_demo)
    name = PROTOCOL.treatment("CAMRELIZUMAB")["name"]
    expected = (frames["ex"].filter((pl.col("EXTRT").str.to_uppercase() == name) & (pl.col("EXSTDTC") <= cutoff))
                .group_by("USUBJID").len().sort("USUBJID"))
    events = (table(runs["demo"], "swimmer_events").filter(pl.col("EVENT") == "CAMRELIZUMAB")
              .group_by("USUBJID").agg(pl.len(), pl.col("CYCLE").cast(pl.Int64).max().alias("LAST_CYCLE")).sort("USUBJID"))
    assert events.select("USUBJID", "len").equals(expected)
    assert (events["len"] == events["LAST_CYCLE"]).all()      # cycle k is the k-th dose


def test_the_demo_page_explains_each_rule_with_the_protocols_numbers(runs):
    text = page_text(runs["demo"])
    assert "more than 3 days after randomization" in text
    assert "less than 18 days after the previous one (schedule: every 21 ± 3 days)" in text
    assert "from 7 days before to 7 days after a SIRT" in text
    assert "More than 4 cTACE sessions in study days 1–168" in text
    assert re.search(r"A: SIRT \+ camrelizumab \+ apatinib \(n = \d+\)", text)


def test_pharmaverse_sdtm_shows_what_exists_and_skips_every_rule(runs):
    if "pharmaverse_sdtm" not in runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    run = runs["pharmaverse_sdtm"]
    rules = table(run, "dosing_rules")
    assert rules["Status"].str.starts_with("skipped: the study has no protocol file").all()
    assert table(run, "dosing_deviations").is_empty()
    assert {"XANOMELINE", "PLACEBO"} <= set(table(run, "swimmer_events")["EVENT"])
    text = page_text(run)
    assert "No protocol file for this study" in text and "Weeks since randomization" in (
        run.path / "figures" / "swimmer.svg").read_text("utf-8")


def test_pharmaverse_adam_takes_subjects_from_adsl_and_responses_from_adrs(runs, shared_data_dir):
    if "pharmaverse_adam" not in runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    adsl = pl.read_parquet(shared_data_dir / "adam" / "adsl.parquet")
    randomized = adsl.filter(pl.col("RANDDT").is_not_null() & (pl.col("ARMCD").str.to_uppercase() != "SCRNFAIL"))
    run = runs["pharmaverse_adam"]
    assert table(run, "swimmer_subjects").height == randomized.height
    adrs = pl.read_parquet(shared_data_dir / "adam" / "adrs.parquet").filter(pl.col("PARAMCD") == "OVR")
    responses = table(run, "swimmer_events").filter(pl.col("EVENT").is_in(["CR", "PR", "SD", "PD", "NE"]))
    assert 0 < responses.height <= adrs.height
    assert "from ADRS" in page_text(run)
    assert dt.date.fromisoformat(table(run, "swimmer_subjects")["RANDDT"].min()) >= dt.date(2012, 1, 1)
