"""Screening charts checked by their Vega-Lite data and encodings; the CONSORT diagram by its HTML."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from trialkit.charts import (OUTCOME_COLORS, SITE_PALETTE, consort_html, plot_co_failures, plot_failures_by_criterion,
                             plot_recruitment, plot_screening_duration, plot_screening_over_time)


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec["datasets"].values())


def _layers(spec: dict) -> list[dict]:
    return spec.get("layer") or spec["spec"]["layer"]


def test_over_time_stacks_sites_per_month_in_two_panels_and_shows_a_selection():
    months = pl.DataFrame({
        "MONTH": [dt.date(2025, 9, 1)] * 4, "SITEID": ["01", "02", "01", "02"], "SITE": ["01 A", "02 B"] * 2,
        "STAGE": ["SCREENED", "SCREENED", "RANDOMIZED", "RANDOMIZED"], "N": [3, 2, 1, 0],
        "USUBJIDS": [["a", "b", "c"], ["d", "e"], ["a"], []]})
    spec = plot_screening_over_time(months, selected=["a", "d"]).to_dict()
    (values,) = _datasets(spec)
    assert [(v["SITE"], v["STAGE_LABEL"], v["N"], v["N_SELECTED"]) for v in values] == [
        ("01 A", "Screening started", 3, 1), ("02 B", "Screening started", 2, 1), ("01 A", "Randomized", 1, 1),
        ("02 B", "Randomized", 0, 0)]
    bars, selected = _layers(spec)
    assert bars["encoding"]["color"]["scale"] == {"domain": ["01 A", "02 B"], "range": list(SITE_PALETTE[:2])}
    assert bars["encoding"]["x"]["field"] == "MONTH_LABEL" and selected["encoding"]["y"]["field"] == "N_SELECTED"
    assert spec["facet"]["row"]["sort"] == ["Screening started", "Randomized"]
    assert "USUBJIDS" not in values[0]                 # subject lists never reach the page


def test_duration_one_point_per_subject_with_the_window_and_the_selection():
    subjects = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "SITE": ["01"] * 4,
                             "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE", "NOT ASSIGNED", "IN SCREENING AT CUTOFF"],
                             "SCREENING_DAYS": [12, 30, 4, None]})
    spec = plot_screening_duration(subjects, window_days=28, selected=["2"]).to_dict()
    points, rule, text = spec["layer"]
    values = _datasets(spec)[0]
    assert [(v["USUBJID"], v["OUTCOME_LABEL"], v["SCREENING_DAYS"], v["SELECTED"]) for v in values] == [
        ("1", "Randomized", 12, False), ("2", "Screen failure", 30, True), ("3", "Not assigned", 4, False)]
    assert points["encoding"]["color"]["scale"]["range"] == list(OUTCOME_COLORS.values())
    assert points["encoding"]["opacity"]["condition"]["test"] == "datum.SELECTED"
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["x"]["field"] == "WINDOW"
    jitter = [v["JITTER"] for v in values]
    assert jitter == [v["JITTER"] for v in _datasets(plot_screening_duration(subjects, window_days=28).to_dict())[0]]


def test_failures_by_criterion_panels_by_group_and_labels_each_bar():
    by_site = pl.DataFrame({
        "SITEID": ["01", "02", "01", "02", "01"], "SITE": ["01", "02", "01", "02", "01"],
        "GROUP": ["Laboratory", "Laboratory", "Disease stage", "Disease stage", "Other"],
        "IETESTCD": ["INCL13B", "INCL13B", "EXCL03", "EXCL03", "INCL11"],
        "IETEST": ["Platelets >= 75 x 10^9/L", "Platelets >= 75 x 10^9/L", "Tumour burden", "Tumour burden", "Life"],
        "N_SUBJECTS": [2, 1, 0, 1, 0], "DENOMINATOR": [4, 6, 4, 6, 4], "PCT_OF_SCREEN_FAILURES": [50.0, 16.7, 0.0, 16.7, 0.0],
        "SOURCE": ["IE"] * 5, "USUBJIDS": [["a", "b"], ["c"], [], ["d"], []]})
    spec = plot_failures_by_criterion(by_site, groups=["Disease stage", "Laboratory", "Other"], selected=["a"]).to_dict()
    values = _datasets(spec)[0]
    assert {v["IETESTCD"] for v in values} == {"INCL13B", "EXCL03"}        # nobody failed INCL11: not drawn
    totals = {v["IETESTCD"]: (v["TOTAL"], v["TOTAL_TEXT"], v["TOTAL_SELECTED"]) for v in values}
    assert totals == {"INCL13B": (3, "3 (30.0%)", 1), "EXCL03": (1, "1 (10.0%)", 0)}     # of 4 + 6 screen failures
    assert spec["facet"]["row"]["sort"] == ["Disease stage", "Laboratory"]
    assert spec["resolve"]["scale"]["y"] == "independent"


def test_co_failures_upset_bars_and_matrix():
    sets = pl.DataFrame({"SET_ID": [1, 2], "CRITERIA": [["INCL10", "INCL13D"], ["INCL05A", "INCL09", "INCL10"]],
                         "LABEL": ["INCL10 + INCL13D", "INCL05A + INCL09 + INCL10"], "SIZE": [2, 3], "N": [3, 1],
                         "USUBJIDS": [["a", "b", "c"], ["d"]], "OTHER_SETS": [0, 0], "OTHER_SUBJECTS": [0, 0],
                         "SINGLE_SUBJECTS": [7, 7]})
    catalog = pl.DataFrame({"IETESTCD": ["INCL05A", "INCL09", "INCL10", "INCL13D"],
                            "IETEST": ["CNLC", "ECOG", "Child-Pugh A or B7 and a long text beyond the axis label", "BILI"]})
    spec = plot_co_failures(sets, catalog=catalog, selected=["b", "d"]).to_dict()
    top, matrix = spec["vconcat"]
    bars = [v for d in _datasets(spec) for v in d if "LABEL" in v]
    assert [(v["SET_ID"], v["N"], v["N_SELECTED"]) for v in bars] == [(1, 3, 1), (2, 1, 1)]
    dots = [v for d in _datasets(spec) for v in d if "MEMBER" in v]
    assert len(dots) == 2 * 4 and sum(v["MEMBER"] for v in dots) == 5
    rows = matrix["layer"][1]["encoding"]["y"]["sort"]
    assert [r.split()[0] for r in rows] == ["INCL05A", "INCL09", "INCL10", "INCL13D"]      # catalog order
    assert "7 failed one criterion only" in spec["title"]["subtitle"]


def test_co_failures_without_any_says_so():
    empty = pl.DataFrame(schema={"SET_ID": pl.Int64, "CRITERIA": pl.List(pl.String), "LABEL": pl.String,
                                 "SIZE": pl.Int64, "N": pl.Int64, "USUBJIDS": pl.List(pl.String)})
    spec = plot_co_failures(empty).to_dict()
    assert _datasets(spec)[0][0]["TEXT"].startswith("No screen failure failed two or more criteria")


def test_recruitment_observed_steps_target_and_projection():
    cumulative = pl.DataFrame({
        "DATE": [dt.date(2026, 1, 5), dt.date(2026, 2, 5), dt.date(2026, 3, 31), dt.date(2026, 6, 30)],
        "CUMULATIVE": [1, 2, 2, 4], "KIND": ["observed", "observed", "projected", "projected"],
        "USUBJID": ["1", "2", None, None]})
    outlook = pl.DataFrame({"REFERENCE_DATE": [dt.date(2026, 3, 31)], "TARGET": [4], "REACHED": [False],
                            "TARGET_DATE": [dt.date(2026, 6, 30)], "TARGET_DATE_EARLIEST": [None],
                            "TARGET_DATE_LATEST": [None]})
    spec = plot_recruitment(cumulative, outlook, selected=["2"]).to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["line", "point", "rule", "text", "rule", "text", "line"]
    observed = [v for d in _datasets(spec) for v in d if "SELECTED" in v]
    assert [(v["USUBJID"], v["CUMULATIVE"], v["SELECTED"]) for v in observed] == [("1", 1, False), ("2", 2, True)]
    assert spec["layer"][0]["mark"]["interpolate"] == "step-after"


# ---------------------------------------------------------------------------------------- CONSORT
def _flow() -> pl.DataFrame:
    rows = [
        ("assessed", None, "ENROLLMENT", "ALL", "Assessed for eligibility", 5, "box", ["S1", "S2", "S3", "S4", "S5"], None),
        ("excluded", "assessed", "ENROLLMENT", "ALL", "Excluded", 2, "box", ["S3", "S4"], None),
        ("criteria", "excluded", "ENROLLMENT", "ALL", "Not meeting eligibility criteria", 1, "box", ["S3"], None),
        ("criteria.1", "criteria", "ENROLLMENT", "ALL", "Laboratory <b>", 1, "reason", ["S3"], None),
        ("declined", "excluded", "ENROLLMENT", "ALL", "Declined to participate", 1, "box", ["S4"], None),
        ("other", "excluded", "ENROLLMENT", "ALL", "Other reasons", 0, "box", [], None),
        ("randomized", "assessed", "ENROLLMENT", "ALL", "Randomized", 3, "box", ["S1", "S2", "S5"], None),
    ]
    for arm, ids in (("A", ["S1"]), ("B", ["S2"]), ("C", ["S5"]), ("D", [])):
        rows += [(f"allocated.{arm}", "randomized", "ALLOCATION", arm, f"Allocated to {arm}", len(ids), "box", ids, None),
                 (f"received.{arm}", f"allocated.{arm}", "ALLOCATION", arm, "Received allocated intervention", len(ids),
                  "box", ids, None),
                 (f"not_received.{arm}", f"allocated.{arm}", "ALLOCATION", arm, "Did not receive", 0, "box", [], None),
                 (f"ongoing.{arm}", f"received.{arm}", "FOLLOW-UP", arm, "On treatment at the data cutoff", len(ids),
                  "box", ids, None),
                 (f"analysed.{arm}", f"allocated.{arm}", "ANALYSIS", arm, "Analysed", len(ids), "box", ids, None)]
    return pl.DataFrame([(*r[:7], i, r[8], r[7]) for i, r in enumerate(rows)], orient="row",
                        schema={"BOX": pl.String, "PARENT": pl.String, "STAGE": pl.String, "GROUP": pl.String,
                                "LABEL": pl.String, "N": pl.Int64, "KIND": pl.String, "ORDER": pl.Int64,
                                "NOTE": pl.String, "USUBJIDS": pl.List(pl.String)})


def test_consort_html_has_every_box_with_its_subjects_and_no_script():
    flow = _flow().with_columns(pl.when(pl.col("BOX") == "randomized").then(pl.lit(["S1", "<i>S2</i>", "S5"]))
                                .otherwise(pl.col("USUBJIDS")).alias("USUBJIDS"))
    page = consort_html(flow, arms={"A": "A", "B": "B", "C": "C", "D": "D"})
    assert "<script" not in page and "<style>" in page
    assert len(re.findall(r'class="tk-box( tk-box-arm)?"', page)) == 6 + 4 * 5   # reasons are listed in their box
    assert 'id="tk-consort-assessed"' in page and "n = 5" in page
    assert "Laboratory &lt;b&gt;: <strong>1</strong>" in page and "&lt;i&gt;S2&lt;/i&gt;" in page
    ids = re.search(r'id="tk-consort-ids-randomized">([^<]*)<', page).group(1)
    assert ids == "S1, &lt;i&gt;S2&lt;/i&gt;, S5"
    assert "--tk-n:4;grid-template-columns:repeat(4,minmax(0,1fr))" in page
    assert "--tk-arm:#0072B2" in page and "--tk-arm:#CC79A7" in page        # arm colours in protocol order
    assert '<details class="tk-line"><summary><span class="tk-box-n">n = 0' not in page   # nobody: nothing to open


def test_consort_html_shows_a_difference_and_its_explanation():
    flow = _flow()
    checks = pl.DataFrame({"BOX": ["excluded"], "GROUP": ["ALL"], "CHECK": ["Excluded = ..."], "N": [2], "SUM": [3],
                           "DIFFERENCE": [1], "RESULT": ["does not add up"], "EXPLANATION": ["a subject in two boxes"]})
    page = consort_html(flow, checks)
    assert 'class="tk-check tk-check-bad">These add to 3, 1 more than 2: a subject in two boxes.' in page
