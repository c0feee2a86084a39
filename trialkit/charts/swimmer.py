"""The swimmer plot: one lane per randomized subject, grouped by arm, every dose and session on it.

:func:`plot_swimmer` draws the glyphs of :func:`trialkit.derive.swimmer.derive_swimmer_lanes`
named by :func:`trialkit.derive.swimmer.summarize_swimmer_legend`: one panel per arm (its
title in the arm's colour, with n), one lane per subject, and inside a lane one sub-lane per
drug (doses as ticks, daily intervals as bars with reductions and interruptions), one for
procedures (mapping, SIRT, cTACE: distinct shapes) and one for responses (CR/PR/SD/PD in
the shared response colours, the duration of response behind them). Across the whole lane:
time on study (a thin line), time on study treatment (a band in the arm's colour), death,
discontinuation, subsequent therapy, an arrow when the subject is on treatment at the
cutoff, and the subject's own cutoff day (a study day differs per subject). A red ring
flags each dose or session that breaks a protocol rule.

Every glyph is in the one legend (shape, fill and stroke share the glyph scale); the arms'
band colour is the theme's. Tooltips give the date, study day, dose, cycle and reason. The
height grows with the lanes; the x axis is days, weeks or months since randomization.
:func:`swimmer_notes_html` lists what the data cannot show.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import altair as alt
import polars as pl

from trialkit.charts.theme import (
    FONT_SIZE,
    RESPONSE_COLORS,
    WIDTH,
    arm_colors,
    chart_data,
    derive_selected,
    scale as colour_scale,
    selection_opacity,
    use_theme,
)
from trialkit.derive.swimmer import PROCEDURES, RESPONSES, TIME_UNITS

#: Height of one sub-lane in pixels; a lane is as high as its arm has sub-lanes.
ROW_PX = 8
#: Treatment colours by slot (the protocol's order): dark, distinct from arms and responses.
TREATMENT_COLORS = ("#1F2933", "#6A51A3", "#238B45", "#1B7837", "#8C510A", "#01665E", "#762A83", "#B35806")
#: Colours of daily-drug intervals, in order (a reduced dose is lighter, an interruption outlined).
INTERVAL_COLORS = ("#6A51A3", "#3182BD", "#31A354", "#E6550D")
#: Shapes of procedure sessions by slot (a planning procedure is a hollow triangle).
SESSION_SHAPES = ("diamond", "square", "triangle-up", "cross", "triangle-down", "circle")
VERTICAL = "M0,-1L0,1"     # a vertical stroke: doses, discontinuation
DASHED = "M0,-1L0,-0.45M0,-0.2L0,0.2M0,0.45L0,1"   # a dashed vertical stroke: the cutoff
NAMES, ROLES = "tk_glyph_names", "tk_glyph_roles"   # chart-level variables: code -> legend label / role
_FIXED = {
    # role: (shape, fill, stroke)
    "on_study": ("M-1,0L1,0", "#9AA5B1", "#9AA5B1"),
    "delay": (VERTICAL, "#E08214", "#E08214"),
    "hold": ("square", "#FDB863", "#FDB863"),
    "reduced": ("square", "#BCBDDC", "#BCBDDC"),
    "off": ("square", "white", "#6A51A3"),
    "duration": ("square", "#9ECAE1", "#9ECAE1"),
    "death": ("cross", "#000000", "#000000"),
    "discontinuation": (VERTICAL, "transparent", "#3E4C59"),
    "subsequent": ("triangle-down", "#D95F02", "#D95F02"),
    "ongoing": ("triangle-right", "#3E4C59", "#3E4C59"),
    "cutoff": (DASHED, "transparent", "#7B8794"),
    "on_treatment": ("square", "#D5DEE8", "#D5DEE8"),
    "deviation": ("circle", "transparent", "#D7191C"),
}
_BARS = ("interval", "reduced", "hold", "duration")
_TICKS_IN_ROW = ("dose", "delay")
_TICKS_FULL = ("discontinuation", "cutoff")
_POINTS = ("planning", "session", "response", "death", "subsequent", "ongoing", "deviation")
_POINT_SIZE = {"planning": 42, "session": 42, "response": 34, "death": 70, "subsequent": 44, "ongoing": 52,
               "deviation": 120}
_TITLES = {"days": "Days since randomization", "weeks": "Weeks since randomization",
           "months": "Months since randomization"}


def glyph_styles(legend: pl.DataFrame) -> pl.DataFrame:
    """Shape, fill and stroke of every glyph of ``legend`` (:func:`summarize_swimmer_legend`).

    Example:
        >>> legend = pl.DataFrame({"G": ["PR", "SIRT"], "LABEL": ["PR", "SIRT"], "ROLE": ["response", "session"],
        ...                        "ORDER": [0, 1], "SLOT": [0, 4]})
        >>> glyph_styles(legend).select("SHAPE", "FILL").rows()
        [('circle', '#67A9CF'), ('diamond', '#1B7837')]
    """
    rows = []
    sessions: dict[str, int] = {}
    intervals: dict[str, int] = {}
    for g, role, slot in legend.select("G", "ROLE", "SLOT").iter_rows():
        colour = TREATMENT_COLORS[(slot - 1) % len(TREATMENT_COLORS)] if slot else "#1F2933"
        if role in _FIXED:
            shape, fill, stroke = _FIXED[role]
        elif role == "dose":
            shape, fill, stroke = VERTICAL, colour, colour
        elif role == "interval":
            colour = INTERVAL_COLORS[intervals.setdefault(g, len(intervals)) % len(INTERVAL_COLORS)]
            shape, fill, stroke = "square", colour, colour
        elif role == "planning":
            shape, fill, stroke = "triangle-up", "white", colour
        elif role == "session":
            shape = SESSION_SHAPES[sessions.setdefault(g, len(sessions)) % len(SESSION_SHAPES)]
            fill = stroke = colour
        elif role == "response":
            shape, fill, stroke = "circle", RESPONSE_COLORS.get(g, "#4D4D4D"), RESPONSE_COLORS.get(g, "#4D4D4D")
        else:
            shape, fill, stroke = "circle", colour, colour
        rows.append((g, shape, fill, stroke))
    return pl.DataFrame(rows, schema=["G", "SHAPE", "FILL", "STROKE"], orient="row")


def _positions(lanes: pl.DataFrame, roles: Mapping[str, str], factor: float) -> pl.DataFrame:
    """X (and X2) in the time unit: a day spans [elapsed, elapsed + 1); points at its middle,
    the cutoff and the arrow at its end. Elapsed days since randomization: study day - 1 on
    or after it, the study day before it (no day 0)."""
    elapsed = lambda c: pl.when(pl.col(c) > 0).then(pl.col(c) - 1).otherwise(pl.col(c))  # noqa: E731
    role = pl.col("G").replace_strict(dict(roles), default="point", return_dtype=pl.String)
    bar = pl.col("DAY2").is_not_null() & (pl.col("G") != "DEVIATION")
    start = (pl.when(bar).then(elapsed("DAY"))
             .when(role.is_in(["ongoing", "cutoff"])).then(elapsed("DAY") + 1)
             .otherwise(elapsed("DAY") + 0.5))
    return lanes.with_columns((start / factor).round(3).alias("X"),
                              pl.when(bar).then((elapsed("DAY2") + 1) / factor).round(3).alias("X2"),
                              role.alias("ROLE"))


def plot_swimmer(lanes: pl.DataFrame, legend: pl.DataFrame, *, arms: Mapping[str, str],
                 shown: pl.DataFrame | None = None, time_unit: str = "days", title: str = "Swimmer plot",
                 subtitle: str | Sequence[str] = "", selected: Collection[str] | None = None) -> alt.VConcatChart:
    """The swimmer chart: one panel per arm (module notes).

    The chart's data are compact, for an e-mailed report: ``S`` the subject, ``R`` the
    sub-lane, ``G`` the glyph (codes named by the legend), ``X``/``X2`` the time, ``W`` and
    ``D`` the tooltip's when and detail.

    Args:
        lanes: :func:`trialkit.derive.swimmer.derive_swimmer_lanes` (``ARMCD, USUBJID, RANK,
            ROW, G, DAY, DAY2, WHEN, DETAIL``).
        legend: :func:`trialkit.derive.swimmer.summarize_swimmer_legend` of ``lanes``.
        arms: the study's arms, code -> label, in protocol order (``Protocol.arm_labels``).
        shown: :func:`trialkit.derive.swimmer.summarize_lanes_shown` (``ARMCD, N, SHOWN``):
            the panel titles say how many lanes are drawn of how many when not all are.
        time_unit: days, weeks or months since randomization (:data:`TIME_UNITS`).
        title, subtitle: the chart's title and subtitle.
        selected: USUBJIDs to highlight (the others fade), for the exploration app.

    Returns:
        An ``alt.VConcatChart`` of one layered panel per arm with lanes; x is shared, each
        panel's lanes and sub-lanes are its own.
    """
    use_theme()
    if time_unit not in TIME_UNITS:
        raise ValueError(f"trialkit: time unit {time_unit!r} is not one of {', '.join(TIME_UNITS)}")
    factor = TIME_UNITS[time_unit]
    roles = dict(legend.select("G", "ROLE").iter_rows())
    data = _positions(lanes, roles, factor)
    drawn = legend
    codes = {g: f"~{i}" for i, g in enumerate(drawn["G"].to_list())}   # "~": never an arm code
    styles = glyph_styles(drawn)
    scales = Scales(
        codes=codes,
        labels={codes[g]: label for g, label in drawn.select("G", "LABEL").iter_rows()},
        roles={codes[g]: role for g, role in drawn.select("G", "ROLE").iter_rows()},
        shape=alt.Scale(domain=list(codes.values()), range=styles["SHAPE"].to_list()),
        fill=alt.Scale(domain=list(codes.values()), range=styles["FILL"].to_list()),
        stroke=alt.Scale(domain=list(codes.values()), range=styles["STROKE"].to_list()),
        slots=dict(legend.select("G", "SLOT").iter_rows()))
    # a margin of 2 days before the first glyph, so no marker is cut by the axis
    lo = min(0.0, float(data["X"].min() or 0)) - 2 / factor if data.height else 0.0
    hi = max(float(data["X"].max() or 1), float(data["X2"].max() or 1)) if data.height else 1.0
    x = alt.X("X:Q", scale=alt.Scale(domain=[lo, hi * 1.01 + (1 / factor)], nice=False, zero=False),
              axis=alt.Axis(title=_TITLES[time_unit], grid=True, tickMinStep=1 if time_unit == "days" else 0.5))
    counts = {}
    if shown is not None:
        counts = {a: (n, s) for a, _, n, s in shown.select("ARMCD", "ARM", "N", "SHOWN").iter_rows()}
    colours = arm_colors(arms)
    present = set(data["ARMCD"].to_list())
    panels = [_panel(data.filter(pl.col("ARMCD") == armcd), armcd=armcd, arm_label=arms.get(armcd, armcd),
                     colour=colours.get(armcd, "#333333"), counts=counts.get(armcd), arms=arms, scales=scales, x=x,
                     selected=selected)
              for armcd in [a for a in arms if a in present] + sorted(present - set(arms))]
    if not panels:
        panels.append(alt.Chart(pl.DataFrame({"TEXT": ["No randomized subject with a randomization date to draw."]}))
                      .mark_text(align="left", fontSize=FONT_SIZE).encode(text="TEXT:N")
                      .properties(width=WIDTH, height=30))
    # names and roles of the glyph codes: chart-level variables, given once (not in every layer)
    variables = [alt.param(name=NAMES, value={**{str(k): str(v) for k, v in arms.items()}, **scales.labels}).param,
                 alt.param(name=ROLES, value=dict(scales.roles)).param]
    chart = alt.vconcat(*panels, spacing=28, params=variables,
                        title=alt.Title(title, subtitle=subtitle) if subtitle else alt.Title(title))
    return chart.resolve_scale(y="independent", yOffset="independent", x="shared")


@dataclass(frozen=True)
class Scales:
    """The glyph scales every panel shares: codes, labels, roles, shape, fill, stroke, sub-lane slots."""

    codes: Mapping[str, str]
    labels: Mapping[str, str]
    roles: Mapping[str, str]
    shape: alt.Scale
    fill: alt.Scale
    stroke: alt.Scale
    slots: Mapping[str, int]


def _panel(data: pl.DataFrame, *, armcd: str, arm_label: str, colour: str, counts: tuple[int, int] | None,
           arms: Mapping[str, str], scales: Scales, x: alt.X, selected: Collection[str] | None) -> alt.LayerChart:
    lanes_order = data.select("USUBJID", "RANK").unique().sort("RANK")["USUBJID"].to_list()
    present_rows = set(data["ROW"].drop_nulls().to_list())
    drugs = sorted(present_rows - {PROCEDURES, RESPONSES}, key=lambda r: (scales.slots.get(r, 99), r))
    rows = drugs + [r for r in (PROCEDURES, RESPONSES) if r in present_rows]
    row_codes = {r: chr(ord("a") + i) for i, r in enumerate(rows)}
    band = max(len(rows), 1) * ROW_PX
    height = max(len(lanes_order) * (band + 4), 40)
    n, n_shown = counts if counts else (len(lanes_order), len(lanes_order))
    panel_title = (f"{arm_label} (n = {n:,})" if n_shown == n else
                   f"{arm_label} (n = {n:,}; {n_shown:,} lanes shown: the first in the sort order)")
    frame = data.select(
        pl.col("USUBJID").alias("S"),
        pl.col("ROW").replace_strict(row_codes, default=None, return_dtype=pl.String).alias("R"),
        pl.col("G").replace_strict(dict(scales.codes), default=None, return_dtype=pl.String).alias("G"),
        "X", "X2", pl.col("WHEN").alias("W"), pl.col("DETAIL").alias("D"))
    # the band of time on treatment carries the arm code (its colour); the other rows none
    frame = (frame.with_columns(pl.when(data["ROLE"] == "on_treatment").then(pl.lit(armcd)).alias("A"))
             .filter(pl.col("G").is_not_null()))
    cols = ["S", "R", "G", "A", "X", "X2", "W", "D"]
    if selected is not None:
        frame = derive_selected(frame.rename({"S": "USUBJID"}), selected).rename({"USUBJID": "S"})
        cols.append("SELECTED")
    base = alt.Chart()      # the layers share the panel's one dataset
    y = alt.Y("S:N", title=None,   # the explicit domain is the lane order
              scale=alt.Scale(domain=lanes_order, paddingInner=4 / (band + 4), paddingOuter=0.1),
              axis=alt.Axis(labelFontSize=10, labelLimit=150, ticks=False, domain=False, labelPadding=4))
    y_offset = alt.YOffset("R:N", scale=alt.Scale(domain=list(row_codes.values())), title=None)
    x2 = alt.X2("X2:Q")
    opacity = selection_opacity(selected=selected)
    tooltip = [alt.Tooltip("S:N", title="Subject"), alt.Tooltip("WHAT:N", title="What"),
               alt.Tooltip("W:N", title="When"), alt.Tooltip("D:N", title="Detail")]
    # names of glyph and arm codes: one chart-level variable, not a copy in every layer
    label_expr = f"{NAMES}[datum.value] || datum.value"
    glyph_legend = alt.Legend(title="Glyphs", symbolStrokeWidth=1.6, symbolSize=90, columns=2, orient="bottom",
                              labelExpr=label_expr, labelLimit=330)
    fill = alt.Fill("G:N", scale=scales.fill, legend=glyph_legend)
    shape = alt.Shape("G:N", scale=scales.shape, legend=glyph_legend)
    stroke = alt.Stroke("G:N", scale=scales.stroke, legend=glyph_legend)

    def role(*names: str) -> alt.FieldOneOfPredicate:
        return alt.FieldOneOfPredicate(field="ROLE", oneOf=list(names))

    quiet = dict(aria=False)    # no per-glyph aria-label: thousands would bloat the page and the SVG
    layers = [
        base.transform_filter(role("on_study")).mark_rule(strokeWidth=1.5, **quiet).encode(
            x=x, x2=x2, y=y, stroke=stroke, opacity=opacity, tooltip=tooltip),
        base.transform_filter(role(*_BARS)).mark_bar(cornerRadiusEnd=0, height=ROW_PX - 2, **quiet).encode(
            x=x, x2=x2, y=y, yOffset=y_offset, fill=fill, opacity=opacity, tooltip=tooltip),
        base.transform_filter(role("off")).mark_bar(cornerRadiusEnd=0, height=ROW_PX - 2, strokeWidth=1,
                                                    **quiet).encode(
            x=x, x2=x2, y=y, yOffset=y_offset, fill=fill, stroke=stroke, opacity=opacity, tooltip=tooltip),
        base.transform_filter(role(*_TICKS_IN_ROW)).mark_tick(orient="vertical", size=ROW_PX, thickness=1.6,
                                                               **quiet).encode(
            x=x, y=y, yOffset=y_offset, fill=fill, opacity=opacity, tooltip=tooltip),
        base.transform_filter(role(*_TICKS_FULL)).mark_point(filled=False, strokeWidth=1.8, **quiet).encode(
            x=x, y=y, shape=shape, stroke=stroke, fill=fill, size=alt.value(band ** 2), opacity=opacity,
            tooltip=tooltip),
        base.transform_filter(role("planning", "session", "response", "deviation")).mark_point(
            filled=False, strokeWidth=1.3, opacity=1, **quiet).encode(
            x=x, y=y, yOffset=y_offset, size=_size(), fill=fill, shape=shape, stroke=stroke, opacity=opacity,
            tooltip=tooltip),
        base.transform_filter(role("death", "subsequent", "ongoing")).mark_point(
            filled=False, strokeWidth=1.3, opacity=1, **quiet).encode(
            x=x, y=y, size=_size(), fill=fill, shape=shape, stroke=stroke, opacity=opacity, tooltip=tooltip),
    ]
    # the glyphs share one dataset (the names and roles of their codes computed once); the arm's
    # band under them has its own rows
    band = (base.transform_filter(role("on_treatment")).mark_bar(opacity=0.14, cornerRadiusEnd=0, **quiet).encode(
        # the band takes the arm's colour (the panel title's); the glyph legend names it
        x=x, x2=x2, y=y, color=alt.Color("A:N", scale=colour_scale(arm_colors(arms)), legend=None), tooltip=tooltip))
    return (alt.layer(band, *layers, data=chart_data(frame, cols))
            .transform_calculate(WHAT=f"{NAMES}[datum.G] || datum.G", ROLE=f"{ROLES}[datum.G] || 'point'")
            .properties(width=WIDTH, height=height,
                        title=alt.Title(panel_title, color=colour, anchor="start", fontSize=13, fontWeight=600)))


def _size() -> alt.Size:
    roles = list(_POINT_SIZE)
    return alt.Size("ROLE:N", scale=alt.Scale(domain=roles, range=[_POINT_SIZE[r] for r in roles]), legend=None)


def _js_object(mapping: Mapping[str, str]) -> str:
    """A JS object literal of text for a Vega expression (JSON: data text is quoted, never code)."""
    return json.dumps(dict(mapping), ensure_ascii=True).replace("'", "\\u0027")


def swimmer_notes_html(notes: Sequence[str], *, title: str = "What the swimmer shows and what it cannot") -> str:
    """The swimmer's notes as an escaped HTML list (for ``show_html``).

    Example:
        >>> swimmer_notes_html(["No CM dataset: <none>."])
        '<div class="trialkit-notes"><p><strong>What the swimmer shows and what it cannot</strong></p><ul><li>No CM dataset: &lt;none&gt;.</li></ul></div>'
    """
    items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes if n)
    return (f'<div class="trialkit-notes"><p><strong>{html.escape(title)}</strong></p>'
            f"<ul>{items or '<li>Nothing to add: every dataset the swimmer reads is present.</li>'}</ul></div>")
