"""The overview derivations on hand-made 3-6 row frames."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from trialkit.derive.overview import (
    summarize_datasets,
    summarize_screening_by_site,
    summarize_site_table,
    summarize_subjects_by_arm_site,
)
from trialkit.derive.scope import derive_left_out, drop_left_out, summarize_left_out
from trialkit.derive.subjects import derive_subject_status
from trialkit.protocol import load_protocol

LABELS = {"A": "A: a", "B": "B: b", "C": "C: c", "D": "D: d"}


def _dm() -> pl.DataFrame:
    return pl.DataFrame({
        "USUBJID": ["1", "2", "3", "4", "5", "6"],
        "SITEID": ["01", "01", "02", "02", "02", "03"],
        "ARMCD": ["A", "Scrnfail", "B", None, "A", "NOTASSGN"],
        "ARMNRS": [None, None, None, "SCREEN FAILURE", None, None],
        "RFICDTC": ["2025-09-01", "2025-09-02", "2025-10-01", "2025-10", "2026-01-05", "2025-11-01"],
    })


def test_status_under_both_sdtmig_conventions():
    assert derive_subject_status(_dm())["STATUS"].to_list() == [
        "RANDOMIZED", "SCREEN FAILURE", "RANDOMIZED", "SCREEN FAILURE", "RANDOMIZED", "OTHER"]


def test_status_follows_both_sdtmig_arm_conventions():
    dm = pl.DataFrame({
        "USUBJID": ["1", "2", "3", "4", "5", "6"], "SITEID": ["01"] * 6,
        # SDTMIG <= 3.2 codes, then SDTMIG >= 3.3 blank arms with ARMNRS
        "ARMCD": ["Scrnfail", "NOTASSGN", "A", None, None, "B"],
        "ACTARMCD": ["Scrnfail", "NOTASSGN", "NOTTRT", None, None, None],
        "ARMNRS": [None, None, None, "SCREEN FAILURE", "NOT ASSIGNED", "ASSIGNED, NOT TREATED"]})
    assert derive_subject_status(dm)["STATUS"].to_list() == [
        "SCREEN FAILURE", "OTHER", "RANDOMIZED", "SCREEN FAILURE", "OTHER", "RANDOMIZED"]


def test_input_is_not_modified():
    dm = _dm()
    derive_subject_status(dm)
    assert dm.columns == _dm().columns and dm.equals(_dm())


def filter_subjects(subjects, **filters):
    return drop_left_out(derive_left_out(subjects, **filters))


def test_filters_sites_arms_and_cutoff():
    subjects = derive_subject_status(_dm())
    assert filter_subjects(subjects, sites=["02"])["USUBJID"].to_list() == ["3", "4", "5"]
    # arms filter keeps the non-randomized (their screening counts stay whole)
    assert filter_subjects(subjects, arms=["B"])["USUBJID"].to_list() == ["2", "3", "4", "6"]
    # consent after the cutoff drops the subject; a partial date cannot be compared and is kept
    assert filter_subjects(subjects, data_cutoff="2025-12-31")["USUBJID"].to_list() == ["1", "2", "3", "4", "6"]
    typed = subjects.with_columns(pl.lit(dt.date(2026, 2, 1)).alias("RFICDTC"))
    assert filter_subjects(typed, data_cutoff=dt.date(2025, 12, 31)).height == 0


def test_screening_by_site_has_every_stage_with_zeros():
    result = summarize_screening_by_site(derive_subject_status(_dm()))
    assert result.with_columns(pl.col("STATUS").cast(pl.String)).drop("SITE").rows() == [
        ("01", "SCREENED", 2), ("01", "RANDOMIZED", 1), ("01", "SCREEN FAILURE", 1),
        ("02", "SCREENED", 3), ("02", "RANDOMIZED", 2), ("02", "SCREEN FAILURE", 1),
        ("03", "SCREENED", 1), ("03", "RANDOMIZED", 0), ("03", "SCREEN FAILURE", 0),
    ]


def test_subjects_by_arm_site_lists_every_protocol_arm():
    result = summarize_subjects_by_arm_site(derive_subject_status(_dm()), arm_labels=LABELS)
    assert result.height == 3 * 4
    assert result.filter(pl.col("N") > 0).drop("SITE").rows() == [("01", "A", "A: a", 1), ("02", "A", "A: a", 1),
                                                     ("02", "B", "B: b", 1)]


def test_site_table_with_total_row():
    table = summarize_site_table(derive_subject_status(_dm()), arm_labels=LABELS)
    assert table.columns == ["Site", "Screened", "Screen failures", "Randomized", "Other, not randomized",
                             "A: a", "B: b", "C: c", "D: d"]
    assert table.rows()[-1] == ("All sites", 6, 2, 3, 1, 2, 1, 0, 0)


def test_sites_are_labelled_with_protocol_names_and_unknown_codes_kept():
    dm = _dm().with_columns(pl.when(pl.col("USUBJID") == "6").then(pl.lit("99")).otherwise("SITEID").alias("SITEID"))
    subjects = derive_subject_status(dm, site_labels=load_protocol("NCT07334483").site_labels)
    table = summarize_site_table(subjects, arm_labels=LABELS)
    assert table["Site"].to_list() == ["01 Beijing Tsinghua Changgung Hospital", "02 Nanjing Tianyinshan Hospital",
                                       "99", "All sites"]
    screening = summarize_screening_by_site(subjects)
    assert screening.select("SITEID", "SITE").unique().sort("SITEID").rows()[-1] == ("99", "99")


def test_datasets_summary_keeps_only_file_names():
    frames = {"dm": pl.DataFrame({"A": [1, 2]}), "ae": pl.DataFrame({"A": [1], "B": [2]})}
    result = summarize_datasets(frames, {"dm": Path("/secret/folder/DM.xpt"), "ae": "/x/ae.csv"}, rows_read={"dm": 5})
    assert result.rows() == [("AE", "ae.csv", 1, 1, 2), ("DM", "DM.xpt", 5, 2, 1)]


def test_arm_labels_from_the_protocol():
    assert load_protocol("NCT07334483").arm_labels == {
        "A": "A: SIRT + camrelizumab + apatinib", "B": "B: SIRT + camrelizumab", "C": "C: SIRT alone",
        "D": "D: cTACE"}


def test_derive_never_imports_altair():
    import subprocess
    import sys

    code = "import sys, trialkit.derive.overview; assert 'altair' not in sys.modules, 'altair imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_subject_left_out_by_the_filters_is_listed_with_its_reason():
    subjects = derive_left_out(derive_subject_status(_dm()), sites=["01", "02"], arms=["A"],
                               data_cutoff="2025-12-31")
    # 6 (site 03) out by site; 3 (arm B) out by arm; 5 consented 2026-01-05, after the cutoff;
    # 4 has a partial consent date (2025-10) and stays; 1 and 2 stay
    assert summarize_left_out(subjects).select("Subject", "Reason").rows() == [
        ("3", "arm not in the arms filter"),
        ("5", "consented after the data cutoff 2025-12-31"),
        ("6", "site not in the sites filter"),
    ]
    kept = drop_left_out(subjects)
    assert sorted(kept["USUBJID"]) == ["1", "2", "4"]
    assert kept.height + summarize_left_out(subjects).height == _dm().height


def test_no_filters_leave_no_one_out():
    assert derive_left_out(derive_subject_status(_dm()))["LEFT_OUT"].null_count() == _dm().height


def test_adsl_of_randomized_subjects_only_shows_no_screening_columns():
    adsl = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "02"], "ARMCD": ["A", "B"]}))
    table = summarize_site_table(adsl, arm_labels=LABELS, screening=False)
    assert table.columns == ["Site", "Randomized", "A: a", "B: b", "C: c", "D: d"]
    assert table.rows()[-1] == ("All sites", 2, 1, 1, 0, 0)
    assert summarize_screening_by_site(adsl, screening=False)["STATUS"].cast(pl.String).unique().to_list() == ["RANDOMIZED"]
