"""Screening facts of the demo study, derived from the written data independently of the
generator: thresholds come from the protocol file (read with plain yaml), and Child-Pugh,
CNLC and Cockcroft-Gault are written out here from the clinical rules (notes section 8).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from trialkit.demo import generate_demo

PROTOCOL = Path(__file__).resolve().parents[2] / "trialkit" / "protocols" / "nct07334483.yaml"
ARMS = ["A", "B", "C", "D"]


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict]:
    raw = yaml.safe_load(PROTOCOL.read_text(encoding="utf-8"))
    return {c["ietestcd"]: c for c in raw["eligibility"]}


@pytest.fixture(scope="module")
def big_run() -> tuple[dict[str, pl.DataFrame], dict]:
    """A larger run so that rare criteria occur."""
    return generate_demo(subjects=900, seed=11)


@pytest.fixture(scope="module")
def big_study(big_run) -> dict[str, pl.DataFrame]:
    return big_run[0]


@pytest.fixture(scope="module", params=["default", "big"])
def run(request, demo_dir, default_study, big_run):
    if request.param == "big":
        return big_run
    return default_study, json.loads((demo_dir / "demo_truth.json").read_text())


@pytest.fixture(scope="module")
def study(run):
    return run[0]


# ---------------------------------------------------------------- independent formulas
def child_pugh(wide: pl.DataFrame) -> pl.Series:
    """Pugh 1973, SI units: bilirubin <34 / 34-51 / >51 umol/L; albumin >35 / 28-35 / <28 g/L;
    INR <1.7 / 1.7-2.3 / >2.3; ascites none / mild / moderate-severe; HE none / 1-2 / 3-4."""
    bili = pl.when(pl.col("BILI") < 34).then(1).when(pl.col("BILI") <= 51).then(2).otherwise(3)
    alb = pl.when(pl.col("ALB") > 35).then(1).when(pl.col("ALB") >= 28).then(2).otherwise(3)
    inr = pl.when(pl.col("INR") < 1.7).then(1).when(pl.col("INR") <= 2.3).then(2).otherwise(3)
    asc = pl.col("ASCITES").replace_strict({"ABSENT": 1, "MILD": 2, "MODERATE": 3, "SEVERE": 3})
    he = pl.col("HEPENCEP").replace_strict({"NONE": 1, "GRADE 1-2": 2, "GRADE 3-4": 3})
    return wide.select((bili + alb + inr + asc + he).alias("CP"))["CP"]


def cnlc(wide: pl.DataFrame) -> pl.Series:
    """CNLC algorithm of the clinical-rules notes (section 8)."""
    n, ld = pl.col("LESNUM"), pl.col("LDIAM")
    stage = (pl.when((pl.col("ECOG") >= 3) | (pl.col("CP") >= 10)).then(pl.lit("IV"))
             .when(pl.col("EXTRAHEP") == "Y").then(pl.lit("IIIB"))
             .when(pl.col("VASCINV") != "NONE").then(pl.lit("IIIA"))
             .when(n >= 4).then(pl.lit("IIB"))
             .when((n >= 2) & (ld > 30)).then(pl.lit("IIA"))
             .when(n >= 2).then(pl.lit("IB"))
             .when(ld > 50).then(pl.lit("IB"))
             .otherwise(pl.lit("IA")))
    return wide.select(stage.alias("S"))["S"]


def crcl(wide: pl.DataFrame) -> pl.Series:
    """Cockcroft-Gault, creatinine in umol/L converted to mg/dL (/ 88.4)."""
    expr = ((140 - pl.col("AGE")) * pl.col("WEIGHT") / (72 * pl.col("CREAT") / 88.4)
            * pl.when(pl.col("SEX") == "F").then(0.85).otherwise(1.0))
    return wide.select(expr.alias("C"))["C"]


def subject_findings(d: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per screened subject: every screening finding plus ULNs, CP, CNLC and CrCl."""
    screening = d["lb"].filter(pl.col("VISIT") == "SCREENING")
    lb = screening.pivot(on="LBTESTCD", index="USUBJID", values="LBSTRESN")
    uln = screening.with_columns((pl.col("LBTESTCD") + "_ULN").alias("K")).pivot(
        on="K", index="USUBJID", values="LBSTNRHI")
    vs = d["vs"].pivot(on="VSTESTCD", index="USUBJID", values="VSSTRESN")
    fa_num = d["fa"].filter(pl.col("FASTRESN").is_not_null()).pivot(on="FATESTCD", index="USUBJID", values="FASTRESN")
    fa_chr = d["fa"].filter(pl.col("FASTRESN").is_null()).pivot(on="FATESTCD", index="USUBJID", values="FASTRESC")
    qs = d["qs"].filter(pl.col("QSTESTCD") == "ECOG101").select("USUBJID", pl.col("QSSTRESN").alias("ECOG"))
    wide = (d["dm"].select("USUBJID", "AGE", "SEX", "ARMCD", "RFICDTC")
            .join(lb, on="USUBJID", how="left").join(uln, on="USUBJID", how="left")
            .join(vs, on="USUBJID", how="left").join(fa_num, on="USUBJID", how="left")
            .join(fa_chr, on="USUBJID", how="left").join(qs, on="USUBJID", how="left"))
    wide = wide.with_columns(child_pugh(wide).alias("CP"))
    return wide.with_columns(cnlc(wide).alias("CNLC"), crcl(wide).alias("CRCL"))


def leaf_fails(wide: pl.DataFrame, leaf: dict) -> pl.Series:
    """True where a single protocol check (threshold from the protocol file) is NOT met."""
    col = pl.col(leaf["testcd"] if leaf["testcd"] != "ECOG101" else "ECOG")
    if "uln_multiple" in leaf:
        bound = pl.col(f"{leaf['testcd']}_ULN") * leaf["uln_multiple"]
    else:
        bound = leaf["threshold"]
    ok = {"ge": lambda: col >= bound, "gt": lambda: col > bound, "le": lambda: col <= bound,
          "lt": lambda: col < bound,
          "between": lambda: col.is_between(bound[0], bound[1]),
          "in": lambda: col.is_in(bound), "not_in": lambda: ~col.is_in(bound)}[leaf["op"]]()
    return wide.select((~ok).alias("F"))["F"]


def failures_by_code(wide: pl.DataFrame, catalog: dict) -> dict[str, pl.Series]:
    """Each machine-checkable criterion -> boolean Series 'not met', computed here."""
    out = {}
    for code, c in catalog.items():
        check = c.get("check")
        if not check:
            continue
        if code == "INCL05A":
            out[code] = ~wide["CNLC"].is_in(["IB", "IIA", "IIB", "IIIA"])
        elif code == "INCL10":
            out[code] = wide["CP"] > 7
        elif code == "EXCL12":
            out[code] = (wide["CP"] >= 10) | wide["ASCITES"].is_in(["MODERATE", "SEVERE"]) | (wide["HEPENCEP"] != "NONE")
        elif code == "INCL13I":
            cr = leaf_fails(wide, check["any"][0])
            out[code] = cr & (wide["CRCL"] < check["any"][1]["threshold"])
        elif "all" in check:
            fails = [leaf_fails(wide, leaf) for leaf in check["all"]]
            res = fails[0]
            for f in fails[1:]:
                res = res | f
            out[code] = res
        else:
            out[code] = leaf_fails(wide, check)
    return out


# ---------------------------------------------------------------- the catalog
def test_catalog_has_every_protocol_criterion_with_its_number(catalog):
    numbers = {(c["iecat"], int(re.match(r"(?:INCL|EXCL)(\d\d)", code).group(1))) for code, c in catalog.items()}
    assert {n for cat, n in numbers if cat == "INCLUSION"} == set(range(2, 15))
    assert {n for cat, n in numbers if cat == "EXCLUSION"} == set(range(2, 34))
    for code, c in catalog.items():
        assert re.fullmatch(r"(INCL|EXCL)\d\d[A-K]?", code) and len(code) <= 8
        assert code.startswith("INCL") == (c["iecat"] == "INCLUSION")
        assert 0 < len(c["ietest"]) <= 200 and c["category"]
    assert {"INCL13A", "INCL13B", "INCL13K", "INCL10", "INCL05A", "EXCL03"} <= set(catalog)
    assert catalog["INCL13B"]["check"]["threshold"] == 75 and catalog["INCL13D"]["check"]["uln_multiple"] == 2


# ---------------------------------------------------------------- disposition and IE
def test_every_screened_subject_has_a_consent_milestone(study):
    consent = study["ds"].filter(pl.col("DSDECOD") == "INFORMED CONSENT OBTAINED")
    assert consent["DSCAT"].unique().to_list() == ["PROTOCOL MILESTONE"]
    assert set(consent["USUBJID"]) == set(study["dm"]["USUBJID"])
    dm = study["dm"].join(consent.select("USUBJID", "DSSTDTC"), on="USUBJID")
    assert (dm["RFICDTC"] == dm["DSSTDTC"]).all()


def test_randomized_subjects_have_a_randomized_milestone_in_screening(study):
    rand = study["ds"].filter(pl.col("DSDECOD") == "RANDOMIZED")
    assert rand["EPOCH"].unique().to_list() == ["SCREENING"]
    assert rand["DSCAT"].unique().to_list() == ["PROTOCOL MILESTONE"]
    randomized = study["dm"].filter(pl.col("ARMCD").is_in(ARMS))["USUBJID"]
    assert sorted(rand["USUBJID"]) == sorted(randomized)
    sf = study["ds"].filter(pl.col("DSDECOD") == "SCREEN FAILURE")
    assert sf["EPOCH"].unique().to_list() == ["SCREENING"] and sf["DSCAT"].unique().to_list() == ["DISPOSITION EVENT"]
    assert set(sf["USUBJID"]) == set(study["dm"].filter(pl.col("ARMCD") == "SCRNFAIL")["USUBJID"])


def test_screen_failures_have_one_to_three_ie_records_from_the_catalog(study, catalog):
    ie, dm = study["ie"], study["dm"]
    per_subject = ie.group_by("USUBJID").len()
    failures = set(dm.filter(pl.col("ARMCD") == "SCRNFAIL")["USUBJID"])
    assert set(per_subject["USUBJID"]) == failures
    assert per_subject["len"].min() >= 1 and per_subject["len"].max() <= 3
    for row in ie.select("IETESTCD", "IETEST", "IECAT", "IEORRES", "IESTRESC").unique().iter_rows(named=True):
        entry = catalog[row["IETESTCD"]]
        assert (row["IETEST"], row["IECAT"]) == (entry["ietest"], entry["iecat"])
        assert row["IEORRES"] == row["IESTRESC"] == ("N" if row["IECAT"] == "INCLUSION" else "Y")
    assert ie.select(pl.struct("USUBJID", "IETESTCD").is_duplicated().any()).item() is False


def test_ie_failures_are_matched_by_the_findings(run, catalog):
    """Every machine-checkable IE record is backed by data beyond the protocol threshold,
    except the planted ones the truth file lists (a wrong code entered by the site), and
    every criterion a screen failure's data fail is recorded in IE."""
    study, truth = run
    wide = subject_findings(study)
    fails = failures_by_code(wide, catalog)
    ie = study["ie"]
    unsupported = set()
    sf = set(wide.filter(pl.col("ARMCD") == "SCRNFAIL")["USUBJID"])
    for code, failed in fails.items():
        data_fail = set(wide.filter(failed)["USUBJID"])
        recorded = set(ie.filter(pl.col("IETESTCD") == code)["USUBJID"])
        unsupported |= {(u, code) for u in recorded - data_fail}
        assert (data_fail & sf) <= recorded, f"{code}: data fail but no IE for {sorted((data_fail & sf) - recorded)[:3]}"
    planted = {(d["USUBJID"], d["IETESTCD"])
               for d in truth["screening"]["eligibility_discrepancies"]["screen_failure_criterion_not_supported"]}
    assert planted and unsupported == planted
    # the planted screen failures have that one IE record and nothing else fails in their data
    for u, code in planted:
        assert ie.filter(pl.col("USUBJID") == u)["IETESTCD"].to_list() == [code]


def _unsupported(truth) -> list[str]:
    return [d["USUBJID"] for d in truth["screening"]["eligibility_discrepancies"]["screen_failure_criterion_not_supported"]]


def test_platelet_failures_have_low_platelets(big_run, catalog):
    big_study, truth = big_run
    threshold = catalog["INCL13B"]["check"]["threshold"]
    failed = (big_study["ie"].filter((pl.col("IETESTCD") == "INCL13B") & ~pl.col("USUBJID").is_in(_unsupported(truth)))
              ["USUBJID"])
    plt = big_study["lb"].filter((pl.col("LBTESTCD") == "PLAT") & (pl.col("VISIT") == "SCREENING")
                                 & pl.col("USUBJID").is_in(failed.to_list()))
    assert plt.height == failed.len() > 0
    assert (plt["LBSTRESN"] < threshold).all() and (plt["LBSTRESU"] == "10^9/L").all()


def test_randomized_subjects_meet_every_machine_checkable_criterion_but_the_planted(run, catalog):
    """Randomized subjects pass every machine check, except the planted ones the truth file
    lists (randomized although their screening data fail one criterion, e.g. a waiver)."""
    study, truth = run
    wide = subject_findings(study).filter(pl.col("ARMCD").is_in(ARMS))
    assert wide.height > 0
    failing = set()
    for code, failed in failures_by_code(wide, catalog).items():
        failing |= {(u, code) for u in wide.filter(failed)["USUBJID"]}
    planted = truth["screening"]["eligibility_discrepancies"]["randomized_failing_criterion"]
    assert planted and failing == {(d["USUBJID"], d["IETESTCD"]) for d in planted}
    clean = wide.filter(~pl.col("USUBJID").is_in([d["USUBJID"] for d in planted]))
    assert (clean["CP"] <= 7).all()                                  # Child-Pugh A or B7
    assert clean["CNLC"].is_in(["IB", "IIA", "IIB", "IIIA"]).all()
    assert not wide["VASCINV"].is_in(["VP4", "HVTT"]).any()
    assert wide.select(pl.all().null_count()).sum_horizontal().item() == 0
    # the value the truth file names is the one in the data
    for d in planted:
        col = "ECOG" if d["TESTCD"] == "ECOG101" else d["TESTCD"]
        assert wide.filter(pl.col("USUBJID") == d["USUBJID"])[col].item() == pytest.approx(d["VALUE"])


def test_child_pugh_and_cnlc_failures_really_compute_so(big_run):
    big_study, truth = big_run
    wide = subject_findings(big_study)
    ie = big_study["ie"].filter(~pl.col("USUBJID").is_in(_unsupported(truth)))
    cp_fail = wide.filter(pl.col("USUBJID").is_in(ie.filter(pl.col("IETESTCD") == "INCL10")["USUBJID"].to_list()))
    assert cp_fail.height > 0 and (cp_fail["CP"] >= 8).all()
    st_fail = wide.filter(pl.col("USUBJID").is_in(ie.filter(pl.col("IETESTCD") == "INCL05A")["USUBJID"].to_list()))
    assert st_fail.height > 0 and st_fail["CNLC"].is_in(["IA", "IIIB", "IV"]).all()


def test_failure_reasons_have_realistic_frequencies(big_study, catalog):
    ie = big_study["ie"].with_columns(
        pl.col("IETESTCD").replace_strict({k: v["category"] for k, v in catalog.items()}).alias("CATEGORY"))
    n_fail = ie["USUBJID"].n_unique()
    share = dict(ie.group_by("CATEGORY").agg(pl.col("USUBJID").n_unique()).iter_rows())
    for category in ("Liver function / Child-Pugh", "SIRT suitability (MAA mapping)", "Tumour burden / extent",
                     "Prior therapy", "Laboratory values", "Vascular invasion", "Performance status"):
        assert share.get(category, 0) / n_fail > 0.02, category
    assert share["Liver function / Child-Pugh"] > share.get("Performance status", 0)


def test_screening_findings_are_dated_within_screening(study):
    dm = study["dm"].select("USUBJID", "RFICDTC")
    rand = study["ds"].filter(pl.col("DSDECOD") == "RANDOMIZED").select("USUBJID", pl.col("DSSTDTC").alias("RANDDTC"))
    for name, col in (("lb", "LBDTC"), ("vs", "VSDTC"), ("fa", "FADTC"), ("qs", "QSDTC")):
        f = (study[name].filter(pl.col("VISIT") == "SCREENING")
             .join(dm, on="USUBJID").join(rand, on="USUBJID", how="left"))
        assert (f[col] >= f["RFICDTC"]).all(), name
        r = f.filter(pl.col("RANDDTC").is_not_null())
        assert (r[col] < r["RANDDTC"]).all(), name


def test_lab_results_carry_si_units_and_reference_ranges(study):
    lb = study["lb"].filter(pl.col("VISIT") == "SCREENING")
    assert set(lb["LBTESTCD"]) == {"PLAT", "NEUT", "HGB", "BILI", "ALT", "AST", "ALP", "ALB", "CREAT", "INR"}
    assert lb.group_by("USUBJID").len()["len"].unique().to_list() == [10]
    assert lb["LBSTNRHI"].null_count() == 0 and (lb["LBSTNRHI"] > lb["LBSTNRLO"]).all()
    units = dict(lb.select("LBTESTCD", "LBSTRESU").unique().iter_rows())
    assert units["BILI"] == "umol/L" and units["ALB"] == "g/L" and units["CREAT"] == "umol/L"


def test_sirt_unsuitable_screen_failures_had_maa_mapping(study):
    unsuitable = set(study["ie"].filter(pl.col("IETESTCD") == "INCL07")["USUBJID"])
    maa = study["pr"].filter(pl.col("PRTRT").str.contains("MAA") & (pl.col("EPOCH") == "SCREENING"))
    assert unsuitable <= set(maa["USUBJID"])
    failures = study["ie"].group_by("USUBJID").agg(pl.col("IEDTC").first())
    m = maa.join(failures, on="USUBJID")
    assert (m["PRSTDTC"] <= m["IEDTC"]).all()


def test_dm_arms_follow_sdtmig_32(default_study):
    dm = default_study["dm"]
    assert set(dm["ARMCD"]) <= set(ARMS) | {"SCRNFAIL", "NOTASSGN"}
    sf = dm.filter(pl.col("ARMCD") == "SCRNFAIL")
    assert (sf["ARM"] == "Screen Failure").all() and (sf["ACTARMCD"] == "SCRNFAIL").all()
    assert (dm["COUNTRY"] == "CHN").all() and dm["USUBJID"].is_unique().all()
    assert dm["USUBJID"].str.contains(r"^ST561-1-0[123]-\d{4}$").all()
    assert dm["AGE"].is_between(18, 90).all()
