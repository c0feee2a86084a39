"""Charts of tumour response: waterfall + spider (one linked chart), ORR by arm, Kaplan-Meier.

Every builder takes the tidy frames of :mod:`trialkit.derive.response` /
:mod:`trialkit.derive.efficacy` and only draws them; numbers in tooltips arrive as text
formatted there (STYLE section 10).

The waterfall and the spider plot are ONE concatenated Vega-Lite chart: two separate
charts cannot share a param, and the link must work in an e-mailed HTML file with no kernel.
Clicking a bar or a line selects that subject (the param ``subject``, field USUBJID) and
both views highlight it; a double click clears it. ``selected=`` (USUBJIDs from the
exploration app) fades everyone else in both views.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Iterable, Mapping, Sequence

import altair as alt
import polars as pl

from trialkit.charts.theme import (
    FADED,
    FONT_SIZE,
    RESPONSE_COLORS,
    arm_color,
    chart_data,
    derive_selected,
    response_color,
    use_theme,
)

PANEL_WIDTH = 300                    # at least; wider when an arm has many bars (BAR_STEP each)
BAR_STEP = 10                        # px per bar, so the vertical clip labels never overlap
WIDE_PANEL = 340                     # wider panels go one per row
LABEL_ROOM = 64                      # px right of each panel for the reference-line labels
WATERFALL_HEIGHT = 230
SPIDER_HEIGHT = 210
Y_DOMAIN = [-100, 135]               # room above the +100 % clip for the true values
Y_TICKS = [-100, -50, -30, 0, 20, 50, 100]
AXIS_EXTENT = 250                    # KM: the y-axis width of the curves and of the at-risk table
END_SHAPES = {"PD": "cross", "Death": "square", "No progression at last assessment": "triangle-right"}
WATERFALL_HINT = ("Click a bar or a line to highlight one subject in both views; double-click to clear. "
                  "Hover for details.")


def _panel_facet(panels: Mapping[str, str], *, columns: int, width: int = PANEL_WIDTH) -> dict:
    """Facet by ARMCD; the header is the panel title (lines split at newlines) from a JSON map, so the long
    title is written once, not in every row of data."""
    titles = {code: str(text).replace(" · ", "\n").split("\n") for code, text in panels.items()}
    return {"facet": alt.Facet("ARMCD:N", sort=list(panels), title=None,
                               header=alt.Header(labelExpr=f"{json.dumps(titles)}[datum.value] || datum.value",
                                                 labelAnchor="start",
                                                 labelAlign="left", labelFontSize=FONT_SIZE, labelFontWeight=600,
                                                 labelLimit=width + LABEL_ROOM, labelPadding=6)),
            "columns": columns, "spacing": {"column": LABEL_ROOM + 10, "row": 18}}


REFERENCE_NOTE = ("Dashed lines: −30% from baseline (PR) and +20%, a guide only: progression is measured from "
                  "the nadir (the smallest sum so far, +20% and +5 mm), not from baseline.")


def _reference_lines(width: int) -> list[alt.Chart]:
    """The −30 % (PR) and +20 % (guide) lines, labelled just right of the panel where no bar can cover them."""
    rows = [{"Y": -30.0, "LABEL": "−30% PR"}, {"Y": 20.0, "LABEL": "+20% guide"}]
    base = alt.Chart(alt.Data(values=rows))
    rule = base.mark_rule(strokeDash=[5, 3], color="#52606d", strokeWidth=1).encode(y=alt.Y("Y:Q"))
    label = base.mark_text(align="left", baseline="middle", dx=4, fontSize=10, color="#3e4c59").encode(
        y=alt.Y("Y:Q"), x=alt.value(width), text="LABEL:N")
    return [rule, label]


def plot_waterfall_spider(bars: pl.DataFrame, spider: pl.DataFrame, *, panels: Mapping[str, str], title: str,
                          subtitle: str | Sequence[str] = "", selected: Collection[str] | None = None,
                          columns: int | None = None) -> alt.VConcatChart:
    """Waterfall (best % change, one bar per subject) above the spider plot (% change over time), linked.

    Args:
        bars: :func:`trialkit.derive.response.summarize_waterfall_chart`: ``USUBJID, ARMCD,
            BOR, PLOT_PCHG, CLIP_LABEL, BEST_TEXT, BEST_WHEN, BOR_WHEN, PD_MARK, MARK_Y, RANK``
            (and ``ARM``).
        spider: :func:`trialkit.derive.response.summarize_spider`: ``USUBJID, ARMCD, BOR,
            KIND, WEEK, DAY, PLOT_PCHG, PCHG_TEXT``.
        panels: arm code -> panel title, in arm order (one panel per arm, on a shared y axis;
            :func:`trialkit.derive.response.summarize_panels`).
        title, subtitle: the chart's title ("… 104 plotted / 120 randomized") and subtitle.
        selected: USUBJIDs to highlight (the others fade), or None.
        columns: panels per row; default two, one when an arm's bars need a wide panel.

    Returns:
        One vconcat chart: facetted waterfall over facetted spider, sharing the param
        ``subject`` (click; double-click clears) and the BOR colours.

    Example:
        >>> bars = pl.DataFrame({"USUBJID": ["1"], "ARM": ["A"], "ARMCD": ["A"], "BOR": ["PR"], "PLOT_PCHG": [-40.0],
        ...     "CLIP_LABEL": [None], "BEST_TEXT": ["−40.0%"], "BEST_WHEN": ["week 6 (day 43)"], "BOR_WHEN": ["week 6 (day 43)"],
        ...     "PD_MARK": [None], "MARK_Y": [None], "RANK": [1]})
        >>> spider = pl.DataFrame({"USUBJID": ["1", "1"], "ARMCD": ["A", "A"], "BOR": ["PR", "PR"], "KIND": ["assessment", "PD"],
        ...     "WEEK": [0.0, 6.0], "DAY": [1, 43], "PLOT_PCHG": [0.0, -40.0], "PCHG_TEXT": ["0.0%", "−40.0%"]})
        >>> spec = plot_waterfall_spider(bars, spider, panels={"A": "Arm A"}, title="Best % change").to_dict()
        >>> [p["name"] for p in spec["params"]]
        ['subject']
    """
    use_theme()
    if bars.is_empty():
        return _nothing_to_plot(title, "No randomized subject has a best % change to plot; the listing below "
                                       "gives each subject's reason.")
    most = int(bars.group_by("ARMCD").len()["len"].max())
    width = max(PANEL_WIDTH, BAR_STEP * most)
    columns = columns or (2 if width <= WIDE_PANEL else 1)
    bar_cols = ["USUBJID", "ARMCD", "ARM", "BOR", "PLOT_PCHG", "CLIP_LABEL", "BEST_TEXT", "BEST_WHEN", "BOR_WHEN",
                "PD_MARK", "MARK_Y", "RANK"]
    bar_data = derive_selected(chart_data(bars, bar_cols), selected)
    spider_data = derive_selected(chart_data(spider, ["USUBJID", "ARMCD", "BOR", "KIND", "WEEK", "DAY", "PLOT_PCHG",
                                                      "PCHG_TEXT"]), selected)
    opacity = _subject_opacity(selected)
    color = response_color("BOR", title="Best overall response")
    y = alt.Y("PLOT_PCHG:Q", title="Best % change from baseline", scale=alt.Scale(domain=Y_DOMAIN, clamp=True), stack=None,
              axis=alt.Axis(values=Y_TICKS, labelExpr="datum.value + '%'", grid=False, labelOverlap=False,
                            tickCount=len(Y_TICKS)))
    tooltip = [alt.Tooltip("USUBJID:N", title="Subject"), alt.Tooltip("ARM:N", title="Arm"),
               alt.Tooltip("BOR:N", title="Best overall response"), alt.Tooltip("BEST_TEXT:N", title="Best % change"),
               alt.Tooltip("BEST_WHEN:N", title="Best % change at"),
               alt.Tooltip("BOR_WHEN:N", title="Best response first at")]
    x = alt.X("USUBJID:N", sort=alt.EncodingSortField("RANK", order="ascending"), title="Subjects, by best % change",
              axis=alt.Axis(labels=False, ticks=False, domain=False))
    base = alt.Chart()  # the layers inherit the facet's data: a child with data of its own is not facetted
    # aria off on the dense marks: one ARIA label per bar or point would double the static SVG
    bar_layer = base.mark_bar(cornerRadiusEnd=1, aria=False).encode(
        x=x, y=y, color=color, opacity=opacity, tooltip=tooltip).properties(name="waterfall_bars")
    clip = base.transform_filter("isValid(datum.CLIP_LABEL)").mark_text(
        angle=270, align="left", baseline="middle", dx=3, fontSize=9, color="#1f2933").encode(
        x=x, y=alt.Y("PLOT_PCHG:Q"), text="CLIP_LABEL:N", opacity=opacity)
    marker = base.transform_filter("isValid(datum.PD_MARK)").mark_point(
        filled=True, size=36, color="#1f2933").encode(
        x=x, y=alt.Y("MARK_Y:Q"), opacity=opacity,
        shape=alt.Shape("PD_MARK:N", scale=alt.Scale(range=["triangle-down"]), title=None,
                        legend=alt.Legend(orient="bottom", symbolFillColor="#1f2933", symbolStrokeColor="#1f2933")),
        tooltip=tooltip)
    zero = alt.Chart(alt.Data(values=[{"Y": 0}])).mark_rule(color="#9aa5b1").encode(y="Y:Q")
    waterfall = (alt.layer(zero, *_reference_lines(width), bar_layer, clip, marker, data=bar_data)
                 .properties(width=width, height=WATERFALL_HEIGHT)
                 .facet(**_panel_facet(panels, columns=columns, width=width))
                 .resolve_scale(x="independent"))

    sp = alt.Chart()
    week = alt.X("WEEK:Q", title="Weeks since randomization", scale=alt.Scale(nice=False, zero=True))
    sy = alt.Y("PLOT_PCHG:Q", title="% change from baseline", scale=alt.Scale(domain=[-100, 100], clamp=True),
               axis=alt.Axis(values=Y_TICKS, labelExpr="datum.value + '%'", grid=False, labelOverlap=False,
                            tickCount=len(Y_TICKS)))
    sp_tooltip = [alt.Tooltip("USUBJID:N", title="Subject"), alt.Tooltip("BOR:N", title="Best overall response"),
                  alt.Tooltip("KIND:N", title="Point"), alt.Tooltip("DAY:Q", title="Study day", format="d"),
                  alt.Tooltip("PCHG_TEXT:N", title="% change")]
    lines = sp.transform_filter("datum.KIND === 'assessment'").mark_line(
        point=alt.OverlayMarkDef(size=14, aria=False), strokeWidth=1.5, aria=False).encode(
        x=week, y=sy, detail="USUBJID:N", color=color, opacity=opacity, tooltip=sp_tooltip,
        order=alt.Order("WEEK:Q"))
    ends = sp.transform_filter("datum.KIND !== 'assessment'").mark_point(filled=False, size=55, strokeWidth=1.6,
                                                                         aria=False).encode(
        x=week, y=sy, color=color, opacity=opacity, tooltip=sp_tooltip,
        shape=alt.Shape("KIND:N", title="End of the line",
                        scale=alt.Scale(domain=list(END_SHAPES), range=list(END_SHAPES.values())),
                        legend=alt.Legend(orient="bottom")))
    spider_zero = alt.Chart(alt.Data(values=[{"Y": 0}])).mark_rule(color="#9aa5b1").encode(y="Y:Q")
    spider_chart = (alt.layer(spider_zero, *_reference_lines(width), lines.properties(name="spider_lines"),
                              ends.properties(name="spider_ends"), data=spider_data)
                    .properties(width=width, height=SPIDER_HEIGHT)
                    .facet(**_panel_facet(panels, columns=columns, width=width)))
    subtitle_lines = [subtitle] if isinstance(subtitle, str) else list(subtitle)
    return (alt.vconcat(waterfall, spider_chart, spacing=28)
            .resolve_scale(color="shared", shape="independent")
            .resolve_legend(shape="independent")
            .properties(title=alt.Title(title, subtitle=[*[s for s in subtitle_lines if s], REFERENCE_NOTE,
                                                         WATERFALL_HINT]),
                        params=[_subject_param()]))


SUBJECT_PARAM = "subject"
_LINKED_VIEWS = ["waterfall_bars", "spider_lines"]


def _subject_param() -> alt.TopLevelSelectionParameter:
    """The click selection of one subject, defined once at the top and bound to a view in each part.

    Altair attaches a param to one sub-chart; a param shared by a facetted waterfall and a
    facetted spider must be a top-level one listing both views (Vega-Lite ``views``).
    """
    return alt.TopLevelSelectionParameter(
        name=SUBJECT_PARAM, views=list(_LINKED_VIEWS),
        select=alt.PointSelectionConfig(type="point", fields=["USUBJID"], on="click", clear="dblclick"))


def _nothing_to_plot(title: str, message: str) -> alt.VConcatChart:
    """A chart saying why it is empty (a report never shows a blank frame)."""
    note = alt.Chart(alt.Data(values=[{"TEXT": message}])).mark_text(
        align="left", baseline="middle", fontSize=FONT_SIZE + 1, color="#52606d").encode(
        text="TEXT:N", x=alt.value(4), y=alt.value(30)).properties(width=560, height=60)
    return alt.vconcat(note).properties(title=alt.Title(title))


def _subject_opacity(selected: Collection[str] | None) -> dict:
    """Full opacity for the clicked subject (everyone while nothing is clicked) and for ``selected``."""
    chosen = {"param": SUBJECT_PARAM, "empty": True}
    if selected is not None:
        chosen = {"and": [chosen, {"field": "SELECTED", "equal": True}]}
    return {"condition": {"test": chosen, "value": 1.0}, "value": FADED}


def plot_orr(orr: pl.DataFrame, *, arms: Mapping[str, str], title: str = "Objective response rate by arm",
             subtitle: str = "") -> alt.LayerChart:
    """ORR per arm: a bar with its exact 95% CI and "n/N (%)" beside it; click the legend to highlight an arm.

    Args:
        orr: ``trialkit.derive.efficacy.summarize_orr`` with the text columns of
            :func:`trialkit.derive.efficacy.summarize_orr_chart`: ``ARMCD, ARM, ORR_PCT,
            CI_LOWER_PCT, CI_UPPER_PCT, LABEL, CI_TEXT``.
        arms: arm code -> label (colours in protocol order).

    Example:
        >>> orr = pl.DataFrame({"ARMCD": ["A"], "ARM": ["A: x"], "ORR_PCT": [50.0], "CI_LOWER_PCT": [30.0],
        ...                     "CI_UPPER_PCT": [70.0], "LABEL": ["15/30 (50.0%)"], "CI_TEXT": ["30.0–70.0"]})
        >>> [layer["mark"]["type"] for layer in plot_orr(orr, arms={"A": "A: x"}).to_dict()["layer"]]
        ['bar', 'rule', 'text']
    """
    use_theme()
    data = chart_data(orr, ["ARMCD", "ARM", "ORR_PCT", "CI_LOWER_PCT", "CI_UPPER_PCT", "LABEL", "CI_TEXT"])
    arm = alt.selection_point(fields=["ARMCD"], bind="legend", name="orr_arm")
    y = alt.Y("ARMCD:N", sort=list(arms), title=None,
              axis=alt.Axis(labelExpr=f"{json.dumps(dict(arms))}[datum.value] || datum.value", labelLimit=260))
    tooltip = [alt.Tooltip("ARM:N", title="Arm"), alt.Tooltip("LABEL:N", title="Responders / randomized"),
               alt.Tooltip("CI_TEXT:N", title="Exact 95% CI (%)")]
    base = alt.Chart(data)
    bars = base.mark_bar(height=18).encode(
        y=y, x=alt.X("ORR_PCT:Q", title="ORR, % of randomized (exact 95% CI)", scale=alt.Scale(domain=[0, 100])),
        color=arm_color("ARMCD", arms=arms), opacity=alt.condition(arm, alt.value(1.0), alt.value(FADED)),
        tooltip=tooltip).add_params(arm)
    ci = base.mark_rule(color="#1f2933", strokeWidth=1.5).encode(y=y, x="CI_LOWER_PCT:Q", x2="CI_UPPER_PCT:Q",
                                                                 tooltip=tooltip)
    text = base.mark_text(align="left", dx=6, fontSize=FONT_SIZE, color="#1f2933").encode(
        y=y, x="CI_UPPER_PCT:Q", text="LABEL:N")
    return (alt.layer(bars, ci, text)
            .properties(width=520, height=max(60, 34 * len(arms)),
                        title=alt.Title(title, subtitle=[subtitle] if subtitle else [])))


def plot_km(curve: pl.DataFrame, censored: pl.DataFrame, at_risk: pl.DataFrame, *, arms: Mapping[str, str],
            title: str = "Progression-free survival", subtitle: Sequence[str] | str = "",
            y_title: str = "Progression-free survival") -> alt.VConcatChart:
    """Kaplan-Meier curves by arm with censoring marks, above the number-at-risk table.

    Args:
        curve, censored, at_risk: :func:`trialkit.derive.efficacy.summarize_km`'s frames
            (``MONTHS``, ``SURV``; ``N_AT_RISK``), with ``ARMCD`` and ``ARM``.
        arms: arm code -> label.

    Example:
        >>> curve = pl.DataFrame({"ARMCD": ["A", "A"], "ARM": ["A: x"] * 2, "MONTHS": [0.0, 2.0], "SURV": [1.0, 0.5],
        ...                       "AT_RISK": [2, 1]})
        >>> cens = pl.DataFrame({"ARMCD": ["A"], "ARM": ["A: x"], "MONTHS": [3.0], "SURV": [0.5]})
        >>> risk = pl.DataFrame({"ARMCD": ["A"], "ARM": ["A: x"], "MONTHS": [0.0], "N_AT_RISK": [2]})
        >>> spec = plot_km(curve, cens, risk, arms={"A": "A: x"}).to_dict()
        >>> spec["vconcat"][0]["layer"][0]["mark"]["interpolate"]
        'step-after'
    """
    use_theme()
    curve_data = chart_data(curve.with_columns(pl.format("{}%", (pl.col("SURV") * 100).round(1)).alias("SURV_TEXT")),
                            ["ARMCD", "ARM", "MONTHS", "SURV", "AT_RISK", "SURV_TEXT"])
    cens_data = chart_data(censored, ["ARMCD", "ARM", "MONTHS", "SURV"])
    risk_data = chart_data(at_risk, ["ARMCD", "ARM", "MONTHS", "N_AT_RISK"])
    horizon = float(max(risk_data["MONTHS"].max() or 0, curve_data["MONTHS"].max() or 0, 1.0))
    x = alt.X("MONTHS:Q", title="Months since randomization", scale=alt.Scale(domain=[0, horizon], nice=False),
              axis=alt.Axis(values=sorted(set(risk_data["MONTHS"].to_list())), format="d"))
    color = arm_color("ARMCD", arms=arms)
    arm = alt.selection_point(fields=["ARMCD"], bind="legend", name="km_arm")
    opacity = alt.condition(arm, alt.value(1.0), alt.value(FADED))
    # both parts keep one y-axis width so the curves and the at-risk counts share their x positions
    y = alt.Y("SURV:Q", title=None, scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(format="%", minExtent=AXIS_EXTENT, maxExtent=AXIS_EXTENT))
    tooltip = [alt.Tooltip("ARM:N", title="Arm"), alt.Tooltip("MONTHS:Q", title="Months", format=".1f"),
               alt.Tooltip("SURV_TEXT:N", title="Progression-free"), alt.Tooltip("AT_RISK:Q", title="At risk")]
    lines = alt.Chart(curve_data).mark_line(interpolate="step-after", strokeWidth=2).encode(
        x=x, y=y, color=color, opacity=opacity, detail="ARMCD:N").add_params(arm)
    points = alt.Chart(curve_data).mark_point(size=30, opacity=0).encode(x=x, y=y, tooltip=tooltip)
    ticks = alt.Chart(cens_data).mark_tick(size=9, thickness=1.5).encode(
        x=x, y=y, color=color, opacity=opacity,
        tooltip=[alt.Tooltip("ARM:N", title="Arm"), alt.Tooltip("MONTHS:Q", title="Censored at month", format=".1f")])
    km = alt.layer(lines, ticks, points).properties(width=560, height=300)
    risk = alt.Chart(risk_data).mark_text(fontSize=11).encode(
        x=alt.X("MONTHS:Q", scale=alt.Scale(domain=[0, horizon], nice=False), title="Number at risk",
                axis=alt.Axis(labels=False, ticks=False, domain=False, grid=False, orient="top")),
        y=alt.Y("ARMCD:N", sort=list(arms), title=None,
                axis=alt.Axis(labelExpr=f"{json.dumps(dict(arms))}[datum.value] || datum.value",
                              labelLimit=AXIS_EXTENT - 20, labelPadding=16, domain=False, ticks=False,
                              minExtent=AXIS_EXTENT, maxExtent=AXIS_EXTENT)),
        text="N_AT_RISK:Q", color=alt.Color("ARMCD:N", scale=color.to_dict()["scale"], legend=None),
    ).properties(width=560, height=22 * max(len(arms), 1))
    subtitle_lines = [subtitle] if isinstance(subtitle, str) else list(subtitle)
    return (alt.vconcat(km, risk, spacing=6).resolve_scale(color="shared")
            .properties(title=alt.Title(title, subtitle=[s for s in subtitle_lines if s]
                                        + [f"{y_title} (y axis) by months since randomization; ticks mark censored "
                                           f"subjects; click the legend to highlight an arm."])))


def plot_concordance(concordance: pl.DataFrame, *, arm: str = "ALL", title: str = "Agreement of best overall responses",
                     subtitle: str = "") -> alt.HConcatChart:
    """One heatmap per comparison: subjects by the first (rows) and the second (columns) best overall response.

    Args:
        concordance: :func:`trialkit.derive.efficacy.summarize_concordance` rows (``COMPARISON``
            "BICR vs INVESTIGATOR", ``ARMCD, BOR_1, BOR_2, N``).
        arm: the ``ARMCD`` group shown ("ALL": every randomized subject).

    Example:
        >>> c = pl.DataFrame({"COMPARISON": ["BICR vs INVESTIGATOR"] * 2, "ARMCD": ["ALL"] * 2, "BOR_1": ["PR", "PR"],
        ...                   "BOR_2": ["PR", "SD"], "N": [3, 1]})
        >>> spec = plot_concordance(c).to_dict()
        >>> spec["hconcat"][0]["layer"][0]["encoding"]["y"]["title"]
        'BICR'
    """
    use_theme()
    data = chart_data(concordance.filter(pl.col("ARMCD") == arm), ["COMPARISON", "BOR_1", "BOR_2", "N"])
    if data.is_empty():
        return _nothing_to_plot(title, "No comparison is available in these data (one assessor and one criteria "
                                       "only); the table below says why.")
    order = list(RESPONSE_COLORS)
    panels = []
    for comparison in data["COMPARISON"].unique(maintain_order=True).to_list():  # one panel per comparison (two)
        first, _, second = comparison.partition(" vs ")
        part = data.filter(pl.col("COMPARISON") == comparison).with_columns(
            (pl.col("BOR_1") == pl.col("BOR_2")).alias("AGREE"))
        base = alt.Chart(part, title=alt.Title(comparison, fontSize=FONT_SIZE + 1))
        x = alt.X("BOR_2:N", sort=order, title=second or "Second", axis=alt.Axis(labelAngle=-35, labelLimit=120))
        y = alt.Y("BOR_1:N", sort=order, title=first or "First")
        tooltip = [alt.Tooltip("BOR_1:N", title=first), alt.Tooltip("BOR_2:N", title=second),
                   alt.Tooltip("N:Q", title="Subjects")]
        cells = base.mark_rect(stroke="#ffffff").encode(
            x=x, y=y, tooltip=tooltip,
            color=alt.Color("N:Q", title="Subjects", scale=alt.Scale(scheme="blues", domainMin=0), legend=None),
            strokeWidth=alt.condition(alt.datum.AGREE, alt.value(2), alt.value(0.5)))
        text = base.mark_text(fontSize=FONT_SIZE).encode(
            x=x, y=y, text=alt.Text("N:Q", format=","),
            color=alt.condition(alt.datum.N > part["N"].max() * 0.55 if part.height else alt.datum.N > 0,
                                alt.value("white"), alt.value("#1f2933")),
            opacity=alt.condition(alt.datum.N > 0, alt.value(1.0), alt.value(0.35)))
        panels.append(alt.layer(cells, text).properties(width=270, height=230))
    return (alt.hconcat(*panels, spacing=40).resolve_scale(color="independent")
            .properties(title=alt.Title(title, subtitle=[subtitle] if subtitle else [])))


def notes_html(lines: Iterable[str], *, title: str = "") -> str:
    """Sentences as an escaped HTML note block (for ``show_html``).

    Example:
        >>> notes_html(["a < b"], title="Method")
        '<div class="trialkit-notes"><p><strong>Method</strong></p><ul><li>a &lt; b</li></ul></div>'
    """
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines if line)
    head = f"<p><strong>{html.escape(title)}</strong></p>" if title else ""
    return f'<div class="trialkit-notes">{head}<ul>{items}</ul></div>'


__all__ = ["END_SHAPES", "notes_html", "plot_concordance", "plot_km", "plot_orr", "plot_waterfall_spider"]
