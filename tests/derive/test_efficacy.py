"""trialkit.derive.efficacy: exact CIs, Newcombe differences, kappa, PFS censoring, Kaplan-Meier.

Expected values are closed forms, hand computations or published figures:
- Clopper-Pearson at x = 0, x = n and x = 1 have closed forms (1 − (α/2)^(1/n), ...);
- Newcombe 1998 (Stat Med 17:873), Table II example (a), 56/70 vs 48/80: 0.0524 to 0.3339;
- the 6-MP leukaemia trial (Freireich et al. 1963, as analysed by Gehan 1965 and in every survival
  textbook): Kaplan-Meier median remission 23 weeks with 6-MP, 8 weeks with placebo.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from trialkit.derive import efficacy as e
from trialkit.derive.response import ResponseAnalysis
from trialkit.protocol import generic_protocol, load_protocol

PROTOCOL = load_protocol("NCT07334483")
RAND = dt.date(2025, 9, 1)


def day(n: int) -> dt.date:
    return RAND + dt.timedelta(days=n)


def analysis(subjects: pl.DataFrame, time_points: pl.DataFrame | None = None,
             new_therapy: pl.DataFrame | None = None) -> ResponseAnalysis:
    tp = time_points if time_points is not None else pl.DataFrame(
        schema={"USUBJID": pl.String, "ADT": pl.Date, "AVALC": pl.String, "VALID": pl.Boolean})
    nact = new_therapy if new_therapy is not None else pl.DataFrame(schema={"USUBJID": pl.String, "NACTDT": pl.Date})
    return ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", tp, None, None, subjects, nact)


# ---------------------------------------------------------------------------------------------
# proportions
# ---------------------------------------------------------------------------------------------
def test_clopper_pearson_closed_forms_at_the_edges():
    lo, hi = e.compute_exact_ci([0, 10, 1], [10, 10, 20])
    assert lo[0] == 0.0 and hi[0] == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)      # 0.3085
    assert hi[1] == 1.0 and lo[1] == pytest.approx(0.025 ** (1 / 10), abs=1e-12)          # 0.6915
    assert lo[2] == pytest.approx(1 - 0.975 ** (1 / 20), abs=1e-12)                        # 0.00127
    lo, hi = e.compute_exact_ci([0], [0])
    assert math.isnan(lo[0]) and math.isnan(hi[0])


@pytest.mark.parametrize("x, n", [(0, 30), (1, 7), (12, 30), (29, 30), (30, 30), (56, 70)])
def test_wilson_interval_is_scipys(x, n):
    from scipy.stats import binomtest

    ci = binomtest(x, n).proportion_ci(method="wilson")
    assert e.compute_wilson_ci(x, n) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_newcombe_difference_matches_the_published_example_and_zero_responders():
    d, lo, hi = e.compute_newcombe_difference(56, 70, 48, 80)
    assert (round(d, 4), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)
    # no responder in either arm: d = 0, bounds -/+ the Wilson upper bound of 0/30 = z^2 / (n + z^2)
    z2 = 1.959963984540054 ** 2
    d, lo, hi = e.compute_newcombe_difference(0, 30, 0, 30)
    assert d == 0 and lo == pytest.approx(-z2 / (30 + z2), abs=1e-9) and hi == pytest.approx(z2 / (30 + z2), abs=1e-9)


def test_orr_denominator_is_every_randomized_subject_and_zero_responders_work():
    s = pl.DataFrame({"USUBJID": [f"{i}" for i in range(6)], "ARMCD": ["A", "A", "A", "A", "D", "D"],
                      "BOR": ["PR", "MISSING", "NE", "SD", "PD", "MISSING"]})
    orr = e.summarize_orr(analysis(s), {"A": "Arm A", "B": "Arm B", "D": "Arm D"})
    assert orr.columns[:9] == ["ARM", "CRITERIA", "ASSESSOR", "CONFIRMED", "N", "RESPONDERS", "ORR_PCT",
                               "CI_LOWER_PCT", "CI_UPPER_PCT"]
    rows = {r["ARMCD"]: r for r in orr.iter_rows(named=True)}
    assert (rows["A"]["N"], rows["A"]["RESPONDERS"], rows["A"]["ORR_PCT"], rows["A"]["DCR_N"]) == (4, 1, 25.0, 2)
    assert (rows["D"]["RESPONDERS"], rows["D"]["ORR_PCT"], rows["D"]["CI_LOWER_PCT"]) == (0, 0.0, 0.0)
    assert rows["D"]["CI_UPPER_PCT"] == pytest.approx(100 * (1 - 0.025 ** 0.5), abs=1e-9)
    assert (rows["B"]["N"], rows["B"]["ORR_PCT"], rows["B"]["CI_UPPER_PCT"]) == (0, None, None)


def test_bor_table_lists_every_category_in_order_with_zeros_and_the_differences():
    s = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A", "A", "D"], "BOR": ["CR", "PD", "SD"]})
    table = e.summarize_orr_table(analysis(s), {"A": "Arm A", "D": "Arm D"}, reference="D")
    assert table.columns == ["Response", "Arm A (N=2)", "Arm D (N=1)", "All randomized (N=3)"]
    assert table["Response"].to_list()[:7] == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"]
    assert table["Arm A (N=2)"].to_list()[:7] == ["1 (50.0%)", "0 (0.0%)", "0 (0.0%)", "0 (0.0%)", "1 (50.0%)",
                                                  "0 (0.0%)", "0 (0.0%)"]
    diff = table.filter(pl.col("Response").str.starts_with("ORR difference"))
    d, lo, hi = e.compute_newcombe_difference(1, 2, 0, 1)
    assert diff["Arm A (N=2)"].item() == e.format_difference(100 * d, 100 * lo, 100 * hi)
    assert diff["Arm D (N=1)"].item() == "—"


def test_comparator_arm_from_the_protocol_and_none_without():
    assert e.comparator_arm(PROTOCOL) == "D"
    assert e.comparator_arm(generic_protocol("X", arms={"P": "Placebo"})) is None
    assert e.summarize_orr_differences(pl.DataFrame({"ARMCD": ["A"], "ARM": ["A"], "N": [1], "RESPONDERS": [1],
                                                     "DCR_N": [1]}), reference=None).is_empty()


# ---------------------------------------------------------------------------------------------
# concordance
# ---------------------------------------------------------------------------------------------
def test_kappa_of_a_hand_computed_table_and_perfect_agreement():
    rows = [("X", "All", "ALL", "CR", "CR", 20), ("X", "All", "ALL", "CR", "PR", 5),
            ("X", "All", "ALL", "PR", "CR", 10), ("X", "All", "ALL", "PR", "PR", 15),
            ("Y", "All", "ALL", "CR", "CR", 3), ("Y", "All", "ALL", "SD", "SD", 2),
            ("Z", "All", "ALL", "SD", "SD", 4),
            ("W", "All", "ALL", "CR", "CR", 10), ("W", "All", "ALL", "PR", "PR", 9), ("W", "All", "ALL", "CR", "PR", 1)]
    c = pl.DataFrame(rows, schema=["COMPARISON", "ARM", "ARMCD", "BOR_1", "BOR_2", "N"], orient="row")
    k = {r["COMPARISON"]: r for r in e.summarize_kappa(c).iter_rows(named=True)}
    # p_o = 35/50 = 0.7, p_e = (25*30 + 25*20)/50^2 = 0.5: kappa 0.4, SE sqrt(.7*.3/(50*.25)) = 0.1296
    assert k["X"]["KAPPA"] == pytest.approx(0.4) and k["X"]["AGREE_PCT"] == pytest.approx(70.0)
    assert k["X"]["KAPPA_UPPER"] - k["X"]["KAPPA"] == pytest.approx(1.959964 * math.sqrt(0.21 / 12.5), abs=1e-5)
    assert k["Y"]["KAPPA"] == pytest.approx(1.0) and k["Y"]["KAPPA_UPPER"] == 1.0   # never above 1
    assert k["Z"]["KAPPA"] is None          # one category both times: kappa undefined
    # kappa 0.9 with SE 0.0975: the symmetric interval would reach 1.09; kappa cannot exceed 1
    assert k["W"]["KAPPA"] == pytest.approx(0.9) and k["W"]["KAPPA_UPPER"] == 1.0
    assert k["W"]["KAPPA_LOWER"] == pytest.approx(0.9 - 1.959964 * math.sqrt(0.95 * 0.05 / (20 * 0.25)), abs=1e-5)


def test_concordance_counts_every_pair_with_zeros_and_a_missing_side_as_missing():
    a = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A", "A", "D"], "BOR": ["PR", "SD", "PD"]})
    b = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "BOR": ["PR", "PR"]})
    c = e.summarize_concordance(a, b, comparison="BICR vs INVESTIGATOR", arms={"A": "Arm A", "D": "Arm D"})
    assert c.columns[:5] == ["COMPARISON", "ARM", "BOR_1", "BOR_2", "N"]
    assert c.height == 3 * 7 * 7                                      # A, D, ALL x 7 x 7
    nonzero = c.filter(pl.col("N") > 0).select("ARMCD", "BOR_1", "BOR_2", "N").rows()
    assert nonzero == [("A", "PR", "PR", 1), ("A", "SD", "PR", 1), ("D", "PD", "MISSING", 1),
                       ("ALL", "PR", "PR", 1), ("ALL", "SD", "PR", 1), ("ALL", "PD", "MISSING", 1)]


# ---------------------------------------------------------------------------------------------
# PFS
# ---------------------------------------------------------------------------------------------
def _subjects(ids, deaths=None):
    deaths = deaths or {}
    return pl.DataFrame({"USUBJID": list(ids), "ARMCD": ["A"] * len(ids), "ARM_LABEL": ["Arm A"] * len(ids),
                         "SITE": ["01"] * len(ids), "RANDDT": [RAND] * len(ids),
                         "DTHDT": [deaths.get(i) for i in ids]}, schema_overrides={"DTHDT": pl.Date})


def _tp(rows):
    return pl.DataFrame({"USUBJID": [s for s, _, _ in rows], "ADT": [day(d) for _, d, _ in rows],
                         "AVALC": [v for _, _, v in rows], "VALID": [True] * len(rows)})


def pfs(rows, ids, *, deaths=None, nact=None, protocol=PROTOCOL):
    new = pl.DataFrame({"USUBJID": list(nact), "NACTDT": [day(d) for d in nact.values()]}) if nact else None
    out = e.derive_pfs(analysis(_subjects(ids, deaths), _tp(rows), new), protocol=protocol)
    return {r["USUBJID"]: (r["AVAL_DAYS"], r["EVENT"], r["EVENT_DESC"]) for r in out.iter_rows(named=True)}


def test_pfs_events_and_censoring_at_the_last_adequate_assessment():
    rows = [("pd", 42, "SD"), ("pd", 84, "PD"), ("ne", 42, "SD"), ("ne", 84, "NE"), ("dead", 42, "PR")]
    got = pfs(rows, ["pd", "ne", "dead", "none"], deaths={"dead": day(60)})
    assert got["pd"] == (85, "Y", "PD")                      # day 1 = randomization: 84 days later is day 85
    assert got["ne"] == (43, "N", "CENSORED: NO PD OR DEATH, LAST ADEQUATE ASSESSMENT")   # an NE is no censoring time
    assert got["dead"] == (61, "Y", "DEATH")
    assert got["none"] == (1, "N", "CENSORED: NO ADEQUATE ASSESSMENT, AT RANDOMIZATION")


def test_pd_after_new_anticancer_therapy_is_censored_before_it():
    rows = [("after", 42, "SD"), ("after", 84, "SD"), ("after", 126, "PD"), ("sameday", 42, "SD"),
            ("sameday", 84, "PD"), ("before", 42, "PD")]
    got = pfs(rows, ["after", "sameday", "before"], nact={"after": 100, "sameday": 84, "before": 60})
    assert got["after"] == (85, "N", "CENSORED: NEW ANTICANCER THERAPY BEFORE PD OR DEATH")
    # admiralonco PFSNACT: an event counts only when strictly before NACTDT
    assert got["sameday"] == (43, "N", "CENSORED: NEW ANTICANCER THERAPY BEFORE PD OR DEATH")
    assert got["before"] == (43, "Y", "PD")


def test_pd_after_two_missed_assessments_is_censored_91_days_is_not_92():
    rows = [("91", 42, "SD"), ("91", 133, "PD"), ("92", 42, "SD"), ("92", 134, "PD")]
    got = pfs(rows, ["91", "92", "deathonly"], deaths={"deathonly": day(95)})
    assert got["91"] == (134, "Y", "PD")
    assert got["92"] == (43, "N", "CENSORED: PD OR DEATH AFTER 2 OR MORE MISSED ASSESSMENTS")
    assert got["deathonly"] == (1, "N", "CENSORED: PD OR DEATH AFTER 2 OR MORE MISSED ASSESSMENTS")
    generic = generic_protocol("X", arms={"A": "Arm A"})
    assert pfs(rows, ["92"], protocol=generic)["92"] == (135, "Y", "PD")   # no interval: the rule is skipped
    assert "skipped" in e.describe_pfs_rules(generic)[-1]


def test_kaplan_meier_median_of_the_6mp_trial():
    weeks_6mp = [6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35]
    weeks_pbo = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
    rows = [("MP", abs(t), "N" if t < 0 else "Y") for t in weeks_6mp] + [("PB", t, "Y") for t in weeks_pbo]
    data = pl.DataFrame(rows, schema=["ARMCD", "AVAL_DAYS", "EVENT"], orient="row")
    km = e.summarize_km(data, {"MP": "6-MP", "PB": "Placebo"})
    summary = {r["ARMCD"]: r for r in km["summary"].iter_rows(named=True)}
    # AVAL_DAYS are weeks here; the result is in "months" of 30.4375 days: scale back
    assert summary["MP"]["MEDIAN_MONTHS"] * e.DAYS_PER_MONTH == pytest.approx(23)
    assert summary["PB"]["MEDIAN_MONTHS"] * e.DAYS_PER_MONTH == pytest.approx(8)
    assert (summary["MP"]["EVENTS"], summary["MP"]["CENSORED"]) == (9, 12)
    assert summary["MP"]["MEDIAN_UPPER"] is None                      # the upper band never reaches 0.5
    lower = summary["MP"]["MEDIAN_LOWER"] * e.DAYS_PER_MONTH
    assert 6 <= lower <= 23
    at_risk = km["at_risk"].filter(pl.col("ARMCD") == "MP")
    assert at_risk["N_AT_RISK"][0] == 21


def test_km_median_hand_computed_with_censoring_and_a_flat_at_one_half():
    data = pl.DataFrame({"ARMCD": ["A"] * 5, "AVAL_DAYS": [10, 20, 30, 40, 50], "EVENT": ["Y", "N", "Y", "Y", "Y"]})
    s = e.summarize_km(data, {"A": "A"})
    # S: 0.8 (10), 0.8*2/3 = 0.533 (30), 0.267 (40): the median is 40 days
    assert s["summary"]["MEDIAN_MONTHS"].item() * e.DAYS_PER_MONTH == pytest.approx(40)
    curve = s["curve"].filter(pl.col("MONTHS") > 0)["SURV"].round(4).to_list()
    assert curve == [0.8, 0.8, 0.5333, 0.2667, 0.0]
    assert s["censored"]["SURV"].to_list() == [pytest.approx(0.8)]
    flat = pl.DataFrame({"ARMCD": ["A"] * 4, "AVAL_DAYS": [10, 20, 30, 40], "EVENT": ["Y"] * 4})
    assert e.summarize_km(flat, {"A": "A"})["summary"]["MEDIAN_MONTHS"].item() * e.DAYS_PER_MONTH == pytest.approx(25)
