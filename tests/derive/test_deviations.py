"""The protocol's timing rules (trialkit.derive.deviations) at their boundaries, on hand-made frames.

Randomization is 2025-09-01 (study day 1) for every subject; the expected days and dates are
computed by hand from the protocol file's numbers (3, 21 ± 3, +7, C2D1, ± 7, 4 in 1-168).
"""

from __future__ import annotations

import copy
import datetime as dt

import polars as pl
import pytest

from trialkit.derive.deviations import (RULES, derive_deviations, derive_event_flags, describe_rules,
                                        summarize_deviations)
from trialkit.derive.exposure import derive_cycles, derive_treatment_records
from trialkit.protocol import Protocol, generic_protocol, load_protocol

PROTOCOL = load_protocol("NCT07334483")
RAND = dt.date(2025, 9, 1)
CAM, APA = PROTOCOL.treatment("CAMRELIZUMAB")["name"], PROTOCOL.treatment("APATINIB")["name"]
MAP, SIRT, CTACE = (PROTOCOL.treatment(k)["name"] for k in ("MAA_MAPPING", "SIRT", "CTACE"))


def day(n: int) -> str:
    """ISO date of study day n (day 1 = randomization, no day 0)."""
    return (RAND + dt.timedelta(days=n - 1 if n > 0 else n)).isoformat()


def subjects(*arms: str) -> pl.DataFrame:
    return pl.DataFrame({"USUBJID": [f"S{i}" for i in range(1, len(arms) + 1)], "ARMCD": list(arms),
                         "ARM_LABEL": list(arms), "SITE": ["01"] * len(arms), "RANDDT": [RAND] * len(arms)})


def ex(rows: list[tuple]) -> pl.DataFrame:
    """(USUBJID, EXTRT, start day, end day or None, dose)."""
    return pl.DataFrame({"USUBJID": [r[0] for r in rows], "EXTRT": [r[1] for r in rows],
                         "EXSTDTC": [day(r[2]) for r in rows],
                         "EXENDTC": [day(r[3]) if r[3] is not None else None for r in rows],
                         "EXDOSE": [float(r[4]) for r in rows]})


def pr(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame({"USUBJID": [r[0] for r in rows], "PRTRT": [r[1] for r in rows],
                         "PRSTDTC": [day(r[2]) for r in rows]})


def check(frames: dict, subj: pl.DataFrame, *, protocol: Protocol = PROTOCOL, cutoff: dt.date | None = None,
          ae: pl.DataFrame | None = None) -> list[tuple]:
    records = derive_cycles(derive_treatment_records(frames, subj, protocol=protocol, data_cutoff=cutoff))
    found = derive_deviations(records, subj, protocol=protocol, adverse_events=ae)
    return found.select("USUBJID", "RULE", "DAY").rows()


def cam_doses(subject: str, days: list[int]) -> list[tuple]:
    return [(subject, CAM, d, d, 200) for d in days]


def test_first_dose_on_day_4_is_on_time_day_5_late():
    # within 3 days of randomization: day 4 is 3 days after day 1
    frames = {"ex": ex(cam_doses("S1", [4]) + cam_doses("S2", [5]))}
    assert check(frames, subjects("B", "B")) == [("S2", "CAM_FIRST_DOSE_LATE", 5)]


@pytest.mark.parametrize("gap, rule", [(17, "CAM_INTERVAL_EARLY"), (18, None), (24, None), (25, None),
                                       (28, None), (29, "CAM_INTERVAL_LATE")])
def test_interval_boundaries(gap, rule):
    frames = {"ex": ex(cam_doses("S1", [1, 1 + gap]))}
    expected = [("S1", rule, 1 + gap)] if rule else []
    assert check(frames, subjects("B")) == expected


def test_a_late_dose_held_for_toxicity_is_not_a_deviation():
    frames = {"ex": ex(cam_doses("S1", [1, 36]) + cam_doses("S2", [1, 36]) + cam_doses("S3", [1, 36]))}
    ae = pl.DataFrame({"USUBJID": ["S1", "S2", "S3"], "AEDECOD": ["Colitis", "Rash", "Hypertension"],
                       "AEACN": ["DRUG INTERRUPTED"] * 3,
                       # S1: between the doses; S2: on the day of the late dose (not before it);
                       # S3: an interruption of another drug (AEACNTRT) does not excuse camrelizumab
                       "AESTDTC": [day(10), day(36), day(10)], "AEACNTRT": [None, None, APA]})
    assert check(frames, subjects("B", "B", "A"), ae=ae) == [("S2", "CAM_INTERVAL_LATE", 36),
                                                            ("S3", "CAM_INTERVAL_LATE", 36)]


def test_apatinib_from_c2d1():
    # S1 starts on C2D1 (the 2nd camrelizumab dose, day 22); S2 a day before; S3 has no C2
    frames = {"ex": ex(cam_doses("S1", [2, 22]) + [("S1", APA, 22, 40, 250)]
                       + cam_doses("S2", [2, 22]) + [("S2", APA, 21, 40, 250)]
                       + cam_doses("S3", [2]) + [("S3", APA, 30, 40, 250)])}
    assert check(frames, subjects("A", "A", "A")) == [("S2", "APA_BEFORE_C2D1", 21), ("S3", "APA_BEFORE_C2D1", 30)]


@pytest.mark.parametrize("start, end, listed", [
    (22, 42, False),    # ends SIRT-8 (SIRT on day 50)
    (22, 43, True),     # ends SIRT-7
    (58, 70, False),    # starts SIRT+8
    (57, 70, True),     # starts SIRT+7
    (22, 80, True),     # spans the SIRT
])
def test_apatinib_washout_around_a_sirt(start, end, listed):
    frames = {"ex": ex(cam_doses("S1", [2, 22]) + [("S1", APA, start, end, 250)]),
              "pr": pr([("S1", MAP, -5), ("S1", SIRT, 50)])}
    assert check(frames, subjects("A")) == ([("S1", "APA_SIRT_WASHOUT", start)] if listed else [])


def test_an_ongoing_apatinib_interval_runs_to_the_cutoff():
    frames = {"ex": ex(cam_doses("S1", [2, 22]) + [("S1", APA, 22, None, 250)]),
              "pr": pr([("S1", MAP, -5), ("S1", SIRT, 80)])}
    assert check(frames, subjects("A"), cutoff=dt.date.fromisoformat(day(60))) == []   # cutoff SIRT-20
    assert check(frames, subjects("A"), cutoff=dt.date.fromisoformat(day(73))) == [("S1", "APA_SIRT_WASHOUT", 22)]


def test_sirt_needs_a_mapping_on_or_before_its_date():
    frames = {"pr": pr([("S1", MAP, 5), ("S1", SIRT, 5), ("S2", SIRT, 5), ("S2", MAP, 6)]),
              "ex": ex([])}
    assert check(frames, subjects("C", "C")) == [("S2", "SIRT_NO_MAPPING", 5)]


@pytest.mark.parametrize("fifth, listed", [(168, True), (169, False)])
def test_ctace_limit_the_fifth_session_in_days_1_to_168(fifth, listed):
    frames = {"pr": pr([("S1", CTACE, d) for d in (10, 50, 90, 130, fifth)]), "ex": ex([])}
    assert check(frames, subjects("D")) == ([("S1", "CTACE_OVER_LIMIT", fifth)] if listed else [])


def test_four_sessions_up_to_day_168_are_allowed():
    frames = {"pr": pr([("S1", CTACE, d) for d in (10, 50, 90, 168)]), "ex": ex([])}
    assert check(frames, subjects("D")) == []


def test_arm_mismatch_from_the_arms_treatments_but_not_the_planning_procedure():
    frames = {"ex": ex(cam_doses("S1", [3])), "pr": pr([("S1", MAP, -3), ("S1", SIRT, 2), ("S2", MAP, -3),
                                                       ("S2", CTACE, 5)])}
    # S1 in arm C got camrelizumab (not in C); S2 in arm D had a mapping (planning, not treatment)
    assert check(frames, subjects("C", "D")) == [("S1", "ARM_MISMATCH", 3)]


def test_every_number_comes_from_the_protocol_file():
    raw = copy.deepcopy(PROTOCOL.raw)
    raw["treatments"]["CAMRELIZUMAB"].update(first_dose_within_days=5, interval_days=14, window_days=2,
                                             permitted_delay_days=4)
    raw["treatments"]["CTACE"].update(max_sessions=2, max_sessions_window_days=60)
    other = Protocol(raw=raw, source="test")
    frames = {"ex": ex(cam_doses("S1", [6, 18, 37])), "pr": pr([("S2", CTACE, d) for d in (5, 30, 60, 61)])}
    # day 6 = 5 days after randomization: on time; 12 days: within 14 ± 2; 19 days > 14 + 4: late
    assert check(frames, subjects("B", "D"), protocol=other) == [("S1", "CAM_INTERVAL_LATE", 37),
                                                                 ("S2", "CTACE_OVER_LIMIT", 60)]


def test_treatment_names_match_in_any_case():
    frames = {"ex": ex([("S1", "Camrelizumab", 5, 5, 200)])}
    assert check(frames, subjects("B")) == [("S1", "CAM_FIRST_DOSE_LATE", 5)]


def test_listing_columns_and_text():
    subj = subjects("B")
    records = derive_cycles(derive_treatment_records({"ex": ex(cam_doses("S1", [1, 17]))}, subj, protocol=PROTOCOL))
    found = derive_deviations(records, subj, protocol=PROTOCOL)
    assert found.columns[:8] == ["USUBJID", "ARM", "RULE", "DATE", "DAY", "EXPECTED", "OBSERVED", "DETAIL"]
    row = found.row(0, named=True)
    assert row["DATE"] == dt.date(2025, 9, 17)
    assert row["EXPECTED"] == "18–24 days (21 ± 3) after the previous dose"
    assert row["OBSERVED"] == "16 days after the previous dose (2025-09-01)"


def test_without_a_protocol_file_every_rule_says_it_was_skipped():
    generic = generic_protocol("X", arms={"A": "A"})
    rules = describe_rules(generic)
    assert rules["RULE"].to_list() == list(RULES)
    assert set(rules["STATUS"]) == {"skipped: the study has no protocol file, so no dosing rule is known"}
    assert "None" not in " ".join(rules["RULE_TEXT"])
    assert check({"ex": ex(cam_doses("S1", [9, 40]))}, subjects("A"), protocol=generic) == []


def test_rules_not_checked_without_their_data():
    rules = dict(describe_rules(PROTOCOL, frames={"ex": ex([])}).select("RULE", "STATUS").iter_rows())
    assert rules["CTACE_OVER_LIMIT"].startswith("not checked: the data folder has no PR dataset")
    assert rules["CAM_INTERVAL_LATE"].startswith("checked without the toxicity exception")
    assert rules["CAM_FIRST_DOSE_LATE"] == "checked"
    text = dict(describe_rules(PROTOCOL).select("RULE", "RULE_TEXT").iter_rows())
    assert "more than 3 days after randomization" in text["CAM_FIRST_DOSE_LATE"]
    assert "Intervals of 25–28 days are permitted delays" in text["CAM_INTERVAL_LATE"]


def test_counts_per_rule_include_zeros():
    found = pl.DataFrame({"USUBJID": ["1", "1", "2"], "RULE": ["CAM_INTERVAL_EARLY"] * 2 + ["ARM_MISMATCH"],
                          "ARM": ["A", "A", "C"]})
    table = summarize_deviations(found, describe_rules(PROTOCOL), groups=["A", "B", "C"])
    assert table["Rule"].to_list() == list(RULES)
    rows = {r[0]: r[2:] for r in table.rows()}
    assert rows["CAM_INTERVAL_EARLY"] == (2, 0, 0, 2, 1)
    assert rows["ARM_MISMATCH"] == (0, 0, 1, 1, 1)
    assert rows["CTACE_OVER_LIMIT"] == (0, 0, 0, 0, 0)


def test_a_deviation_flags_the_interval_that_holds_its_date():
    events = pl.DataFrame({"USUBJID": ["1", "1"], "EVENT": ["APATINIB", "APATINIB"],
                           "START_DATE": [dt.date(2025, 9, 22), dt.date(2025, 11, 1)],
                           "END_DATE": [dt.date(2025, 10, 30), None]})
    found = pl.DataFrame({"USUBJID": ["1"], "EVENT": ["APATINIB"], "RULE": ["APA_SIRT_WASHOUT"],
                          "DATE": [dt.date(2025, 10, 5)]})
    assert derive_event_flags(events, found)["DEVIATION"].to_list() == ["APA_SIRT_WASHOUT", None]
