"""The demo study after randomization (trialkit.demo.treatment): facts the protocol fixes,
derived here from the generated data with formulas written in the test (none of the
generator's helpers), compared with what the generator says it planted."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest

from trialkit.demo import generate_demo
from trialkit.demo.treatment import generate_on_study
from trialkit.errors import MissingColumnError, UnknownArmError
from trialkit.protocol import load_protocol

PROTOCOL = load_protocol("NCT07334483")
SEED = 11
N_RANDOMIZED = 48


def _run(seed: int = SEED, n: int = N_RANDOMIZED) -> SimpleNamespace:
    """A small demo seen as the on-study half: its datasets, truth, post-randomization DS
    and DM reference dates."""
    datasets, truth = generate_demo(subjects=n, seed=seed)
    return SimpleNamespace(datasets=datasets, truth=truth,
                           disposition=datasets["ds"].filter(pl.col("EPOCH") != "SCREENING"),
                           dm_updates=datasets["dm"].filter(pl.col("RFSTDTC").is_not_null()))


@pytest.fixture(scope="module")
def on_study():
    return _run()


@pytest.fixture(scope="module")
def subjects(on_study):
    return on_study.dm_updates.select("USUBJID", "ARMCD", RANDDT=pl.col("RFSTDTC").str.to_date())


def _randomized(n_per_arm: int = 1) -> pl.DataFrame:
    n = 4 * n_per_arm
    return pl.DataFrame({
        "STUDYID": ["ST561-1"] * n, "USUBJID": [f"S-{i:04d}" for i in range(n)],
        "ARMCD": ["ABCD"[i % 4] for i in range(n)], "RANDDT": [dt.date(2025, 9, 1)] * n,
        "NEVER_TREATED": [False] * n}, schema_overrides={"RANDDT": pl.Date})


def _with_rel(frame: pl.DataFrame, subjects: pl.DataFrame, dtc: str, alias: str = "REL") -> pl.DataFrame:
    """Days from randomization of a full ISO date column."""
    return frame.join(subjects, on="USUBJID").with_columns(
        (pl.col(dtc).str.to_date("%Y-%m-%d") - pl.col("RANDDT")).dt.total_days().alias(alias))


def _name(key: str) -> str:
    return PROTOCOL.treatment(key)["name"]


def test_treatments_match_arms_except_planted_mismatches(on_study, subjects):
    mismatched = set(on_study.truth["planted_subjects"]["ARM_MISMATCH"])
    ex = on_study.datasets["ex"].join(subjects, on="USUBJID").filter(~pl.col("USUBJID").is_in(list(mismatched)))
    pr = on_study.datasets["pr"].join(subjects, on="USUBJID")
    arms = lambda f, col, key: set(f.filter(pl.col(col) == _name(key))["ARMCD"].unique())  # noqa: E731
    assert arms(ex, "EXTRT", "CAMRELIZUMAB") == {"A", "B"}
    assert arms(ex, "EXTRT", "APATINIB") == {"A"}
    assert arms(pr, "PRTRT", "SIRT") == {"A", "B", "C"}
    assert arms(pr, "PRTRT", "CTACE") == {"D"}


def test_dosing_values_come_from_the_protocol(on_study):
    ex = on_study.datasets["ex"]
    cam = ex.filter(pl.col("EXTRT") == _name("CAMRELIZUMAB"))
    apa = ex.filter(pl.col("EXTRT") == _name("APATINIB"))
    assert set(cam["EXDOSE"]) == {PROTOCOL.treatment("CAMRELIZUMAB")["dose"]}
    assert set(cam["EXDOSFRQ"]) == {"EVERY 3 WEEKS"} and (cam["EXSTDTC"] == cam["EXENDTC"]).all()
    full, reduced = PROTOCOL.treatment("APATINIB")["dose"], PROTOCOL.treatment("APATINIB")["reduced_dose"]
    assert set(apa["EXDOSE"]) == {full, reduced}
    assert apa.filter(pl.col("EXDOSE") < full)["EXADJ"].drop_nulls().len() == apa.filter(pl.col("EXDOSE") < full).height
    ends = apa.filter(pl.col("EXENDTC").is_not_null())
    assert (ends["EXSTDTC"] <= ends["EXENDTC"]).all()


def test_every_randomized_subject_has_a_screening_mapping_except_planted(on_study, subjects):
    no_map = set(on_study.truth["planted_subjects"]["SIRT_NO_MAPPING"])
    maps = _with_rel(on_study.datasets["pr"].filter(pl.col("PRTRT") == _name("MAA_MAPPING")), subjects, "PRSTDTC")
    screening = set(maps.filter(pl.col("REL") < 0)["USUBJID"])
    assert screening == set(subjects["USUBJID"]) - no_map


def test_staged_sirt_is_a_second_lobe(on_study):
    pr = on_study.datasets["pr"].filter(pl.col("PRTRT") == _name("SIRT"))
    twice = pr.group_by("USUBJID").agg(pl.len(), pl.col("PRLAT").n_unique().alias("LOBES")).filter(pl.col("len") == 2)
    assert set(twice["USUBJID"]) == {r["USUBJID"] for r in on_study.truth["staged_sirt"]}
    assert (twice["LOBES"] == 2).all()
    assert pr["PRDOSU"].unique().to_list() == ["GBq"] and (pr["PRDOSE"] > 0).all()


def _time_points(on_study, subjects) -> pl.DataFrame:
    """Per reader x criteria x scan: target sum, baseline, nadir, NE flag, CR flag, new lesion."""
    # the investigator has no TREVALID; a null key would never match in a join
    tr = _with_rel(on_study.datasets["tr"], subjects, "TRDTC").with_columns(pl.col("TREVALID").fill_null("-"))
    key = ["USUBJID", "TREVAL", "TREVALID", "TRCAT", "TRDTC", "REL"]
    target = tr.filter(pl.col("TRGRPID") == "TARGET")
    scans = target.group_by(key).agg(
        pl.col("TRSTRESN").sum().alias("SUM"),
        pl.col("TRSTAT").is_not_null().any().alias("NE"),
        ((pl.col("TRTESTCD") == "LDIAM").not_() | (pl.col("TRSTRESN") == 0)).all().alias("LDIAM_ZERO"),
        ((pl.col("TRTESTCD") == "LPERP").not_() | (pl.col("TRSTRESN") < 10)).all().alias("NODES_NORMAL"),
    )
    base = (scans.filter(pl.col("REL") <= 0).sort("REL").group_by(key[:4]).agg(pl.col("SUM").last().alias("BASE")))
    # nadir: the smallest evaluable sum on an earlier scan, baseline included (self-join, no cumulative helpers)
    earlier = (scans.filter(~pl.col("NE")).select(*key[:4], pl.col("REL").alias("R0"), pl.col("SUM").alias("S0")))
    nadir = (scans.join(earlier, on=key[:4]).filter(pl.col("R0") < pl.col("REL"))
             .group_by(key).agg(pl.col("S0").min().alias("NADIR")))
    nt = tr.filter(pl.col("TRGRPID") == "NON-TARGET").group_by(key).agg(
        (pl.col("TRSTRESC") == "UNEQUIVOCAL").any().alias("NT_PD"), (pl.col("TRSTRESC") == "ABSENT").all().alias("NT_GONE"))
    # an equivocal new lesion is not progression (RECIST 1.1 / mRECIST); an unequivocal one is
    new = (tr.filter((pl.col("TRGRPID") == "NEW") & (pl.col("TRSTRESC") == "UNEQUIVOCAL")).select(key).unique()
           .with_columns(pl.lit(True).alias("NEWL")))
    return (scans.join(base, on=key[:4]).join(nadir, on=key, how="left").join(nt, on=key, how="left")
            .join(new, on=key, how="left").with_columns(pl.col("NEWL").fill_null(False))
            .filter(pl.col("REL") > 0))


def test_time_point_responses_are_consistent_with_the_measurements(on_study, subjects):
    r = PROTOCOL.response
    tp = _time_points(on_study, subjects)
    rise = pl.col("SUM") - pl.col("NADIR")
    expected_trg = (
        pl.when(pl.col("NE")).then(pl.lit("NE"))
        .when(pl.col("LDIAM_ZERO") & pl.col("NODES_NORMAL")).then(pl.lit("CR"))
        .when((rise >= r["pd_min_abs_mm"]) & ((pl.col("NADIR") == 0) | (rise / pl.col("NADIR") * 100 >= r["pd_pct"])))
        .then(pl.lit("PD"))
        .when((pl.col("SUM") - pl.col("BASE")) / pl.col("BASE") * 100 <= r["pr_pct"]).then(pl.lit("PR"))
        .otherwise(pl.lit("SD")))
    expected_ntr = (pl.when(pl.col("NT_PD").is_null()).then(None).when(pl.col("NT_PD")).then(pl.lit("PD"))
                    .when(pl.col("NT_GONE")).then(pl.lit("CR")).otherwise(pl.lit("NON-CR/NON-PD")))
    tp = tp.with_columns(expected_trg.alias("EXP_TRG"), expected_ntr.alias("EXP_NTR"))
    expected_ovr = (
        pl.when((pl.col("EXP_TRG") == "PD") | (pl.col("EXP_NTR") == "PD") | pl.col("NEWL")).then(pl.lit("PD"))
        .when(pl.col("EXP_TRG") == "NE").then(pl.lit("NE"))
        .when((pl.col("EXP_TRG") == "CR") & (pl.col("EXP_NTR").is_null() | (pl.col("EXP_NTR") == "CR"))).then(pl.lit("CR"))
        .when(pl.col("EXP_TRG").is_in(["CR", "PR"])).then(pl.lit("PR"))
        .otherwise(pl.lit("SD")))
    tp = tp.with_columns(expected_ovr.alias("EXP_OVR"))

    rs = on_study.datasets["rs"].rename({"RSEVAL": "TREVAL", "RSEVALID": "TREVALID", "RSCAT": "TRCAT", "RSDTC": "TRDTC"}).with_columns(
        pl.col("TREVALID").fill_null("-"))
    wide = rs.pivot(on="RSTESTCD", index=["USUBJID", "TREVAL", "TREVALID", "TRCAT", "TRDTC"], values="RSSTRESC")
    both = tp.join(wide, on=["USUBJID", "TREVAL", "TREVALID", "TRCAT", "TRDTC"], how="full", coalesce=True)
    assert both.height == tp.height == wide.height            # one RS time point per post-baseline scan
    assert (both["EXP_TRG"] == both["TRGRESP"]).all()
    assert both.filter(pl.col("EXP_NTR").is_null() != pl.col("NTRGRESP").is_null()).height == 0
    assert (both.filter(pl.col("EXP_NTR").is_not_null())["EXP_NTR"]
            == both.filter(pl.col("EXP_NTR").is_not_null())["NTRGRESP"]).all()
    assert (both["EXP_OVR"] == both["OVRLRESP"]).all()
    assert (both["NEWL"] == (both["NEWLPROG"] == "UNEQUIVOCAL").fill_null(False)).all()
    # the study has every kind of time point
    assert set(both["OVRLRESP"]) >= {"CR", "PR", "SD", "PD"}


def test_assessors_criteria_and_new_lesions(on_study):
    rs, tu = on_study.datasets["rs"], on_study.datasets["tu"]
    readers = rs.select("RSEVAL", "RSEVALID", "RSACPTFL").unique().rows()
    assert sorted(readers, key=str) == sorted([("INDEPENDENT ASSESSOR", "RADIOLOGIST 1", "Y"),
                                               ("INDEPENDENT ASSESSOR", "RADIOLOGIST 1", None),
                                               ("INDEPENDENT ASSESSOR", "RADIOLOGIST 2", "Y"),
                                               ("INDEPENDENT ASSESSOR", "RADIOLOGIST 2", None),
                                               ("INVESTIGATOR", None, None)], key=str)
    # one accepted BICR read per subject, criteria and scan: the adjudicated radiologist's
    ovr = rs.filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSEVAL") == "INDEPENDENT ASSESSOR"))
    per = ovr.group_by("USUBJID", "RSCAT", "RSDTC").agg((pl.col("RSACPTFL") == "Y").sum().alias("N"))
    assert (per["N"] == 1).all()
    per_subject = ovr.filter(pl.col("RSACPTFL") == "Y").group_by("USUBJID", "RSCAT").agg(pl.col("RSEVALID").n_unique())
    assert (per_subject["RSEVALID"] == 1).all()
    assert set(on_study.datasets["tu"]["TULOC"]) <= {
        "PORTAL VEIN, RIGHT BRANCH", "PORTAL VEIN, LEFT BRANCH",
        *(f"LIVER, {lobe} LOBE {seg} SEGMENT" for lobe, segs in (("RIGHT", ("ANTEROINFERIOR", "POSTEROINFERIOR",
          "POSTEROSUPERIOR", "ANTEROSUPERIOR")), ("LEFT", ("POSTEROLATERAL", "ANTEROLATERAL", "SUPEROMEDIAL",
          "INFEROMEDIAL"))) for seg in segs)}
    assert set(rs["RSCAT"]) == {"MRECIST", "RECIST 1.1"}
    assert set(on_study.datasets["tr"]["TRTESTCD"]) <= {"LDIAM", "LPERP", "TUMSTATE"}
    assert set(tu["TUSTRESC"]) == {"TARGET", "NON-TARGET", "NEW"}
    targets = tu.filter(pl.col("TUSTRESC") == "TARGET").group_by("USUBJID", "TUEVAL", "TUEVALID").agg(
        pl.len(), (pl.col("TULOC") == "LIVER").sum().alias("LIVER"))
    assert targets["len"].max() <= PROTOCOL.response["max_target_lesions"]
    assert targets["LIVER"].max() <= PROTOCOL.response["max_target_lesions_per_organ"]
    # every NEW lesion in TR was identified in TU, on or before it is measured
    new_tr = on_study.datasets["tr"].filter(pl.col("TRGRPID") == "NEW").select("USUBJID", "TRLNKID").unique()
    new_tu = tu.filter(pl.col("TUSTRESC") == "NEW").select("USUBJID", pl.col("TULNKID").alias("TRLNKID"))
    assert new_tr.join(new_tu, on=["USUBJID", "TRLNKID"], how="anti").height == 0


def test_mrecist_response_rate_is_higher_than_recist(on_study):
    ovr = on_study.datasets["rs"].filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSACPTFL") == "Y"))
    responders = ovr.filter(pl.col("RSSTRESC").is_in(["CR", "PR"])).group_by("RSCAT").agg(pl.col("USUBJID").n_unique())
    by = dict(responders.iter_rows())
    assert by["MRECIST"] > by["RECIST 1.1"]


def test_baseline_scan_is_within_28_days_before_randomization(on_study, subjects):
    tu = _with_rel(on_study.datasets["tu"].filter(pl.col("VISIT") == "SCREENING"), subjects, "TUDTC")
    window = PROTOCOL.raw["screening"]["baseline_imaging_max_days"]
    assert tu["REL"].max() < 0 and tu["REL"].min() >= -window
    assert set(tu["USUBJID"]) == set(subjects["USUBJID"])


def test_mess_is_present(on_study):
    truth = on_study.truth
    rs = on_study.datasets["rs"].filter(pl.col("RSDTC") <= truth["cutoff"])      # the truth is as of the cutoff
    assert truth["missed_assessments"] and truth["unscheduled_assessments"]
    for miss in truth["missed_assessments"]:          # no scan at the missed visit, a later one exists
        visits = rs.filter(pl.col("USUBJID") == miss["USUBJID"])["VISITNUM"]
        assert miss["VISITNUM"] not in visits.to_list() and visits.max() > miss["VISITNUM"]
    unscheduled = rs.filter(pl.col("VISIT") == "UNSCHEDULED").select("USUBJID", pl.col("RSDTC").alias("DATE")).unique()
    assert set(unscheduled.iter_rows()) == {(u["USUBJID"], u["DATE"]) for u in truth["unscheduled_assessments"]}
    never = truth["never_treated"]
    assert truth["no_postbaseline_scan"] and set(never) <= set(truth["no_postbaseline_scan"])
    assert set(rs["USUBJID"]) == set(on_study.dm_updates["USUBJID"]) - set(truth["no_postbaseline_scan"])
    accepted_ne = rs.filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSACPTFL") == "Y") & (pl.col("RSSTRESC") == "NE"))
    assert truth["ne_time_points"] == accepted_ne.height > 0
    assert truth["partial_dates"]
    for p in truth["partial_dates"]:
        assert len(p["value"]) in (4, 7) and p["full_date"].startswith(p["value"])
    # the death known to the month only, as DM and DS say
    deaths = [p for p in truth["partial_dates"] if p["variable"] == "DTHDTC"]
    for p in deaths:
        assert on_study.dm_updates.filter(pl.col("USUBJID") == p["usubjid"])["DTHDTC"].item() == p["value"]


def test_nothing_is_dated_after_the_extraction(on_study):
    extraction = on_study.truth["extraction_date"]
    for name, frame in on_study.datasets.items():
        for col in [c for c in frame.columns if c.endswith("DTC")]:
            assert (frame[col].drop_nulls().str.slice(0, 10) <= extraction).all(), (name, col)


def test_never_treated_subject_has_no_treatment_and_no_follow_up_scan(on_study):
    ex, pr, rs = (on_study.datasets[k] for k in ("ex", "pr", "rs"))
    (never,) = on_study.truth["never_treated"]
    assert ex.filter(pl.col("USUBJID") == never).height == 0
    assert set(pr.filter(pl.col("USUBJID") == never)["PRTRT"]) <= {_name("MAA_MAPPING")}
    assert rs.filter(pl.col("USUBJID") == never).height == 0
    dm = on_study.dm_updates.filter(pl.col("USUBJID") == never)
    assert dm["RFXSTDTC"].to_list() == [None]


def test_dm_and_ds_agree_with_deaths_and_treatment(on_study):
    dm, ds = on_study.dm_updates, on_study.disposition
    dead = set(dm.filter(pl.col("DTHFL") == "Y")["USUBJID"])
    assert dead == {d["USUBJID"] for d in on_study.truth["deaths"]}
    assert dead == set(ds.filter(pl.col("DSDECOD") == "DEATH")["USUBJID"])
    assert ds.filter(pl.col("DSDECOD") == "DEATH").height == len(dead)          # one DEATH row each
    assert set(ds["DSCAT"]) <= {"DISPOSITION EVENT", "OTHER EVENT"}
    assert set(ds["EPOCH"]) <= {"TREATMENT", "FOLLOW-UP"}
    # RFXSTDTC / RFXENDTC: first and last exposure (EX, study-treatment PR)
    # first and last treatment dates bracket EX and PR study treatment
    ex = on_study.datasets["ex"].select("USUBJID", pl.col("EXSTDTC").alias("D"))
    pr = on_study.datasets["pr"].filter(pl.col("PRCAT") == "STUDY TREATMENT").select("USUBJID", pl.col("PRSTDTC").alias("D"))
    first = pl.concat([ex, pr]).group_by("USUBJID").agg(pl.col("D").min())
    assert first.join(dm, on="USUBJID").filter(pl.col("D") != pl.col("RFXSTDTC")).height == 0
    # nothing is recorded after death: to the day when the death date is complete, else to the month
    rs = on_study.datasets["rs"].join(dm.filter(pl.col("DTHFL") == "Y"), on="USUBJID")
    assert rs.height > 0
    width = pl.col("DTHDTC").str.len_chars()
    assert rs.filter(pl.col("RSDTC").str.slice(0, width) > pl.col("DTHDTC")).is_empty()


def test_seq_numbers_are_unique_per_subject(on_study):
    for name, frame in on_study.datasets.items():
        seq = f"{name.upper()}SEQ"
        if seq in frame.columns and "USUBJID" in frame.columns:
            assert frame[seq].null_count() == 0, name
            assert frame.select("USUBJID", seq).is_duplicated().sum() == 0, name


def test_same_seed_same_data_other_seed_other_data(on_study):
    again = _run()
    for name, frame in on_study.datasets.items():
        assert frame.equals(again.datasets[name]), name
    assert on_study.truth == again.truth
    other = _run(SEED + 1)
    assert not other.datasets["tr"].equals(on_study.datasets["tr"])


def test_missing_column_and_unknown_arm_are_clear_errors():
    kw = {"seed": 1, "cutoff": dt.date(2026, 10, 31), "extraction": dt.date(2026, 11, 12), "protocol": PROTOCOL,
          "calendar": None}
    with pytest.raises(MissingColumnError, match="NEVER_TREATED"):
        generate_on_study(_randomized(1).drop("NEVER_TREATED"), None, **kw)
    with pytest.raises(UnknownArmError, match=r"arm code\(s\) E are not in the protocol file .*\n  Arms defined: A, B, C, D"):
        generate_on_study(_randomized(1).with_columns(pl.lit("E").alias("ARMCD")), None, **kw)


def test_treatment_stops_at_discontinuation_and_open_intervals_are_ongoing(on_study):
    ds, ex = on_study.disposition, on_study.datasets["ex"]
    stopped = ds.filter(pl.col("EPOCH") == "TREATMENT").select("USUBJID", pl.col("DSSTDTC").str.slice(0, 10).alias("EOT"))
    after = ex.join(stopped, on="USUBJID").filter(
        (pl.col("EXSTDTC") >= pl.col("EOT")) | (pl.coalesce("EXENDTC", pl.lit("9999")) >= pl.col("EOT")))
    assert after.height == 0
    # an apatinib interval without an end date belongs to a subject still on treatment
    open_ended = set(ex.filter(pl.col("EXENDTC").is_null())["USUBJID"])
    assert open_ended and not open_ended & set(stopped["USUBJID"])
    assert set(ex.filter(pl.col("EXENDTC").is_null())["EXTRT"]) == {_name("APATINIB")}
    reasons = set(ds.filter(pl.col("EPOCH") == "TREATMENT")["DSDECOD"])
    assert {"PROGRESSIVE DISEASE", "DEATH"} <= reasons <= {"PROGRESSIVE DISEASE", "ADVERSE EVENT",
                                                           "WITHDRAWAL BY SUBJECT", "DEATH", "COMPLETED"}
