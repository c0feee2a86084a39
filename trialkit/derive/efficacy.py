"""Efficacy by arm: ORR and DCR with exact CIs, differences against the comparator, concordance, PFS.

Frames in, frames out (DESIGN sections 5 and 6). The statistics and their sources:

- **Exact (Clopper-Pearson) 95 % CI** of a proportion x/n: the ``alpha/2`` quantile of
  Beta(x, n − x + 1) and the ``1 − alpha/2`` quantile of Beta(x + 1, n − x), 0 when x = 0 and
  1 when x = n (Clopper & Pearson, Biometrika 1934; ``scipy.stats.beta``). The ORR
  denominator is every randomized subject of the arm: a subject with BOR NE or MISSING is
  a non-responder, never dropped.
- **Difference of two proportions**: Newcombe's hybrid score interval (Newcombe RG,
  "Interval estimation for the difference between independent proportions: comparison of
  eleven methods", Stat Med 1998;17:873-890, method 10), built from the two Wilson score
  intervals that ``scipy.stats.binomtest(...).proportion_ci(method="wilson")`` gives:
  ``L = d − sqrt((p1 − l1)² + (u2 − p2)²)``, ``U = d + sqrt((u1 − p1)² + (p2 − l2)²)``. It
  stays inside [−1, 1] and is defined with zero responders.
- **Cohen's kappa** of two best overall responses (BICR vs investigator; mRECIST vs
  RECIST 1.1): ``(p_o − p_e)/(1 − p_e)`` over the seven BOR categories, with Cohen's (1960)
  large-sample standard error ``sqrt(p_o(1 − p_o)/(n(1 − p_e)²))`` for its 95 % CI.
- **PFS** (DESIGN section 6; FDA guidance 2018, censoring as its table; admiral
  ``derive_param_tte``): event = the first PD time-point response or death, whichever is
  first; AVAL = date − randomization + 1 (admiral ``add_one``). Censored at the last
  *adequate* assessment (CR, PR, SD, NON-CR/NON-PD; never an NE, as admiral says: a record
  that does not show whether the event happened is no censoring time), or at randomization
  (day 1) when there is none; at the last adequate assessment before new anticancer
  therapy (CM) when the event is on or after its start (admiralonco ``PFSNACT``: an event
  counts only when ``PDDT < NACTDT``); at the last adequate assessment when the PD or death
  comes more than ``2 × assessment_interval_days + assessment_window_days`` after it (or
  after randomization): two or more missed assessments. A generic protocol has no
  interval: that rule is skipped, and :func:`describe_pfs_rules` says so.
- **Kaplan-Meier** with ``scipy.stats.ecdf`` on right-censored data; medians as R's
  ``survival`` and SAS ``LIFETEST`` take them (the first time S(t) ≤ 0.5; the midpoint of a
  flat at exactly 0.5), with the 95 % CI of Brookmeyer & Crowley from the log-log
  pointwise band (SAS's default): the first times the upper and the lower band reach 0.5.

Example:
    >>> compute_exact_ci([0, 12], [10, 30])[0].round(4).tolist(), compute_exact_ci([0], [10])[1].round(4).tolist()
    ([0.0, 0.2266], [0.3085])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from trialkit.derive.days import compute_days_between
from trialkit.derive.response import (
    BOR_TERMS,
    DISEASE_CONTROL,
    RESPONDERS,
    ResponseAnalysis,
    derive_response_analysis,
)
from trialkit.errors import DataError
from trialkit.format import compute_fixed_text, format_n_pct

CONFIDENCE = 0.95
DAYS_PER_MONTH = 365.25 / 12
CI_METHOD = "Clopper-Pearson exact 95% CI"
DIFF_METHOD = "Newcombe hybrid score 95% CI (Newcombe 1998, method 10, from Wilson score intervals)"
KAPPA_METHOD = "Cohen's kappa with its large-sample 95% CI (Cohen 1960)"
KM_METHOD = ("Kaplan-Meier (scipy.stats.ecdf); median 95% CI by Brookmeyer-Crowley from the log-log "
             "pointwise confidence band")
ALL = "ALL"


# --------------------------------------------------------------------------------------------
# proportions
# --------------------------------------------------------------------------------------------
def compute_exact_ci(x: Sequence[int], n: Sequence[int], *, confidence: float = CONFIDENCE
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson (exact) bounds of x/n as proportions; NaN where n is 0.

    Example:
        >>> lo, hi = compute_exact_ci([12, 30], [30, 30])
        >>> lo.round(4).tolist(), hi.round(4).tolist()
        ([0.2266, 0.8843], [0.594, 1.0])
    """
    # the beta quantile is scipy.special.betaincinv (scipy.stats.beta.ppf calls it; importing
    # scipy.stats alone takes most of a second)
    from scipy.special import betaincinv

    x_ = np.asarray(x, dtype=float)
    n_ = np.asarray(n, dtype=float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(x_ > 0, betaincinv(x_, n_ - x_ + 1, alpha / 2), 0.0)
        upper = np.where(x_ < n_, betaincinv(x_ + 1, n_ - x_, 1 - alpha / 2), 1.0)
    empty = n_ <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def compute_wilson_ci(x: int, n: int, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of x/n (Wilson 1927), as ``scipy.stats.binomtest(x, n).proportion_ci(
    method="wilson")`` gives it (a test checks they agree); NaN when n is 0.

    Written out, ``(x + z²/2 ± z·sqrt(x(n − x)/n + z²/4)) / (n + z²)``, because importing
    scipy.stats costs every report a second.

    Example:
        >>> [round(v, 4) for v in compute_wilson_ci(56, 70)]
        [0.6918, 0.877]
    """
    if n <= 0:
        return math.nan, math.nan
    from scipy.special import ndtri

    z = float(ndtri(1 - (1 - confidence) / 2))
    center = (x + z * z / 2) / (n + z * z)
    half = z * math.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
    return max(0.0, center - half), min(1.0, center + half)


def compute_newcombe_difference(x1: int, n1: int, x2: int, n2: int, *, confidence: float = CONFIDENCE
                                ) -> tuple[float, float, float]:
    """p1 − p2 with Newcombe's hybrid score interval (method 10), as proportions; NaN if a group is empty.

    Example (Newcombe 1998, Table II, example (a): 56/70 vs 48/80):
        >>> [round(v, 4) for v in compute_newcombe_difference(56, 70, 48, 80)]
        [0.2, 0.0524, 0.3339]
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = compute_wilson_ci(x1, n1, confidence=confidence)
    l2, u2 = compute_wilson_ci(x2, n2, confidence=confidence)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _arm_frame(arms: Mapping[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"ARMCD": list(arms), "ARM": list(arms.values()),
                         "_ORDER": list(range(len(arms)))}, schema={"ARMCD": pl.String, "ARM": pl.String,
                                                                     "_ORDER": pl.Int64})


def summarize_bor_counts(subjects: pl.DataFrame, arms: Mapping[str, str], *, include_all: bool = True
                         ) -> pl.DataFrame:
    """Counts of each BOR per arm, every category and arm listed, zeros included.

    Args:
        subjects: one row per randomized subject with ``ARMCD`` and ``BOR``
            (``ResponseAnalysis.subjects``).
        arms: arm code -> label (the protocol's arms, in order).
        include_all: add the group ``ALL`` (every arm together).

    Returns:
        ``ARMCD, ARM, BOR, N, DENOM, PCT`` (DENOM: the randomized subjects of the arm).

    Example:
        >>> s = pl.DataFrame({"ARMCD": ["A", "A", "B"], "BOR": ["PR", "MISSING", "SD"]})
        >>> out = summarize_bor_counts(s, {"A": "Arm A", "B": "Arm B"}, include_all=False)
        >>> out.filter(pl.col("ARMCD") == "A").select("BOR", "N").rows()[:2], out.height
        ([('CR', 0), ('PR', 1)], 14)
    """
    groups = _arm_frame(arms)
    if include_all:
        groups = pl.concat([groups, pl.DataFrame({"ARMCD": [ALL], "ARM": ["All randomized"],
                                                  "_ORDER": [len(arms)]})])
    terms = pl.DataFrame({"BOR": list(BOR_TERMS), "_BORDER": list(range(len(BOR_TERMS)))})
    data = subjects.select(pl.col("ARMCD").cast(pl.String), pl.col("BOR").cast(pl.String))
    if include_all:
        data = pl.concat([data, data.with_columns(pl.lit(ALL).alias("ARMCD"))])
    counts = data.group_by("ARMCD", "BOR").agg(pl.len().cast(pl.Int64).alias("N"))
    denom = data.group_by("ARMCD").agg(pl.len().cast(pl.Int64).alias("DENOM"))
    return (groups.join(terms, how="cross").join(counts, on=["ARMCD", "BOR"], how="left")
            .join(denom, on="ARMCD", how="left")
            .with_columns(pl.col("N").fill_null(0), pl.col("DENOM").fill_null(0))
            .with_columns(pl.when(pl.col("DENOM") > 0).then(pl.col("N") * 100 / pl.col("DENOM")).alias("PCT"))
            .sort("_ORDER", "_BORDER").select("ARMCD", "ARM", "BOR", "N", "DENOM", "PCT"))


def summarize_orr(analysis: ResponseAnalysis, arms: Mapping[str, str], *, include_all: bool = False
                  ) -> pl.DataFrame:
    """``orr.csv`` (DESIGN section 5): one row per arm, ORR and DCR with exact 95 % CIs.

    Columns: ``ARM, CRITERIA, ASSESSOR, CONFIRMED, N, RESPONDERS, ORR_PCT, CI_LOWER_PCT,
    CI_UPPER_PCT`` (the contract), then ``ARMCD, DCR_N, DCR_PCT, DCR_CI_LOWER_PCT,
    DCR_CI_UPPER_PCT``. N = every randomized subject of the arm; an arm without subjects
    has N 0 and no percentage. Responders: BOR CR or PR; disease control: CR, PR, SD or
    NON-CR/NON-PD.

    Example:
        >>> import datetime as dt
        >>> from trialkit.derive.response import ResponseAnalysis
        >>> s = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A", "A", "A"], "BOR": ["PR", "SD", "NE"]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), None, None, s,
        ...                      pl.DataFrame())
        >>> summarize_orr(a, {"A": "Arm A", "D": "Arm D"}).select("ARM", "N", "RESPONDERS", pl.col("CI_UPPER_PCT").round(2)).rows()
        [('Arm A', 3, 1, 90.57), ('Arm D', 0, 0, None)]
    """
    counts = summarize_bor_counts(analysis.subjects, arms, include_all=include_all)
    per_arm = counts.group_by("ARMCD", "ARM", maintain_order=True).agg(
        pl.col("DENOM").first().alias("N"),
        pl.col("N").filter(pl.col("BOR").is_in(list(RESPONDERS))).sum().alias("RESPONDERS"),
        pl.col("N").filter(pl.col("BOR").is_in(list(DISEASE_CONTROL))).sum().alias("DCR_N"))
    n = per_arm["N"].to_list()
    orr_lo, orr_hi = compute_exact_ci(per_arm["RESPONDERS"].to_list(), n)
    dcr_lo, dcr_hi = compute_exact_ci(per_arm["DCR_N"].to_list(), n)
    pct = pl.when(pl.col("N") > 0)
    return (per_arm.with_columns(
        pl.lit(analysis.criteria_label).alias("CRITERIA"), pl.lit(analysis.assessor).alias("ASSESSOR"),
        pl.lit("Y" if analysis.confirmed else "N").alias("CONFIRMED"),
        pct.then(pl.col("RESPONDERS") * 100 / pl.col("N")).alias("ORR_PCT"),
        pl.Series("CI_LOWER_PCT", orr_lo * 100).fill_nan(None), pl.Series("CI_UPPER_PCT", orr_hi * 100).fill_nan(None),
        pct.then(pl.col("DCR_N") * 100 / pl.col("N")).alias("DCR_PCT"),
        pl.Series("DCR_CI_LOWER_PCT", dcr_lo * 100).fill_nan(None),
        pl.Series("DCR_CI_UPPER_PCT", dcr_hi * 100).fill_nan(None))
        .select("ARM", "CRITERIA", "ASSESSOR", "CONFIRMED", pl.col("N").cast(pl.Int64),
                pl.col("RESPONDERS").cast(pl.Int64), "ORR_PCT", "CI_LOWER_PCT", "CI_UPPER_PCT", "ARMCD",
                pl.col("DCR_N").cast(pl.Int64), "DCR_PCT", "DCR_CI_LOWER_PCT", "DCR_CI_UPPER_PCT"))


def summarize_orr_chart(orr: pl.DataFrame) -> pl.DataFrame:
    """:func:`summarize_orr` with the texts the ORR chart shows: ``LABEL`` "17/30 (56.7%)", ``CI_TEXT``.

    Example:
        >>> orr = pl.DataFrame({"ARMCD": ["A"], "ARM": ["A"], "N": [30], "RESPONDERS": [17], "ORR_PCT": [56.67],
        ...                     "CI_LOWER_PCT": [37.43], "CI_UPPER_PCT": [74.54]})
        >>> summarize_orr_chart(orr).select("LABEL", "CI_TEXT").row(0)
        ('17/30 (56.7%)', '37.4–74.5')
    """
    return orr.filter(pl.col("N") > 0).with_columns(
        pl.format("{}/{} ({}%)", pl.col("RESPONDERS"), pl.col("N"), compute_fixed_text(pl.col("ORR_PCT"))).alias("LABEL"),
        pl.format("{}–{}", compute_fixed_text(pl.col("CI_LOWER_PCT")), compute_fixed_text(pl.col("CI_UPPER_PCT")))
        .alias("CI_TEXT"))


def comparator_arm(protocol: Any) -> str | None:
    """The arm every other arm is compared against (``response.comparator_arm``), if the protocol names one.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> comparator_arm(load_protocol("NCT07334483"))
        'D'
    """
    code = protocol.response.get("comparator_arm")
    return str(code) if code is not None and str(code) in protocol.arm_codes else None


def summarize_orr_differences(orr: pl.DataFrame, *, reference: str | None) -> pl.DataFrame:
    """ORR and DCR of each arm minus the comparator's, with Newcombe's 95 % CI (percentage points).

    Args:
        orr: :func:`summarize_orr`.
        reference: the comparator arm code (:func:`comparator_arm`); None: no rows.

    Returns:
        ``ARMCD, ARM, REFERENCE, ENDPOINT`` (ORR | DCR), ``DIFF_PCT, CI_LOWER_PCT,
        CI_UPPER_PCT, METHOD``.

    Example:
        >>> orr = pl.DataFrame({"ARMCD": ["A", "D"], "ARM": ["A", "D"], "N": [70, 80], "RESPONDERS": [56, 48],
        ...                     "DCR_N": [70, 80]})
        >>> summarize_orr_differences(orr, reference="D").filter(pl.col("ENDPOINT") == "ORR").select(
        ...     pl.col("DIFF_PCT", "CI_LOWER_PCT", "CI_UPPER_PCT").round(2)).row(0)
        (20.0, 5.24, 33.39)
    """
    schema = {"ARMCD": pl.String, "ARM": pl.String, "REFERENCE": pl.String, "ENDPOINT": pl.String,
              "DIFF_PCT": pl.Float64, "CI_LOWER_PCT": pl.Float64, "CI_UPPER_PCT": pl.Float64, "METHOD": pl.String}
    ref = orr.filter(pl.col("ARMCD") == reference) if reference else orr.clear()
    if ref.is_empty():
        return pl.DataFrame(schema=schema)
    ref_row = ref.row(0, named=True)
    rows = []
    for arm in orr.filter(pl.col("ARMCD") != reference).iter_rows(named=True):  # one row per arm, a handful
        for endpoint, column in (("ORR", "RESPONDERS"), ("DCR", "DCR_N")):
            d, lo, hi = compute_newcombe_difference(arm[column], arm["N"], ref_row[column], ref_row["N"])
            rows.append((arm["ARMCD"], arm["ARM"], ref_row["ARM"], endpoint,
                         *(None if math.isnan(v) else v * 100 for v in (d, lo, hi)), DIFF_METHOD))
    return pl.DataFrame(rows, schema=schema, orient="row")


def format_difference(estimate: float, lower: float, upper: float) -> str:
    """A difference in percentage points with its CI, signs explicit: "+6.7 pp (−16.5 to +28.9)".

    "to" rather than a dash between the bounds, since either can be negative.

    Example:
        >>> format_difference(6.67, -16.53, 28.94)
        '+6.7 pp (−16.5 to +28.9)'
    """
    def signed(value: float) -> str:
        text = f"{abs(value):.1f}"
        return text if text == "0.0" else ("+" if value > 0 else "−") + text

    return f"{signed(estimate)} pp ({signed(lower)} to {signed(upper)})"


def summarize_orr_table(analysis: ResponseAnalysis, arms: Mapping[str, str], *, reference: str | None = None
                        ) -> pl.DataFrame:
    """The ORR table as a report prints it: BOR n (%) per arm, ORR and DCR with exact CIs, differences.

    Rows: every BOR category (zeros shown), ``ORR (CR + PR)``, ``95% CI (exact)``, ``DCR (CR +
    PR + SD + NON-CR/NON-PD)``, ``95% CI (exact)``, and with a comparator ``ORR difference vs
    <arm> (95% CI)`` and the same for DCR. Columns: ``Response`` then one per arm and ``All
    randomized``, each headed with its N (the denominator).

    Example:
        >>> from trialkit.derive.response import ResponseAnalysis
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "D"], "BOR": ["PR", "SD"]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), None, None, s, pl.DataFrame())
        >>> summarize_orr_table(a, {"A": "A", "D": "D"}, reference="D").row(7)
        ('ORR (CR + PR)', '1 (100.0%)', '0 (0.0%)', '1 (50.0%)')
    """
    counts = summarize_bor_counts(analysis.subjects, arms)
    orr = summarize_orr(analysis, arms, include_all=True)
    groups = orr.select("ARMCD", "ARM", "N").rows()
    headers = {code: f"{label} (N={n:,})" for code, label, n in groups}
    table: dict[str, list[str]] = {"Response": list(BOR_TERMS)}
    for code, _, _ in groups:
        arm_counts = counts.filter(pl.col("ARMCD") == code)
        table[headers[code]] = [format_n_pct(n, d) for n, d in arm_counts.select("N", "DENOM").rows()]
    extra = [("ORR (CR + PR)", "RESPONDERS", "ORR_PCT", "CI_LOWER_PCT", "CI_UPPER_PCT"),
             ("DCR (CR + PR + SD + NON-CR/NON-PD)", "DCR_N", "DCR_PCT", "DCR_CI_LOWER_PCT", "DCR_CI_UPPER_PCT")]
    for label, n_col, pct_col, lo_col, hi_col in extra:
        table["Response"] += [label, "  95% CI (exact)"]
        for row in orr.iter_rows(named=True):
            table[headers[row["ARMCD"]]] += [
                format_n_pct(row[n_col], row["N"]),
                "—" if row[pct_col] is None else f"{row[lo_col]:.1f}–{row[hi_col]:.1f}"]
    diffs = summarize_orr_differences(orr.filter(pl.col("ARMCD") != ALL), reference=reference)
    if diffs.height:
        ref_label = diffs["REFERENCE"][0]
        for endpoint in ("ORR", "DCR"):
            table["Response"].append(f"{endpoint} difference vs {ref_label} (95% CI)")
            values = {r["ARMCD"]: r for r in diffs.filter(pl.col("ENDPOINT") == endpoint).iter_rows(named=True)}
            for code, _, _ in groups:
                r = values.get(code)
                table[headers[code]].append("—" if r is None or r["DIFF_PCT"] is None else format_difference(
                    r["DIFF_PCT"], r["CI_LOWER_PCT"], r["CI_UPPER_PCT"]))
    return pl.DataFrame(table)


# --------------------------------------------------------------------------------------------
# concordance
# --------------------------------------------------------------------------------------------
def summarize_concordance(first: pl.DataFrame, second: pl.DataFrame, *, comparison: str,
                          arms: Mapping[str, str]) -> pl.DataFrame:
    """``concordance.csv`` rows of one comparison: every pair of BORs per arm and ``ALL``, zeros included.

    Args:
        first, second: ``USUBJID, ARMCD, BOR`` of the same subjects by the two assessors
            (or criteria); a subject missing from one side counts as MISSING there.
        comparison: "BICR vs INVESTIGATOR" or "MRECIST vs RECIST 1.1" (first vs second).
        arms: arm code -> label.

    Returns:
        ``COMPARISON, ARM, BOR_1, BOR_2, N`` and ``ARMCD``.

    Example:
        >>> a = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "BOR": ["PR", "SD"]})
        >>> b = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "BOR": ["PR", "PR"]})
        >>> out = summarize_concordance(a, b, comparison="BICR vs INVESTIGATOR", arms={"A": "Arm A"})
        >>> out.filter((pl.col("ARMCD") == "A") & (pl.col("N") > 0)).select("BOR_1", "BOR_2", "N").rows()
        [('PR', 'PR', 1), ('SD', 'PR', 1)]
    """
    pairs = (first.select(pl.col("USUBJID").cast(pl.String), pl.col("ARMCD").cast(pl.String),
                          pl.col("BOR").alias("BOR_1"))
             .join(second.select(pl.col("USUBJID").cast(pl.String), pl.col("ARMCD").cast(pl.String).alias("_A2"),
                                 pl.col("BOR").alias("BOR_2")), on="USUBJID", how="full", coalesce=True)
             .with_columns(pl.coalesce("ARMCD", "_A2").alias("ARMCD"),
                           pl.col("BOR_1").fill_null("MISSING"), pl.col("BOR_2").fill_null("MISSING")))
    pairs = pl.concat([pairs, pairs.with_columns(pl.lit(ALL).alias("ARMCD"))])
    counts = pairs.group_by("ARMCD", "BOR_1", "BOR_2").agg(pl.len().cast(pl.Int64).alias("N"))
    groups = pl.concat([_arm_frame(arms), pl.DataFrame({"ARMCD": [ALL], "ARM": ["All randomized"],
                                                        "_ORDER": [len(arms)]})])
    terms = pl.DataFrame({"BOR_1": list(BOR_TERMS), "_O1": list(range(len(BOR_TERMS)))})
    grid = (groups.join(terms, how="cross")
            .join(terms.rename({"BOR_1": "BOR_2", "_O1": "_O2"}), how="cross"))
    return (grid.join(counts, on=["ARMCD", "BOR_1", "BOR_2"], how="left")
            .with_columns(pl.col("N").fill_null(0), pl.lit(comparison).alias("COMPARISON"))
            .sort("_ORDER", "_O1", "_O2").select("COMPARISON", "ARM", "BOR_1", "BOR_2", "N", "ARMCD"))


def summarize_kappa(concordance: pl.DataFrame) -> pl.DataFrame:
    """Agreement and Cohen's kappa per comparison and arm (module notes), from :func:`summarize_concordance`.

    Returns:
        ``COMPARISON, ARMCD, ARM, N, AGREE_N, AGREE_PCT, KAPPA, KAPPA_LOWER, KAPPA_UPPER``
        (kappa null when undefined: no subject, or every subject in one category both times).

    Example:
        >>> rows = [("X", "A", "A", "CR", "CR", 20), ("X", "A", "A", "CR", "PR", 5), ("X", "A", "A", "PR", "CR", 10),
        ...         ("X", "A", "A", "PR", "PR", 15)]
        >>> c = pl.DataFrame(rows, schema=["COMPARISON", "ARM", "ARMCD", "BOR_1", "BOR_2", "N"], orient="row")
        >>> summarize_kappa(c).select("N", "AGREE_PCT", pl.col("KAPPA").round(4)).row(0)
        (50, 70.0, 0.4)
    """
    keys = ["COMPARISON", "ARMCD", "ARM"]
    total = concordance.group_by(keys, maintain_order=True).agg(pl.col("N").sum().alias("_T"))
    rows = (concordance.group_by(keys + ["BOR_1"]).agg(pl.col("N").sum().alias("_R"))
            .rename({"BOR_1": "BOR"}))
    cols = (concordance.group_by(keys + ["BOR_2"]).agg(pl.col("N").sum().alias("_C"))
            .rename({"BOR_2": "BOR"}))
    expected = (rows.join(cols, on=keys + ["BOR"], how="full", coalesce=True)
                .group_by(keys).agg((pl.col("_R").fill_null(0) * pl.col("_C").fill_null(0)).sum().alias("_RC")))
    agree = (concordance.filter(pl.col("BOR_1") == pl.col("BOR_2")).group_by(keys)
             .agg(pl.col("N").sum().alias("AGREE_N")))
    out = (total.join(agree, on=keys, how="left").join(expected, on=keys, how="left")
           .with_columns(pl.col("AGREE_N").fill_null(0))
           .with_columns(pl.when(pl.col("_T") > 0).then(pl.col("AGREE_N") / pl.col("_T")).alias("_PO"),
                         pl.when(pl.col("_T") > 0).then(pl.col("_RC") / pl.col("_T").pow(2)).alias("_PE")))
    defined = (pl.col("_T") > 0) & (pl.col("_PE") < 1)
    kappa = pl.when(defined).then((pl.col("_PO") - pl.col("_PE")) / (1 - pl.col("_PE")))
    se = pl.when(defined).then((pl.col("_PO") * (1 - pl.col("_PO")) / (pl.col("_T") * (1 - pl.col("_PE")).pow(2))).sqrt())
    from scipy.special import ndtri

    z = float(ndtri(1 - (1 - CONFIDENCE) / 2))
    return (out.with_columns(kappa.alias("KAPPA"), se.alias("_SE"))
            # kappa lies in [-1, 1]: the symmetric large-sample interval is cut there
            .with_columns((pl.col("KAPPA") - z * pl.col("_SE")).clip(-1.0, 1.0).alias("KAPPA_LOWER"),
                          (pl.col("KAPPA") + z * pl.col("_SE")).clip(-1.0, 1.0).alias("KAPPA_UPPER"),
                          (pl.col("_PO") * 100).alias("AGREE_PCT"))
            .select("COMPARISON", "ARMCD", "ARM", pl.col("_T").cast(pl.Int64).alias("N"),
                    pl.col("AGREE_N").cast(pl.Int64), "AGREE_PCT", "KAPPA", "KAPPA_LOWER", "KAPPA_UPPER"))


def summarize_kappa_table(concordance: pl.DataFrame) -> pl.DataFrame:
    """:func:`summarize_kappa` as a report prints it: agreement n (%) and kappa (95% CI) per comparison and arm.

    Example:
        >>> rows = [("X", "A", "A", "CR", "CR", 20), ("X", "A", "A", "CR", "PR", 5), ("X", "A", "A", "PR", "CR", 10),
        ...         ("X", "A", "A", "PR", "PR", 15)]
        >>> c = pl.DataFrame(rows, schema=["COMPARISON", "ARM", "ARMCD", "BOR_1", "BOR_2", "N"], orient="row")
        >>> summarize_kappa_table(c).row(0)
        ('X', 'A', 50, '35 (70.0%)', '0.40 (0.15–0.65)')
    """
    from trialkit.format import compute_n_pct_text

    kappa = summarize_kappa(concordance)
    two = {"digits": 2}
    text = (pl.when(pl.col("KAPPA").is_null()).then(pl.lit("— (undefined)"))
            .otherwise(pl.format("{} ({}–{})", compute_fixed_text(pl.col("KAPPA"), **two),
                                 compute_fixed_text(pl.col("KAPPA_LOWER"), **two),
                                 compute_fixed_text(pl.col("KAPPA_UPPER"), **two))))
    return kappa.select(pl.col("COMPARISON").alias("Comparison"), pl.col("ARM").alias("Arm"), pl.col("N"),
                        compute_n_pct_text(pl.col("AGREE_N"), pl.col("N")).alias("Same BOR, n (%)"),
                        text.alias("Kappa (95% CI)"))


def describe_concordance(notes: Sequence[str]) -> str:
    """The footnote of the agreement table: the method, and any comparison the data cannot give.

    Example:
        >>> describe_concordance([])[:14]
        "Cohen's kappa "
    """
    return " ".join([KAPPA_METHOD + ".", *notes])


def summarize_concordance_matrix(concordance: pl.DataFrame, *, comparison: str, arm: str = ALL,
                                 first: str = "", second: str = "") -> pl.DataFrame:
    """The agreement table as a report prints it: rows the first BOR, columns the second, totals.

    Example:
        >>> rows = [("X", "All", "ALL", "CR", "CR", 2), ("X", "All", "ALL", "CR", "PR", 1)]
        >>> c = pl.DataFrame(rows, schema=["COMPARISON", "ARM", "ARMCD", "BOR_1", "BOR_2", "N"], orient="row")
        >>> summarize_concordance_matrix(c, comparison="X", first="BICR", second="Inv.").row(0)
        ('CR', 2, 1, 3)
    """
    part = concordance.filter((pl.col("COMPARISON") == comparison) & (pl.col("ARMCD") == arm))
    present = [t for t in BOR_TERMS if t in set(part["BOR_1"].to_list()) | set(part["BOR_2"].to_list())]
    part = part.filter(pl.col("BOR_1").is_in(present) & pl.col("BOR_2").is_in(present))
    wide = (part.pivot(on="BOR_2", index="BOR_1", values="N", aggregate_function="sum")
            .with_columns(pl.col("BOR_1").replace_strict({t: i for i, t in enumerate(BOR_TERMS)},
                                                          return_dtype=pl.Int8).alias("_O"))
            .sort("_O").drop("_O"))
    for term in present:
        if term not in wide.columns:
            wide = wide.with_columns(pl.lit(0, pl.Int64).alias(term))
    wide = wide.select(["BOR_1", *present]).with_columns(pl.sum_horizontal(present).alias("Total"))
    totals = {"BOR_1": "Total", **{t: int(wide[t].sum()) for t in present}, "Total": int(wide["Total"].sum())}
    wide = pl.concat([wide, pl.DataFrame([totals], schema=wide.schema)])
    return wide.rename({"BOR_1": f"{first or 'First'} \\ {second or 'second'}"})


def derive_concordance(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame | None, protocol: Any,
                       analysis: ResponseAnalysis, *, arms: Mapping[str, str],
                       adam_paramcd: Mapping[str, Any] | None = None) -> tuple[pl.DataFrame, list[str]]:
    """Both comparisons of DESIGN section 5: the first two assessors, and the first two criteria.

    "BICR vs INVESTIGATOR" under the analysis's criteria, and "MRECIST vs RECIST 1.1" (the
    criteria's --CAT names) by the analysis's assessor, each with the analysis's
    confirmation rule. A comparison the data cannot give (one assessor or criteria only) is
    left out and named in the notes.

    Returns:
        :func:`summarize_concordance` rows of both comparisons, and the notes.
    """
    parts, notes = [], []

    def bor(**change: str) -> ResponseAnalysis:
        wanted = {"assessor": analysis.assessor, "criteria": analysis.criteria, **change}
        if wanted["assessor"] == analysis.assessor and wanted["criteria"] == analysis.criteria:
            return analysis
        return derive_response_analysis(frames, subjects, protocol, confirmed=analysis.confirmed, with_sums=False,
                                        adam_paramcd=adam_paramcd, **wanted)

    pairs = []
    assessors = list(protocol.assessors)
    if len(assessors) >= 2:
        pairs.append(("assessor", assessors[0], assessors[1], f"{assessors[0]} vs {assessors[1]}",
                      f"under {analysis.criteria_label}"))
    # DESIGN section 5 names the comparison "MRECIST vs RECIST 1.1": mRECIST first whatever the file's order
    criteria = sorted(protocol.criteria, key=lambda k: k != "MRECIST")
    if len(criteria) >= 2:
        names = [protocol.criteria[k]["cat"] for k in criteria[:2]]
        pairs.append(("criteria", criteria[0], criteria[1], f"{names[0]} vs {names[1]}",
                      f"by {analysis.assessor}"))
    for kind, one, two, label, scope in pairs:
        try:
            first, second = bor(**{kind: one}), bor(**{kind: two})
        except DataError as exc:
            reason = str(exc).removeprefix("trialkit: ").splitlines()
            notes.append(f"{label} {scope}: not available — "
                         f"{' '.join(line.strip().rstrip('.') + '.' for line in reason[:2])}")
            continue
        parts.append(summarize_concordance(first.subjects, second.subjects, comparison=label, arms=arms))
    schema = {"COMPARISON": pl.String, "ARM": pl.String, "BOR_1": pl.String, "BOR_2": pl.String, "N": pl.Int64,
              "ARMCD": pl.String}
    return (pl.concat(parts) if parts else pl.DataFrame(schema=schema)), notes


# --------------------------------------------------------------------------------------------
# PFS
# --------------------------------------------------------------------------------------------
PFS_SCHEMA = {"USUBJID": pl.String, "ARM": pl.String, "CRITERIA": pl.String, "ASSESSOR": pl.String,
              "AVAL_DAYS": pl.Int64, "EVENT": pl.String, "EVENT_DESC": pl.String, "ARMCD": pl.String,
              "SITE": pl.String, "RANDDT": pl.Date, "ADT": pl.Date, "CNSR": pl.Int64, "LAST_ADEQUATE_ADT": pl.Date,
              "PD_ADT": pl.Date, "DEATH_ADT": pl.Date, "NACTDT": pl.Date}
#: EVENT_DESC of events and censorings.
PFS_REASONS = {
    "PD": "PD", "DEATH": "DEATH",
    "NACT": "CENSORED: NEW ANTICANCER THERAPY BEFORE PD OR DEATH",
    "MISSED": "CENSORED: PD OR DEATH AFTER 2 OR MORE MISSED ASSESSMENTS",
    "LAST": "CENSORED: NO PD OR DEATH, LAST ADEQUATE ASSESSMENT",
    "NONE": "CENSORED: NO ADEQUATE ASSESSMENT, AT RANDOMIZATION",
    "NORAND": "NOT EVALUABLE: NO RANDOMIZATION DATE",
}


def missed_assessment_limit(protocol: Any) -> int | None:
    """Days after the last adequate assessment beyond which PD or death means two missed assessments.

    ``2 × assessment_interval_days + assessment_window_days`` (91 here); None without an interval.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> missed_assessment_limit(load_protocol("NCT07334483"))
        91
    """
    interval = protocol.response.get("assessment_interval_days")
    if interval is None:
        return None
    return 2 * int(interval) + int(protocol.response.get("assessment_window_days") or 0)


def describe_pfs_rules(protocol: Any, analysis: ResponseAnalysis | None = None) -> list[str]:
    """Sentences for the report: the PFS definition and which censoring rules applied.

    Example:
        >>> from trialkit.protocol import generic_protocol
        >>> describe_pfs_rules(generic_protocol("X"))[-1][:60]
        'The missed-assessment rule was skipped: this study has no pr'
    """
    limit = missed_assessment_limit(protocol)
    lines = ["PFS runs from randomization (day 1) to the first PD time-point response or death, whichever "
             "comes first. Subjects without either are censored at their last adequate assessment (CR, PR, "
             "SD or NON-CR/NON-PD; an NE never), or at randomization when there is none.",
             "Censored at the last adequate assessment before new anticancer therapy (CM) when the PD or death "
             "is on or after its start (FDA guidance 2018)."]
    if analysis is not None and analysis.new_therapy.is_empty():
        lines[-1] += " No new anticancer therapy is recorded in this folder."
    if limit is not None:
        r = protocol.response
        lines.append(f"Censored at the last adequate assessment when the PD or death comes more than {limit} days "
                     f"after it (or after randomization): two or more missed assessments (2 × "
                     f"{r['assessment_interval_days']} + {r.get('assessment_window_days') or 0} days, from the "
                     f"protocol).")
    else:
        lines.append("The missed-assessment rule was skipped: this study has no protocol file giving the "
                     "assessment interval, so a PD or death after missed assessments counts as an event.")
    return lines


def derive_pfs(analysis: ResponseAnalysis, *, protocol: Any) -> pl.DataFrame:
    """``pfs.csv`` (DESIGN section 5): PFS of every randomized subject, censoring per the module notes.

    Args:
        analysis: :func:`trialkit.derive.response.derive_response_analysis` (its time points,
            subjects with ``RANDDT``/``DTHDT`` and new anticancer therapy).
        protocol: ``response.assessment_interval_days`` and ``assessment_window_days``.

    Returns:
        ``USUBJID, ARM, CRITERIA, ASSESSOR, AVAL_DAYS, EVENT`` (Y/N), ``EVENT_DESC``, then
        ``ARMCD, SITE, RANDDT, ADT`` (the event or censoring date), ``CNSR`` (0 event, 1
        censored, admiral), ``LAST_ADEQUATE_ADT, PD_ADT, DEATH_ADT, NACTDT``.

    Example:
        >>> import datetime as dt
        >>> from trialkit.derive.response import ResponseAnalysis
        >>> from trialkit.protocol import load_protocol
        >>> d = dt.date
        >>> tp = pl.DataFrame({"USUBJID": ["1", "1", "2"], "ADT": [d(2025, 10, 13), d(2026, 3, 1), d(2025, 10, 13)],
        ...                    "AVALC": ["SD", "PD", "PR"], "VALID": [True, True, True]})
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "ARM_LABEL": ["A", "A"], "SITE": ["01", "01"],
        ...                   "RANDDT": [d(2025, 9, 1)] * 2, "DTHDT": [None, None]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", tp, None, None, s, pl.DataFrame())
        >>> derive_pfs(a, protocol=load_protocol("NCT07334483")).select("AVAL_DAYS", "EVENT", "EVENT_DESC").rows()
        [(43, 'N', 'CENSORED: PD OR DEATH AFTER 2 OR MORE MISSED ASSESSMENTS'), (43, 'N', 'CENSORED: NO PD OR DEATH, LAST ADEQUATE ASSESSMENT')]
    """
    subjects = analysis.subjects.select(
        pl.col("USUBJID").cast(pl.String), pl.col("ARMCD").cast(pl.String), pl.col("ARM_LABEL").alias("ARM"),
        pl.col("SITE").cast(pl.String), pl.col("RANDDT").cast(pl.Date),
        (pl.col("DTHDT") if "DTHDT" in analysis.subjects.columns else pl.lit(None)).cast(pl.Date).alias("DEATH_ADT"))
    nact = analysis.new_therapy.select("USUBJID", "NACTDT") if analysis.new_therapy.height else \
        pl.DataFrame(schema={"USUBJID": pl.String, "NACTDT": pl.Date})
    tp = (analysis.time_points.filter(pl.col("VALID") & pl.col("ADT").is_not_null())
          .join(subjects.select("USUBJID", "RANDDT"), on="USUBJID", how="inner")
          .filter(pl.col("ADT") >= pl.col("RANDDT")))
    first_pd = tp.filter(pl.col("AVALC") == "PD").group_by("USUBJID").agg(pl.col("ADT").min().alias("PD_ADT"))
    base = (subjects.join(first_pd, on="USUBJID", how="left").join(nact, on="USUBJID", how="left")
            .with_columns(pl.min_horizontal("PD_ADT", "DEATH_ADT").alias("_EVENT_ADT"))
            .with_columns(pl.when(pl.col("PD_ADT").is_not_null() & (pl.col("PD_ADT") <= pl.col("_EVENT_ADT")))
                          .then(pl.lit("PD")).when(pl.col("_EVENT_ADT").is_not_null()).then(pl.lit("DEATH"))
                          .alias("_EVENT_TYPE")))
    adequate = tp.filter(pl.col("AVALC").is_in(["CR", "PR", "SD", "NON-CR/NON-PD"])).select("USUBJID", "ADT")
    # the last adequate assessment before the event (and before new therapy when that applies)
    limit_adt = pl.when(pl.col("NACTDT").is_not_null() & (pl.col("_EVENT_ADT").is_null()
                                                           | (pl.col("_EVENT_ADT") >= pl.col("NACTDT"))))
    base = base.with_columns(limit_adt.then(pl.lit(True)).otherwise(pl.lit(False)).alias("_NACT_CENSOR"))
    before = (adequate.join(base.select("USUBJID", "_EVENT_ADT", "NACTDT", "_NACT_CENSOR"), on="USUBJID")
              .filter(pl.when(pl.col("_NACT_CENSOR")).then(pl.col("ADT") < pl.col("NACTDT"))
                      .otherwise(pl.col("_EVENT_ADT").is_null() | (pl.col("ADT") < pl.col("_EVENT_ADT"))))
              .group_by("USUBJID").agg(pl.col("ADT").max().alias("LAST_ADEQUATE_ADT")))
    base = base.join(before, on="USUBJID", how="left")
    limit = missed_assessment_limit(protocol)
    gap = (pl.col("_EVENT_ADT") - pl.coalesce("LAST_ADEQUATE_ADT", "RANDDT")).dt.total_days()
    missed = (gap > limit) if limit is not None else pl.lit(False)
    reason = (pl.when(pl.col("RANDDT").is_null()).then(pl.lit("NORAND"))
              .when(pl.col("_NACT_CENSOR")).then(pl.lit("NACT"))
              .when(pl.col("_EVENT_ADT").is_not_null() & missed.fill_null(False)).then(pl.lit("MISSED"))
              .when(pl.col("_EVENT_ADT").is_not_null()).then(pl.col("_EVENT_TYPE"))
              .when(pl.col("LAST_ADEQUATE_ADT").is_not_null()).then(pl.lit("LAST"))
              .otherwise(pl.lit("NONE")))
    event = pl.col("_REASON").is_in(["PD", "DEATH"])
    adt = (pl.when(pl.col("_REASON") == "NORAND").then(None)
           .when(event).then(pl.col("_EVENT_ADT"))
           .otherwise(pl.coalesce("LAST_ADEQUATE_ADT", "RANDDT")))
    out = (base.with_columns(reason.alias("_REASON"))
           .with_columns(adt.alias("ADT"),
                         pl.when(pl.col("_REASON") == "NORAND").then(None)
                         .when(event).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("EVENT"),
                         pl.col("_REASON").replace_strict(PFS_REASONS, return_dtype=pl.String).alias("EVENT_DESC"),
                         pl.when(event).then(0).when(pl.col("_REASON") != "NORAND").then(1).alias("CNSR"),
                         pl.lit(analysis.criteria_label).alias("CRITERIA"), pl.lit(analysis.assessor).alias("ASSESSOR"))
           .with_columns(compute_days_between(pl.col("RANDDT"), pl.col("ADT")).alias("AVAL_DAYS")))
    return out.select([pl.col(c).cast(t) for c, t in PFS_SCHEMA.items()])


def summarize_pfs_censoring(pfs: pl.DataFrame, arms: Mapping[str, str]) -> pl.DataFrame:
    """Events and censorings by reason and arm: ``Outcome`` then one ``n (%)`` column per arm.

    Example:
        >>> pfs = pl.DataFrame({"ARMCD": ["A", "A"], "EVENT_DESC": ["PD", "DEATH"]})
        >>> summarize_pfs_censoring(pfs, {"A": "Arm A"}).row(0)
        ('PD', '1 (50.0%)')
    """
    order = list(PFS_REASONS.values())
    present = [r for r in order if r in set(pfs["EVENT_DESC"].to_list())]
    rows: dict[str, list[str]] = {"Outcome": present}
    for code, label in arms.items():
        arm = pfs.filter(pl.col("ARMCD") == code)
        counts = dict(arm.group_by("EVENT_DESC").len().iter_rows())
        rows[f"{label} (N={arm.height:,})"] = [format_n_pct(counts.get(r, 0), arm.height) for r in present]
    return pl.DataFrame(rows, schema={k: pl.String for k in rows})


def _km_one(times: np.ndarray, events: np.ndarray, *, confidence: float = CONFIDENCE
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KM of one group with scipy: distinct times, S(t), and the log-log pointwise band."""
    from scipy import stats

    data = stats.CensoredData(uncensored=times[events], right=times[~events])
    res = stats.ecdf(data)
    t = np.asarray(res.sf.quantiles, dtype=float)
    s = np.asarray(res.sf.probabilities, dtype=float)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined where S is 0 or 1: no band there
        band = res.sf.confidence_interval(confidence_level=confidence, method="log-log")
    return t, s, np.asarray(band.low.probabilities, dtype=float), np.asarray(band.high.probabilities, dtype=float)


def compute_km_median(times: np.ndarray, surv: np.ndarray, *, level: float = 0.5) -> float | None:
    """The time S first reaches ``level`` (the midpoint of a flat exactly at it); None if never.

    ``times`` and ``surv`` are the step function's distinct times and values (S right after t).

    Example:
        >>> compute_km_median(np.array([1, 2, 3, 4.]), np.array([.75, .5, .25, 0.]))
        2.5
    """
    tol = 1e-12
    hit = np.flatnonzero(surv <= level + tol)
    if hit.size == 0:
        return None
    k = int(hit[0])
    if abs(surv[k] - level) <= tol:
        later = np.flatnonzero(surv < level - tol)
        return float((times[k] + times[later[0]]) / 2) if later.size else float(times[k])
    return float(times[k])


def _first_reaching(times: np.ndarray, band: np.ndarray, level: float = 0.5) -> float | None:
    ok = np.flatnonzero(np.nan_to_num(band, nan=np.inf) <= level)
    return float(times[ok[0]]) if ok.size else None


def summarize_km(pfs: pl.DataFrame, arms: Mapping[str, str], *, step_months: int = 3
                 ) -> dict[str, pl.DataFrame]:
    """Kaplan-Meier per arm (module notes), in months (``AVAL_DAYS`` / 30.4375).

    Args:
        pfs: :func:`derive_pfs` (rows without ``AVAL_DAYS`` are left out).
        arms: arm code -> label, in protocol order.
        step_months: spacing of the number-at-risk times.

    Returns:
        ``curve``: ``ARMCD, ARM, MONTHS, SURV, LOWER, UPPER, AT_RISK`` (a row at 0 and at each
        distinct time); ``censored``: ``ARMCD, ARM, MONTHS, SURV`` (one per censored subject);
        ``at_risk``: ``ARMCD, ARM, MONTHS, N_AT_RISK`` every ``step_months``; ``summary``:
        ``ARMCD, ARM, N, EVENTS, CENSORED, MEDIAN_MONTHS, MEDIAN_LOWER, MEDIAN_UPPER``.

    Example:
        >>> pfs = pl.DataFrame({"ARMCD": ["A"] * 4, "AVAL_DAYS": [30, 61, 91, 122], "EVENT": ["Y", "N", "Y", "Y"]})
        >>> summarize_km(pfs, {"A": "Arm A"})["summary"].select("N", "EVENTS", "CENSORED").row(0)
        (4, 3, 1)
    """
    rows = pfs.filter(pl.col("AVAL_DAYS").is_not_null() & pl.col("EVENT").is_not_null())
    curves, censors, risks, summary = [], [], [], []
    horizon = float(rows["AVAL_DAYS"].max() or 0) / DAYS_PER_MONTH
    grid = np.arange(0, horizon + 1e-9, step_months) if horizon > 0 else np.array([0.0])
    for code, label in arms.items():
        arm = rows.filter(pl.col("ARMCD") == code)
        times = arm["AVAL_DAYS"].to_numpy().astype(float)
        events = (arm["EVENT"] == "Y").to_numpy()
        n = len(times)
        at_risk_grid = [int((times / DAYS_PER_MONTH >= g - 1e-9).sum()) for g in grid]
        risks += [(code, label, float(g), r) for g, r in zip(grid, at_risk_grid)]
        if n == 0:
            summary.append((code, label, 0, 0, 0, None, None, None))
            continue
        t, s, lo, hi = _km_one(times, events)
        months = t / DAYS_PER_MONTH
        at_risk = [(times >= x).sum() for x in t]
        curves.append((code, label, 0.0, 1.0, 1.0, 1.0, n))
        curves += [(code, label, float(m), float(sv), _nan_none(lv), _nan_none(hv), int(r))
                   for m, sv, lv, hv, r in zip(months, s, lo, hi, at_risk)]
        surv_at = dict(zip(t, s))
        censors += [(code, label, float(x / DAYS_PER_MONTH), float(surv_at[x])) for x in times[~events]]
        median = compute_km_median(months, s)
        # the lower band reaches 0.5 first: the lower limit of the median; the upper band the upper limit
        summary.append((code, label, n, int(events.sum()), int((~events).sum()), median,
                        _first_reaching(months, lo), _first_reaching(months, hi)))
    return {
        "curve": pl.DataFrame(curves, schema={"ARMCD": pl.String, "ARM": pl.String, "MONTHS": pl.Float64,
                                              "SURV": pl.Float64, "LOWER": pl.Float64, "UPPER": pl.Float64,
                                              "AT_RISK": pl.Int64}, orient="row"),
        "censored": pl.DataFrame(censors, schema={"ARMCD": pl.String, "ARM": pl.String, "MONTHS": pl.Float64,
                                                  "SURV": pl.Float64}, orient="row"),
        "at_risk": pl.DataFrame(risks, schema={"ARMCD": pl.String, "ARM": pl.String, "MONTHS": pl.Float64,
                                               "N_AT_RISK": pl.Int64}, orient="row"),
        "summary": pl.DataFrame(summary, schema={"ARMCD": pl.String, "ARM": pl.String, "N": pl.Int64,
                                                 "EVENTS": pl.Int64, "CENSORED": pl.Int64,
                                                 "MEDIAN_MONTHS": pl.Float64, "MEDIAN_LOWER": pl.Float64,
                                                 "MEDIAN_UPPER": pl.Float64}, orient="row"),
    }


def _nan_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def summarize_pfs_table(km_summary: pl.DataFrame) -> pl.DataFrame:
    """The PFS summary as a report prints it: N, events, censored, median (95% CI) in months.

    Example:
        >>> s = pl.DataFrame({"ARM": ["A"], "N": [30], "EVENTS": [12], "CENSORED": [18], "MEDIAN_MONTHS": [9.23],
        ...                   "MEDIAN_LOWER": [6.1], "MEDIAN_UPPER": [None]})
        >>> summarize_pfs_table(s).row(0)
        ('A', 30, '12 (40.0%)', '18 (60.0%)', '9.2 (6.1–NE)')
    """
    median = (pl.when(pl.col("MEDIAN_MONTHS").is_null()).then(pl.lit("NE (not reached)"))
              .otherwise(pl.format("{} ({}–{})", compute_fixed_text(pl.col("MEDIAN_MONTHS")),
                                   pl.when(pl.col("MEDIAN_LOWER").is_null()).then(pl.lit("NE"))
                                   .otherwise(compute_fixed_text(pl.col("MEDIAN_LOWER"))),
                                   pl.when(pl.col("MEDIAN_UPPER").is_null()).then(pl.lit("NE"))
                                   .otherwise(compute_fixed_text(pl.col("MEDIAN_UPPER"))))))
    from trialkit.format import compute_n_pct_text

    return km_summary.select(
        pl.col("ARM").alias("Arm"), pl.col("N"),
        compute_n_pct_text(pl.col("EVENTS"), pl.col("N")).alias("Events (PD or death)"),
        compute_n_pct_text(pl.col("CENSORED"), pl.col("N")).alias("Censored"),
        median.alias("Median PFS, months (95% CI)"))


__all__ = ["ALL", "CI_METHOD", "DIFF_METHOD", "KAPPA_METHOD", "KM_METHOD", "PFS_REASONS", "comparator_arm",
           "compute_exact_ci", "compute_km_median", "compute_newcombe_difference", "compute_wilson_ci",
           "derive_concordance", "derive_pfs", "format_difference", "describe_pfs_rules", "missed_assessment_limit", "summarize_bor_counts",
           "summarize_concordance", "summarize_concordance_matrix", "summarize_kappa", "summarize_kappa_table",
           "describe_concordance", "summarize_km",
           "summarize_orr", "summarize_orr_chart", "summarize_orr_differences", "summarize_orr_table", "summarize_pfs_censoring",
           "summarize_pfs_table"]
