"""The protocol's dosing and procedure rules, checked on every dose and session (DESIGN section 6).

Every number comes from the protocol file's ``treatments`` (nothing is written here but the
RULE ids of DESIGN section 6 and the keys of the treatments they read):

=================== ============================================================================
RULE                offending record (one row per occurrence, DATE = its start)
=================== ============================================================================
CAM_FIRST_DOSE_LATE the first CAMRELIZUMAB dose more than ``first_dose_within_days`` after
                    randomization (day 4 is on time with 3, day 5 late)
CAM_INTERVAL_EARLY  a dose less than ``interval_days - window_days`` days after the previous
CAM_INTERVAL_LATE   a dose more than ``interval_days + permitted_delay_days`` days after the
                    previous, unless held for toxicity: an AE with AEACN DRUG INTERRUPTED
                    starting on or after the previous dose and before this one (the protocol
                    permits it: shown on the swimmer and in the exposure summary, not listed).
                    ``interval_days + window_days`` < gap <= ``interval_days + permitted_delay_days``
                    is a permitted delay: shown, not a deviation
APA_BEFORE_C2D1     an APATINIB record starting before its ``start`` (``C2D1``: cycle 2 day 1,
                    cycle k day 1 = the k-th dose of the treatment with ``interval_days``), or
                    with no such cycle
APA_SIRT_WASHOUT    an APATINIB record with any day from SIRT - ``sirt_washout_days`` to SIRT +
                    ``sirt_washout_days`` inclusive; an interval ongoing at the cutoff runs to it
SIRT_NO_MAPPING     a SIRT with no ``requires_prior`` (MAA_MAPPING) record on or before its date
CTACE_OVER_LIMIT    each CTACE session beyond ``max_sessions`` within study days 1 to
                    ``max_sessions_window_days``
ARM_MISMATCH        a study-treatment record (not a planning procedure) of a treatment that the
                    subject's randomized arm (``arms[].treatments``) does not include
=================== ============================================================================

A rule whose treatment or number the protocol does not give (every rule without a protocol
file) is *skipped*, and :func:`describe_rules` says why; a rule whose records are absent
from the data (no PR dataset) is *not checked* and says that.

Example:
    >>> import datetime as dt
    >>> from trialkit.derive.exposure import derive_cycles, derive_treatment_records
    >>> from trialkit.protocol import load_protocol
    >>> protocol = load_protocol("NCT07334483")
    >>> subjects = pl.DataFrame({"USUBJID": ["1"], "ARMCD": ["B"], "ARM_LABEL": ["B"], "RANDDT": [dt.date(2025, 9, 1)]})
    >>> ex = pl.DataFrame({"USUBJID": ["1"] * 2, "EXTRT": ["CAMRELIZUMAB"] * 2, "EXDOSE": [200.0] * 2,
    ...                    "EXSTDTC": ["2025-09-05", "2025-09-22"]})
    >>> records = derive_cycles(derive_treatment_records({"ex": ex}, subjects, protocol=protocol))
    >>> derive_deviations(records, subjects, protocol=protocol).select("RULE", "DAY").rows()
    [('CAM_FIRST_DOSE_LATE', 5), ('CAM_INTERVAL_EARLY', 22)]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from trialkit.derive.days import compute_study_day
from trialkit.derive.exposure import (compute_dose_text, compute_interval_class, derive_cycles, derive_toxicity_holds, treatment_label,
                                      treatment_title)
from trialkit.io.terms import col_or_null

#: The RULE ids of DESIGN section 6, in its order.
RULES = ("CAM_FIRST_DOSE_LATE", "CAM_INTERVAL_EARLY", "CAM_INTERVAL_LATE", "APA_BEFORE_C2D1",
         "APA_SIRT_WASHOUT", "SIRT_NO_MAPPING", "CTACE_OVER_LIMIT", "ARM_MISMATCH")
#: The protocol treatment (key) each rule reads, and the fields it needs.
RULE_NEEDS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "CAM_FIRST_DOSE_LATE": ("CAMRELIZUMAB", ("first_dose_within_days",)),
    "CAM_INTERVAL_EARLY": ("CAMRELIZUMAB", ("interval_days", "window_days")),
    "CAM_INTERVAL_LATE": ("CAMRELIZUMAB", ("interval_days", "window_days", "permitted_delay_days")),
    "APA_BEFORE_C2D1": ("APATINIB", ("start",)),
    "APA_SIRT_WASHOUT": ("APATINIB", ("sirt_washout_days",)),
    "SIRT_NO_MAPPING": ("SIRT", ("requires_prior",)),
    "CTACE_OVER_LIMIT": ("CTACE", ("max_sessions", "max_sessions_window_days")),
    "ARM_MISMATCH": (None, ()),
}
DEVIATION_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String, "ARM": pl.String, "RULE": pl.String, "DATE": pl.Date, "DAY": pl.Int64,
    "EXPECTED": pl.String, "OBSERVED": pl.String, "DETAIL": pl.String, "ARMCD": pl.String, "EVENT": pl.String,
}
_CYCLE_DAY = re.compile(r"^C(\d+)D(\d+)$", re.IGNORECASE)
_SIRT_KEY, _MAPPING_KEY = "SIRT", "MAA_MAPPING"


@dataclass(frozen=True)
class _Context:
    protocol: object
    records: pl.DataFrame
    subjects: pl.DataFrame
    adverse_events: pl.DataFrame | None
    data_cutoff: dt.date | None

    def of(self, key: str) -> pl.DataFrame:
        return self.records.filter((pl.col("KEY") == key) & pl.col("PLACED"))

    def spec(self, key: str) -> dict:
        return dict(self.protocol.treatments.get(key) or {})

    def label(self, key: str) -> str:
        return treatment_label(self.protocol, key)

    def title(self, key: str) -> str:
        return treatment_title(self.protocol, key)


def _fmt_date(expr: pl.Expr) -> pl.Expr:
    return expr.dt.to_string("%Y-%m-%d")


def _rows(frame: pl.DataFrame, rule: str, *, date: pl.Expr, expected: pl.Expr, observed: pl.Expr,
          detail: pl.Expr, event: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.col("USUBJID"), pl.col("ARM"), pl.lit(rule).alias("RULE"), date.alias("DATE"),
        compute_study_day(date, pl.col("RANDDT")).alias("DAY"), expected.alias("EXPECTED"),
        observed.alias("OBSERVED"), detail.alias("DETAIL"), pl.col("ARMCD"), event.alias("EVENT"),
    ).cast(DEVIATION_SCHEMA)


# ---------------------------------------------------------------------------------------------
# One function per rule: (context) -> rows of DEVIATION_SCHEMA
# ---------------------------------------------------------------------------------------------
def _first_dose_late(ctx: _Context) -> pl.DataFrame:
    key = RULE_NEEDS["CAM_FIRST_DOSE_LATE"][0]
    within = int(ctx.spec(key)["first_dose_within_days"])
    first = ctx.of(key).filter(pl.col("CYCLE") == 1)
    after = (pl.col("START") - pl.col("RANDDT")).dt.total_days()
    late = first.filter(after > within)
    return _rows(late, "CAM_FIRST_DOSE_LATE", date=pl.col("START"),
                 expected=pl.format("C1D1 by {} (day {}: within {} days of randomization)",
                                    _fmt_date(pl.col("RANDDT") + pl.duration(days=within)), pl.lit(within + 1),
                                    pl.lit(within)),
                 observed=pl.format("C1D1 on {} (day {}: {} days after randomization)", _fmt_date(pl.col("START")),
                                    pl.col("START_DAY"), after),
                 detail=pl.format("{} first dose {} day(s) late", pl.lit(ctx.title(key)), after - within),
                 event=pl.lit(key))


def _interval(ctx: _Context, rule: str) -> pl.DataFrame:
    key = RULE_NEEDS[rule][0]
    spec = ctx.spec(key)
    interval, window = int(spec["interval_days"]), int(spec["window_days"])
    delay = int(spec.get("permitted_delay_days") or window)
    doses = ctx.of(key).filter(pl.col("CYCLE") >= 2).with_columns(
        compute_interval_class(pl.col("GAP_DAYS"), spec).alias("_CLASS"))
    observed = pl.format("{} days after the previous dose ({})", pl.col("GAP_DAYS"), _fmt_date(pl.col("PREV_START")))
    if rule == "CAM_INTERVAL_EARLY":
        hit = doses.filter(pl.col("_CLASS") == "EARLY")
        expected = pl.lit(f"{interval - window}–{interval + window} days ({interval} ± {window}) after the previous dose")
        detail = pl.format("cycle {} given {} days early", pl.col("CYCLE"), interval - window - pl.col("GAP_DAYS"))
    else:
        late = doses.filter(pl.col("_CLASS") == "LATE")
        if "HOLD_AE" not in late.columns:
            late = derive_toxicity_holds(late, ctx.adverse_events)
        hit = late.filter(pl.col("HOLD_AE").is_null())
        expected = pl.lit(f"at most {interval + delay} days ({interval} + the {delay}-day permitted delay) after the "
                          f"previous dose, or a hold for toxicity (AE with action DRUG INTERRUPTED)")
        detail = pl.format("cycle {} given {} day(s) after the latest permitted day; no AE with action DRUG "
                           "INTERRUPTED in between", pl.col("CYCLE"), pl.col("GAP_DAYS") - interval - delay)
    return _rows(hit, rule, date=pl.col("START"), expected=expected, observed=observed, detail=detail,
                 event=pl.lit(key))


def _cycle_day(ctx: _Context, start: str) -> tuple[str, int, int] | None:
    """(cycle treatment key, cycle, day) of a ``start`` such as "C2D1", or None."""
    match = _CYCLE_DAY.match(str(start).strip())
    cycle_key = next((k for k, t in ctx.protocol.treatments.items() if t.get("interval_days") is not None), None)
    if match is None or cycle_key is None:
        return None
    return cycle_key, int(match.group(1)), int(match.group(2))


def _before_start(ctx: _Context) -> pl.DataFrame:
    key = RULE_NEEDS["APA_BEFORE_C2D1"][0]
    start = str(ctx.spec(key)["start"])
    cycle_key, cycle, day = _cycle_day(ctx, start)
    anchor = (ctx.of(cycle_key).filter(pl.col("CYCLE") == cycle)
              .select("USUBJID", (pl.col("START") + pl.duration(days=day - 1)).alias("_FROM")))
    records = ctx.of(key).join(anchor, on="USUBJID", how="left")
    hit = records.filter(pl.col("_FROM").is_null() | (pl.col("START") < pl.col("_FROM")))
    expected = pl.when(pl.col("_FROM").is_not_null()).then(
        pl.format("from {} on {} (day {})", pl.lit(start.upper()), _fmt_date(pl.col("_FROM")),
                  compute_study_day(pl.col("_FROM"), pl.col("RANDDT")))
    ).otherwise(pl.lit(f"from {start.upper()}: no {start.upper()} ({ctx.label(cycle_key)} dose {cycle}) by then"))
    return _rows(hit, "APA_BEFORE_C2D1", date=pl.col("START"), expected=expected,
                 observed=pl.format("started {} (day {})", _fmt_date(pl.col("START")), pl.col("START_DAY")),
                 detail=pl.when(pl.col("_FROM").is_not_null())
                 .then(pl.format("{} started {} day(s) before {}", pl.lit(ctx.title(key)),
                                 (pl.col("_FROM") - pl.col("START")).dt.total_days(), pl.lit(start.upper())))
                 .otherwise(pl.format("{} started without {}", pl.lit(ctx.title(key)), pl.lit(start.upper()))),
                 event=pl.lit(key))


def _washout(ctx: _Context) -> pl.DataFrame:
    key = RULE_NEEDS["APA_SIRT_WASHOUT"][0]
    days = int(ctx.spec(key)["sirt_washout_days"])
    sirt = ctx.of(_SIRT_KEY).select("USUBJID", pl.col("START").alias("_SIRT"))
    pairs = (ctx.of(key).join(sirt, on="USUBJID", how="inner")
             .filter((pl.col("START") <= pl.col("_SIRT") + pl.duration(days=days))
                     & (pl.col("END") >= pl.col("_SIRT") - pl.duration(days=days))))
    # one row per apatinib record, however many SIRT windows it touches
    per = (pairs.sort("_SIRT").group_by("USUBJID", "START", "SEQ", maintain_order=True)
           .agg(pl.all().exclude("_SIRT").first(), pl.col("_SIRT").alias("_SIRTS")))
    sirts = pl.col("_SIRTS").list.eval(pl.element().dt.to_string("%Y-%m-%d")).list.join(", ")
    first = pl.col("_SIRTS").list.first()
    end_text = pl.when(pl.col("ONGOING")).then(pl.lit("ongoing at the cutoff")).otherwise(_fmt_date(pl.col("END")))
    return _rows(per, "APA_SIRT_WASHOUT", date=pl.col("START"),
                 expected=pl.format("no {} from {} to {} (SIRT {} ± {} days)", pl.lit(ctx.label(key)),
                                    _fmt_date(first - pl.duration(days=days)), _fmt_date(first + pl.duration(days=days)),
                                    _fmt_date(first), pl.lit(days)),
                 observed=pl.format("dosed {} to {}", _fmt_date(pl.col("START")), end_text),
                 detail=pl.format("{} within {} days of the SIRT of {}", pl.lit(ctx.title(key)), pl.lit(days), sirts),
                 event=pl.lit(key))


def _no_mapping(ctx: _Context) -> pl.DataFrame:
    prior = str(ctx.spec(_SIRT_KEY)["requires_prior"])
    mapping = ctx.of(prior).select("USUBJID", pl.col("START").alias("_MAP"))
    sirt = ctx.of(_SIRT_KEY).with_row_index("_ROW")
    mapped = (sirt.join(mapping, on="USUBJID", how="inner").filter(pl.col("_MAP") <= pl.col("START"))
              .select("_ROW").unique())
    later = (sirt.join(mapping, on="USUBJID", how="inner").filter(pl.col("_MAP") > pl.col("START"))
             .group_by("_ROW").agg(pl.col("_MAP").min().alias("_LATER")))
    hit = sirt.join(mapped, on="_ROW", how="anti").join(later, on="_ROW", how="left")
    observed = pl.when(pl.col("_LATER").is_not_null()).then(
        pl.format("no mapping by {}; the first after it on {}", _fmt_date(pl.col("START")), _fmt_date(pl.col("_LATER")))
    ).otherwise(pl.format("no mapping by {}", _fmt_date(pl.col("START"))))
    return _rows(hit, "SIRT_NO_MAPPING", date=pl.col("START"),
                 expected=pl.lit(f"a {ctx.label(prior)} on or before the SIRT"), observed=observed,
                 detail=pl.format("{} without a prior {}", pl.lit(ctx.title(_SIRT_KEY)), pl.lit(ctx.label(prior))),
                 event=pl.lit(_SIRT_KEY))


def _over_limit(ctx: _Context) -> pl.DataFrame:
    key = RULE_NEEDS["CTACE_OVER_LIMIT"][0]
    spec = ctx.spec(key)
    limit, window = int(spec["max_sessions"]), int(spec["max_sessions_window_days"])
    sessions = (ctx.of(key).filter(pl.col("START_DAY").is_between(1, window)).sort("USUBJID", "START", "SEQ")
                .with_columns((pl.int_range(pl.len()).over("USUBJID") + 1).alias("_N")))
    hit = sessions.filter(pl.col("_N") > limit)
    return _rows(hit, "CTACE_OVER_LIMIT", date=pl.col("START"),
                 expected=pl.lit(f"at most {limit} sessions in study days 1–{window}"),
                 observed=pl.format("session {} on day {}", pl.col("_N"), pl.col("START_DAY")),
                 detail=pl.format("{} session {} of days 1–{}", pl.lit(ctx.title(key)), pl.col("_N"), pl.lit(window)),
                 event=pl.lit(key))


def _arm_mismatch(ctx: _Context) -> pl.DataFrame:
    allowed = [f"{arm['armcd']}|{t}" for arm in ctx.protocol.arms for t in (arm.get("treatments") or [])]
    names = {str(a["armcd"]): ", ".join(treatment_label(ctx.protocol, t) for t in (a.get("treatments") or []))
             for a in ctx.protocol.arms}
    titles = pl.col("KEY").replace_strict({k: ctx.title(k) for k in ctx.protocol.treatments}, default=pl.col("LABEL"),
                                          return_dtype=pl.String)
    given = ctx.records.filter(pl.col("PLACED") & (pl.col("KIND") != "PLANNING")
                               & pl.col("KEY").is_in(list(ctx.protocol.treatments)))
    hit = given.filter(~pl.concat_str([pl.col("ARMCD"), pl.col("KEY")], separator="|").is_in(allowed))
    return _rows(hit, "ARM_MISMATCH", date=pl.col("START"),
                 expected=pl.format("arm {}: {}", pl.col("ARMCD"),
                                    pl.col("ARMCD").replace_strict(names, default="(no treatment listed)",
                                                                   return_dtype=pl.String)),
                 observed=pl.concat_str([pl.format("{} on {}", pl.col("LABEL"), _fmt_date(pl.col("START"))),
                                         compute_dose_text(pl.col("DOSE"), pl.col("DOSU"))], separator=", ", ignore_nulls=True),
                 detail=pl.format("{} given in arm {}", titles, pl.col("ARMCD")), event=pl.col("KEY"))


_CHECKS = {
    "CAM_FIRST_DOSE_LATE": _first_dose_late,
    "CAM_INTERVAL_EARLY": lambda ctx: _interval(ctx, "CAM_INTERVAL_EARLY"),
    "CAM_INTERVAL_LATE": lambda ctx: _interval(ctx, "CAM_INTERVAL_LATE"),
    "APA_BEFORE_C2D1": _before_start,
    "APA_SIRT_WASHOUT": _washout,
    "SIRT_NO_MAPPING": _no_mapping,
    "CTACE_OVER_LIMIT": _over_limit,
    "ARM_MISMATCH": _arm_mismatch,
}


# ---------------------------------------------------------------------------------------------
# Which rules apply, and their sentences
# ---------------------------------------------------------------------------------------------
def _skip_reason(protocol, rule: str) -> str | None:
    if protocol.generic:
        return "skipped: the study has no protocol file, so no dosing rule is known"
    key, fields = RULE_NEEDS[rule]
    if rule == "ARM_MISMATCH":
        if not any(a.get("treatments") for a in protocol.arms):
            return "skipped: the protocol file lists no treatments per arm"
        return None
    spec = protocol.treatments.get(key)
    if spec is None:
        return f"skipped: the protocol file has no treatment {key}"
    missing = [f for f in fields if spec.get(f) is None]
    if missing:
        return f"skipped: the protocol file gives no {key}.{missing[0]}"
    if rule == "APA_BEFORE_C2D1":
        match = _CYCLE_DAY.match(str(spec["start"]).strip())
        if match is None:
            return f"skipped: {key}.start {spec['start']!r} is not a cycle day such as C2D1"
        if not any(t.get("interval_days") is not None for t in protocol.treatments.values()):
            return "skipped: no treatment of the protocol file defines cycles (interval_days)"
    if rule == "APA_SIRT_WASHOUT" and _SIRT_KEY not in protocol.treatments:
        return f"skipped: the protocol file has no treatment {_SIRT_KEY}"
    if rule == "SIRT_NO_MAPPING" and str(spec["requires_prior"]) not in protocol.treatments:
        return f"skipped: {key}.requires_prior names {spec['requires_prior']}, which the protocol file does not define"
    return None


#: What each rule checks, without the protocol's numbers (for a rule the protocol cannot drive).
GENERIC_SENTENCES = {
    "CAM_FIRST_DOSE_LATE": "The first dose of the cycled drug (camrelizumab) later after randomization than the protocol allows.",
    "CAM_INTERVAL_EARLY": "A dose of the cycled drug (camrelizumab) earlier after the previous one than its window.",
    "CAM_INTERVAL_LATE": "A dose of the cycled drug (camrelizumab) later than its permitted delay, unless held for toxicity.",
    "APA_BEFORE_C2D1": "The daily drug (apatinib) started before the cycle day the protocol names (C2D1).",
    "APA_SIRT_WASHOUT": "The daily drug (apatinib) dosed within the protocol's washout around a SIRT.",
    "SIRT_NO_MAPPING": "A SIRT without the planning procedure (mapping) on or before its date.",
    "CTACE_OVER_LIMIT": "More cTACE sessions in the protocol's window than it allows.",
    "ARM_MISMATCH": "A study treatment that the subject's randomized arm does not include.",
}


def _sentence(protocol, rule: str) -> str:
    if _skip_reason(protocol, rule) is not None:
        return GENERIC_SENTENCES[rule]
    t = protocol.treatments
    label = lambda k: treatment_label(protocol, k)  # noqa: E731
    title = lambda k: treatment_title(protocol, k)  # noqa: E731
    if rule == "ARM_MISMATCH":
        return "A study treatment that the subject's randomized arm does not include (the arms' treatments in the protocol)."
    key = RULE_NEEDS[rule][0]
    spec = t.get(key) or {}
    if rule == "CAM_FIRST_DOSE_LATE":
        return f"The first {label(key)} dose (C1D1) more than {spec.get('first_dose_within_days')} days after randomization."
    if rule == "CAM_INTERVAL_EARLY":
        d, w = spec.get("interval_days"), spec.get("window_days")
        return (f"A {label(key)} dose less than {d - w} days after the previous one (schedule: every {d} ± {w} days)."
                if d is not None and w is not None else f"A {label(key)} dose before its window.")
    if rule == "CAM_INTERVAL_LATE":
        d, w, p = spec.get("interval_days"), spec.get("window_days"), spec.get("permitted_delay_days")
        if None in (d, w, p):
            return f"A {label(key)} dose after its permitted delay."
        return (f"A {label(key)} dose more than {d + p} days after the previous one ({d} days + the {p}-day permitted "
                f"delay), unless held for toxicity: an AE with action DRUG INTERRUPTED starting on or after the previous "
                f"dose and before this one, which the protocol permits (shown on the swimmer, not listed). Intervals "
                f"of {d + w + 1}–{d + p} days are permitted delays: shown, not listed.")
    if rule == "APA_BEFORE_C2D1":
        return f"{title(key)} started before {str(spec.get('start', 'C2D1')).upper()} (cycle 2 day 1)."
    if rule == "APA_SIRT_WASHOUT":
        w = spec.get("sirt_washout_days")
        return (f"{title(key)} dosed on any day from {w} days before to {w} days after a SIRT, both ends included "
                f"(an interval ongoing at the cutoff counts to the cutoff).")
    if rule == "SIRT_NO_MAPPING":
        prior = spec.get("requires_prior")
        return f"A {label(key)} with no {label(prior) if prior else 'mapping'} on or before its date."
    if rule == "CTACE_OVER_LIMIT":
        return (f"More than {spec.get('max_sessions')} {label(key)} sessions in study days 1–"
                f"{spec.get('max_sessions_window_days')}: each session beyond the {spec.get('max_sessions')}th is listed.")
    return rule


def describe_rules(protocol, *, frames: Mapping[str, pl.DataFrame] | None = None) -> pl.DataFrame:
    """One row per rule: ``RULE, RULE_TEXT`` (one sentence, numbers from the protocol), ``STATUS``.

    ``STATUS`` is "checked", "skipped: <why>" (the protocol lacks what the rule needs) or
    "not checked: <why>" (the data lack the records the rule reads).

    Example:
        >>> from trialkit.protocol import generic_protocol
        >>> describe_rules(generic_protocol("X", arms=["A"]))["STATUS"].unique().to_list()
        ['skipped: the study has no protocol file, so no dosing rule is known']
    """
    rows = []
    for rule in RULES:
        status = _skip_reason(protocol, rule) or "checked"
        if status == "checked" and frames is not None:
            key = RULE_NEEDS[rule][0]
            domain = str((protocol.treatments.get(key) or {}).get("domain", "")).upper()
            if rule in ("SIRT_NO_MAPPING", "CTACE_OVER_LIMIT") and frames.get("pr") is None:
                status = "not checked: the data folder has no PR dataset (procedures)"
            elif domain == "EX" and frames.get("ex") is None and frames.get("adex") is None:
                status = "not checked: the data folder has no EX or ADEX dataset"
            elif rule == "CAM_INTERVAL_LATE" and frames.get("ae") is None:
                status = ("checked without the toxicity exception: the data folder has no AE dataset, so every "
                          "late dose is listed")
        rows.append((rule, _sentence(protocol, rule), status))
    return pl.DataFrame(rows, schema=["RULE", "RULE_TEXT", "STATUS"], orient="row")


def derive_deviations(records: pl.DataFrame, subjects: pl.DataFrame, *, protocol,
                      adverse_events: pl.DataFrame | None = None,
                      data_cutoff: dt.date | None = None) -> pl.DataFrame:
    """``dosing_deviations`` (DESIGN section 5): one row per offending dose, interval or session.

    Args:
        records: :func:`trialkit.derive.exposure.derive_treatment_records` (cycles are added
            when missing), already cut at the data cutoff.
        subjects: the randomized subjects (``USUBJID, ARMCD, ARM_LABEL, RANDDT``).
        protocol: the study's protocol; every number comes from its ``treatments``.
        adverse_events: AE, for the toxicity-hold exception of CAM_INTERVAL_LATE.
        data_cutoff: the cutoff (an ongoing interval's end is already in ``records``).

    Returns:
        ``USUBJID, ARM, RULE, DATE, DAY, EXPECTED, OBSERVED, DETAIL`` then ``ARMCD, EVENT``
        (the treatment key of the offending record) and ``SITE``, sorted by subject, date and rule.
        Skipped rules (:func:`describe_rules`) contribute no row.
    """
    del data_cutoff  # the records already end at the cutoff; kept for a stable signature
    if "CYCLE" not in records.columns:
        records = derive_cycles(records)
    base = subjects.select(pl.col("USUBJID").cast(pl.String), col_or_null(subjects, "ARM_LABEL").alias("ARM"),
                           col_or_null(subjects, "SITE").alias("SITE"))
    records = records.drop([c for c in ("ARM",) if c in records.columns]).join(base, on="USUBJID", how="inner")
    ctx = _Context(protocol, records.filter(pl.col("PLACED") & pl.col("RANDDT").is_not_null()), subjects,
                   adverse_events, None)
    parts = [_CHECKS[rule](ctx) for rule in RULES if _skip_reason(protocol, rule) is None]
    out = pl.concat(parts) if parts else pl.DataFrame(schema=DEVIATION_SCHEMA)
    order = {r: i for i, r in enumerate(RULES)}
    return (out.join(base.select("USUBJID", "SITE"), on="USUBJID", how="left")
            .with_columns(pl.col("RULE").replace_strict(order, return_dtype=pl.Int64).alias("_O"))
            .sort("USUBJID", "DATE", "_O").drop("_O"))


# ---------------------------------------------------------------------------------------------
# Counts and flags
# ---------------------------------------------------------------------------------------------
def summarize_deviations(deviations: pl.DataFrame, rules: pl.DataFrame, *, by: str = "ARM",
                         groups: list[str] | None = None) -> pl.DataFrame:
    """Occurrences per rule (every rule, zeros included) and group, with subjects.

    Args:
        deviations: :func:`derive_deviations`.
        rules: :func:`describe_rules` (the rows, in order; skipped rules say so).
        by: the column of ``deviations`` to count by ("ARM" or "SITE").
        groups: the groups to show as columns, in order (default: those present, sorted).

    Returns:
        ``Rule, Status`` ("checked"/"skipped"/...), one column per group, ``Total`` and
        ``Subjects`` (distinct subjects with the rule).

    Example:
        >>> import datetime as dt
        >>> dev = pl.DataFrame({"USUBJID": ["1", "1", "2"], "RULE": ["CAM_INTERVAL_EARLY"] * 3,
        ...                     "ARM": ["A", "A", "B"]})
        >>> rules = pl.DataFrame({"RULE": ["CAM_INTERVAL_EARLY", "ARM_MISMATCH"], "RULE_TEXT": ["x", "y"],
        ...                       "STATUS": ["checked", "checked"]})
        >>> summarize_deviations(dev, rules, groups=["A", "B"]).rows()
        [('CAM_INTERVAL_EARLY', 'checked', 2, 1, 3, 2), ('ARM_MISMATCH', 'checked', 0, 0, 0, 0)]
    """
    groups = groups if groups is not None else sorted(deviations[by].drop_nulls().unique().to_list())
    counts = (deviations.group_by("RULE", by).len()
              .pivot(on=by, index="RULE", values="len") if deviations.height else pl.DataFrame({"RULE": []},
                                                                                            schema={"RULE": pl.String}))
    subjects = deviations.group_by("RULE").agg(pl.col("USUBJID").n_unique().alias("Subjects"),
                                               pl.len().alias("Total"))
    table = rules.select(pl.col("RULE"), pl.col("STATUS").str.extract(r"^([a-z ]+?)(?::|$)", 1).alias("Status"))
    table = table.join(counts, on="RULE", how="left").join(subjects, on="RULE", how="left")
    return table.select(pl.col("RULE").alias("Rule"), "Status",
                        *[(pl.col(g) if g in table.columns else pl.lit(0)).fill_null(0).cast(pl.Int64).alias(g)
                          for g in groups],
                        pl.col("Total").fill_null(0).cast(pl.Int64), pl.col("Subjects").fill_null(0).cast(pl.Int64))


def derive_event_flags(events: pl.DataFrame, deviations: pl.DataFrame) -> pl.DataFrame:
    """Add ``DEVIATION`` (the RULE ids, comma-separated) to the swimmer events they concern.

    A deviation flags the event of its treatment (``EVENT``) whose dates hold its DATE: the
    dose or session of that date, or the interval that contains it.

    Example:
        >>> import datetime as dt
        >>> ev = pl.DataFrame({"USUBJID": ["1", "1"], "EVENT": ["CTACE", "CTACE"],
        ...                    "START_DATE": [dt.date(2025, 9, 1), dt.date(2025, 10, 1)], "END_DATE": [None, None]})
        >>> dev = pl.DataFrame({"USUBJID": ["1"], "EVENT": ["CTACE"], "RULE": ["CTACE_OVER_LIMIT"],
        ...                     "DATE": [dt.date(2025, 10, 1)]})
        >>> derive_event_flags(ev, dev)["DEVIATION"].to_list()
        [None, 'CTACE_OVER_LIMIT']
    """
    keyed = events.with_row_index("_ROW")
    hits = (keyed.select("_ROW", "USUBJID", "EVENT", "START_DATE", "END_DATE")
            .join(deviations.select("USUBJID", "EVENT", "RULE", pl.col("DATE").alias("_D")), on=["USUBJID", "EVENT"],
                  how="inner")
            .filter((pl.col("_D") >= pl.col("START_DATE"))
                    & (pl.col("_D") <= pl.coalesce(pl.col("END_DATE"), pl.col("START_DATE"))))
            .group_by("_ROW").agg(pl.col("RULE").unique().sort().str.join(", ").alias("DEVIATION")))
    return keyed.join(hits, on="_ROW", how="left").sort("_ROW").drop("_ROW")

