"""The swimmer's lanes (trialkit.derive.swimmer): order, budget, glyphs, legend, on hand-made frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from trialkit.derive.swimmer import (derive_lane_order, derive_swimmer_lanes, describe_lanes, summarize_lanes_shown,
                                     summarize_not_drawn, summarize_swimmer_legend)
from trialkit.protocol import load_protocol

PROTOCOL = load_protocol("NCT07334483")
RAND = dt.date(2025, 9, 1)


def subjects(n_per_arm: int = 3, arms: str = "AB") -> pl.DataFrame:
    rows = []
    for a in arms:
        for i in range(n_per_arm):
            last = 300 if i == 0 else 100 + 50 * i       # the first is on treatment up to the cutoff
            rows.append({"USUBJID": f"{a}{i}", "ARMCD": a, "ARM": a, "RANDDT": RAND, "LAST_DAY": last,
                         "END_STATUS": "ON TREATMENT" if i == 0 else "DEATH", "ONGOING": "Y" if i == 0 else "N",
                         "TREATED": "Y", "FIRST_TREATMENT_DAY": 2, "LAST_TREATMENT_DAY": last - 10,
                         "EOT_DAY": None if i == 0 else last - 5, "EOT_REASON": None if i == 0 else "ADVERSE EVENT",
                         "BOR": ["SD", "CR", "PR"][i % 3], "FIRST_RESPONSE_DAY": [None, 90, 43][i % 3],
                         "CUTOFF_DAY": 300})
    return pl.DataFrame(rows)


def events(subj: pl.DataFrame, per_subject: int = 5) -> pl.DataFrame:
    ids = subj["USUBJID"].to_list()
    rows = [{"USUBJID": u, "ARMCD": u[0], "EVENT": "CAMRELIZUMAB", "KIND": "DOSE", "START_DAY": 2 + 21 * k,
             "END_DAY": None, "START_DATE": RAND + dt.timedelta(days=1 + 21 * k), "END_DATE": None,
             "DETAIL": f"Cycle {k + 1}", "CLASS": "PERMITTED DELAY" if k == 1 else "ON SCHEDULE",
             "DEVIATION": "CAM_INTERVAL_LATE" if (u == ids[0] and k == 2) else None}
            for u in ids for k in range(per_subject)]
    return pl.DataFrame(rows, schema_overrides={"END_DAY": pl.Int64, "END_DATE": pl.Date, "DEVIATION": pl.String})


@pytest.mark.parametrize("order, expected", [("time_on_study", ["A0", "A2", "A1"]),
                                             ("bor", ["A1", "A2", "A0"]),
                                             ("time_to_response", ["A2", "A1", "A0"])])
def test_lane_orders(order, expected):
    ranked = derive_lane_order(subjects(arms="A"), sort_by=order)
    assert ranked.sort("RANK")["USUBJID"].to_list() == expected


def test_an_unknown_sort_order_is_refused():
    with pytest.raises(ValueError, match="time_on_study, bor, time_to_response"):
        derive_lane_order(subjects(), sort_by="alphabetical")


def test_glyphs_of_a_lane():
    subj = subjects(arms="A")
    lanes = derive_swimmer_lanes(subj, events(subj))
    a0 = lanes.filter(pl.col("USUBJID") == "A0")
    glyphs = a0["G"].to_list()
    # on treatment at the cutoff: the arrow and the cutoff at day 300; a permitted delay; the flagged dose
    assert glyphs.count("ONGOING") == 1 and glyphs.count("CUTOFF") == 1
    assert "CAMRELIZUMAB:delay" in glyphs and glyphs.count("DEVIATION") == 1
    assert a0.filter(pl.col("G") == "DEVIATION").select("ROW", "DAY").row(0) == ("CAMRELIZUMAB", 44)
    assert a0.filter(pl.col("G") == "ON_STUDY").select("DAY", "DAY2", "WHEN").row(0) == (
        1, 300, "2025-09-01 to 2026-06-27, days 1–300")
    # a dead subject's lane stops before the cutoff: no cutoff mark on it
    assert "CUTOFF" not in lanes.filter(pl.col("USUBJID") == "A1")["G"].to_list()


def test_the_budget_shares_glyphs_between_arms_in_rank_order_and_lists_who_is_left_out():
    subj = subjects(n_per_arm=3)
    ev = events(subj)
    full = derive_swimmer_lanes(subj, ev)
    per_lane = full.group_by("USUBJID").len()
    budget = int(per_lane.sort("len")["len"].head(3).sum())     # room for about 3 lanes
    lanes = derive_swimmer_lanes(subj, ev, max_rows=budget)
    assert lanes.height <= budget
    kept = lanes.select("USUBJID", "RANK").unique().sort("RANK", "USUBJID").rows()
    assert kept[:2] == [("A0", 1), ("B0", 1)]                  # the first lane of every arm first
    shown = summarize_lanes_shown(subj, lanes, arm_labels={"A": "A", "B": "B"})
    assert shown["N"].to_list() == [3, 3] and sum(shown["SHOWN"]) == len(kept)
    missing = summarize_not_drawn(subj, lanes, max_rows=budget)
    assert missing.height == 6 - len(kept) and missing["REASON"].str.contains("at most").all()


def test_selected_subjects_are_drawn_first():
    subj = subjects(n_per_arm=3)
    lanes = derive_swimmer_lanes(subj, events(subj), selected=["A0"])
    assert lanes.filter(pl.col("USUBJID") == "A0")["RANK"].unique().to_list() == [1]


def test_a_10000_subject_study_stays_within_the_chart_limit():
    subj = subjects(n_per_arm=2500, arms="ABCD")
    lanes = derive_swimmer_lanes(subj, events(subj, per_subject=8))
    assert 0 < lanes.height <= 3000
    assert set(lanes["ARMCD"]) == {"A", "B", "C", "D"}


def test_legend_names_with_the_protocols_numbers_only_what_is_drawn():
    lanes = pl.DataFrame({"G": ["ON_STUDY", "CAMRELIZUMAB", "CAMRELIZUMAB:hold", "APATINIB:off", "SIRT", "CR", "CUTOFF"]})
    legend = summarize_swimmer_legend(lanes, protocol=PROTOCOL)
    assert legend.select("G", "LABEL").rows() == [
        ("ON_STUDY", "On study, off study treatment"), ("CAMRELIZUMAB", "Camrelizumab dose"),
        ("CAMRELIZUMAB:hold", "Camrelizumab held for toxicity (AE)"), ("APATINIB:off", "Apatinib interrupted"),
        ("SIRT", "Y-90 SIRT session"), ("CR", "CR: complete response"), ("CUTOFF", "Data cutoff")]
    assert legend["ROLE"].to_list() == ["on_study", "dose", "hold", "off", "session", "response", "cutoff"]


def test_describe_lanes():
    assert describe_lanes(sort_by="time_on_study", time_unit="months", response_note="mRECIST by BICR.") == [
        "Lanes sorted by time on study, longest first; time in months since randomization.", "mRECIST by BICR."]
