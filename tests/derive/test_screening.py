"""Screening derivations (trialkit.derive.screening, .consort) on one hand-made study of 7 screening attempts.

The study (every number below is counted by hand from it):

    USUBJID SITE SUBJID  outcome                    consent     end         IE
    S1      01   01-001  randomized to A            2025-09-01  2025-09-15
    S2      01   01-002  screen failure             2025-09-03  2025-09-20  INCL13B, EXCL03
    S3      02   02-001  screen failure             2025-10-01  2025-11-05  INCL13B
    S4      02   02-002  not assigned (withdrew)    2025-10-02  2025-10-10
    S5      02   02-003  screen failure, no IE      2025-10-05  2025-10-06
    S6      01   01-006  screen failure             2025-08-01  2025-08-10  INCL12   } one person,
    S7      01   01-006  randomized to B            2025-10-01  2025-10-20           } rescreened
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from scipy.stats import chi2

from trialkit.derive import consort as flow
from trialkit.derive import screening as scr
from trialkit.io import Study
from trialkit.protocol import generic_protocol, load_protocol
from trialkit.study import StudyParams, prepare_study

PROTOCOL = load_protocol("NCT07334483")
IDS = ["S1", "S2", "S3", "S4", "S5", "S6", "S7"]


def _frames() -> dict[str, pl.DataFrame]:
    dm = pl.DataFrame({
        "STUDYID": ["ST561-1"] * 7, "USUBJID": IDS,
        "SUBJID": ["01-001", "01-002", "02-001", "02-002", "02-003", "01-006", "01-006"],
        "SITEID": ["01", "01", "02", "02", "02", "01", "01"],
        "ARMCD": ["A", "SCRNFAIL", "SCRNFAIL", "NOTASSGN", "SCRNFAIL", "SCRNFAIL", "B"],
        "RFICDTC": ["2025-09-01", "2025-09-03", "2025-10-01", "2025-10-02", "2025-10-05", "2025-08-01", "2025-10-01"],
        "AGE": [60.0, 55.0, 70.0, 50.0, 65.0, 58.0, 58.0], "SEX": ["M", "F", "M", "M", "F", "M", "M"],
        "BRTHDTC": ["1965-01-01", "1970-02-02", "1955-03-03", "1975-04-04", "1960-05-05", "1967-06-06", "1967-06-06"],
    })
    ds = pl.DataFrame({
        "USUBJID": ["S1", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S1"],
        "DSCAT": ["PROTOCOL MILESTONE", "PROTOCOL MILESTONE"] + ["DISPOSITION EVENT"] * 5 + ["PROTOCOL MILESTONE",
                                                                                           "DISPOSITION EVENT"],
        "DSDECOD": ["INFORMED CONSENT OBTAINED", "RANDOMIZED", "SCREEN FAILURE", "SCREEN FAILURE",
                    "WITHDRAWAL BY SUBJECT", "SCREEN FAILURE", "SCREEN FAILURE", "RANDOMIZED", "ADVERSE EVENT"],
        "EPOCH": ["SCREENING"] * 8 + ["TREATMENT"],
        "DSSTDTC": ["2025-09-01", "2025-09-15", "2025-09-20", "2025-11-05", "2025-10-10", "2025-10-06", "2025-08-10",
                    "2025-10-20", "2025-11-01"],
    })
    ie = pl.DataFrame({
        "USUBJID": ["S2", "S2", "S3", "S6"], "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION", "INCLUSION"],
        "IETESTCD": ["INCL13B", "EXCL03", "INCL13B", "INCL12"], "IESTRESC": ["N", "Y", "N", "N"],
        "IEDTC": ["2025-09-20", "2025-09-20", "2025-11-05", "2025-08-10"],
    })
    ex = pl.DataFrame({"USUBJID": ["S1"], "EXTRT": ["CAMRELIZUMAB"], "EXDOSE": [200.0], "EXSTDTC": ["2025-09-17"]})
    pr = pl.DataFrame({"USUBJID": ["S1"], "PRTRT": ["YTTRIUM [90Y] MICROSPHERE SIRT"], "PRSTDTC": ["2025-09-25"]})
    lb = pl.DataFrame({  # S1 randomized with platelets 60 (fails INCL13B); S3's recorded INCL13B is met (PLAT 150)
        "USUBJID": ["S1", "S2", "S3"], "LBTESTCD": ["PLAT"] * 3, "LBSTRESN": [60.0, 50.0, 150.0],
        "LBSTRESU": ["10^9/L"] * 3, "EPOCH": ["SCREENING"] * 3, "LBDTC": ["2025-09-05", "2025-09-10", "2025-10-15"]})
    return {"dm": dm, "ds": ds, "ie": ie, "ex": ex, "pr": pr, "lb": lb}


def _analysis(frames=None, cutoff: dt.date | None = dt.date(2025, 12, 31), protocol=PROTOCOL, **kwargs):
    frames = frames or _frames()
    study = Study(data_dir=Path("."), files={}, frames=frames, protocol=protocol)
    data = prepare_study(study, StudyParams(study=None, data_dir=Path("."), demo=False, data_cutoff=cutoff))
    return scr.create_screening(data.subjects, data.frames, protocol, data_cutoff=cutoff, source=data.source,
                                has_screening=data.has_screening, **kwargs)


@pytest.fixture(scope="module")
def analysis():
    return _analysis()


def test_screening_subjects_one_row_per_attempt(analysis):
    s = {r["USUBJID"]: r for r in analysis.subjects.iter_rows(named=True)}
    assert analysis.subjects.columns[:4] == ["USUBJID", "SITEID", "STATUS", "N_FAILED_CRITERIA"]
    assert [s[u]["OUTCOME"] for u in IDS] == ["RANDOMIZED", "SCREEN FAILURE", "SCREEN FAILURE", "NOT ASSIGNED",
                                             "SCREEN FAILURE", "SCREEN FAILURE", "RANDOMIZED"]
    assert [s[u]["N_FAILED_CRITERIA"] for u in IDS] == [0, 2, 1, 0, 0, 1, 0]
    assert s["S2"]["FAILED_CRITERIA"] == ["INCL13B", "EXCL03"]          # catalog order
    assert [s[u]["SCREENING_DAYS"] for u in IDS] == [14, 17, 35, 8, 1, 9, 19]
    assert [s[u]["OVER_WINDOW"] for u in IDS] == ["N", "N", "Y", "N", "N", "N", "N"]   # window 28 days
    assert s["S4"]["DS_REASON"] == "WITHDRAWAL BY SUBJECT" and s["S1"]["DS_REASON"] is None


def test_a_rescreened_person_counts_once_with_both_attempts_listed(analysis):
    s = {r["USUBJID"]: r for r in analysis.subjects.iter_rows(named=True)}
    assert (s["S6"]["PERSON"], s["S6"]["ATTEMPT"], s["S6"]["COUNTED"]) == ("S7", 1, "N")
    assert (s["S7"]["PERSON"], s["S7"]["ATTEMPT"], s["S7"]["COUNTED"], s["S7"]["LINK_SOURCE"]) == ("S7", 2, "Y", "SUBJID")
    listed = scr.summarize_rescreened(analysis.subjects)
    assert listed.select("Subject", "Attempt", "Counted in the funnel").rows() == [("S6", 1, "N"), ("S7", 2, "Y")]


def test_funnel_per_site_and_all_sites(analysis):
    funnel = {(r["SITEID"], r["STAGE"]): r["N"] for r in analysis.funnel.iter_rows(named=True)}
    assert [funnel[("ALL", k)] for k in scr.FUNNEL_STAGES] == [6, 3, 1, 0, 2, 1]
    assert [funnel[("01", k)] for k in scr.FUNNEL_STAGES] == [3, 1, 0, 0, 2, 1]
    assert [funnel[("02", k)] for k in scr.FUNNEL_STAGES] == [3, 2, 1, 0, 0, 0]
    table = scr.summarize_funnel_table(analysis.funnel)
    assert table.row(2) == ("All sites", "6", "3 (50.0%)", "1 (16.7%)", "0", "2 (33.3%)", "1")


def test_other_link_conventions_suppdm_and_relsub():
    dm = pl.DataFrame({"USUBJID": ["A-1", "A-2", "A-3", "A-4"], "SUBJID": ["1", "2", "3", "4"], "SITEID": ["01"] * 4})
    supp = pl.DataFrame({"USUBJID": ["A-2"], "QNAM": ["RSUBJID"], "QVAL": ["A-1"]})
    rel = pl.DataFrame({"USUBJID": ["A-4"], "RSUBJID": ["A-3"], "SREL": ["Rescreened subject"]})
    links = scr.derive_rescreen_links(dm, suppdm=supp, relsub=rel)
    assert links.rows() == [("A-2", "A-1", "SUPPDM.RSUBJID"), ("A-4", "A-3", "RELSUB")]
    att = dm.with_columns(pl.Series("SCRSTDT", [dt.date(2025, 1, d) for d in (1, 9, 2, 3)]))
    persons = scr.derive_persons(att, links).sort("USUBJID")
    assert persons["PERSON"].to_list() == ["A-2", "A-2", "A-4", "A-4"]
    assert persons["COUNTED"].to_list() == ["N", "Y", "N", "Y"]


def test_a_chain_of_three_attempts_is_one_person():
    att = pl.DataFrame({"USUBJID": ["a", "b", "c"], "SCRSTDT": [dt.date(2025, 1, d) for d in (1, 2, 3)]})
    links = pl.DataFrame({"USUBJID": ["b", "c"], "LINKED_USUBJID": ["a", "b"], "LINK_SOURCE": ["SUBJID", "RELSUB"]})
    persons = scr.derive_persons(att, links)
    assert persons["PERSON"].to_list() == ["c"] * 3 and persons["ATTEMPT"].to_list() == [1, 2, 3]
    assert persons["LINK_SOURCE"].to_list() == ["RELSUB, SUBJID"] * 3


def test_possible_rescreens_are_listed_not_merged():
    frames = _frames()
    frames["dm"] = frames["dm"].with_columns(  # S7 gets its own subject number: no link in the data any more
        pl.when(pl.col("USUBJID") == "S7").then(pl.lit("01-007")).otherwise(pl.col("SUBJID")).alias("SUBJID"))
    analysis = _analysis(frames)
    assert analysis.funnel.filter((pl.col("SITEID") == "ALL") & (pl.col("STAGE") == "SCREENED"))["N"].item() == 7
    assert analysis.possible_rescreens.select("USUBJID_1", "USUBJID_2").rows() == [("S6", "S7")]


def test_failures_by_criterion_count_screen_failure_attempts(analysis):
    by = {r["IETESTCD"]: r for r in analysis.by_criterion.iter_rows(named=True)}
    assert analysis.by_criterion.columns[:6] == ["IECAT", "IETESTCD", "IETEST", "CATEGORY", "N_SUBJECTS",
                                                 "PCT_OF_SCREEN_FAILURES"]
    # screen failures: S2, S3, S5 and S6 (a rescreened person's failed attempt is a screen failure too)
    assert (by["INCL13B"]["N_SUBJECTS"], by["INCL13B"]["PCT_OF_SCREEN_FAILURES"]) == (2, 50.0)
    assert (by["EXCL03"]["N_SUBJECTS"], by["INCL12"]["N_SUBJECTS"]) == (1, 1)
    assert by["INCL07"]["N_SUBJECTS"] == 0 and by["INCL07"]["DENOMINATOR"] == 4              # zeros are listed
    assert len([r for r in by.values() if r["SOURCE"] == "IE"]) == len(PROTOCOL.eligibility)
    assert (by["SCREEN FAILURE, NO CRITERION RECORDED"]["N_SUBJECTS"],
            by["SCREEN FAILURE, NO CRITERION RECORDED"]["PCT_OF_SCREEN_FAILURES"]) == (1, 25.0)
    withdrew = by["WITHDRAWAL BY SUBJECT"]
    assert (withdrew["N_SUBJECTS"], withdrew["PCT_OF_SCREEN_FAILURES"]) == (1, None)   # not a screen failure
    assert by["INCL13B"]["GROUP"] == "Laboratory" and by["EXCL03"]["GROUP"] == "Disease stage"


def test_zero_criteria_can_be_left_out_and_sites_have_their_own_denominator():
    analysis = _analysis(include_zero=False)
    # groups in the protocol file's order: disease stage, comorbidity, laboratory
    assert analysis.by_criterion.filter(pl.col("SOURCE") == "IE")["IETESTCD"].to_list() == ["EXCL03", "INCL12",
                                                                                              "INCL13B"]
    site = {(r["SITEID"], r["IETESTCD"]): r for r in analysis.by_criterion_site.iter_rows(named=True)}
    assert (site[("01", "INCL13B")]["N_SUBJECTS"], site[("01", "INCL13B")]["DENOMINATOR"]) == (1, 2)   # S2; S2, S6
    assert site[("02", "INCL13B")]["PCT_OF_SCREEN_FAILURES"] == 50.0                                   # S3 of S3, S5
    assert site[("02", "INCL13B")]["USUBJIDS"] == ["S3"]


def test_failures_one_row_per_subject_and_criterion(analysis):
    assert analysis.failures.select("USUBJID", "SITEID", "IECAT", "IETESTCD", "CATEGORY").rows() == [
        ("S2", "01", "INCLUSION", "INCL13B", "Laboratory values"),
        ("S2", "01", "EXCLUSION", "EXCL03", "Tumour burden / extent"),
        ("S3", "02", "INCLUSION", "INCL13B", "Laboratory values"),
        ("S6", "01", "INCLUSION", "INCL12", "Viral hepatitis")]


def test_an_ie_record_saying_the_criterion_was_met_is_not_a_failure():
    ie = pl.DataFrame({"USUBJID": ["1", "1"], "IECAT": ["INCLUSION", "EXCLUSION"], "IETESTCD": ["INCL13B", "EXCL03"],
                       "IEORRES": ["Y", "N"]})
    assert scr.derive_failed_criteria(ie, PROTOCOL).is_empty()


def test_co_failures_are_the_sets_of_two_or_more(analysis):
    sets = analysis.co_failures
    assert sets.select("LABEL", "N", "USUBJIDS", "SINGLE_SUBJECTS").rows() == [("INCL13B + EXCL03", 1, ["S2"], 2)]


def test_duration_summary(analysis):
    table = scr.summarize_screening_duration(analysis.subjects, window_days=28)
    assert table.rows() == [("Randomized", "2", "16", "14–19", "0 (0.0%)"),
                            ("Screen failure", "4", "13", "1–35", "1 (25.0%)"),
                            ("Not assigned", "1", "8", "8–8", "0 (0.0%)")]


def test_by_month_counts_every_attempt_and_randomization(analysis):
    months = analysis.by_month.filter(pl.col("STAGE") == "SCREENED").group_by("MONTH").agg(pl.col("N").sum()).sort("MONTH")
    assert months.rows() == [(dt.date(2025, 8, 1), 1), (dt.date(2025, 9, 1), 2), (dt.date(2025, 10, 1), 4)]
    last = analysis.by_month.filter((pl.col("SITEID") == "01") & (pl.col("STAGE") == "RANDOMIZED")).sort("MONTH")
    assert last["CUMULATIVE"].to_list() == [0, 1, 2]


def test_a_screen_failure_recorded_after_the_cutoff_was_still_in_screening():
    analysis = _analysis(cutoff=dt.date(2025, 10, 31))
    s = {r["USUBJID"]: r for r in analysis.subjects.iter_rows(named=True)}
    assert s["S3"]["OUTCOME"] == "IN SCREENING AT CUTOFF" and s["S3"]["N_FAILED_CRITERIA"] == 0  # its IE is later
    funnel = {r["STAGE"]: r["N"] for r in analysis.funnel.filter(pl.col("SITEID") == "ALL").iter_rows(named=True)}
    assert (funnel["SCREEN FAILURE"], funnel["IN SCREENING AT CUTOFF"]) == (2, 1)
    assert analysis.by_criterion.filter(pl.col("IETESTCD") == "INCL13B")["DENOMINATOR"].item() == 3


def test_recheck_discrepancies_both_ways(analysis):
    found = analysis.discrepancies.select("DIRECTION", "USUBJID", "IETESTCD", "IE_RECORD", "VALUES").rows()
    assert found == [(scr.RANDOMIZED_FAILS, "S1", "INCL13B", "N", "PLAT 60 10^9/L"),
                     (scr.NOT_SUPPORTED, "S3", "INCL13B", "Y", "PLAT 150 10^9/L")]
    cov = analysis.recheck_coverage.filter(pl.col("IETESTCD") == "INCL13B").row(0, named=True)
    # PLAT of S1, S2, S3 only; the other 4 attempts have no platelet count: not evaluable, never "eligible"
    assert (cov["N_CHECKED"], cov["N_NOT_EVALUABLE"], cov["N_FAIL_RANDOMIZED"], cov["N_FAIL_SCREEN_FAILURES"]) == (3, 4, 1, 1)


def test_screen_failure_listing_carries_the_values(analysis):
    listing = scr.summarize_screen_failure_listing(analysis.subjects, analysis.failures, analysis.values, PROTOCOL)
    rows = {r["Subject"]: r for r in listing.iter_rows(named=True)}
    assert rows["S2"]["Criteria failed"] == "INCL13B, EXCL03"
    assert rows["S2"]["Screening values of the checkable criteria"] == "INCL13B: PLAT 50 10^9/L; EXCL03: TUMBURD missing"
    assert set(rows) == {"S2", "S3", "S4", "S5", "S6"}


# ---------------------------------------------------------------------------------------- CONSORT
def test_consort_boxes(analysis):
    n = dict(analysis.consort.select("BOX", "N").iter_rows())
    assert [n[b] for b in ("assessed", "excluded", "criteria", "declined", "other", "randomized")] == [6, 4, 2, 1, 1, 2]
    assert [n[f"allocated.{a}"] for a in "ABCD"] == [1, 1, 0, 0]
    assert (n["received.A"], n["not_received.B"], n["discontinued.A"], n["analysed.B"]) == (1, 1, 1, 1)
    reasons = analysis.consort.filter(pl.col("KIND") == "reason").select("PARENT", "LABEL", "N").rows()
    assert ("criteria", "Laboratory", 2) in reasons and ("criteria", "Disease stage", 1) in reasons
    assert ("other", "Screen failure, no criterion recorded", 1) in reasons
    assert ("discontinued.A", "Adverse event", 1) in reasons
    assert ("not_received.B", "No study-treatment record by the cutoff", 1) in reasons
    details = dict(analysis.consort.filter(pl.col("KIND") == "detail").select("BOX", "N").iter_rows())
    assert (details["received.A.SIRT"], details["received.A.CAMRELIZUMAB"], details["received.A.APATINIB"]) == (1, 1, 0)
    members = dict(analysis.consort.select("BOX", "USUBJIDS").iter_rows())
    assert members["excluded"] == ["S2", "S3", "S4", "S5"] and members["randomized"] == ["S1", "S7"]


def test_consort_arithmetic(analysis):
    checks = {r["BOX"]: r for r in analysis.consort_checks.iter_rows(named=True)}
    assert all(c["RESULT"] == "adds up" for b, c in checks.items() if b != "criteria")
    # S2 failed a laboratory criterion and a disease-stage one: the groups add to 3 for 2 subjects
    assert (checks["criteria"]["SUM"], checks["criteria"]["DIFFERENCE"], checks["criteria"]["RESULT"]) == (3, 1, "explained")
    assert checks["criteria"]["EXPLANATION"].startswith("1 subject(s) failed criteria of more than one group")
    table = flow.summarize_consort_table(analysis.consort)
    assert table.columns[:4] == ["STAGE", "GROUP", "LABEL", "N"]


def test_consort_arithmetic_reports_a_box_that_does_not_add_up(analysis):
    broken = analysis.consort.with_columns(
        pl.when(pl.col("BOX") == "declined").then(pl.lit(3)).otherwise(pl.col("N")).alias("N"))
    checks = {r["BOX"]: r for r in flow.check_consort(broken).iter_rows(named=True)}
    assert (checks["excluded"]["SUM"], checks["excluded"]["DIFFERENCE"], checks["excluded"]["RESULT"]) == (
        6, 2, "does not add up")


def test_consort_from_adsl_end_of_study_status():
    adsl = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01"] * 3, "ARM": ["A", "A", "Scrnfail"],
                         "ARMCD": ["A", "A", "Scrnfail"], "RANDDT": [dt.date(2025, 1, 1), dt.date(2025, 1, 2), None],
                         "TRTSDT": [dt.date(2025, 1, 2), dt.date(2025, 1, 3), None],
                         "EOSSTT": ["COMPLETED", "DISCONTINUED", None], "DCSREAS": [None, "ADVERSE EVENT", None]})
    study = Study(data_dir=Path("."), files={}, frames={"adsl": adsl}, protocol=PROTOCOL)
    data = prepare_study(study, StudyParams(study=None, data_dir=Path("."), demo=False, data_cutoff=None))
    analysis = scr.create_screening(data.subjects, data.frames, PROTOCOL, source="ADSL")
    n = dict(analysis.consort.select("BOX", "N").iter_rows())
    assert (n["assessed"], n["randomized"], n["received.A"], n["completed.A"], n["discontinued.A"]) == (3, 2, 2, 1, 1)
    assert any("ADaM only" in note for note in analysis.notes)


# ---------------------------------------------------------------------------------------- recruitment
def test_poisson_interval_is_garwood_exact():
    lower, upper = scr.compute_poisson_rate_ci(2, 91)
    assert lower * 91 == pytest.approx(chi2.ppf(0.025, 4) / 2) == pytest.approx(0.2422, abs=1e-4)
    assert upper * 91 == pytest.approx(chi2.ppf(0.975, 6) / 2) == pytest.approx(7.2247, abs=1e-4)
    assert scr.compute_poisson_rate_ci(0, 10)[0] == 0.0


def test_recruitment_projection(analysis):
    row = analysis.outlook.row(0, named=True)
    ref = dt.date(2025, 12, 31)
    # the 91 days ending on the cutoff start 2025-10-02: S7 (2025-10-20) only, S1 was randomized before
    assert (row["TARGET"], row["RANDOMIZED"], row["REMAINING"], row["N_WINDOW"]) == (120, 2, 118, 1)
    assert row["WINDOW_START"] == dt.date(2025, 10, 2)
    lower, upper = scr.compute_poisson_rate_ci(1, 91)
    assert row["TARGET_DATE"] == ref + dt.timedelta(days=118 * 91)             # 118 remaining at 1 per 91 days
    assert row["TARGET_DATE_EARLIEST"] == ref + dt.timedelta(days=int(-(-118 // upper)))
    assert row["TARGET_DATE_LATEST"] == ref + dt.timedelta(days=int(-(-118 // lower)))
    assert row["RATE_PER_MONTH"] == pytest.approx(1 / 91 * 365.25 / 12)


def test_recruitment_window_counts_only_its_days():
    subjects = pl.DataFrame({"OUTCOME": ["RANDOMIZED"] * 3, "COUNTED": ["Y"] * 3,
                             "RANDDT": [dt.date(2026, 1, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 31)]})
    out = scr.summarize_recruitment(subjects, target=5, reference_date=dt.date(2026, 3, 31), window_days=31).row(0, named=True)
    assert (out["N_WINDOW"], out["REMAINING"]) == (2, 2)            # 2026-03-01 .. 2026-03-31
    assert out["TARGET_DATE"] == dt.date(2026, 3, 31) + dt.timedelta(days=31)     # 2 remaining / (2 per 31 days)
    reached = scr.summarize_recruitment(subjects, target=2, reference_date=dt.date(2026, 3, 31)).row(0, named=True)
    assert (reached["REACHED"], reached["TARGET_DATE"]) == (True, dt.date(2026, 3, 1))
    none = scr.summarize_recruitment(subjects, target=None, reference_date=None).row(0, named=True)
    assert none["REFERENCE_DATE"] == dt.date(2026, 3, 31) and none["TARGET_DATE"] is None


# ---------------------------------------------------------------------------------------- what cannot be shown
def test_a_study_without_ie_or_protocol_says_what_it_cannot_show():
    frames = {k: v for k, v in _frames().items() if k not in ("ie", "lb")}
    generic = generic_protocol("ST561-1", arms={"A": "A", "B": "B"}, sites=["01", "02"])
    analysis = _analysis(frames, protocol=generic)
    text = " ".join(analysis.notes)
    assert "no IE dataset" in text and "no eligibility catalog" in text and "no recruitment target" in text
    assert analysis.by_criterion.filter(pl.col("SOURCE") == "IE").is_empty()
    assert analysis.recheck_coverage.is_empty() and analysis.discrepancies.is_empty()
    by = dict(analysis.by_criterion.select("IETESTCD", "N_SUBJECTS").iter_rows())
    assert by == {"SCREEN FAILURE, NO CRITERION RECORDED": 4, "WITHDRAWAL BY SUBJECT": 1}
    n = dict(analysis.consort.select("BOX", "N").iter_rows())
    assert (n["assessed"], n["criteria"], n["other"], n["received.A"]) == (6, 0, 3, 1)


def test_inputs_are_never_modified():
    frames = _frames()
    copies = {k: v.clone() for k, v in frames.items()}
    _analysis(frames)
    assert all(frames[k].equals(copies[k]) for k in frames)


def test_a_suppdm_link_in_a_data_folder_is_read_by_the_report(tmp_path):
    from trialkit.study import open_study

    frames = _frames()
    frames["dm"] = frames["dm"].with_columns(pl.when(pl.col("USUBJID") == "S7").then(pl.lit("01-007"))
                                             .otherwise(pl.col("SUBJID")).alias("SUBJID"))
    for name in ("dm", "ds", "ie"):
        frames[name].with_columns(pl.lit("ST561-1").alias("STUDYID")).write_parquet(tmp_path / f"{name}.parquet")
    pl.DataFrame({"STUDYID": ["ST561-1"], "RDOMAIN": ["DM"], "USUBJID": ["S7"], "IDVAR": [""], "IDVARVAL": [""],
                  "QNAM": ["RSUBJID"], "QLABEL": ["Earlier screening of this person"], "QVAL": ["S6"]}
                 ).write_parquet(tmp_path / "suppdm.parquet")
    data = open_study("screening", data_dir=tmp_path, data_cutoff="2025-12-31")
    analysis = scr.create_screening(data.subjects, data.frames, data.protocol, data_cutoff=data.params.data_cutoff)
    s7 = analysis.subjects.filter(pl.col("USUBJID") == "S7").row(0, named=True)
    assert (s7["N_ATTEMPTS"], s7["LINK_SOURCE"]) == (2, "SUPPDM.RSUBJID")
