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
