"""Each subject's course (trialkit.derive.exposure) on hand-made frames with hand-computed expectations.

Randomization 2025-09-01 = study day 1 unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from trialkit.derive.exposure import (compute_interval_class, derive_cycles, derive_disposition,
                                      derive_dosing_intervals, derive_interruptions, derive_subsequent_therapy,
                                      derive_swimmer, derive_toxicity_holds, derive_treatment_records,
                                      select_overall_responses, summarize_exposure, summarize_hold_reasons,
                                      summarize_response_course, summarize_swimmer_by_arm,
                                      summarize_treatment_endings)
from trialkit.protocol import generic_protocol, load_protocol

PROTOCOL = load_protocol("NCT07334483")
RAND = dt.date(2025, 9, 1)


def d(n: int) -> dt.date:
    """The date of study day n."""
    return RAND + dt.timedelta(days=n - 1 if n > 0 else n)


def iso(n: int) -> str:
    return d(n).isoformat()


def subjects(arms: dict[str, str], **extra) -> pl.DataFrame:
    return pl.DataFrame({"USUBJID": list(arms), "ARMCD": list(arms.values()), "ARM_LABEL": list(arms.values()),
                         "SITE": ["01"] * len(arms), "RANDDT": [RAND] * len(arms), **extra})


def test_records_match_the_protocol_names_in_any_case_and_drop_doses_not_given():
    ex = pl.DataFrame({"USUBJID": ["1"] * 4, "EXTRT": ["camrelizumab", "Apatinib", "CAMRELIZUMAB", "ASPIRIN"],
                       "EXSTDTC": [iso(3), iso(24), iso(24), iso(5)], "EXENDTC": [iso(3), None, iso(24), iso(9)],
                       "EXDOSE": [200.0, 250.0, 200.0, 100.0], "EXOCCUR": [None, None, "N", None]})
    pr = pl.DataFrame({"USUBJID": ["1", "1"], "PRTRT": ["99mTc-MAA SPECT/CT mapping", "LIVER BIOPSY"],
                       "PRSTDTC": [iso(-4), iso(2)]})
    records = derive_treatment_records({"ex": ex, "pr": pr}, subjects({"1": "A"}), protocol=PROTOCOL,
                                       data_cutoff=d(60))
    # the dose not given (EXOCCUR N), the unknown drug and the procedure that is not study treatment are out
    assert records.select("KEY", "KIND", "START_DAY", "END_DAY", "ONGOING").rows() == [
        ("CAMRELIZUMAB", "DOSE", 3, 3, False), ("APATINIB", "INTERVAL", 24, 60, True),
        ("MAA_MAPPING", "PLANNING", -4, -4, False)]


def test_without_a_protocol_every_ex_drug_is_shown_and_an_open_interval_ends_at_the_last_dose():
    ex = pl.DataFrame({"USUBJID": ["1", "1"], "EXTRT": ["PLACEBO", "PLACEBO"], "EXDOSFRQ": ["QD", "QD"],
                       "EXSTDTC": [iso(1), iso(15)], "EXENDTC": [iso(14), None], "EXDOSE": [0.0, 0.0]})
    records = derive_treatment_records({"ex": ex}, subjects({"1": "Pbo"}), protocol=generic_protocol("X", arms=["Pbo"]))
    # a placebo dose of 0 is a dose; no cutoff: the open interval is not called ongoing
    assert records.select("KEY", "KIND", "START_DAY", "END_DAY", "ONGOING").rows() == [
        ("PLACEBO", "INTERVAL", 1, 14, False), ("PLACEBO", "INTERVAL", 15, 15, False)]


def test_cycles_and_interval_classes_from_the_protocol():
    ex = pl.DataFrame({"USUBJID": ["1"] * 4, "EXTRT": ["CAMRELIZUMAB"] * 4,
                       "EXSTDTC": [iso(40), iso(2), iso(19), iso(65)], "EXDOSE": [200.0] * 4})
    records = derive_cycles(derive_treatment_records({"ex": ex}, subjects({"1": "B"}), protocol=PROTOCOL))
    cam = PROTOCOL.treatment("CAMRELIZUMAB")
    out = records.with_columns(compute_interval_class(pl.col("GAP_DAYS"), cam).alias("C")).sort("CYCLE")
    assert out.select("CYCLE", "START_DAY", "GAP_DAYS", "C").rows() == [
        (1, 2, None, "FIRST"), (2, 19, 17, "EARLY"), (3, 40, 21, "ON SCHEDULE"), (4, 65, 25, "PERMITTED DELAY")]


def test_toxicity_hold_needs_an_ae_between_the_two_doses_on_this_drug():
    doses = pl.DataFrame({"USUBJID": ["1", "1", "2"], "NAME": ["CAMRELIZUMAB"] * 3,
                          "START": [d(1), d(36), d(36)], "PREV_START": [None, d(1), d(1)]})
    ae = pl.DataFrame({"USUBJID": ["1", "1", "2"], "AEDECOD": ["Rash", "Colitis", "Hypertension"],
                       "AEACN": ["DRUG INTERRUPTED", "Drug Interrupted", "DRUG INTERRUPTED"],
                       "AESTDTC": [iso(1), iso(20), iso(20)], "AEACNTRT": [None, "CAMRELIZUMAB", "APATINIB"]})
    # subject 1: the first AE between the doses (on the previous dose day counts); subject 2: another drug's AE
    assert derive_toxicity_holds(doses, ae)["HOLD_AE"].to_list() == [None, "Rash", None]


def test_intervals_merge_contiguous_records_and_name_reductions_and_interruptions():
    ex = pl.DataFrame({"USUBJID": ["1"] * 4, "EXTRT": ["APATINIB"] * 4,
                       "EXSTDTC": [iso(22), iso(31), iso(51), iso(71)], "EXENDTC": [iso(30), iso(40), iso(70), iso(90)],
                       "EXDOSE": [250.0, 250.0, 250.0, 125.0], "EXADJ": [None, None, None, "ADVERSE EVENT"]})
    records = derive_treatment_records({"ex": ex}, subjects({"1": "A"}), protocol=PROTOCOL)
    intervals = derive_dosing_intervals(records)
    assert intervals.select("START_DAY", "END_DAY", "REDUCED", "DOSE_CHANGE").rows() == [
        (22, 40, False, None), (51, 70, False, None), (71, 90, True, "REDUCED")]
    ae = pl.DataFrame({"USUBJID": ["1"], "AEDECOD": ["Hypertension"], "AEACN": ["DRUG INTERRUPTED"],
                       "AESTDTC": [iso(39)], "AEACNTRT": ["APATINIB"]})
    gaps = derive_interruptions(intervals, ae)
    assert gaps.select("START", "END", "REASON").rows() == [(d(41), d(50), "AE: Hypertension")]
    sirt = pl.DataFrame({"USUBJID": ["1"], "START": [d(45)], "LABEL": ["Y-90 SIRT"]})
    assert derive_interruptions(intervals, None, sirt, washout_days=7)["REASON"].to_list() == ["Y-90 SIRT washout"]


def rs(rows: list[tuple]) -> pl.DataFrame:
    """(USUBJID, day, response, RSCAT, RSEVAL, RSACPTFL)."""
    return pl.DataFrame({"USUBJID": [r[0] for r in rows], "RSTESTCD": ["OVRLRESP"] * len(rows),
                         "RSDTC": [iso(r[1]) for r in rows], "RSSTRESC": [r[2] for r in rows],
                         "RSCAT": [r[3] for r in rows], "RSEVAL": [r[4] for r in rows],
                         "RSACPTFL": [r[5] for r in rows]})


BICR, INV = "INDEPENDENT ASSESSOR", "INVESTIGATOR"


def test_responses_under_the_criteria_and_assessor_with_the_accepted_read():
    frame = rs([("1", -3, "SD", "MRECIST", BICR, "Y"),            # before randomization
                ("1", 43, "PR", "MRECIST", BICR, "Y"), ("1", 43, "SD", "MRECIST", BICR, None),   # two readers
                ("1", 85, "CHECK", "MRECIST", BICR, "Y"),           # not a response
                ("1", 85, "CR", "RECIST 1.1", BICR, "Y"), ("1", 85, "PD", "MRECIST", INV, None)])
    out, choice = select_overall_responses({"rs": frame}, subjects({"1": "A"}), protocol=PROTOCOL)
    assert (choice.criteria, choice.assessor) == ("MRECIST", "BICR")
    assert out.select("RESPONSE", "DAY").rows() == [("PR", 43)]
    assert "1 record(s) that are no response or have no complete date (CHECK) are not counted" in choice.note
    inv, _ = select_overall_responses({"rs": frame}, subjects({"1": "A"}), protocol=PROTOCOL, assessor="investigator")
    assert inv.select("RESPONSE", "DAY").rows() == [("PD", 85)]


def test_the_worst_response_of_a_date_counts():
    frame = rs([("1", 43, "PR", "MRECIST", BICR, None), ("1", 43, "PD", "MRECIST", BICR, None)])
    out, _ = select_overall_responses({"rs": frame}, subjects({"1": "A"}), protocol=PROTOCOL)
    assert out["RESPONSE"].to_list() == ["PD"]


def test_default_choice_falls_back_to_what_the_data_hold_but_an_explicit_one_does_not():
    frame = rs([("1", 43, "SD", "RECIST 1.1", INV, None)])
    out, choice = select_overall_responses({"rs": frame}, subjects({"1": "A"}), protocol=PROTOCOL)
    assert out["RESPONSE"].to_list() == ["SD"] and (choice.criteria, choice.assessor) == ("RECIST11", "INVESTIGATOR")
    assert "the protocol's primary choice, has no record" in choice.note
    none, choice = select_overall_responses({"rs": frame}, subjects({"1": "A"}), protocol=PROTOCOL, criteria="mRECIST",
                                            assessor="BICR")
    assert none.is_empty() and "responses cannot be shown" in choice.note


def test_adrs_overall_responses_leave_derived_records_out():
    adrs = pl.DataFrame({"USUBJID": ["1"] * 3, "PARAMCD": ["OVR", "OVR", "BOR"], "AVALC": ["SD", "PR", "PR"],
                         "ADT": [d(43), d(85), d(85)], "DTYPE": [None, "LOCF", None], "PARCAT2": ["Investigator"] * 3,
                         "PARCAT3": ["RECIST 1.1"] * 3})
    out, choice = select_overall_responses({"adrs": adrs}, subjects({"1": "A"}), protocol=PROTOCOL)
    assert out.select("RESPONSE", "DAY").rows() == [("SD", 43)]
    assert choice.assessor == "INVESTIGATOR"


def test_response_course_sd_minimum_duration_of_response_and_bor():
    resp = pl.DataFrame({"USUBJID": ["1", "2", "3", "3", "3", "4", "4"],
                         "DATE": [d(42), d(43), d(43), d(85), d(127), d(43), d(85)],
                         "RESPONSE": ["SD", "SD", "PR", "CR", "PD", "PR", "SD"]})
    subj = subjects({"1": "A", "2": "A", "3": "A", "4": "A", "5": "A"})
    deaths = pl.DataFrame({"USUBJID": ["4"], "DEATH_DATE": [d(100)]})
    course = summarize_response_course(resp, subj, protocol=PROTOCOL, deaths=deaths)
    # SD counts from randomization + 42 days (day 43); a PR ends at PD (days 43-127: 85 days) or death
    assert course.select("USUBJID", "BOR", "RESPONSE_DAYS", "RESPONSE_END").rows() == [
        ("1", "NE", None, None), ("2", "SD", None, None), ("3", "CR", 85, "PD"), ("4", "PR", 58, "DEATH"),
        ("5", "MISSING", None, None)]


def test_disposition_end_of_treatment_end_of_study_and_a_partial_death_date():
    subj = subjects({"1": "A", "2": "A", "3": "A"}, DTHDTC=[None, "2026-01", None])
    ds = pl.DataFrame({"USUBJID": ["1", "1", "2", "3"], "DSCAT": ["DISPOSITION EVENT"] * 3 + ["PROTOCOL MILESTONE"],
                       "DSDECOD": ["ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "PROGRESSIVE DISEASE", "RANDOMIZED"],
                       "EPOCH": ["TREATMENT", "FOLLOW-UP", "TREATMENT", "SCREENING"],
                       "DSSTDTC": [iso(60), iso(90), iso(100), iso(1)]})
    last = pl.DataFrame({"USUBJID": ["2"], "LAST_DATE": [dt.date(2026, 1, 10)]})
    out = derive_disposition({"ds": ds}, subj, last_dates=last)
    # the death of "2026-01" is imputed to 2026-01-01 but not before the last record (2026-01-10)
    assert out.select("EOT_REASON", "EOS_REASON", "DEATH_DATE", "DEATH_IMPUTED").rows() == [
        ("ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", None, False),
        ("PROGRESSIVE DISEASE", None, dt.date(2026, 1, 10), True), (None, None, None, False)]


def test_disposition_from_adsl_without_ds():
    adsl = subjects({"1": "A"}, EOSSTT=["DISCONTINUED"], EOSDT=[d(70)], DCSREAS=["ADVERSE EVENT"], TRTEDT=[d(60)])
    out = derive_disposition({}, adsl)
    assert out.select("EOT_DATE", "EOT_REASON", "EOS_DATE", "EOS_REASON").rows() == [
        (d(60), "ADVERSE EVENT", d(70), "ADVERSE EVENT")]


def test_subsequent_anticancer_therapy_after_randomization_only():
    cm = pl.DataFrame({"USUBJID": ["1"] * 4, "CMTRT": ["TACE", "ENTECAVIR", "LENVATINIB", "SORAFENIB"],
                       "CMCAT": ["PRIOR ANTICANCER THERAPY", "ANTIVIRAL THERAPY", "SUBSEQUENT ANTICANCER THERAPY",
                                 "ANTINEOPLASTIC AGENTS"],
                       "CMSTDTC": [iso(-300), iso(-30), iso(200), "2025-08"]})
    assert derive_subsequent_therapy({"cm": cm}, subjects({"1": "A"})).rows() == [("1", d(200), "LENVATINIB")]


def small_study():
    """Two subjects of arm A, one of arm D, at a cutoff of study day 120."""
    subj = subjects({"A1": "A", "A2": "A", "D1": "D"}, STATUS=["RANDOMIZED"] * 3, DTHDTC=[None, iso(80), None])
    ex = pl.DataFrame({
        "USUBJID": ["A1"] * 5 + ["A2"] * 3,
        "EXTRT": ["CAMRELIZUMAB"] * 4 + ["APATINIB"] + ["CAMRELIZUMAB"] * 2 + ["APATINIB"],
        "EXSTDTC": [iso(2), iso(23), iso(44), iso(86), iso(23), iso(2), iso(23), iso(23)],
        "EXENDTC": [iso(2), iso(23), iso(44), iso(86), None, iso(2), iso(23), iso(50)],
        "EXDOSE": [200.0] * 4 + [250.0] + [200.0] * 2 + [125.0]})
    pr = pl.DataFrame({"USUBJID": ["A1", "A1", "A2", "A2", "D1", "D1"],
                       "PRTRT": [PROTOCOL.treatment(k)["name"] for k in ("MAA_MAPPING", "SIRT", "MAA_MAPPING", "SIRT",
                                                                          "CTACE", "CTACE")],
                       "PRSTDTC": [iso(-5), iso(3), iso(-5), iso(4), iso(10), iso(60)]})
    ds = pl.DataFrame({"USUBJID": ["A2", "D1"], "DSCAT": ["DISPOSITION EVENT"] * 2,
                       "DSDECOD": ["PROGRESSIVE DISEASE", "ADVERSE EVENT"], "EPOCH": ["TREATMENT"] * 2,
                       "DSSTDTC": [iso(55), iso(70)]})
    rs_frame = rs([("A1", 43, "PR", "MRECIST", BICR, "Y"), ("A1", 85, "PR", "MRECIST", BICR, "Y"),
                   ("A2", 43, "PD", "MRECIST", BICR, "Y")])
    return {"ex": ex, "pr": pr, "ds": ds, "rs": rs_frame}, subj


def test_the_swimmer_subjects_and_events():
    frames, subj = small_study()
    swim = derive_swimmer(frames, subj, protocol=PROTOCOL, data_cutoff=d(120))
    assert swim.subjects.columns[:6] == ["USUBJID", "ARM", "RANDDT", "LAST_DAY", "END_STATUS", "ONGOING"]
    assert swim.subjects.select("USUBJID", "LAST_DAY", "END_STATUS", "ONGOING", "BOR", "CUTOFF_DAY").rows() == [
        ("A1", 120, "ON TREATMENT", "Y", "PR", 120), ("A2", 80, "DEATH", "N", "PD", 120),
        ("D1", 120, "TREATMENT ENDED", "N", "MISSING", 120)]
    ev = swim.events
    assert ev.columns[:6] == ["USUBJID", "ARM", "EVENT", "START_DAY", "END_DAY", "DETAIL"]
    a1 = ev.filter(pl.col("USUBJID") == "A1")
    assert a1.filter(pl.col("EVENT") == "CAMRELIZUMAB").select("START_DAY", "END_DAY", "CYCLE").rows() == [
        (2, None, 1), (23, None, 2), (44, None, 3), (86, None, 4)]
    # the ongoing apatinib interval ends at the cutoff; the response lasts from day 43 to the last scan (85)
    assert a1.filter(pl.col("EVENT") == "APATINIB").select("START_DAY", "END_DAY", "ONGOING").rows() == [(23, 120, True)]
    assert a1.filter(pl.col("EVENT") == "RESPONSE_DURATION").select("START_DAY", "END_DAY").rows() == [(43, 85)]
    dose_4 = a1.filter((pl.col("EVENT") == "CAMRELIZUMAB") & (pl.col("CYCLE") == 4)).row(0, named=True)
    assert dose_4["CLASS"] == "LATE" and "42 days after the previous dose (late)" in dose_4["DETAIL"]
    a2 = ev.filter(pl.col("USUBJID") == "A2")
    assert a2.filter(pl.col("EVENT").is_in(["DEATH", "DISCONTINUATION", "PD"])).select("EVENT", "START_DAY").rows() == [
        ("PD", 43), ("DISCONTINUATION", 55), ("DEATH", 80)]
    assert ev.select(pl.max_horizontal("START_DAY", "END_DAY").max()).item() <= 120    # nothing after the cutoff
    assert "No AE dataset" in " ".join(swim.notes) and "No CM dataset" in " ".join(swim.notes)


def test_a_randomized_subject_without_a_randomization_date_is_listed_not_drawn():
    frames, subj = small_study()
    subj = subj.with_columns(pl.when(pl.col("USUBJID") == "D1").then(None).otherwise(pl.col("RANDDT")).alias("RANDDT"))
    swim = derive_swimmer(frames, subj, protocol=PROTOCOL, data_cutoff=d(120))
    assert swim.not_shown["USUBJID"].to_list() == ["D1"] and "D1" not in swim.subjects["USUBJID"].to_list()


def test_exposure_summary_cycles_and_relative_dose_intensity():
    frames, subj = small_study()
    swim = derive_swimmer(frames, subj, protocol=PROTOCOL, data_cutoff=d(120))
    table = summarize_exposure(swim, protocol=PROTOCOL)
    rows = {r[0]: r[1:] for r in table.rows()}
    assert table.columns == ["Statistic", "A: SIRT + camrelizumab + apatinib", "D: cTACE", "All arms"]
    assert rows["Camrelizumab: cycles received, median (range)"][0] == "3.0 (2–4)"
    # A1: 4 doses of the 6 due from day 2 to the cutoff (days 2, 23, 44, 65, 86, 107): 66.7 %;
    # A2: 2 of 3 due from day 2 to the end of treatment on day 55 (days 2, 23, 44): 66.7 %
    assert rows["Camrelizumab: doses received of those due by the end of treatment, % median (range)"][0] == "66.7 (67–67)"
    # apatinib A1 250 mg x 98 days of 98: 100 %; A2 125 mg x 28 days of 28: 50 %
    assert rows["Apatinib: relative dose intensity vs 250 mg/day, % median (range)"][0] == "75.0 (50–100)"
    assert rows["Apatinib: dose reduced, subjects n (%)"][0] == "1 (50.0%)"
    assert rows["cTACE: sessions per subject, median (range)"][1] == "2.0 (2–2)"
    endings = summarize_treatment_endings(swim.subjects, arms=PROTOCOL.arm_labels)
    assert dict((r[0], r[-1]) for r in endings.rows()) == {
        "On study treatment at the data cutoff": "1 (33.3%)", "ADVERSE EVENT": "1 (33.3%)",
        "PROGRESSIVE DISEASE": "1 (33.3%)"}
    by_arm = summarize_swimmer_by_arm(swim.subjects, arms=PROTOCOL.arm_labels)
    assert dict((r[0], r[-1]) for r in by_arm.rows())["Died, n (%)"] == "1 (33.3%)"
    assert summarize_hold_reasons(swim, protocol=PROTOCOL).filter(pl.col("What") == "Apatinib dose reduced").height == 0
