"""The demo as a data transfer (issue 8): the clinic calendar, AE behind every hold and
reduction, CM, SV, AG and the trial-design datasets, checked on the written SDTM with plain
polars; calendar expectations are the State Council's published dates, written here."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from trialkit.demo.dates import ClinicCalendar, days_to_dates, to_day
from trialkit.protocol import load_protocol

PROTOCOL = load_protocol("NCT07334483")
CAM = PROTOCOL.treatment("CAMRELIZUMAB")
APA = PROTOCOL.treatment("APATINIB")


@pytest.fixture(scope="module")
def transfer(demo_dir):
    frames = {p.stem: pl.read_parquet(p) for p in demo_dir.glob("*.parquet")}
    return frames, json.loads((demo_dir / "demo_truth.json").read_text())


# ---------------------------------------------------------------- the clinic calendar
@pytest.mark.parametrize("day, working", [
    (dt.date(2026, 2, 17), False),        # Spring Festival
    (dt.date(2026, 2, 23), False),        # the last day of the 2026 Spring Festival break (a Monday)
    (dt.date(2026, 2, 14), True),         # a Saturday worked in exchange (make-up working day)
    (dt.date(2026, 1, 4), True),          # a Sunday worked in exchange for 2 January
    (dt.date(2026, 10, 1), False),        # National Day
    (dt.date(2026, 3, 7), False),         # an ordinary Saturday
    (dt.date(2026, 3, 9), True),          # an ordinary Monday
])
def test_the_calendar_is_chinas_with_make_up_working_days(day, working):
    cal = ClinicCalendar("CN", dt.date(2025, 6, 1), dt.date(2027, 6, 30))
    assert bool(cal.is_working(np.array([to_day(day)]))[0]) is working


def test_a_dose_due_in_the_spring_festival_moves_to_the_first_working_day_after_it():
    cal = ClinicCalendar("CN", dt.date(2025, 6, 1), dt.date(2027, 6, 30))
    due = to_day(dt.date(2026, 2, 17))
    moved = cal.nearest_working(np.array([due]), np.array([due - 3]), np.array([due + 7]))
    assert days_to_dates(moved)[0] == dt.date(2026, 2, 24)
    # when the allowance ends inside the break, the previous working day is taken
    moved = cal.nearest_working(np.array([due]), np.array([due - 5]), np.array([due + 5]))
    assert days_to_dates(moved)[0] == dt.date(2026, 2, 14)


# ---------------------------------------------------------------- AE behind holds and reductions
def test_every_permitted_hold_has_its_immune_related_ae(transfer):
    d, truth = transfer
    holds = truth["permitted_holds"]
    assert holds, "the demo plants no immune-related hold"
    cam = (d["ex"].filter(pl.col("EXTRT") == CAM["name"]).select("USUBJID", D=pl.col("EXSTDTC").str.to_date())
           .sort("USUBJID", "D").with_columns(PREV=pl.col("D").shift(1).over("USUBJID")))
    ae = d["ae"].filter(pl.col("AEACN") == "DRUG INTERRUPTED").select(
        "USUBJID", "AEACNTRT", "AEIRAE", "AETOXGR", S=pl.col("AESTDTC").str.to_date())
    for h in holds:
        late = cam.filter((pl.col("USUBJID") == h["USUBJID"]) & (pl.col("D") == dt.date.fromisoformat(h["DATE"])))
        assert late.height == 1
        gap = (late["D"][0] - late["PREV"][0]).days
        assert gap > CAM["interval_days"] + PROTOCOL.raw["visits"]["holiday_delay_max_days"]
        behind = ae.filter((pl.col("USUBJID") == h["USUBJID"]) & (pl.col("S") >= late["PREV"][0])
                           & (pl.col("S") < late["D"][0]) & (pl.col("AEACNTRT") == CAM["name"]))
        assert behind.height == 1 and behind["S"][0].isoformat() == h["AESTDTC"]
        assert behind["AEIRAE"][0] == "Y" and behind["AETOXGR"][0] in {"2", "3"}


def test_every_apatinib_reduction_and_interruption_has_its_ae(transfer):
    d, _ = transfer
    apa = (d["ex"].filter(pl.col("EXTRT") == APA["name"])
           .select("USUBJID", "EXDOSE", "EXADJ", S=pl.col("EXSTDTC").str.to_date(), E=pl.col("EXENDTC").str.to_date())
           .sort("USUBJID", "S").with_columns(PREV_E=pl.col("E").shift(1).over("USUBJID"),
                                              PREV_DOSE=pl.col("EXDOSE").shift(1).over("USUBJID")))
    assert set(apa["EXDOSE"]) == {APA["dose"], APA["reduced_dose"]}
    ae = d["ae"].filter(pl.col("AEACNTRT") == APA["name"]).select("USUBJID", "AEACN", A=pl.col("AESTDTC").str.to_date())
    # a reduced interval says why, and an AE on or before its start explains it
    reduced = apa.filter(pl.col("EXDOSE") == APA["reduced_dose"])
    assert reduced.height > 0 and (reduced["EXADJ"] == "ADVERSE EVENT").all()
    first_reduced = reduced.filter(pl.col("PREV_DOSE") == APA["dose"])
    found = first_reduced.join(ae.filter(pl.col("AEACN").is_in(["DRUG INTERRUPTED", "DOSE REDUCED"])), on="USUBJID") \
        .filter(pl.col("A") <= pl.col("S")).select("USUBJID", "S").unique()
    assert found.height == first_reduced.select("USUBJID", "S").unique().height
    # every interruption AE falls in a gap between two intervals (or after the last one)
    interrupted = ae.filter(pl.col("AEACN") == "DRUG INTERRUPTED")
    assert interrupted.height > 0


def test_ae_records_use_cdisc_terms_and_ctcae_grades(transfer):
    d, _ = transfer
    ae = d["ae"]
    assert set(ae["AEACN"]) <= {"DRUG INTERRUPTED", "DOSE REDUCED", "DRUG WITHDRAWN", "DOSE NOT CHANGED", "NOT APPLICABLE"}
    assert set(ae["AETOXGR"]) <= {"1", "2", "3", "4", "5"}
    assert set(ae["AEREL"]) <= {"RELATED", "NOT RELATED"} and set(ae["AEIRAE"]) <= {"Y", "N"}
    assert set(ae["AEOUT"]) <= {"RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED"}
    assert ae.filter(pl.col("AEIRAE") == "Y").height > 0
    ends = ae.filter(pl.col("AEENDTC").is_not_null())
    assert (ends["AESTDTC"] <= ends["AEENDTC"]).all()
    treated = d["dm"].filter(pl.col("RFXSTDTC").is_not_null()).select("USUBJID", "RFXSTDTC")
    started = ae.join(treated, on="USUBJID", how="left")
    assert started["RFXSTDTC"].null_count() == 0 and (started["AESTDTC"] >= started["RFXSTDTC"]).all()


# ---------------------------------------------------------------- CM, SV, AG, TI, TS
def test_subsequent_therapy_follows_the_end_of_treatment_and_prior_therapy_precedes_consent(transfer):
    d, _ = transfer
    cm = d["cm"]
    eot = d["ds"].filter(pl.col("EPOCH") == "TREATMENT").select("USUBJID", EOT=pl.col("DSSTDTC"))
    subsequent = cm.filter(pl.col("CMCAT") == "SUBSEQUENT ANTICANCER THERAPY").join(eot, on="USUBJID", how="left")
    assert subsequent.height > 0 and subsequent["EOT"].null_count() == 0
    assert (subsequent["CMSTDTC"] > subsequent["EOT"]).all()
    prior = cm.filter(pl.col("CMCAT") == "PRIOR ANTICANCER THERAPY").join(d["dm"].select("USUBJID", "RFICDTC"), on="USUBJID")
    assert (prior["CMSTDTC"] < prior["RFICDTC"].str.slice(0, 7)).all()
    # screen failures excluded for prior therapy carry it in CM
    for code, scat in (("EXCL07", "SYSTEMIC"), ("EXCL09", "LOCOREGIONAL")):
        failed = set(d["ie"].filter(pl.col("IETESTCD") == code)["USUBJID"])
        carried = set(prior.filter(pl.col("CMSCAT") == scat)["USUBJID"])
        assert failed <= carried, code


def test_every_visit_of_the_transfer_is_in_sv(transfer):
    d, _ = transfer
    sv = d["sv"]
    assert sv.select("VISITNUM", "VISIT").unique().group_by("VISITNUM").len()["len"].max() == 1   # one name per number
    assert sv.select("VISITNUM", "VISIT").unique().group_by("VISIT").len().filter(
        pl.col("VISIT") != "UNSCHEDULED")["len"].max() == 1
    visits = pl.concat([
        d["rs"].select("USUBJID", "VISITNUM", D="RSDTC"),
        d["ex"].filter(pl.col("VISITNUM").is_not_null()).select("USUBJID", "VISITNUM", D="EXSTDTC"),
        d["lb"].select("USUBJID", "VISITNUM", D="LBDTC"),
    ]).unique()
    joined = visits.join(sv, on=["USUBJID", "VISITNUM"], how="left")
    assert joined["SVSTDTC"].null_count() == 0
    assert ((joined["D"] >= joined["SVSTDTC"]) & (joined["D"] <= joined["SVENDTC"])).all()


def test_each_ctace_session_has_its_chemotherapy_and_lipiodol(transfer):
    d, _ = transfer
    sessions = d["pr"].filter(pl.col("PRTRT") == PROTOCOL.treatment("CTACE")["name"]).select("USUBJID", "PRLNKID", "PRSTDTC")
    ag = d["ag"]
    assert sessions.height > 0 and ag.height == 2 * sessions.height
    per = ag.group_by("USUBJID", "AGLNKID", "AGSTDTC").agg(pl.col("AGTRT").sort(), pl.col("AGDOSU").sort())
    both = sessions.join(per, left_on=["USUBJID", "PRLNKID", "PRSTDTC"], right_on=["USUBJID", "AGLNKID", "AGSTDTC"])
    assert both.height == sessions.height
    assert all(t == ["EPIRUBICIN", "ETHIODIZED OIL"] for t in both["AGTRT"].to_list())
    assert all(u == ["mL", "mg"] for u in both["AGDOSU"].to_list())


def test_trial_design_datasets_hold_the_protocol(transfer):
    d, truth = transfer
    assert d["ti"]["IETESTCD"].to_list() == [c["ietestcd"] for c in PROTOCOL.eligibility]
    ts = dict(d["ts"].select("TSPARMCD", "TSVAL").iter_rows())
    assert ts["DCUTDTC"] == truth["cutoff"] and ts["REGID"] == PROTOCOL.study_id
    assert ts["PLANSUB"] == str(PROTOCOL.study["planned_randomized"]) and ts["NARMS"] == str(len(PROTOCOL.arms))
    assert ts["RANDOM"] == "Y" and d["ts"]["TSSEQ"].to_list() == list(range(1, d["ts"].height + 1))


def test_lab_test_codes_are_cdisc_controlled_terms(transfer):
    d, _ = transfer
    # CDISC LBTESTCD (C65047): platelets are PLAT, never PLT
    assert set(d["lb"]["LBTESTCD"]) <= {"PLAT", "NEUT", "HGB", "BILI", "ALT", "AST", "ALP", "ALB", "CREAT", "INR"}
    assert "PLAT" in set(d["lb"]["LBTESTCD"])
    on_treatment = d["lb"].filter(pl.col("EPOCH") == "TREATMENT")
    assert set(on_treatment["LBTESTCD"]) == {"ALT", "AST", "BILI", "ALB", "PLAT", "NEUT", "HGB"}
    assert set(d["ex"]["EXDOSFRQ"]) == {"EVERY 3 WEEKS", "QD"}
