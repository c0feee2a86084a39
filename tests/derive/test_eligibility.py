"""The eligibility re-check (trialkit.derive.eligibility) on hand-made 2-6 row frames, hand-computed."""

from __future__ import annotations

import copy
import datetime as dt

import polars as pl
import pytest

from trialkit.derive.eligibility import (
    compute_check,
    compute_check_values,
    compute_composite,
    derive_eligibility_recheck,
    derive_screening_values,
    describe_check,
    protocol_check,
    summarize_check_inputs,
)
from trialkit.protocol import Protocol, load_protocol

PROTOCOL = load_protocol("NCT07334483")


def _eval(frame: pl.DataFrame, code: str) -> list:
    return frame.select(compute_check(protocol_check(PROTOCOL, code)).alias("X"))["X"].to_list()


def test_leaf_checks_read_their_thresholds_from_the_protocol_file():
    frame = pl.DataFrame({"PLAT": [74.0, 75.0, None], "AGE": [17.0, 75.0, 76.0], "ECOG101": [1.0, 2.0, 0.0],
                          "VASCINV": ["VP3", "VP4", None], "BILI": [41.0, 41.1, 10.0], "BILI_ULN": [20.5, 20.5, 17.1]})
    assert _eval(frame, "INCL13B") == [False, True, None]          # PLAT >= 75
    assert _eval(frame, "INCL02") == [False, True, False]          # 18 <= AGE <= 75, both ends in
    assert _eval(frame, "INCL09") == [True, False, True]           # ECOG <= 1
    assert _eval(frame, "INCL05B") == [True, False, None]          # not VP4
    assert _eval(frame, "INCL13D") == [True, False, True]          # BILI <= 2 x the record's ULN (41.0 = 2 x 20.5)


def test_changing_a_threshold_in_the_protocol_changes_the_result():
    raw = copy.deepcopy(PROTOCOL.raw)
    for criterion in raw["eligibility"]:
        if criterion["ietestcd"] == "INCL13B":
            criterion["check"]["threshold"] = 100
    stricter = Protocol(raw=raw, source="test")
    values = pl.DataFrame({"USUBJID": ["1"], "PLAT": [80.0]})
    assert derive_eligibility_recheck(values, PROTOCOL)["INCL13B"].to_list() == [True]
    assert derive_eligibility_recheck(values, stricter)["INCL13B"].to_list() == [False]


CHILD_PUGH = protocol_check(PROTOCOL, "INCL10")["definition"]


@pytest.mark.parametrize(("bili", "alb", "inr", "ascites", "he", "score"), [
    (20.0, 40.0, 1.1, "ABSENT", "NONE", 5),              # 1+1+1+1+1
    (40.0, 30.0, 1.5, "MILD", "NONE", 8),                # 2+2+1+2+1: class B, not B7
    (34.0, 35.0, 1.7, "ABSENT", "NONE", 8),              # band edges: BILI 34 -> 2 (< 34 is 1), ALB 35 -> 2 (> 35 is 1), INR 1.7 -> 2
    (60.0, 25.0, 2.5, "SEVERE", "GRADE 3-4", 15),
    (20.0, None, 1.1, "ABSENT", "NONE", None),           # an input missing: unknown, never lower
])
def test_child_pugh_from_its_five_inputs(bili, alb, inr, ascites, he, score):
    frame = pl.DataFrame({"BILI": [bili], "ALB": [alb], "INR": [inr], "ASCITES": [ascites], "HEPENCEP": [he]},
                         schema_overrides={"ALB": pl.Float64})
    assert frame.select(compute_composite("CHILD_PUGH_SCORE", CHILD_PUGH).alias("S"))["S"].item() == score


CNLC = protocol_check(PROTOCOL, "INCL05A")["definition"]


@pytest.mark.parametrize(("ecog", "extrahep", "vascinv", "tumnum", "ldiam", "stage"), [
    (3.0, "N", "NONE", 1.0, 40.0, "IV"),       # PS >= 3
    (0.0, "Y", "NONE", 1.0, 40.0, "IIIB"),     # extrahepatic spread
    (0.0, "N", "VP2", 1.0, 40.0, "IIIA"),      # macrovascular invasion
    (0.0, "N", "NONE", 4.0, 20.0, "IIB"),      # 4 or more tumours
    (0.0, "N", "NONE", 3.0, 31.0, "IIA"),      # 2-3 tumours, largest > 3 cm
    (0.0, "N", "NONE", 2.0, 30.0, "IB"),       # 2-3 tumours, all <= 3 cm
    (1.0, "N", "NONE", 1.0, 51.0, "IB"),       # single > 5 cm
    (1.0, "N", "NONE", 1.0, 50.0, "IA"),       # single <= 5 cm
    (0.0, None, "NONE", 1.0, 40.0, None),      # a rule that cannot be told stops the staging
])
def test_cnlc_stage(ecog, extrahep, vascinv, tumnum, ldiam, stage):
    frame = pl.DataFrame({"ECOG101": [ecog], "EXTRAHEP": [extrahep], "VASCINV": [vascinv], "LESNUM": [tumnum],
                          "LDIAM": [ldiam], "BILI": [20.0], "ALB": [40.0], "INR": [1.1], "ASCITES": ["ABSENT"],
                          "HEPENCEP": ["NONE"]}, schema_overrides={"EXTRAHEP": pl.String})
    assert frame.select(compute_composite("CNLC", CNLC).alias("S"))["S"].item() == stage


def test_cockcroft_gault_and_the_creatinine_alternative():
    cg = protocol_check(PROTOCOL, "INCL13I")["any"][1]["definition"]
    frame = pl.DataFrame({"AGE": [60.0, 60.0], "SEX": ["M", "F"], "WEIGHT": [70.0, 70.0], "CREAT": [88.4, 88.4]})
    crcl = frame.select(compute_composite("CRCL_CG", cg).alias("C"))["C"].to_list()
    assert crcl == pytest.approx([80 * 70 / 72, 80 * 70 / 72 * 0.85])          # (140 - age) x kg / (72 x 1 mg/dL)
    # CREAT 200 > 1.5 x ULN 111, but CrCl = 80 x 90 / (72 x 200/88.4) = 44.2 < 50: fails; with 100 kg it passes
    frame = pl.DataFrame({"AGE": [60.0, 60.0], "SEX": ["M", "M"], "WEIGHT": [90.0, 130.0], "CREAT": [200.0, 200.0],
                          "CREAT_ULN": [111.0, 111.0]})
    assert _eval(frame, "INCL13I") == [False, True]


def test_values_take_the_last_screening_record_and_leave_out_other_units():
    subjects = pl.DataFrame({"USUBJID": ["1", "2", "3"], "AGE": [60.0, 45.0, 50.0], "SEX": ["M", "F", "M"],
                             "RANDDT": [dt.date(2025, 9, 20), None, None]})
    lb = pl.DataFrame({
        "USUBJID": ["1", "1", "1", "2", "3"],
        "LBTESTCD": ["PLAT", "PLAT", "PLAT", "PLAT", "BILI"],
        "LBSTRESN": [60.0, 90.0, 30.0, 150.0, 2.0],
        "LBSTRESU": ["10^9/L", "10^9/L", "10^9/L", "10*9/l", "mg/dL"],
        "LBSTNRHI": [350.0, 350.0, 350.0, 350.0, 1.2],
        "EPOCH": ["SCREENING", "SCREENING", "TREATMENT", "SCREENING", "SCREENING"],
        "LBDTC": ["2025-09-01", "2025-09-10", "2025-10-01", "2025-09-02", "2025-09-03"],
    })
    values, notes = derive_screening_values(subjects, {"lb": lb}, PROTOCOL)
    row = {r["USUBJID"]: r for r in values.iter_rows(named=True)}
    assert row["1"]["PLAT"] == 90.0            # the last screening record; the treatment-epoch one is not screening
    assert row["2"]["PLAT"] is None            # 10*9/l is not the protocol's 10^9/L: not compared
    assert row["3"]["BILI"] is None and row["3"]["BILI_ULN"] is None   # mg/dL, the rule is in umol/L
    assert row["1"]["AGE"] == 60.0 and row["2"]["SEX"] == "F"
    assert row["1"]["ECOG101"] is None        # no QS: not collected, a null column
    assert sorted(notes.select("TESTCD", "UNIT_FOUND", "RECORDS").rows()) == [("BILI", "mg/dL", 1), ("PLAT", "10*9/l", 1)]


def test_without_epoch_the_records_on_or_before_randomization_count():
    subjects = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [dt.date(2025, 9, 20), None]})
    lb = pl.DataFrame({"USUBJID": ["1", "1", "2"], "LBTESTCD": ["PLAT"] * 3, "LBSTRESN": [80.0, 40.0, 70.0],
                       "LBDTC": ["2025-09-20T08:00", "2025-10-11", "2025-12-01"]})
    values, _ = derive_screening_values(subjects, {"lb": lb}, PROTOCOL)
    assert dict(values.select("USUBJID", "PLAT").iter_rows()) == {"1": 80.0, "2": 70.0}


def test_recheck_is_one_column_per_checkable_criterion_and_null_when_not_evaluable():
    values = pl.DataFrame({"USUBJID": ["1", "2"], "HGB": [85.0, None], "ALB": [31.0, 29.0]})
    recheck = derive_eligibility_recheck(values, PROTOCOL)
    assert recheck.columns[0] == "USUBJID" and "INCL03" not in recheck.columns     # INCL03 has no machine check
    assert recheck.select("INCL13C", "INCL13H").rows() == [(False, True), (None, False)]


def test_the_text_of_a_rule_and_of_the_values_it_read():
    assert describe_check(protocol_check(PROTOCOL, "INCL13B")) == "PLAT ≥ 75 10^9/L"
    assert describe_check(protocol_check(PROTOCOL, "INCL02")) == "AGE 18–75 YEARS"
    assert describe_check(protocol_check(PROTOCOL, "INCL10")) == "Child-Pugh score ≤ 7"
    frame = pl.DataFrame({"CREAT": [200.0], "CREAT_ULN": [111.0], "AGE": [60.0], "SEX": ["M"], "WEIGHT": [90.0]})
    text = frame.select(compute_check_values(protocol_check(PROTOCOL, "INCL13I")).alias("T")).item()
    assert text == "CREAT 200 umol/L (ULN 111); CrCl 44 mL/min"


def test_urine_protein_and_hbv_dna_are_rechecked_when_a_protocol_gives_their_check():
    """The demo protocol leaves INCL12 / INCL13J to judgment (the demo collects neither); a file may check them."""
    raw = copy.deepcopy(PROTOCOL.raw)
    for criterion in raw["eligibility"]:
        if criterion["ietestcd"] == "INCL13J":
            criterion["check"] = {"any": [{"source": "LB", "testcd": "PROT", "op": "in", "threshold": ["NEGATIVE", "TRACE", "1+"]},
                                          {"source": "LB", "testcd": "PROT24H", "unit": "g", "op": "lt", "threshold": 1.0}]}
        if criterion["ietestcd"] == "INCL12":
            criterion["check"] = {"any": [{"source": "LB", "testcd": "HBSAG", "op": "in", "threshold": ["NEGATIVE"]},
                                          {"source": "LB", "testcd": "HBVDNA", "unit": "IU/mL", "op": "lt", "threshold": 2000}]}
    protocol = Protocol(raw=raw, source="test")
    subjects = pl.DataFrame({"USUBJID": ["1", "2", "3"], "RANDDT": [None, None, None]},
                            schema_overrides={"RANDDT": pl.Date})
    lb = pl.DataFrame({"USUBJID": ["1", "2", "2", "3", "3"],
                       "LBTESTCD": ["PROT", "PROT", "PROT24H", "HBSAG", "HBVDNA"],
                       "LBSTRESC": ["1+", "2+", "1.4", "POSITIVE", "500"], "LBSTRESN": [None, None, 1.4, None, 500.0],
                       "LBSTRESU": [None, None, "g", None, "IU/mL"]})
    values, _ = derive_screening_values(subjects, {"lb": lb}, protocol)
    recheck = derive_eligibility_recheck(values, protocol)
    assert recheck.select("INCL13J").to_series().to_list() == [True, False, None]   # 3: urine not collected
    assert recheck.select("INCL12").to_series().to_list() == [None, None, True]     # 3: HBsAg+, DNA < 2000
    assert {"PROT", "HBVDNA"} <= set(summarize_check_inputs(protocol)["TESTCD"].to_list())
