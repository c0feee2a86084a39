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
    tiny["ie"] = tiny["ie"].clear()
    findings = _findings(study_dir, tiny, report="screening")
    assert sorted(_where(findings)) == [("error", "ie", None), ("warning", "ds", None)]


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
