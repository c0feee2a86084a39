"""The swimmer plot's lanes: which subjects are drawn, in which order, with which glyphs.

:func:`derive_swimmer_lanes` turns the swimmer's subjects and events
(:func:`trialkit.derive.exposure.derive_swimmer`) into one row per glyph of the chart: the
lane of each randomized subject (time on study from randomization, the part on study
treatment, an arrow when on treatment at the cutoff, the cutoff itself), its sub-lane
(one per drug, one for procedures, one for responses) and a glyph code ``G`` that
:func:`summarize_swimmer_legend` names. Lanes are grouped by arm and sorted by time on
study, best overall response or time to response (:data:`SORT_ORDERS`).

A chart draws at most ``max_rows`` glyphs (altair refuses more than 5,000 rows, and an
e-mailed report must stay small): when the study is larger, each arm keeps its first lanes
in the sort order, the arms sharing the budget evenly (subjects given as ``selected`` come
first), and :func:`summarize_lanes_shown` says how many lanes each arm shows of how many.
Nothing is computed here that the tables do not hold: days stay study days; the chart turns
them into days, weeks or months since randomization.

Example:
    >>> import datetime as dt
    >>> subjects = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "ARM": ["A: x"] * 2,
    ...     "RANDDT": [dt.date(2025, 9, 1)] * 2, "LAST_DAY": [100, 300], "ONGOING": ["N", "Y"],
    ...     "TREATED": ["Y", "Y"], "FIRST_TREATMENT_DAY": [2, 3], "LAST_TREATMENT_DAY": [80, 300],
    ...     "EOT_DAY": [81, None], "EOT_REASON": ["ADVERSE EVENT", None], "END_STATUS": ["TREATMENT ENDED", "ON TREATMENT"],
    ...     "BOR": ["PR", "SD"], "FIRST_RESPONSE_DAY": [43, None], "CUTOFF_DAY": [420, 300]})
    >>> events = pl.DataFrame({"USUBJID": ["1"], "EVENT": ["PR"], "KIND": ["RESPONSE"], "START_DAY": [43],
    ...     "END_DAY": [None], "START_DATE": [dt.date(2025, 10, 13)], "END_DATE": [None], "DETAIL": [None],
    ...     "CLASS": [None]}, schema_overrides={"END_DAY": pl.Int64, "END_DATE": pl.Date, "DETAIL": pl.String,
    ...     "CLASS": pl.String})
    >>> lanes = derive_swimmer_lanes(subjects, events, sort_by="time_on_study")
    >>> lanes.filter(pl.col("G") == "ON_STUDY").select("USUBJID", "RANK").rows()
    [('2', 1), ('1', 2)]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import polars as pl

from trialkit.derive.exposure import BOR_ORDER, capitalize_label, treatment_kind, treatment_title

#: Sort orders of the lanes (params ``sort_order``).
SORT_ORDERS = ("time_on_study", "bor", "time_to_response")
#: Days per unit of the time axis (params ``time_unit``); a month is 365.25 / 12 days.
TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}
#: Glyphs per chart: below altair's 5,000-row limit, and small enough for an e-mailed report.
MAX_ROWS = 3000
#: Lanes per arm at most, however small each lane is (beyond, a lane is too thin to read).
MAX_LANES_PER_ARM = 150
#: The sub-lane of procedures and of responses (drugs have one each, named by their key).
PROCEDURES, RESPONSES = "PROCEDURES", "RESPONSES"

LANE_SCHEMA: dict[str, pl.DataType] = {
    "ARMCD": pl.String, "USUBJID": pl.String, "RANK": pl.Int64, "ROW": pl.String, "G": pl.String,
    "DAY": pl.Int64, "DAY2": pl.Int64, "WHEN": pl.String, "DETAIL": pl.String,
}
_RESPONSE_NAMES = {"CR": "complete response", "PR": "partial response", "SD": "stable disease",
                   "NON-CR/NON-PD": "non-CR/non-PD", "PD": "progressive disease", "NE": "not evaluable"}


def _when(start_date: pl.Expr, start_day: pl.Expr, end_date: pl.Expr | None = None,
          end_day: pl.Expr | None = None) -> pl.Expr:
    """Tooltip text of a date (and study day), or of a period: ISO dates, days without day 0."""
    point = pl.format("{}, day {}", start_date.dt.to_string("%Y-%m-%d"), start_day)
    if end_date is None or end_day is None:
        return point
    period = pl.format("{} to {}, days {}–{}", start_date.dt.to_string("%Y-%m-%d"), end_date.dt.to_string("%Y-%m-%d"),
                       start_day, end_day)
    return pl.when(end_day.is_not_null() & (end_day != start_day)).then(period).otherwise(point)


def derive_lane_order(subjects: pl.DataFrame, *, sort_by: str = "time_on_study") -> pl.DataFrame:
    """Add ``RANK`` (1 = the top lane of its arm) in the chosen sort order.

    - ``time_on_study``: longest time on study (``LAST_DAY``) first;
    - ``bor``: best overall response first (CR, PR, SD, NON-CR/NON-PD, PD, NE, MISSING), then
      time on study;
    - ``time_to_response``: earliest first CR/PR first, subjects without a response after
      them (by BOR, then time on study).

    Ties are broken by USUBJID, so the order is stable.

    Example:
        >>> s = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A"] * 3, "LAST_DAY": [50, 200, 120],
        ...                   "BOR": ["CR", "SD", "PR"], "FIRST_RESPONSE_DAY": [90, None, 43]})
        >>> derive_lane_order(s, sort_by="time_to_response").sort("RANK")["USUBJID"].to_list()
        ['3', '1', '2']
    """
    if sort_by not in SORT_ORDERS:
        raise ValueError(f"trialkit: sort order {sort_by!r} is not one of {', '.join(SORT_ORDERS)}")
    bor = pl.col("BOR").replace_strict({b: i for i, b in enumerate(BOR_ORDER)}, default=len(BOR_ORDER),
                                       return_dtype=pl.Int64) if "BOR" in subjects.columns else pl.lit(0)
    keys = {"time_on_study": [-pl.col("LAST_DAY")],
            "bor": [bor, -pl.col("LAST_DAY")],
            "time_to_response": [pl.col("FIRST_RESPONSE_DAY").fill_null(10**9), bor, -pl.col("LAST_DAY")]}[sort_by]
    ordered = subjects.with_columns([k.alias(f"_K{i}") for i, k in enumerate(keys)])
    names = [f"_K{i}" for i in range(len(keys))]
    return (ordered.sort("ARMCD", *names, "USUBJID", nulls_last=True)
            .with_columns((pl.int_range(pl.len()).over("ARMCD") + 1).cast(pl.Int64).alias("RANK"))
            .drop(names))


def _lane_glyphs(subjects: pl.DataFrame) -> pl.DataFrame:
    """The lane itself: on study, on treatment, the arrow of ongoing treatment, the cutoff."""
    randdt = pl.col("RANDDT")
    date = lambda day: pl.when(day > 0).then(randdt + pl.duration(days=day - 1)).otherwise(  # noqa: E731
        randdt + pl.duration(days=day))
    on_study = subjects.select(
        "ARMCD", "USUBJID", "RANK", pl.lit(None, pl.String).alias("ROW"), pl.lit("ON_STUDY").alias("G"),
        pl.lit(1, pl.Int64).alias("DAY"), pl.col("LAST_DAY").alias("DAY2"),
        _when(randdt, pl.lit(1), date(pl.col("LAST_DAY")), pl.col("LAST_DAY")).alias("WHEN"),
        pl.format("on study from randomization; {}", pl.col("END_STATUS").str.to_lowercase()).alias("DETAIL"))
    treated = subjects.filter(pl.col("FIRST_TREATMENT_DAY").is_not_null())
    end = pl.when(pl.col("ONGOING") == "Y").then(pl.col("LAST_DAY")).otherwise(
        pl.max_horizontal(pl.coalesce(pl.col("EOT_DAY"), pl.col("LAST_TREATMENT_DAY")), pl.col("LAST_TREATMENT_DAY")))
    end = pl.min_horizontal(end, pl.col("LAST_DAY"))
    on_treatment = treated.select(
        "ARMCD", "USUBJID", "RANK", pl.lit(None, pl.String).alias("ROW"), pl.lit("ON_TREATMENT").alias("G"),
        pl.col("FIRST_TREATMENT_DAY").alias("DAY"), end.alias("DAY2"),
        _when(date(pl.col("FIRST_TREATMENT_DAY")), pl.col("FIRST_TREATMENT_DAY"), date(end), end).alias("WHEN"),
        pl.when(pl.col("ONGOING") == "Y").then(pl.lit("on study treatment, ongoing at the cutoff"))
        .otherwise(pl.format("on study treatment; ended: {}", pl.col("EOT_REASON").fill_null("last dose")
                             .str.to_lowercase())).alias("DETAIL"))
    ongoing = subjects.filter(pl.col("ONGOING") == "Y").select(
        "ARMCD", "USUBJID", "RANK", pl.lit(None, pl.String).alias("ROW"), pl.lit("ONGOING").alias("G"),
        pl.col("LAST_DAY").alias("DAY"), pl.lit(None, pl.Int64).alias("DAY2"),
        _when(date(pl.col("LAST_DAY")), pl.col("LAST_DAY")).alias("WHEN"),
        pl.lit("on study treatment at the data cutoff").alias("DETAIL"))
    # the cutoff is drawn where the lane reaches it (alive and on study then): a study day differs per subject
    cutoff = subjects.filter(pl.col("CUTOFF_DAY").is_not_null() & (pl.col("LAST_DAY") >= pl.col("CUTOFF_DAY"))).select(
        "ARMCD", "USUBJID", "RANK", pl.lit(None, pl.String).alias("ROW"), pl.lit("CUTOFF").alias("G"),
        pl.col("CUTOFF_DAY").alias("DAY"), pl.lit(None, pl.Int64).alias("DAY2"),
        _when(date(pl.col("CUTOFF_DAY")), pl.col("CUTOFF_DAY")).alias("WHEN"),
        pl.lit("data cutoff").alias("DETAIL"))
    return pl.concat([on_study.cast(LANE_SCHEMA), on_treatment.cast(LANE_SCHEMA), ongoing.cast(LANE_SCHEMA),
                      cutoff.cast(LANE_SCHEMA)])


def _event_glyphs(events: pl.DataFrame, ranks: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("KIND")
    key = pl.col("EVENT").str.replace(r"_(HOLD|INTERRUPTION)$", "")
    row = (pl.when(kind.is_in(["DOSE", "HOLD", "INTERVAL", "INTERRUPTION"])).then(key)
           .when(kind.is_in(["SESSION", "PLANNING"])).then(pl.lit(PROCEDURES))
           .when(kind.is_in(["RESPONSE", "DURATION"])).then(pl.lit(RESPONSES)))
    glyph = (pl.when((kind == "DOSE") & (pl.col("CLASS") == "PERMITTED DELAY")).then(pl.format("{}:delay", key))
             .when(kind == "HOLD").then(pl.format("{}:hold", key))
             .when((kind == "INTERVAL") & (pl.col("CLASS") == "REDUCED")).then(pl.format("{}:reduced", key))
             .when(kind == "INTERRUPTION").then(pl.format("{}:off", key))
             .otherwise(pl.col("EVENT")))
    base = events.drop([c for c in ("ARMCD", "RANK") if c in events.columns]).join(ranks, on="USUBJID", how="inner")
    glyphs = base.select(
        pl.col("ARMCD"), "USUBJID", "RANK", row.alias("ROW"), glyph.alias("G"), pl.col("START_DAY").alias("DAY"),
        pl.col("END_DAY").alias("DAY2"),
        _when(pl.col("START_DATE"), pl.col("START_DAY"), pl.col("END_DATE"), pl.col("END_DAY")).alias("WHEN"),
        pl.col("DETAIL"))
    if "DEVIATION" not in events.columns:
        return glyphs.cast(LANE_SCHEMA)
    flagged = base.filter(pl.col("DEVIATION").is_not_null()).select(
        pl.col("ARMCD"), "USUBJID", "RANK", row.alias("ROW"), pl.lit("DEVIATION").alias("G"),
        pl.col("START_DAY").alias("DAY"), pl.lit(None, pl.Int64).alias("DAY2"),
        _when(pl.col("START_DATE"), pl.col("START_DAY")).alias("WHEN"),
        pl.format("protocol deviation: {}", pl.col("DEVIATION")).alias("DETAIL"))
    return pl.concat([glyphs.cast(LANE_SCHEMA), flagged.cast(LANE_SCHEMA)])


def derive_swimmer_lanes(subjects: pl.DataFrame, events: pl.DataFrame, *, sort_by: str = "time_on_study",
                         max_rows: int = MAX_ROWS, max_lanes_per_arm: int = MAX_LANES_PER_ARM,
                         selected: Collection[str] | None = None) -> pl.DataFrame:
    """One row per glyph of the swimmer chart, for the lanes that fit the budget (module notes).

    Args:
        subjects: ``swimmer_subjects`` (:func:`trialkit.derive.exposure.derive_swimmer`).
        events: ``swimmer_events``; with ``DEVIATION``
            (:func:`trialkit.derive.deviations.derive_event_flags`) a flagged dose or session
            also gets a ``DEVIATION`` glyph.
        sort_by: one of :data:`SORT_ORDERS`.
        max_rows: glyphs at most, over all arms.
        max_lanes_per_arm: lanes at most per arm.
        selected: USUBJIDs drawn first (and highlighted by the chart).

    Returns:
        ``ARMCD, USUBJID, RANK`` (lane order in its arm), ``ROW`` (sub-lane: a drug's key,
        PROCEDURES, RESPONSES; null for the whole lane), ``G`` (glyph code: ON_STUDY,
        ON_TREATMENT, ONGOING, CUTOFF, a treatment key, ``<key>:delay|hold|reduced|off``,
        a response, RESPONSE_DURATION, DEATH, DISCONTINUATION, SUBSEQUENT_THERAPY,
        DEVIATION), ``DAY, DAY2`` (study days; DAY2 null for a point), ``WHEN, DETAIL``
        (tooltip text).
    """
    ordered = derive_lane_order(subjects, sort_by=sort_by)
    if selected is not None:
        first = pl.col("USUBJID").is_in([str(s) for s in selected])
        ordered = (ordered.with_columns(pl.when(first).then(0).otherwise(1).alias("_SEL"))
                   .sort("ARMCD", "_SEL", "RANK")
                   .with_columns((pl.int_range(pl.len()).over("ARMCD") + 1).cast(pl.Int64).alias("RANK"))
                   .drop("_SEL"))
    # the budget first (glyphs counted, not built): lanes in rank order, arms taking turns
    # (rank 1 of every arm, then rank 2, ...); the glyphs are then built for those lanes only
    lane_glyphs = (1 + pl.col("FIRST_TREATMENT_DAY").is_not_null().cast(pl.Int64)
                   + (pl.col("ONGOING") == "Y").cast(pl.Int64)
                   + (pl.col("CUTOFF_DAY").is_not_null() & (pl.col("LAST_DAY") >= pl.col("CUTOFF_DAY")))
                   .fill_null(False).cast(pl.Int64))
    flagged = pl.col("DEVIATION").is_not_null().cast(pl.Int64) if "DEVIATION" in events.columns else pl.lit(0)
    per_event = events.group_by("USUBJID").agg((pl.len() + flagged.sum()).alias("_EV"))
    sizes = (ordered.select("USUBJID", "ARMCD", "RANK", lane_glyphs.alias("_LG"))
             .join(per_event, on="USUBJID", how="left")
             .filter(pl.col("RANK") <= max_lanes_per_arm)
             .sort("RANK", "ARMCD")
             .with_columns((pl.col("_LG") + pl.col("_EV").fill_null(0)).cum_sum().alias("_TOTAL"))
             .filter(pl.col("_TOTAL") <= max_rows))
    keep = sizes.select("USUBJID")
    chosen = ordered.join(keep, on="USUBJID", how="semi")
    ranks = chosen.select("USUBJID", "ARMCD", "RANK")
    glyphs = pl.concat([_lane_glyphs(chosen), _event_glyphs(events.join(keep, on="USUBJID", how="semi"), ranks)])
    order = {"ON_STUDY": 0, "ON_TREATMENT": 1}
    return (glyphs
            .with_columns(pl.col("G").replace_strict(order, default=2, return_dtype=pl.Int64).alias("_L"))
            .sort("ARMCD", "RANK", "_L", "DAY").drop("_L"))


def summarize_lanes_shown(subjects: pl.DataFrame, lanes: pl.DataFrame, *,
                          arm_labels: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Per arm: ``ARMCD, ARM, N`` (randomized subjects with study days) and ``SHOWN`` (lanes drawn).

    Example:
        >>> s = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A", "A", "B"]})
        >>> lanes = pl.DataFrame({"USUBJID": ["1", "3"], "ARMCD": ["A", "B"]})
        >>> summarize_lanes_shown(s, lanes, arm_labels={"A": "A: x", "B": "B: y"}).rows()
        [('A', 'A: x', 2, 1), ('B', 'B: y', 1, 1)]
    """
    labels = dict(arm_labels or {})
    shown = lanes.group_by("ARMCD").agg(pl.col("USUBJID").n_unique().alias("SHOWN"))
    order = {a: i for i, a in enumerate(labels)}
    return (subjects.group_by("ARMCD").agg(pl.len().cast(pl.Int64).alias("N"))
            .join(shown, on="ARMCD", how="left")
            .with_columns(pl.col("ARMCD").replace_strict(labels, default=pl.col("ARMCD"), return_dtype=pl.String)
                          .alias("ARM"),
                          pl.col("SHOWN").fill_null(0).cast(pl.Int64),
                          pl.col("ARMCD").replace_strict(order, default=len(order), return_dtype=pl.Int64).alias("_O"))
            .sort("_O", "ARMCD").select("ARMCD", "ARM", "N", "SHOWN"))


def summarize_swimmer_legend(lanes: pl.DataFrame, *, protocol) -> pl.DataFrame:
    """The glyphs of ``lanes``, named: ``G, LABEL, ROLE, ORDER, SLOT``, in legend order.

    ``ROLE`` tells the chart how to draw a glyph: on_study, on_treatment, ongoing, cutoff,
    dose, delay, hold, interval, reduced, off, planning, session, response, duration,
    death, discontinuation, subsequent, deviation. ``SLOT`` numbers the treatments (for
    their colours and shapes). Labels carry the protocol's names and numbers.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> lanes = pl.DataFrame({"G": ["CAMRELIZUMAB", "CAMRELIZUMAB:delay", "PR"]})
        >>> summarize_swimmer_legend(lanes, protocol=load_protocol("NCT07334483")).select("LABEL").to_series().to_list()
        ['Camrelizumab dose', 'Camrelizumab dose after a permitted delay (25–28 d)', 'PR: partial response']
    """
    present = set(lanes["G"].unique().to_list()) if lanes.height else set()
    # a drug the protocol does not know is drawn as recorded: intervals have an end day
    spans = (set(lanes.filter(pl.col("DAY2").is_not_null() & (pl.col("G") == pl.col("ROW")))["G"].to_list())
             if {"DAY2", "ROW"} <= set(lanes.columns) else set())
    keys = list(protocol.treatments) + sorted({g.split(":")[0] for g in present} - set(protocol.treatments)
                                              - _FIXED_GLYPHS - set(_RESPONSE_NAMES))
    rows: list[tuple[str, str, str, int]] = []
    rows.append(("ON_STUDY", "On study, off study treatment", "on_study", 0))
    rows.append(("ON_TREATMENT", "On study treatment (band in the arm's colour)", "on_treatment", 0))
    for slot, key in enumerate(keys, start=1):
        spec = protocol.treatments.get(key) or {}
        title = treatment_title(protocol, key) if key in protocol.treatments else capitalize_label(
            key.capitalize() if key.isupper() else key)
        kind = treatment_kind(protocol, key) if key in protocol.treatments else None
        if kind == "PLANNING":
            rows.append((key, title, "planning", slot))
        elif kind == "SESSION":
            rows.append((key, f"{title} session" if "session" not in title.lower() else title, "session", slot))
        elif kind == "INTERVAL" or (kind is None and (key in spans or f"{key}:off" in present)):
            dose = f" {spec['dose']:g} {spec.get('unit', '')}".rstrip() if spec.get("dose") is not None else ""
            rows.append((key, f"{title}{dose}" + (" daily" if dose else ""), "interval", slot))
            rows.append((f"{key}:reduced", f"{title}, reduced dose", "reduced", slot))
            rows.append((f"{key}:off", f"{title} interrupted", "off", slot))
        else:
            rows.append((key, f"{title} dose" if kind == "DOSE" or kind is None else title, "dose", slot))
            d, w, p = spec.get("interval_days"), spec.get("window_days"), spec.get("permitted_delay_days")
            delay = f" ({d + w + 1}–{d + p} d)" if None not in (d, w, p) else ""
            rows.append((f"{key}:delay", f"{title} dose after a permitted delay{delay}", "delay", slot))
            rows.append((f"{key}:hold", f"{title} held for toxicity (AE)", "hold", slot))
    for term, name in _RESPONSE_NAMES.items():
        rows.append((term, f"{term}: {name}", "response", 0))
    rows.append(("RESPONSE_DURATION", "Duration of response (to PD, death or last scan)", "duration", 0))
    rows += [("DEATH", "Death", "death", 0), ("DISCONTINUATION", "Discontinuation (reason: tooltip)",
                                                 "discontinuation", 0),
             ("SUBSEQUENT_THERAPY", "Subsequent anticancer therapy", "subsequent", 0),
             ("ONGOING", "On study treatment at the data cutoff", "ongoing", 0),
             ("CUTOFF", "Data cutoff", "cutoff", 0),
             ("DEVIATION", "Protocol deviation (listed below)", "deviation", 0)]
    table = pl.DataFrame(rows, schema=["G", "LABEL", "ROLE", "SLOT"], orient="row").with_row_index("ORDER")
    return (table.filter(pl.col("G").is_in(list(present)))
            .select("G", "LABEL", "ROLE", pl.col("ORDER").cast(pl.Int64), pl.col("SLOT").cast(pl.Int64)))


_FIXED_GLYPHS = {"ON_STUDY", "ON_TREATMENT", "ONGOING", "CUTOFF", "RESPONSE_DURATION", "DEATH", "DISCONTINUATION",
                 "SUBSEQUENT_THERAPY", "DEVIATION"}


def summarize_not_drawn(subjects: pl.DataFrame, lanes: pl.DataFrame, not_shown: pl.DataFrame | None = None, *,
                        max_rows: int = MAX_ROWS) -> pl.DataFrame:
    """Every randomized subject without a lane in the chart, with the reason: ``USUBJID, ARM, REASON``.

    ``not_shown`` (:attr:`trialkit.derive.exposure.Swimmer.not_shown`: no randomization
    date) first, then the subjects beyond the chart's budget of ``max_rows`` glyphs.

    Example:
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "ARM": ["A", "A"]})
        >>> summarize_not_drawn(s, pl.DataFrame({"USUBJID": ["1"]}), max_rows=10)["REASON"].to_list()
        ['not drawn: the chart holds at most 10 glyphs (lanes in the sort order); its data are in the tables']
    """
    schema = {"USUBJID": pl.String, "ARM": pl.String, "REASON": pl.String}
    drawn = lanes.select("USUBJID").unique()
    beyond = subjects.join(drawn, on="USUBJID", how="anti").select(
        "USUBJID", "ARM", pl.lit(f"not drawn: the chart holds at most {max_rows:,} glyphs (lanes in the sort "
                                 f"order); its data are in the tables").alias("REASON"))
    parts = [not_shown.select(list(schema)).cast(schema)] if not_shown is not None and not_shown.height else []
    return pl.concat(parts + [beyond.cast(schema)]) if parts or beyond.height else pl.DataFrame(schema=schema)


def describe_lanes(*, sort_by: str, time_unit: str, response_note: str | None = None,
                   data_cutoff=None) -> list[str]:
    """The chart's subtitle, one line each: sort order and time axis (and cutoff); the responses shown.

    Example:
        >>> describe_lanes(sort_by="bor", time_unit="weeks", data_cutoff="2026-10-31")
        ['Lanes sorted by best overall response (unconfirmed), then time on study; time in weeks since randomization; data cutoff 2026-10-31.']
    """
    order = {"time_on_study": "time on study, longest first",
             "bor": "best overall response (unconfirmed), then time on study",
             "time_to_response": "time to first CR/PR, earliest first (non-responders last)"}[sort_by]
    text = f"Lanes sorted by {order}; time in {time_unit} since randomization"
    if data_cutoff:
        text += f"; data cutoff {data_cutoff}"
    return [text + "."] + ([response_note] if response_note else [])
