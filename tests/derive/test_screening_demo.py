"""The screening derivations on the built-in demo, against demo_truth.json and an independent re-derivation.

Nothing here is a number of the demo: expectations come from the truth file the generator
writes, or from plain polars written here from the protocol's text, never from trialkit's
own evaluators.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from trialkit.derive import screening as scr
from trialkit.derive.eligibility import checkable_criteria, protocol_check
from trialkit.io import Study
from trialkit.protocol import load_protocol
from trialkit.study import StudyParams, open_study, prepare_study

PROTOCOL = load_protocol("NCT07334483")


@pytest.fixture(scope="module")
def demo(demo_dir):
    truth = json.loads((demo_dir / "demo_truth.json").read_text(encoding="utf-8"))
    data = open_study("screening", data_dir=demo_dir, data_cutoff=truth["cutoff"])  # as of the demo's cutoff
    return data, truth["screening"]


def _analysis(data, frames=None):
    if frames is None:
        return scr.create_screening(data.subjects, data.frames, data.protocol, data_cutoff=data.params.data_cutoff)
    study = Study(data_dir=Path("."), files={}, frames=frames, protocol=data.protocol)
    again = prepare_study(study, data.params)
    return scr.create_screening(again.subjects, again.frames, again.protocol, data_cutoff=again.params.data_cutoff)


@pytest.fixture(scope="module")
def analysis(demo):
    return _analysis(demo[0])


def test_funnel_matches_the_truth_file(demo, analysis):
    _, truth = demo
    funnel = {r["STAGE"]: r["N"] for r in analysis.funnel.filter(pl.col("SITEID") == "ALL").iter_rows(named=True)}
    # the demo records no link between a rescreened subject's two numbers: each attempt counts (see the listing)
    assert funnel["SCREENED"] == truth["n_screened"]
    assert funnel["RANDOMIZED"] == truth["n_randomized"]
    assert funnel["SCREEN FAILURE"] == truth["n_screen_failures"]
    assert funnel["NOT ASSIGNED"] == truth["n_withdrawn_in_screening"]
    per_site = dict(analysis.funnel.filter(pl.col("STAGE") == "SCREENED").select("SITEID", "N").iter_rows())
    assert {k: per_site[k] for k in truth["screened_per_site"]} == truth["screened_per_site"]


def test_failures_by_criterion_match_the_ie_counts_of_the_truth_file(demo, analysis):
    _, truth = demo
    by = dict(analysis.by_criterion.filter(pl.col("SOURCE") == "IE").select("IETESTCD", "N_SUBJECTS").iter_rows())
    assert {k: v for k, v in by.items() if v} == truth["failed_criteria_counts"]
    assert set(by) == {c["ietestcd"] for c in PROTOCOL.eligibility}          # every criterion, zeros included
    assert set(analysis.by_criterion["DENOMINATOR"].drop_nulls().to_list()) == {truth["n_screen_failures"]}
    failed = {u: c for u, c in analysis.failures.group_by("USUBJID").agg(pl.col("IETESTCD")).iter_rows()}
    assert {u: sorted(c) for u, c in failed.items()} == {u: sorted(c) for u, c in truth["screen_failures"].items()}


def test_the_rescreened_pair_of_the_truth_file_is_found_as_a_possible_rescreen(demo, analysis):
    _, truth = demo
    pairs = set(analysis.possible_rescreens.select("USUBJID_1", "USUBJID_2").iter_rows())
    for pair in truth["rescreened"]:
        assert (pair["screen_failure_usubjid"], pair["rescreen_usubjid"]) in pairs


def test_a_recorded_rescreen_link_counts_the_person_once(demo):
    data, truth = demo
    pairs = truth["rescreened"]
    supp = pl.DataFrame({"STUDYID": ["ST561-1"] * len(pairs), "RDOMAIN": ["DM"] * len(pairs),
                         "USUBJID": [p["rescreen_usubjid"] for p in pairs], "QNAM": ["RSUBJID"] * len(pairs),
                         "QVAL": [p["screen_failure_usubjid"] for p in pairs]})
    analysis = _analysis(data, {**data.frames, "suppdm": supp})
    funnel = {r["STAGE"]: r["N"] for r in analysis.funnel.filter(pl.col("SITEID") == "ALL").iter_rows(named=True)}
    assert funnel["SCREENED"] == truth["n_screened"] - len(pairs)
    assert funnel["SCREEN FAILURE"] == truth["n_screen_failures"] - len(pairs)
    assert funnel["RESCREENED"] == len(pairs)
    listed = scr.summarize_rescreened(analysis.subjects)
    assert listed.height == 2 * len(pairs) and set(listed["Counted in the funnel"]) == {"Y", "N"}
    n = dict(analysis.consort.select("BOX", "N").iter_rows())
    assert n["assessed"] == truth["n_screened"] - len(pairs)


def test_consort_matches_the_truth_file_and_adds_up(demo, analysis):
    _, truth = demo
    n = dict(analysis.consort.select("BOX", "N").iter_rows())
    assert {a: n[f"allocated.{a}"] for a in truth["randomized_per_arm"]} == truth["randomized_per_arm"]
    not_received = {u for b, ids in analysis.consort.select("BOX", "USUBJIDS").iter_rows()
                    if b.startswith("not_received.") and "." not in b[len("not_received."):] for u in ids}
    assert set(truth["never_treated"]) <= not_received
    assert set(analysis.consort_checks["RESULT"]) <= {"adds up", "explained"}


# ---------------------------------------------------------------------------------------- the re-check
def _independent_recheck(data) -> pl.DataFrame:
    """Every checkable criterion of the demo protocol, written out in plain polars from the protocol's text.

    Test codes come from the protocol file (they may be renamed there); the rules and numbers
    are those of the registry record (NCT07334483) and of Pugh (1973) / CNLC (2022).
    """
    code = {c: protocol_check(PROTOCOL, c) for c in ("INCL13A", "INCL13B", "INCL13C", "INCL13D", "INCL13E", "INCL13F",
                                                     "INCL13G", "INCL13H", "INCL13K", "EXCL03")}
    lab = {k: v["testcd"] for k, v in code.items()}
    rows = []
    for name, prefix in (("lb", "LB"), ("vs", "VS"), ("qs", "QS"), ("fa", "FA")):
        frame = data.frames[name].filter(pl.col("EPOCH") == "SCREENING")
        rows.append(frame.select("USUBJID", pl.col(f"{prefix}TESTCD").alias("T"),
                                 pl.col(f"{prefix}STRESN").cast(pl.Float64).alias("N"),
                                 pl.col(f"{prefix}STRESC").cast(pl.String).alias("C"),
                                 (pl.col("LBSTNRHI") if prefix == "LB" else pl.lit(None, pl.Float64)).alias("U")))
    long = pl.concat(rows)
    num = long.pivot(on="T", index="USUBJID", values="N", aggregate_function="last")
    txt = long.pivot(on="T", index="USUBJID", values="C", aggregate_function="last").select(
        "USUBJID", *[pl.col(c).alias(f"{c}_C") for c in ("ASCITES", "HEPENCEP", "VASCINV", "EXTRAHEP")])
    uln = long.filter(pl.col("U").is_not_null()).pivot(on="T", index="USUBJID", values="U",
                                                       aggregate_function="last").select(
        "USUBJID", *[pl.col(c).alias(f"{c}_ULNX") for c in ("BILI", "ALT", "AST", "ALP", "CREAT")])
    w = (data.subjects.select("USUBJID", "AGE", "SEX").join(num, on="USUBJID", how="left")
         .join(txt, on="USUBJID", how="left").join(uln, on="USUBJID", how="left"))
    cp = ((pl.when(pl.col("BILI") < 34).then(1).when(pl.col("BILI") <= 51).then(2).otherwise(3))
          + (pl.when(pl.col("ALB") > 35).then(1).when(pl.col("ALB") >= 28).then(2).otherwise(3))
          + (pl.when(pl.col("INR") < 1.7).then(1).when(pl.col("INR") <= 2.3).then(2).otherwise(3))
          + pl.col("ASCITES_C").replace_strict({"ABSENT": 1, "MILD": 2, "MODERATE": 3, "SEVERE": 3}, return_dtype=pl.Int64)
          + pl.col("HEPENCEP_C").replace_strict({"NONE": 1, "GRADE 1-2": 2, "GRADE 3-4": 3}, return_dtype=pl.Int64))
    n, d = pl.col("LESNUM"), pl.col("LDIAM")
    stage = (pl.when((pl.col("ECOG101") >= 3) | (cp >= 10)).then(pl.lit("IV"))
             .when(pl.col("EXTRAHEP_C") == "Y").then(pl.lit("IIIB"))
             .when(pl.col("VASCINV_C") != "NONE").then(pl.lit("IIIA"))
             .when(n >= 4).then(pl.lit("IIB"))
             .when((n >= 2) & (d > 30)).then(pl.lit("IIA"))
             .when((n >= 2) | (d > 50)).then(pl.lit("IB")).otherwise(pl.lit("IA")))
    crcl = ((140 - pl.col("AGE")) * pl.col("WEIGHT") / (72 * pl.col("CREAT") / 88.4)
            * pl.when(pl.col("SEX") == "F").then(0.85).otherwise(1.0))
    eligible = {
        "INCL02": pl.col("AGE").is_between(18, 75), "INCL05A": stage.is_in(["IB", "IIA", "IIB", "IIIA"]),
        "INCL05B": pl.col("VASCINV_C") != "VP4", "INCL09": pl.col("ECOG101") <= 1, "INCL10": cp <= 7,
        "INCL13A": pl.col(lab["INCL13A"]) >= 1.5, "INCL13B": pl.col(lab["INCL13B"]) >= 75,
        "INCL13C": pl.col(lab["INCL13C"]) >= 90, "INCL13D": pl.col("BILI") <= 2 * pl.col("BILI_ULNX"),
        "INCL13E": pl.col("ALT") <= 5 * pl.col("ALT_ULNX"), "INCL13F": pl.col("AST") <= 5 * pl.col("AST_ULNX"),
        "INCL13G": pl.col("ALP") <= 5 * pl.col("ALP_ULNX"), "INCL13H": pl.col(lab["INCL13H"]) >= 30,
        "INCL13I": (pl.col("CREAT") <= 1.5 * pl.col("CREAT_ULNX")) | (crcl >= 50), "INCL13K": pl.col("INR") <= 1.8,
        "EXCL03": pl.col(lab["EXCL03"]) <= 50, "EXCL04": pl.col("VASCINV_C") != "HVTT",
        "EXCL12": (cp <= 9) & pl.col("ASCITES_C").is_in(["ABSENT", "MILD"]) & (pl.col("HEPENCEP_C") == "NONE"),
        "EXCL18A": (pl.col("SYSBP") <= 150) & (pl.col("DIABP") <= 100),
    }
    assert set(eligible) == {c["ietestcd"] for c in checkable_criteria(PROTOCOL)}
    return w.select("USUBJID", *[e.alias(k) for k, e in eligible.items()]).unpivot(
        index="USUBJID", variable_name="IETESTCD", value_name="ELIGIBLE")


def _expected_discrepancies(data, recheck: pl.DataFrame) -> tuple[set, set]:
    status = data.subjects.select("USUBJID", pl.col("STATUS").cast(pl.String))
    ie = data.frames["ie"].select("USUBJID", "IETESTCD")
    both = recheck.join(status, on="USUBJID")
    fails = set(both.filter((pl.col("STATUS") == "RANDOMIZED") & ~pl.col("ELIGIBLE")).select("USUBJID", "IETESTCD")
                .iter_rows())
    unsupported = set(both.filter((pl.col("STATUS") == "SCREEN FAILURE") & pl.col("ELIGIBLE"))
                      .join(ie, on=["USUBJID", "IETESTCD"]).select("USUBJID", "IETESTCD").iter_rows())
    return fails, unsupported


def _found(analysis) -> tuple[set, set]:
    d = analysis.discrepancies
    return (set(d.filter(pl.col("DIRECTION") == scr.RANDOMIZED_FAILS).select("USUBJID", "IETESTCD").iter_rows()),
            set(d.filter(pl.col("DIRECTION") == scr.NOT_SUPPORTED).select("USUBJID", "IETESTCD").iter_rows()))


def test_recheck_finds_exactly_the_discrepancies_of_the_demo(demo, analysis):
    data, truth = demo
    found = _found(analysis)
    assert found == _expected_discrepancies(data, _independent_recheck(data))
    planted = truth["eligibility_discrepancies"]  # what the demo planted (issue 8): every one found, no other
    assert found[0] == {(d["USUBJID"], d["IETESTCD"]) for d in planted["randomized_failing_criterion"]} != set()
    assert found[1] == {(d["USUBJID"], d["IETESTCD"]) for d in planted["screen_failure_criterion_not_supported"]} != set()


def test_recheck_finds_discrepancies_planted_here_and_no_other(demo, analysis):
    """Plant one of each kind in a copy of the demo: a randomized subject's platelets below the threshold, and a
    platelet criterion recorded in IE for a screen failure whose platelets are fine."""
    data, _ = demo
    plt_code = protocol_check(PROTOCOL, "INCL13B")["testcd"]
    before = _found(analysis)
    randomized = sorted(set(data.randomized["USUBJID"]) - {u for u, _ in before[0]})[0]
    failures = data.subjects.filter(pl.col("STATUS") == "SCREEN FAILURE")["USUBJID"].to_list()
    recorded = set(data.frames["ie"].filter(pl.col("IETESTCD") == "INCL13B")["USUBJID"])
    target = sorted(set(failures) - recorded)[0]
    lb = data.frames["lb"].with_columns(
        pl.when((pl.col("USUBJID") == randomized) & (pl.col("LBTESTCD") == plt_code)).then(pl.lit(40.0))
        .otherwise(pl.col("LBSTRESN")).alias("LBSTRESN"))
    ie = pl.concat([data.frames["ie"], data.frames["ie"].head(1).with_columns(
        pl.lit(target).alias("USUBJID"), pl.lit("INCL13B").alias("IETESTCD"), pl.lit("INCLUSION").alias("IECAT"),
        pl.lit("N").alias("IEORRES"), pl.lit("N").alias("IESTRESC"))], how="vertical_relaxed")
    planted = _analysis(data, {**data.frames, "lb": lb, "ie": ie})
    after = _found(planted)
    assert after[0] == before[0] | {(randomized, "INCL13B")}
    assert after[1] == before[1] | {(target, "INCL13B")}
    row = planted.discrepancies.filter(pl.col("USUBJID") == randomized).row(0, named=True)
    assert row["VALUES"] == f"{plt_code} 40 10^9/L" and row["IE_RECORD"] == "N"
