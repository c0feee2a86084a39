"""The randomization date: ADSL.RANDDT, else the DS RANDOMIZED milestone, never the first dose (DESIGN section 2).

Each case holds first-dose data (DM.RFXSTDTC and EX doses, a date a wrong rule could fall back
to), so a fallback to the first dose cannot pass unnoticed.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from trialkit.derive.subjects import derive_randomization_date, derive_subjects
from trialkit.protocol import load_protocol
from trialkit.study import open_study

DM = pl.DataFrame({
    "STUDYID": ["ST561-1"] * 3, "USUBJID": ["S1", "S2", "S3"], "SITEID": ["01", "01", "02"],
    "ARMCD": ["A", "B", "C"], "ARM": ["A", "B", "C"],
    "RFICDTC": ["2025-09-01"] * 3,
    "RFSTDTC": ["2025-09-10", "2025-09-11", "2025-09-12"],      # sponsors often copy randomization here
    "RFXSTDTC": ["2025-09-12", "2025-09-13", "2025-09-14"],     # first dose: never the randomization date
})
EX = pl.DataFrame({"STUDYID": ["ST561-1"] * 3, "USUBJID": ["S1", "S2", "S3"], "EXTRT": ["CAMRELIZUMAB"] * 3,
                   "EXDOSE": [200.0] * 3, "EXSTDTC": ["2025-09-12", "2025-09-13", "2025-09-14"]})
# S1 has the milestone; S2 only an informed-consent record; S3 nothing in DS
DS = pl.DataFrame({"STUDYID": ["ST561-1"] * 3, "USUBJID": ["S1", "S1", "S2"],
                   "DSCAT": ["PROTOCOL MILESTONE"] * 3, "DSDECOD": ["INFORMED CONSENT OBTAINED", "RANDOMIZED",
                                                                     "INFORMED CONSENT OBTAINED"],
                   "DSSTDTC": ["2025-09-01", "2025-09-10", "2025-09-01"]})


def test_no_milestone_gives_no_randomization_date_even_with_a_first_dose():
    out = derive_randomization_date(DM, disposition=DS)
    assert out.select("USUBJID", "RANDDT", "RANDDT_SOURCE").rows() == [
        ("S1", dt.date(2025, 9, 10), "DS RANDOMIZED"), ("S2", None, None), ("S3", None, None)]


def test_derive_subjects_with_exposure_never_uses_the_first_dose_as_randomization():
    subjects = derive_subjects({"dm": DM, "ds": DS, "ex": EX}, load_protocol("NCT07334483")).sort("USUBJID")
    assert subjects["TRTSDT"].to_list() == [dt.date(2025, 9, 12), dt.date(2025, 9, 13), dt.date(2025, 9, 14)]
    assert subjects["RANDDT"].to_list() == [dt.date(2025, 9, 10), None, None]


def test_a_study_without_milestones_names_the_subjects_without_a_randomization_date(tmp_path):
    for name, frame in {"dm": DM, "ds": DS, "ex": EX}.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    data = open_study("swimmer", data_dir=tmp_path)
    assert data.randomized.sort("USUBJID")["RANDDT"].to_list() == [dt.date(2025, 9, 10), None, None]
    [warning] = [f for f in data.findings if f.column == "RANDDT"]
    assert warning.rows == ("USUBJID S2: 'B'", "USUBJID S3: 'C'")
    assert "The first dose is never used in its place" in warning.message
