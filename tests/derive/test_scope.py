"""The data cutoff and the filters (trialkit.derive.scope) on hand-made frames."""

from __future__ import annotations

import datetime as dt

import polars as pl

from trialkit.derive.scope import (
    derive_cutoff,
    derive_left_out,
    derive_status_at_cutoff,
    describe_cutoff,
    drop_left_out,
    filter_records,
    record_date_column,
)
from trialkit.derive.subjects import derive_subjects
from trialkit.protocol import load_protocol

CUT = dt.date(2026, 10, 31)


def test_records_after_the_cutoff_are_removed_and_counted_per_dataset():
    ex = pl.DataFrame({"USUBJID": ["1"] * 4,
                       "EXSTDTC": ["2026-10-30", "2026-10-31T23:59", "2026-11-01", None],
                       "EXENDTC": ["2026-10-30", "2026-11-20", "2026-11-01", None]})
    rs = pl.DataFrame({"USUBJID": ["1", "1", "1"], "RSDTC": ["2026-10", "2026-11", "2026-09-15"]})
    frames, summary = derive_cutoff({"ex": ex, "rs": rs}, CUT)
    # on the cutoff day counts (a datetime is its date); the undated record is kept and counted
    assert frames["ex"]["EXSTDTC"].to_list() == ["2026-10-30", "2026-10-31T23:59", None]
    # the exposure running past the cutoff keeps its start, its end after the cutoff is blanked
    assert frames["ex"]["EXENDTC"].to_list() == ["2026-10-30", None, None]
    # a partial date is compared by its first possible day: "2026-10" stays, "2026-11" goes
    assert frames["rs"]["RSDTC"].to_list() == ["2026-10", "2026-09-15"]
    assert summary.rows() == [("ex", "EXSTDTC", 4, 1, 1, 1), ("rs", "RSDTC", 3, 1, 0, 0)]
    assert describe_cutoff(summary, CUT) == (
        "The data cutoff 2026-10-31 leaves out 2 record(s) dated after it (EX 1, RS 1) and blanks 1 later "
        "date(s) in records it keeps.")


def test_no_cutoff_changes_nothing():
    ex = pl.DataFrame({"USUBJID": ["1"], "EXSTDTC": ["2030-01-01"]})
    frames, summary = derive_cutoff({"ex": ex}, None)
    assert frames["ex"].equals(ex) and summary["RECORDS_AFTER_CUTOFF"].to_list() == [0]
    assert describe_cutoff(summary, None) == "No data cutoff: every record counts."


def test_which_date_dates_a_record():
    assert record_date_column(pl.DataFrame({"AESTDTC": [], "AEDTC": []}), "ae") == "AESTDTC"
    assert record_date_column(pl.DataFrame({"LBDTC": []}), "lb") == "LBDTC"
    assert record_date_column(pl.DataFrame({"ASTDT": [], "ADT": []}), "adex") == "ADT"
    assert record_date_column(pl.DataFrame({"ASTDT": []}), "adex") == "ASTDT"
    for subject_level_or_design in ("dm", "adsl", "ts", "suppdm"):
        assert record_date_column(pl.DataFrame({"DMDTC": [], "TSDTC": []}), subject_level_or_design) is None


def test_adam_dates_and_subject_level_death_after_the_cutoff():
    adrs = pl.DataFrame({"USUBJID": ["1", "1"], "PARAMCD": ["OVR", "OVR"],
                         "ADT": [dt.date(2026, 10, 1), dt.date(2026, 11, 5)]})
    dm = pl.DataFrame({"USUBJID": ["1", "2"], "DTHDTC": ["2026-11-02", "2026-10-02"], "DTHFL": ["Y", "Y"]})
    frames, summary = derive_cutoff({"adrs": adrs, "dm": dm}, CUT)
    assert frames["adrs"]["ADT"].to_list() == [dt.date(2026, 10, 1)]
    # DM keeps its subjects; a death after the cutoff was not known at it
    assert frames["dm"].rows() == [("1", None, None), ("2", "2026-10-02", "Y")]
    assert summary.filter(pl.col("DATASET") == "dm")["VALUES_BLANKED"].item() == 1


def _dm():
    return pl.DataFrame({
        "STUDYID": ["ST561-1"] * 5, "USUBJID": ["1", "2", "3", "4", "5"], "SITEID": ["01", "01", "02", "02", "03"],
        "ARMCD": ["A", "B", "SCRNFAIL", "C", None], "ARMNRS": [None, None, None, None, "NOT ASSIGNED"],
        "RFICDTC": ["2026-08-01", "2026-10-10", "2026-09-01", "2026-11-03", "2026-09-02"]})


def _ds():
    return pl.DataFrame({"USUBJID": ["1", "2", "4"], "DSDECOD": ["RANDOMIZED"] * 3,
                         "DSSTDTC": ["2026-08-20", "2026-11-04", "2026-11-10"]})


def test_subjects_as_they_stood_at_the_cutoff():
    subjects = derive_subjects({"dm": _dm(), "ds": _ds()}, load_protocol("NCT07334483"))
    placed = derive_left_out(derive_status_at_cutoff(subjects, CUT), data_cutoff=CUT)
    rows = placed.select("USUBJID", pl.col("STATUS").cast(pl.String), "ARMCD", "RANDDT", "LEFT_OUT").rows()
    assert rows == [
        ("1", "RANDOMIZED", "A", dt.date(2026, 8, 20), None),
        # randomized after the cutoff: in screening at it, no arm yet
        ("2", "OTHER", None, None, None),
        ("3", "SCREEN FAILURE", "SCRNFAIL", None, None),
        # consented after the cutoff: not screened yet
        ("4", "OTHER", None, None, "consented after the data cutoff 2026-10-31"),
        ("5", "OTHER", None, None, None),
    ]
    assert placed.filter(pl.col("USUBJID") == "2")["CUTOFF_NOTE"].item().startswith("randomized after the data cutoff")


def test_arms_filter_acts_on_the_arm_at_the_cutoff_and_records_follow_their_subjects():
    subjects = derive_status_at_cutoff(derive_subjects({"dm": _dm(), "ds": _ds()}, load_protocol("NCT07334483")), CUT)
    kept = drop_left_out(derive_left_out(subjects, sites=["01", "02"], arms=["A"], data_cutoff=CUT))
    # 2 is not randomized at the cutoff, so the arms filter keeps it (screening counts stay whole)
    assert kept["USUBJID"].to_list() == ["1", "2", "3"]
    ex = pl.DataFrame({"USUBJID": ["1", "2", "4", "5"], "EXSTDTC": ["2026-08-21"] * 4})
    assert filter_records({"ex": ex, "ts": pl.DataFrame({"TSPARMCD": ["X"]})}, kept)["ex"]["USUBJID"].to_list() == ["1", "2"]


def test_first_dose_after_the_cutoff_is_not_a_treatment_yet():
    ex = pl.DataFrame({"USUBJID": ["1"], "EXSTDTC": ["2026-11-02"], "EXDOSE": [200.0]})
    subjects = derive_subjects({"dm": _dm(), "ds": _ds(), "ex": ex}, load_protocol("NCT07334483"))
    assert subjects.filter(pl.col("USUBJID") == "1")["TREATED"].item() == "Y"
    placed = derive_status_at_cutoff(subjects, CUT)
    assert placed.filter(pl.col("USUBJID") == "1").select("TRTSDT", "TREATED").row(0) == (None, "N")
