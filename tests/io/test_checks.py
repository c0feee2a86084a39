"""The warnings of trialkit.validate, each on the tiny study with one thing changed.

Warnings never stop a run; each test asserts the exact finding (level, dataset, column) and
the hand-picked values its message must show.
"""

from __future__ import annotations

import polars as pl

from trialkit.io import read_study
from trialkit.io import validate_study


def _findings(study_dir, frames, report=None):
    return validate_study(study_dir(frames), report=report)


def _where(findings):
    return [(f.level, f.dataset, f.column) for f in findings]


def test_criteria_any_case_and_spacing_are_fine_other_criteria_warn(study_dir, tiny):
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("RSCAT", ["mRECIST", "recist  1.1", "RECIST 1.0"]))
    findings = _findings(study_dir, tiny)
    assert _where(findings) == [("warning", "rs", "RSCAT")]
    assert "'RECIST 1.0' (1)" in findings[0].message
    assert findings[0].rows == ("USUBJID 01-002: 'RECIST 1.0'",)


def test_assessor_outside_design_terms_warns(study_dir, tiny):
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("RSEVAL", ["Independent Assessor", "INVESTIGATOR", "SPONSOR"]))
    findings = _findings(study_dir, tiny)
    assert _where(findings) == [("warning", "rs", "RSEVAL")]
    assert "'SPONSOR' (1)" in findings[0].message


def test_odd_response_counts_each_value(study_dir, tiny):
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("RSSTRESC", ["CHECK", "cr", "CHECK"]))
    findings = _findings(study_dir, tiny)
    assert _where(findings) == [("warning", "rs", "RSSTRESC")]
    assert "2 response value(s) outside the expected terms: 'CHECK' (2)." in findings[0].message


def test_blank_arm_without_armnrs_warns_and_counts_as_not_assigned(study_dir, tiny):
    tiny["dm"] = tiny["dm"].with_columns(pl.Series("ARMNRS", [None, None, None, None], pl.String))
    findings = _findings(study_dir, tiny)
    assert _where(findings) == [("warning", "dm", "ARMCD")]
    assert findings[0].rows == ("USUBJID 03-004",)


def test_empty_optional_dataset_warns_empty_required_one_is_an_error(study_dir, tiny):
    tiny["ds"] = tiny["ds"].clear()
    tiny["tu"] = tiny["tu"].clear()
    findings = _findings(study_dir, tiny, report="waterfall")
    assert sorted(_where(findings)) == [("error", "tu", None), ("warning", "ds", None)]


def test_randomized_milestone_without_a_complete_date_warns(study_dir, tiny):
    # 01-002 is randomized (ARMCD B) but its DS milestone says only "2025-09": no RANDDT
    tiny["ds"] = tiny["ds"].with_columns(pl.Series("DSSTDTC", ["2025-09-10", "2025-09", "2025-09-12", "2025"]))
    study = read_study(study_dir(tiny))
    assert _where(study.findings) == [("warning", "ds", "DSSTDTC")]
    assert study.findings[0].rows == ("USUBJID 01-002: '2025-09'",)
    assert "1 RANDOMIZED milestone(s)" in study.findings[0].message


def test_text_in_a_numeric_column_shows_the_rows_and_the_fix(study_dir, tiny):
    tiny["tr"] = tiny["tr"].with_columns(pl.Series("TRSTRESN", ["50", "30mm", "40", "n/a"]))
    [finding] = _findings(study_dir, tiny)
    assert (finding.level, finding.dataset, finding.column, finding.kind) == (
        "error", "tr", "TRSTRESN", "ColumnTypeError")
    assert finding.rows == ("USUBJID 01-001: '30mm'", "USUBJID 01-002: 'n/a'")
    assert "column 'TRSTRESN' must hold numbers but 2 value(s) are text." in finding.message
    assert "Rows: USUBJID 01-001: '30mm'; USUBJID 01-002: 'n/a'\n" in finding.message


def test_adam_date_that_is_partial_is_an_error(study_dir, tiny):
    adsl = tiny["dm"].with_columns(pl.Series("RANDDT", ["2025-09-10", "2025-09", None, None]))
    [finding] = _findings(study_dir, {"dm": tiny["dm"], "adsl": adsl})
    assert (finding.dataset, finding.column, finding.kind) == ("adsl", "RANDDT", "DateFormatError")
    assert finding.rows == ("USUBJID 01-002: '2025-09'",)


def test_arm_and_screen_failure_mark_together_warn(study_dir, tiny):
    # 01-001 randomized to A in ARMCD, but ACTARMCD SCRNFAIL; 01-002 B with ARMNRS
    tiny["dm"] = tiny["dm"].with_columns(pl.Series("ACTARMCD", ["Scrnfail", "B", "SCRNFAIL", None]),
                                         pl.Series("ARMNRS", [None, "Screen Failure", None, "SCREEN FAILURE"]))
    findings = _findings(study_dir, tiny)
    assert _where(findings) == [("warning", "dm", "ARMCD")]
    assert findings[0].rows == ("USUBJID 01-001: 'A / Scrnfail'", "USUBJID 01-002: 'B / B / Screen Failure'")
    assert "2 subject(s) have an arm in ARMCD" in findings[0].message


# --------------------------------------------------------------------------------------------
# Values out of range, impossible times, files not read, a randomized subject without a date
# --------------------------------------------------------------------------------------------
def test_a_negative_diameter_is_an_error_and_zero_at_baseline_a_warning(study_dir, tiny):
    # 01-001: 50 -> 0 is a lesion that disappeared (fine); 01-002 measures 0 at baseline, -4 later
    tiny["tr"] = tiny["tr"].with_columns(pl.Series("TRSTRESN", [50.0, 0.0, 0.0, -4.0]))
    findings = _findings(study_dir, tiny)
    assert sorted(_where(findings)) == [("error", "tr", "TRSTRESN"), ("warning", "tr", "TRSTRESN")]
    error = next(f for f in findings if f.level == "error")
    assert error.rows == ("USUBJID 01-002: '-4.0'",) and "1 lesion diameter(s) are negative" in error.message
    warning = next(f for f in findings if f.level == "warning")
    assert warning.rows == ("USUBJID 01-002: '0.0'",) and "measure 0 mm at baseline" in warning.message


def test_dates_before_birth_or_after_today_warn(study_dir, tiny):
    import datetime as dt

    from trialkit.io import inspect_study

    tiny["dm"] = tiny["dm"].with_columns(pl.Series("BRTHDTC", ["1960-05-01", "1971", None, "1955-01-01"]))
    # 01-001 dosed in 1959 (before birth); 01-002's partial year 1971 cannot show it, and
    # an RS date after "today" (the data cannot have been extracted before it happened)
    tiny["ex"] = tiny["ex"].with_columns(pl.Series("EXSTDTC", ["1959-12-31", "2025-10-02T09:30", "2025-09-12"]))
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("RSDTC", ["2025-10-22", "2026-01", "2025-10-23"]))
    study = inspect_study(study_dir(tiny), today=dt.date(2025, 12, 31))
    assert sorted(_where(study.findings)) == [("warning", "ex", "EXSTDTC"), ("warning", "rs", "RSDTC")]
    before = next(f for f in study.findings if f.dataset == "ex")
    assert before.rows == ("USUBJID 01-001: '1959-12-31'",) and "before the subject's birth" in before.message
    after = next(f for f in study.findings if f.dataset == "rs")
    assert after.rows == ("USUBJID 01-001: '2026-01'",) and "after today (2025-12-31)" in after.message


def test_an_impossible_time_is_a_date_error(study_dir, tiny):
    tiny["ex"] = tiny["ex"].with_columns(pl.Series("EXSTDTC", ["2025-09-11T25:99", "2025-10-02T09:30", "2025-09-12T23:59:60"]))
    [finding] = _findings(study_dir, tiny)
    assert (finding.dataset, finding.column, finding.kind) == ("ex", "EXSTDTC", "DateFormatError")
    assert finding.rows == ("USUBJID 01-001: '2025-09-11T25:99'",)


def test_files_that_are_not_read_are_named(study_dir, tiny):
    folder = study_dir(tiny)
    (folder / "ds.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "dm (1).csv").write_text("USUBJID\n1\n")
    (folder / "dm.labels.json").write_text("{}")           # a known companion: not reported
    (folder / "README.md").write_text("notes")
    findings = validate_study(folder)
    assert _where(findings) == [("warning", "", None)]
    assert findings[0].rows == ("dm (1).csv", "ds.xlsx")
    assert "2 file(s)" in findings[0].message and "are not read as datasets" in findings[0].message


def test_a_randomized_subject_without_a_randomization_date_is_named(study_dir, tiny):
    from trialkit.study import validate_folder

    tiny["ds"] = tiny["ds"].filter(pl.col("USUBJID") != "01-002")
    _, findings = validate_folder(study_dir(tiny))
    assert _where(findings) == [("warning", "dm", "RANDDT")]
    assert findings[0].rows == ("USUBJID 01-002: 'B'",)
    assert "never used in its place" in findings[0].message
