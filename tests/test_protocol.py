"""The protocol file: loading, clear errors, and the shipped file's internal consistency."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources

import pytest

from trialkit.errors import ProtocolError
from trialkit.protocol import load_protocol

PROTOCOL = load_protocol("NCT07334483")


def test_loads_by_study_id_in_any_case_and_by_path(tmp_path):
    assert load_protocol("nct07334483").study_id == "NCT07334483"
    copy = tmp_path / "trial.yaml"
    copy.write_text((resources.files("trialkit.protocols") / "nct07334483.yaml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    assert load_protocol(copy).arm_codes == ["A", "B", "C", "D"]
    assert load_protocol(copy).source == str(copy)


@pytest.mark.parametrize("text, words", [
    ("study: [unclosed", ["not valid YAML"]),
    ("study: {id: X}\nsites: []\n", ["lacks", "arms", "treatments", "response", "eligibility"]),
])
def test_a_broken_protocol_file_is_a_clear_error(tmp_path, text, words):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as error:
        load_protocol(path)
    assert str(path) in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_unknown_study_names_the_shipped_ones(tmp_path):
    with pytest.raises(ProtocolError, match="NCT07334483"):
        load_protocol("NCT00000000")
    with pytest.raises(ProtocolError, match="does not exist"):
        load_protocol(tmp_path / "missing.yaml")


def test_unknown_arm_and_treatment_say_what_exists():
    with pytest.raises(ProtocolError, match="A, B, C, D"):
        PROTOCOL.arm("E")
    with pytest.raises(ProtocolError, match="CAMRELIZUMAB"):
        PROTOCOL.treatment("SORAFENIB")


def test_arms_are_the_protocols_four_groups_with_known_treatments():
    assert PROTOCOL.arm_codes == ["A", "B", "C", "D"]
    assert PROTOCOL.raw["randomization_ratio"] == [1, 1, 1, 1]
    treatments = set(PROTOCOL.raw["treatments"])
    for arm in PROTOCOL.arms:
        assert set(arm["treatments"]) <= treatments, arm["armcd"]
    assert "camrelizumab + apatinib" in PROTOCOL.arm("A")["arm"]
    assert PROTOCOL.arm("D")["treatments"] == ["CTACE"]
    assert [s["siteid"] for s in PROTOCOL.sites] == ["01", "02", "03"]


def test_dosing_rules_match_the_registered_protocol():
    """The protocol text: C1D1 within 3 days; every 3 weeks +/- 3 days; delay up to 7 days;
    apatinib from C2D1, off at least 7 days before and after SIRT; <= 4 cTACE in 24 weeks."""
    cam, apa, ctace = (PROTOCOL.treatment(k) for k in ("CAMRELIZUMAB", "APATINIB", "CTACE"))
    assert (cam["first_dose_within_days"], cam["interval_days"], cam["window_days"],
            cam["permitted_delay_days"]) == (3, 21, 3, 7)
    assert (apa["start"], apa["sirt_washout_days"]) == ("C2D1", 7)
    assert (ctace["max_sessions"], ctace["max_sessions_window_days"]) == (4, 24 * 7)
    assert PROTOCOL.treatment("SIRT")["requires_prior"] == "MAA_MAPPING"


def test_eligibility_catalog_covers_every_numbered_criterion_once():
    codes = [c["ietestcd"] for c in PROTOCOL.eligibility]
    assert not [c for c, n in Counter(codes).items() if n > 1], "duplicate IETESTCD"
    assert all(len(c) <= 8 for c in codes), "IETESTCD is at most 8 characters (SDTM)"
    numbers = {(c[:4], int(re.match(r"[A-Z]{4}(\d+)", c).group(1))) for c in codes}
    # the registered protocol numbers inclusion criteria 2-14 and exclusion criteria 2-33
    assert {n for k, n in numbers if k == "INCL"} == set(range(2, 15))
    assert {n for k, n in numbers if k == "EXCL"} == set(range(2, 34))
    for criterion in PROTOCOL.eligibility:
        assert criterion["iecat"] == ("INCLUSION" if criterion["ietestcd"].startswith("INCL") else "EXCLUSION")
        assert criterion["ietest"] and len(criterion["ietest"]) <= 200
        assert criterion["category"]


def test_machine_checkable_criteria_carry_the_protocols_thresholds():
    by_code = {c["ietestcd"]: c for c in PROTOCOL.eligibility}
    platelets = [c for c in PROTOCOL.eligibility if c.get("check", {}).get("testcd") == "PLAT"]
    assert len(platelets) == 1 and platelets[0]["check"]["op"] == "ge" and platelets[0]["check"]["threshold"] == 75
    assert by_code["INCL02"]["check"]["threshold"] == [18, 75]
    ecog = [c for c in PROTOCOL.eligibility if c.get("check", {}).get("testcd") == "ECOG101"]
    assert ecog and ecog[0]["check"]["op"] == "le" and ecog[0]["check"]["threshold"] == 1
    cnlc = by_code["INCL05A"]["check"]
    assert cnlc["composite"] == "CNLC" and cnlc["threshold"] == ["IB", "IIA", "IIB", "IIIA"]


def test_response_thresholds_follow_recist_and_the_design():
    response = PROTOCOL.response
    assert (response["pr_pct"], response["pd_pct"], response["pd_min_abs_mm"]) == (-30, 20, 5)
    assert (response["sd_min_days"], response["confirmation_min_days"]) == (42, 28)
    assert response["primary"] == {"endpoint": "ORR", "criteria": "MRECIST", "assessor": "BICR"}
    assert response["assessors"]["BICR"] == "INDEPENDENT ASSESSOR"
