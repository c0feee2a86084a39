"""Issue 8's "Done when" list, measured on the written SDTM with plain polars (no generator
helper, no truth-file number as an expectation), on the default demo and two other seeds.

Each metric is a function of the datasets, so the report of the issue can quote the same
numbers: study days, the clinic calendar, staging against tumours, camrelizumab intervals,
the accepted BICR reader, new lesions at progression, AE behind AE discontinuations,
records after the cutoff.
"""

from __future__ import annotations

import datetime as dt
import json

import holidays
import polars as pl
import pytest

from trialkit.demo import write_demo

SEEDS = {"default": None, "seed 3": 3, "seed 7": 7}


def _load(folder) -> tuple[dict[str, pl.DataFrame], dict]:
    return ({p.stem: pl.read_parquet(p) for p in folder.glob("*.parquet")},
            json.loads((folder / "demo_truth.json").read_text()))


@pytest.fixture(scope="module", params=list(SEEDS))
def study(request, demo_dir, tmp_path_factory):
    if SEEDS[request.param] is None:
        return _load(demo_dir)
    return _load(write_demo(tmp_path_factory.mktemp(f"seed{SEEDS[request.param]}"), seed=SEEDS[request.param]))


def _reference(d) -> pl.DataFrame:
    return d["dm"].filter(pl.col("RFSTDTC").is_not_null()).select("USUBJID", REF=pl.col("RFSTDTC").str.to_date())


# ---------------------------------------------------------------- the metrics
def study_day_agreement(d) -> float:
    """Share of --DY values equal to SDTMIG's study day from DM.RFSTDTC (no day 0)."""
    ref = _reference(d)
    ok = total = 0
    for name, frame in d.items():
        for dy in (c for c in frame.columns if c.endswith("DY") and c != "VISITDY"):
            dtc = dy[:-2] + "DTC"
            if dtc not in frame.columns:
                continue
            f = (frame.filter(pl.col(dtc).str.len_chars() == 10).join(ref, on="USUBJID")
                 .with_columns(DELTA=(pl.col(dtc).str.to_date() - pl.col("REF")).dt.total_days()))
            expected = pl.when(pl.col("DELTA") >= 0).then(pl.col("DELTA") + 1).otherwise(pl.col("DELTA"))
            ok += f.filter(pl.col(dy) == expected).height
            total += f.height
    assert total > 1000
    return ok / total


def _china_working(dates: pl.Series) -> pl.Series:
    years = range(2024, 2029)
    cn = holidays.country_holidays("CN", years=years)
    cal = pl.DataFrame({"D": pl.date_range(dt.date(2024, 1, 1), dt.date(2028, 12, 31), eager=True)})
    cal = cal.with_columns(W=pl.col("D").map_elements(cn.is_working_day, return_dtype=pl.Boolean))
    return pl.DataFrame({"D": dates}).join(cal, on="D", how="left")["W"]


def non_working_share(d) -> float:
    """Infusions (camrelizumab), procedures (PR), scans (one per subject and date) and
    consents on days that are not working days of China's calendar."""
    dates = pl.concat([
        d["ex"].filter(pl.col("EXTRT") == "CAMRELIZUMAB").select(D=pl.col("EXSTDTC")),
        d["pr"].select(D=pl.col("PRSTDTC")),
        d["rs"].select("USUBJID", D=pl.col("RSDTC")).unique().select("D"),
        d["dm"].select(D=pl.col("RFICDTC")),
    ])["D"].str.to_date()
    return 1 - _china_working(dates).mean()


def portal_vein_agreement(d) -> float:
    """Randomized subjects whose FA portal-vein invasion (VASCINV VP1-VP3) and TU (a lesion
    in a PORTAL VEIN location, any reader at baseline) agree."""
    fa = (d["fa"].filter(pl.col("FATESTCD") == "VASCINV")
          .select("USUBJID", FA=pl.col("FASTRESC").is_in(["VP1", "VP2", "VP3"])))
    tu = (d["tu"].filter(pl.col("TUSTRESC") == "NON-TARGET").group_by("USUBJID")
          .agg(TU=pl.col("TULOC").str.contains("PORTAL VEIN").any()))
    rand = _reference(d).select("USUBJID")
    both = rand.join(fa, on="USUBJID", how="left").join(tu, on="USUBJID", how="left").fill_null(False)
    return (both["FA"] == both["TU"]).mean()


def liver_lesion_agreement(d) -> float:
    """Randomized subjects whose FA tumour number equals the liver lesions of TU at baseline."""
    fa = d["fa"].filter(pl.col("FATESTCD") == "LESNUM").select("USUBJID", N=pl.col("FASTRESN"))
    tu = (d["tu"].filter(pl.col("TUSTRESC").is_in(["TARGET", "NON-TARGET"]) & pl.col("TULOC").str.starts_with("LIVER")
                         & (pl.col("TUEVAL") == "INVESTIGATOR"))
          .group_by("USUBJID").agg(L=pl.len()))
    both = _reference(d).select("USUBJID").join(fa, on="USUBJID").join(tu, on="USUBJID")
    return (both["N"] == both["L"]).mean()


def camrelizumab_intervals(d) -> pl.Series:
    cam = (d["ex"].filter(pl.col("EXTRT") == "CAMRELIZUMAB").with_columns(D=pl.col("EXSTDTC").str.to_date())
           .sort("USUBJID", "D").with_columns(GAP=(pl.col("D") - pl.col("D").shift(1).over("USUBJID")).dt.total_days()))
    return cam["GAP"].drop_nulls()


def less_chosen_reader_share(d) -> float:
    """Of the accepted BICR overall responses, the share read by the reader accepted less often."""
    acc = d["rs"].filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSEVAL") == "INDEPENDENT ASSESSOR")
                         & (pl.col("RSACPTFL") == "Y"))
    counts = acc.group_by("RSEVALID").len()["len"]
    assert counts.len() == 2, "both radiologists must be accepted sometimes"
    return counts.min() / counts.sum()


def first_pd_with_new_lesion(d) -> float:
    """Of the first PD time points (accepted BICR, mRECIST), the share with a new lesion."""
    rs = d["rs"].filter((pl.col("RSCAT") == "MRECIST") & (pl.col("RSEVAL") == "INDEPENDENT ASSESSOR")
                        & (pl.col("RSACPTFL") == "Y"))
    first = (rs.filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSSTRESC") == "PD"))
             .group_by("USUBJID").agg(pl.col("RSDTC").min()))
    new = rs.filter((pl.col("RSTESTCD") == "NEWLPROG") & (pl.col("RSSTRESC") == "UNEQUIVOCAL")).select("USUBJID", "RSDTC")
    assert first.height >= 10
    return first.join(new, on=["USUBJID", "RSDTC"], how="semi").height / first.height


def ae_discontinuations_without_ae(d) -> list[str]:
    """Subjects whose treatment ended for an adverse event with no AE 'DRUG WITHDRAWN' on or
    before that date."""
    stopped = d["ds"].filter((pl.col("DSDECOD") == "ADVERSE EVENT") & (pl.col("EPOCH") == "TREATMENT"))
    withdrawn = d["ae"].filter(pl.col("AEACN") == "DRUG WITHDRAWN").select("USUBJID", "AESTDTC")
    ok = stopped.join(withdrawn, on="USUBJID").filter(pl.col("AESTDTC") <= pl.col("DSSTDTC"))
    return sorted(set(stopped["USUBJID"]) - set(ok["USUBJID"]))


def records_after_cutoff(d, cutoff: str) -> dict[str, int]:
    out = {}
    for name, col in (("ex", "EXSTDTC"), ("rs", "RSDTC"), ("ae", "AESTDTC"), ("lb", "LBDTC"), ("dm", "DTHDTC")):
        out[name] = d[name].filter(pl.col(col).str.slice(0, 10) > cutoff).height
    return out


# ---------------------------------------------------------------- the tests
def test_study_days_are_sdtmig_study_days_from_randomization(study):
    d, _ = study
    assert study_day_agreement(d) >= 0.99
    dm = d["dm"].join(d["ds"].filter(pl.col("DSDECOD") == "RANDOMIZED").select("USUBJID", "DSSTDTC"), on="USUBJID")
    assert (dm["RFSTDTC"] == dm["DSSTDTC"]).all()          # RFSTDTC = randomization


def test_activity_falls_on_working_days_of_the_chinese_calendar(study):
    d, _ = study
    share = non_working_share(d)
    assert share <= 0.05, share


def test_staging_and_tumours_agree(study):
    d, _ = study
    assert portal_vein_agreement(d) >= 0.95
    assert liver_lesion_agreement(d) >= 0.95


def test_camrelizumab_intervals_peak_at_21_days_with_delays_and_holds(study):
    d, _ = study
    gaps = camrelizumab_intervals(d)
    assert gaps.len() > 100
    assert gaps.is_between(20, 22).mean() >= 0.5
    assert (gaps > 24).mean() >= 0.08
    assert (gaps == 21).mean() == max((gaps == g).mean() for g in range(10, 60))


def test_the_less_chosen_bicr_reader_is_accepted_often_enough(study):
    d, _ = study
    assert less_chosen_reader_share(d) >= 0.10


def test_new_lesions_drive_progression(study):
    d, _ = study
    assert first_pd_with_new_lesion(d) >= 0.35


def test_every_ae_discontinuation_has_its_ae(study):
    d, _ = study
    assert d["ds"].filter(pl.col("DSDECOD") == "ADVERSE EVENT").height > 0
    assert ae_discontinuations_without_ae(d) == []


def test_some_records_are_dated_after_the_cutoff(study):
    d, truth = study
    after = records_after_cutoff(d, truth["cutoff"])
    assert all(after[k] > 0 for k in ("ex", "rs", "ae", "lb", "dm")), after
    extraction = truth["extraction_date"]
    for name, frame in d.items():
        for col in (c for c in frame.columns if c.endswith("DTC")):
            assert (frame[col].drop_nulls().str.slice(0, 10) <= extraction).all(), (name, col)


# ---------------------------------------------------------------- outcome plausibility
def _accepted_ovr(d, cutoff: str) -> pl.DataFrame:
    ref = _reference(d)
    return (d["rs"].filter((pl.col("RSTESTCD") == "OVRLRESP") & (pl.col("RSCAT") == "MRECIST")
                           & (pl.col("RSEVAL") == "INDEPENDENT ASSESSOR") & (pl.col("RSACPTFL") == "Y")
                           & (pl.col("RSDTC") <= cutoff))
            .select("USUBJID", D=pl.col("RSDTC").str.to_date(), V="RSSTRESC").join(ref, on="USUBJID")
            .filter(pl.col("D") >= pl.col("REF")).sort("USUBJID", "D"))


def confirmed_orr(d, cutoff: str) -> dict[str, float]:
    """DESIGN section 6: CR/PR confirmed by a CR (for CR) or CR/PR (for PR) >= 28 days
    later, before the first PD, with at most one NE between; all randomized in the denominator."""
    ovr = (_accepted_ovr(d, cutoff).with_columns(
        PDB=(pl.col("V") == "PD").cast(pl.Int32).cum_sum().shift(1, fill_value=0).over("USUBJID"))
        .filter(pl.col("PDB") == 0).with_columns(I=pl.int_range(pl.len()).over("USUBJID"),
                                                 NE=(pl.col("V") == "NE").cast(pl.Int32).cum_sum().over("USUBJID")))
    first = ovr.filter(pl.col("V").is_in(["CR", "PR"])).select("USUBJID", D1="D", V1="V", NE1="NE")
    later = ovr.select("USUBJID", D2="D", V2="V", NE2="NE")
    ok = (first.join(later, on="USUBJID").filter((pl.col("D2") - pl.col("D1")).dt.total_days() >= 28)
          .filter(pl.when(pl.col("V1") == "CR").then(pl.col("V2") == "CR").otherwise(pl.col("V2").is_in(["CR", "PR"])))
          .filter(pl.col("NE2") - pl.col("NE1") <= 1))
    arms = d["dm"].filter(pl.col("RFSTDTC").is_not_null()).select("USUBJID", "ARMCD")
    return dict(arms.with_columns(R=pl.col("USUBJID").is_in(ok["USUBJID"].implode()))
                .group_by("ARMCD").agg(pl.col("R").mean()).iter_rows())


def pfs_days(d, cutoff: str, max_gap: int) -> pl.DataFrame:
    """PFS per DESIGN section 6 (accepted BICR, mRECIST): event = first PD or death; censored
    at the last adequate assessment before new anticancer therapy, or when the event comes
    more than ``max_gap`` days after it; time = date - randomization + 1."""
    ref = d["dm"].filter(pl.col("RFSTDTC").is_not_null()).select("USUBJID", "ARMCD", REF=pl.col("RFSTDTC").str.to_date())
    ovr = _accepted_ovr(d, cutoff)
    pd_ = ovr.filter(pl.col("V") == "PD").group_by("USUBJID").agg(PD=pl.col("D").min())
    dth = (d["dm"].filter(pl.col("DTHDTC").is_not_null() & (pl.col("DTHDTC").str.slice(0, 10) <= cutoff))
           .select("USUBJID", DTH=pl.col("DTHDTC").str.to_date(strict=False)))
    nact = (d["cm"].filter(pl.col("CMCAT") == "SUBSEQUENT ANTICANCER THERAPY").group_by("USUBJID")
            .agg(NACT=pl.col("CMSTDTC").str.to_date().min()))
    x = (ref.join(pd_, on="USUBJID", how="left").join(dth, on="USUBJID", how="left")
         .join(nact, on="USUBJID", how="left").with_columns(EV=pl.min_horizontal("PD", "DTH")))
    last = (ovr.filter(pl.col("V") != "NE").join(x.select("USUBJID", "EV", "NACT"), on="USUBJID")
            .filter((pl.col("EV").is_null() | (pl.col("D") < pl.col("EV")))
                    & (pl.col("NACT").is_null() | (pl.col("D") < pl.col("NACT"))))
            .group_by("USUBJID").agg(LA=pl.col("D").max()))
    x = x.join(last, on="USUBJID", how="left").with_columns(pl.coalesce("LA", "REF").alias("LA"))
    event = (pl.col("EV").is_not_null() & (pl.col("NACT").is_null() | (pl.col("EV") <= pl.col("NACT")))
             & ((pl.col("EV") - pl.col("LA")).dt.total_days() <= max_gap))
    return x.with_columns(E=event, DAYS=(pl.when(event).then(pl.col("EV")).otherwise(pl.col("LA"))
                                         - pl.col("REF")).dt.total_days() + 1)


def km_median(days: list[int], events: list[bool]) -> float:
    """Kaplan-Meier median (inf when not reached)."""
    surv, at_risk = 1.0, len(days)
    for t in sorted(set(days)):
        d = sum(1 for x, e in zip(days, events) if x == t and e)
        if d:
            surv *= 1 - d / at_risk
            if surv <= 0.5:
                return float(t)
        at_risk -= sum(1 for x in days if x == t)
    return float("inf")


def test_confirmed_orr_is_highest_in_a_and_lowest_in_d(study):
    d, truth = study
    orr = confirmed_orr(d, truth["cutoff"])
    assert orr["A"] == max(orr.values()) and orr["D"] == min(orr.values()), orr
    assert orr["A"] > orr["D"]


def test_median_pfs_is_longest_in_a(study):
    d, truth = study
    pfs = pfs_days(d, truth["cutoff"], truth["pfs_facts_bicr_mrecist"]["max_gap_days"])
    medians = {arm: km_median(g["DAYS"].to_list(), g["E"].to_list())
               for (arm,), g in pfs.group_by("ARMCD")}
    assert medians["A"] == max(medians.values()) and medians["A"] > medians["D"], medians


def test_truth_pfs_facts_are_what_the_censoring_rules_find(study):
    """The truth file's PFS facts, which the efficacy analysis is tested against, re-derived
    from RS, DM and CM: events after two missed assessments and therapy before the event."""
    d, truth = study
    facts = truth["pfs_facts_bicr_mrecist"]
    gap = facts["max_gap_days"]
    assert gap == 2 * 42 + 7
    x = pfs_days(d, truth["cutoff"], gap)
    late = x.filter(pl.col("EV").is_not_null() & (pl.col("NACT").is_null() | (pl.col("EV") <= pl.col("NACT")))
                    & ((pl.col("EV") - pl.col("LA")).dt.total_days() > gap))
    assert set(late["USUBJID"]) == {f["USUBJID"] for f in facts["event_after_two_missed_assessments"]}
    assert late.height > 0
    before = x.filter(pl.col("NACT").is_not_null() & (pl.col("NACT") <= pl.lit(truth["cutoff"]).str.to_date())
                      & (pl.col("EV").is_null() | (pl.col("NACT") < pl.col("EV"))))
    assert set(before["USUBJID"]) == {f["USUBJID"] for f in facts["new_anticancer_therapy_before_event"]}
    assert before.height > 0
