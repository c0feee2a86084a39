"""Charts of the screening report, and its CONSORT flow diagram as HTML (not a chart: a page element).

Each ``plot_*`` takes a frame of :mod:`trialkit.derive.screening` and a subject selection
(``selected=``: USUBJIDs to highlight, for the exploration app to link views): charts of
subjects fade the others (:func:`trialkit.charts.theme.selection_opacity`); charts of
counts overlay, in black, how many of each bar are selected (from the frame's ``USUBJIDS``).

:func:`consort_html` draws the CONSORT 2025 flow in HTML and CSS: no JavaScript, it prints,
it keeps four arms side by side at page width (two by two on a narrow screen), and every
box opens (``<details>``) on the subjects behind its number.

Example:
    >>> import datetime as dt
    >>> scr = pl.DataFrame({"USUBJID": ["1", "2"], "SITE": ["01", "01"], "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE"],
    ...                     "SCREENING_DAYS": [12, 30]})
    >>> plot_screening_duration(scr, window_days=28).to_dict()["layer"][0]["mark"]["type"]
    'point'
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence

import altair as alt
import polars as pl

from trialkit.charts.theme import (
    HINT,
    OUTCOME_COLORS,
    WIDTH,
    arm_colors,
    chart_data,
    derive_selected,
    scale,
    selection_opacity,
    site_color,
    use_theme,
)
from trialkit.format import compute_n_pct_text, format_count

SELECTED_COLOR = "#1f2933"
OUTCOME_LABELS = {"RANDOMIZED": "Randomized", "SCREEN FAILURE": "Screen failure", "NOT ASSIGNED": "Not assigned"}
STAGE_LABELS = {"SCREENED": "Screening started", "RANDOMIZED": "Randomized"}


def _with_selected(frame: pl.DataFrame, selected: Collection[str] | None) -> pl.DataFrame:
    """Add ``N_SELECTED``: how many of a row's ``USUBJIDS`` are selected (0 without a selection)."""
    if selected is None or "USUBJIDS" not in frame.columns:
        return frame.with_columns(pl.lit(0, pl.Int64).alias("N_SELECTED"))
    wanted = [str(s) for s in selected]
    return frame.with_columns(
        pl.col("USUBJIDS").list.eval(pl.element().is_in(wanted)).list.sum().cast(pl.Int64).alias("N_SELECTED"))


def _count_axis(max_n: int | None) -> alt.Axis:
    """An axis of whole counts: one tick per count when there are few (never 0, 0.5, 1 shown as 0, 1, 1)."""
    if max_n is not None and max_n <= 8:
        return alt.Axis(format="d", values=list(range(0, int(max_n) + 1)))
    return alt.Axis(format="d", tickMinStep=1)


def _sites(frame: pl.DataFrame) -> list[str]:
    return frame.select(pl.col("SITE").cast(pl.String)).unique().sort("SITE")["SITE"].to_list()


# --------------------------------------------------------------------------------------------
# over time
# --------------------------------------------------------------------------------------------
def plot_screening_over_time(by_month: pl.DataFrame, *, selected: Collection[str] | None = None,
                             title: str = "Screening and randomization per month") -> alt.FacetChart:
    """Stacked bars per calendar month and site: screenings started (top) and randomizations (bottom).

    Args:
        by_month: :func:`trialkit.derive.screening.summarize_screening_by_month` (``MONTH,
            SITE, STAGE, N``, and ``USUBJIDS`` for a selection).
        selected: USUBJIDs to highlight (black bars: how many of each month are selected).
        title: chart title.

    Example:
        >>> import datetime as dt
        >>> m = pl.DataFrame({"MONTH": [dt.date(2025, 9, 1)] * 2, "SITE": ["01", "01"],
        ...                   "STAGE": ["SCREENED", "RANDOMIZED"], "N": [3, 1]})
        >>> plot_screening_over_time(m).to_dict()["facet"]["row"]["field"]
        'STAGE_LABEL'
    """
    use_theme()
    frame = _with_selected(by_month, selected).with_columns(
        pl.col("MONTH").dt.strftime("%Y-%m").alias("MONTH_LABEL"),
        pl.col("STAGE").replace_strict(STAGE_LABELS, default=pl.col("STAGE")).alias("STAGE_LABEL"))
    data = chart_data(frame, ["MONTH_LABEL", "SITE", "STAGE_LABEL", "N", "N_SELECTED"])
    sites = _sites(data)
    months = sorted(data["MONTH_LABEL"].unique().to_list())
    site = alt.selection_point(fields=["SITE"], bind="legend", name="site")
    x = alt.X("MONTH_LABEL:O", title="Month", sort=months, axis=alt.Axis(labelAngle=-45 if len(months) > 8 else 0))
    bars = alt.Chart().mark_bar().encode(
        x=x, y=alt.Y("sum(N):Q", title="Subjects", axis=alt.Axis(format="d", tickMinStep=1)),
        color=site_color(sites=sites), opacity=alt.condition(site, alt.value(1.0), alt.value(0.25)),
        order=alt.Order("SITE:N", sort="ascending"),
        tooltip=[alt.Tooltip("MONTH_LABEL:N", title="Month"), alt.Tooltip("SITE:N", title="Site"),
                 alt.Tooltip("STAGE_LABEL:N", title="What"), alt.Tooltip("N:Q", title="Subjects")],
    ).add_params(site)
    layers = [bars]
    if selected is not None:
        layers.append(alt.Chart().mark_bar(color=SELECTED_COLOR, size=6).encode(
            x=x, y=alt.Y("sum(N_SELECTED):Q"), tooltip=[alt.Tooltip("sum(N_SELECTED):Q", title="Selected")]))
    step = max(10, min(36, int(WIDTH / max(len(months), 1))))
    return (alt.layer(*layers, data=data).properties(width=alt.Step(step), height=130)
            .facet(row=alt.Row("STAGE_LABEL:N", title=None, sort=list(STAGE_LABELS.values()),
                               header=alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start",
                                                 labelFontWeight=600, labelOrient="top")))
            .properties(title=alt.Title(title, subtitle=f"{HINT} a site")))


# --------------------------------------------------------------------------------------------
# screening duration
# --------------------------------------------------------------------------------------------
def plot_screening_duration(screening: pl.DataFrame, *, window_days: int | None = None,
                            selected: Collection[str] | None = None,
                            title: str = "Days from consent to randomization or screen failure") -> alt.LayerChart:
    """One point per subject: days of screening by outcome, against the protocol's screening window.

    Args:
        screening: :func:`trialkit.derive.screening.derive_screening_subjects` (``USUBJID,
            SITE, OUTCOME, SCREENING_DAYS``); subjects without both dates are not drawn.
        window_days: the protocol's screening window (a dashed rule), or None.
        selected: USUBJIDs to highlight (the others fade).
        title: chart title.
    """
    use_theme()
    frame = (screening.filter(pl.col("SCREENING_DAYS").is_not_null() & pl.col("OUTCOME").is_in(list(OUTCOME_LABELS)))
             .pipe(derive_selected, selected)
             .with_columns(pl.col("OUTCOME").replace_strict(OUTCOME_LABELS).alias("OUTCOME_LABEL"),
                           # deterministic jitter (the same subject sits at the same height in every run)
                           ((pl.col("USUBJID").hash(seed=7) % 1000).cast(pl.Float64) / 1000).alias("JITTER")))
    data = chart_data(frame, ["USUBJID", "SITE", "OUTCOME", "OUTCOME_LABEL", "SCREENING_DAYS", "JITTER", "SELECTED"])
    labels = [OUTCOME_LABELS[k] for k in OUTCOME_LABELS if k in set(data["OUTCOME"].to_list())] or \
        list(OUTCOME_LABELS.values())
    colors = {OUTCOME_LABELS[k]: v for k, v in OUTCOME_COLORS.items()}
    points = alt.Chart(data).mark_point(filled=True, size=36).encode(
        x=alt.X("SCREENING_DAYS:Q", title="Days from the start of screening (consent = day 0)",
                scale=alt.Scale(zero=True, nice=True)),
        y=alt.Y("OUTCOME_LABEL:N", title=None, sort=labels, axis=alt.Axis(labelLimit=200)),
        yOffset=alt.YOffset("JITTER:Q", scale=alt.Scale(domain=[-0.25, 1.25])),
        color=alt.Color("OUTCOME_LABEL:N", title="Outcome", scale=scale(colors, labels), legend=None),
        opacity=selection_opacity(selected=selected) if selected is not None else alt.value(0.75),
        tooltip=[alt.Tooltip("USUBJID:N", title="Subject"), alt.Tooltip("SITE:N", title="Site"),
                 alt.Tooltip("OUTCOME_LABEL:N", title="Outcome"), alt.Tooltip("SCREENING_DAYS:Q", title="Days")],
    )
    layers = [points]
    subtitle = "One point per subject; hover a point for the subject"
    if window_days is not None:
        rule = pl.DataFrame({"WINDOW": [window_days], "TEXT": [f"screening window: {window_days} days"]})
        base = alt.Chart(rule)
        layers += [base.mark_rule(strokeDash=[5, 4], color="#52606d").encode(x="WINDOW:Q"),
                   base.mark_text(align="right", dx=-4, dy=-4, color="#52606d", baseline="bottom").encode(
                       x="WINDOW:Q", y=alt.value(0), text="TEXT:N")]
        subtitle += f"; the dashed line is the protocol's window of {window_days} days"
    return alt.layer(*layers).properties(width=WIDTH, height=60 * max(len(labels), 1),
                                         title=alt.Title(title, subtitle=subtitle))


# --------------------------------------------------------------------------------------------
# failures by criterion
# --------------------------------------------------------------------------------------------
def _short(text: pl.Expr, limit: int = 46) -> pl.Expr:
    return pl.when(text.str.len_chars() > limit).then(text.str.slice(0, limit - 1) + "…").otherwise(text)


def plot_failures_by_criterion(by_site: pl.DataFrame, *, groups: Sequence[str] | None = None,
                               selected: Collection[str] | None = None,
                               title: str = "Screen failures by criterion and site") -> alt.FacetChart:
    """Horizontal bars per criterion, stacked by site, one panel per group of criteria, most failed first.

    Each bar is labelled with the screen failures who failed it and their share of all
    screen failures ("n (%)"); a subject may fail several criteria. Criteria nobody failed
    are not drawn (the table of criteria lists them).

    Args:
        by_site: :func:`trialkit.derive.screening.summarize_by_criterion` with ``by="SITEID"``
            and a ``SITE`` column (rows of subjects not assigned are left out: they are no
            screen failures).
        groups: the order of the panels (the protocol's ``eligibility_group_order``).
        selected: USUBJIDs to highlight (black bars: how many selected failed the criterion).
        title: chart title.
    """
    use_theme()
    rows = by_site.filter(pl.col("PCT_OF_SCREEN_FAILURES").is_not_null() | (pl.col("SOURCE") == "IE"))
    # criteria nobody failed are in the table, not drawn
    rows = _with_selected(rows.filter(pl.col("N_SUBJECTS").sum().over("IETESTCD") > 0), selected)
    denominator = int(rows.group_by("SITEID").agg(pl.col("DENOMINATOR").max())["DENOMINATOR"].fill_null(0).sum())
    label = (pl.when(pl.col("SOURCE") == "IE").then(pl.format("{} {}", pl.col("IETESTCD"), _short(pl.col("IETEST"))))
             .otherwise(pl.format("No IE record: {}", pl.col("IETESTCD").str.to_lowercase())))
    frame = rows.with_columns(label.alias("LABEL"),
                              pl.col("N_SUBJECTS").sum().over("IETESTCD").alias("TOTAL"))
    frame = frame.with_columns(compute_n_pct_text(pl.col("TOTAL"), pl.lit(denominator)).alias("TOTAL_TEXT"),
                               pl.col("N_SELECTED").sum().over("IETESTCD").alias("TOTAL_SELECTED"))
    data = chart_data(frame, ["GROUP", "IETESTCD", "LABEL", "IETEST", "SITE", "N_SUBJECTS", "TOTAL", "TOTAL_TEXT",
                              "TOTAL_SELECTED"])
    sites = _sites(data)
    order = [g for g in (groups or []) if g in set(data["GROUP"].to_list())]
    order += [g for g in data["GROUP"].unique(maintain_order=True).to_list() if g not in order]
    site = alt.selection_point(fields=["SITE"], bind="legend", name="site")
    y = alt.Y("LABEL:N", title=None, sort=alt.EncodingSortField("TOTAL", op="max", order="descending"),
              axis=alt.Axis(labelLimit=330))
    bars = alt.Chart().mark_bar().encode(
        y=y, x=alt.X("N_SUBJECTS:Q", title="Screen failures who failed the criterion", stack="zero",
                     axis=alt.Axis(format="d", tickMinStep=1)),
        color=site_color(sites=sites), order=alt.Order("SITE:N", sort="ascending"),
        opacity=alt.condition(site, alt.value(1.0), alt.value(0.25)),
        tooltip=[alt.Tooltip("IETESTCD:N", title="Criterion"), alt.Tooltip("IETEST:N", title="Text"),
                 alt.Tooltip("SITE:N", title="Site"), alt.Tooltip("N_SUBJECTS:Q", title="Screen failures at the site"),
                 alt.Tooltip("TOTAL_TEXT:N", title="All sites, n (% of screen failures)")],
    ).add_params(site)
    text = alt.Chart().mark_text(align="left", dx=4, color="#333333").encode(
        y=y, x=alt.X("max(TOTAL):Q"), text=alt.Text("max(TOTAL_TEXT):N"))
    layers = [bars, text]
    if selected is not None:
        layers.append(alt.Chart().mark_bar(color=SELECTED_COLOR, size=5).encode(y=y, x="max(TOTAL_SELECTED):Q"))
    return (alt.layer(*layers, data=data).properties(width=WIDTH - 200, height=alt.Step(17))
            .facet(row=alt.Row("GROUP:N", title=None, sort=order,
                               header=alt.Header(labelAngle=0, labelAlign="left", labelAnchor="start",
                                                 labelFontWeight=600, labelOrient="top")))
            .resolve_scale(y="independent")
            .properties(title=alt.Title(title, subtitle=f"% of the {format_count(denominator)} screen failures; "
                                                        f"{HINT} a site")))


# --------------------------------------------------------------------------------------------
# co-failures
# --------------------------------------------------------------------------------------------
def plot_co_failures(co_failures: pl.DataFrame, *, catalog: pl.DataFrame | None = None,
                     selected: Collection[str] | None = None,
                     title: str = "Which criteria fail together") -> alt.VConcatChart:
    """UpSet-style: bars of screen failures per set of criteria failed together, over a dot matrix.

    Args:
        co_failures: :func:`trialkit.derive.screening.summarize_co_failures` (``SET_ID,
            CRITERIA, LABEL, SIZE, N, USUBJIDS, OTHER_SETS, OTHER_SUBJECTS, SINGLE_SUBJECTS``).
        catalog: :func:`trialkit.derive.screening.summarize_catalog` (``IETESTCD, IETEST``):
            the matrix rows in catalog order, with their text (shortened on the axis, whole
            in the tooltip); default: the codes alone, most failed first.
        selected: USUBJIDs to highlight (black bars: how many of each set are selected).
        title: chart title.

    Example:
        >>> sets = pl.DataFrame({"SET_ID": [1], "CRITERIA": [["A", "B"]], "LABEL": ["A + B"],
        ...                      "SIZE": [2], "N": [3], "USUBJIDS": [["1", "2", "3"]],
        ...                      "OTHER_SETS": [0], "OTHER_SUBJECTS": [0], "SINGLE_SUBJECTS": [5]})
        >>> len(plot_co_failures(sets).to_dict()["vconcat"])
        2
    """
    use_theme()
    if co_failures.is_empty():  # nothing to draw: say why, in the chart's place
        message = alt.Chart(pl.DataFrame({"TEXT": ["No screen failure failed two or more criteria recorded in IE."]}))
        return alt.vconcat(message.mark_text(align="left", color="#52606d", fontSize=13).encode(
            x=alt.value(0), y=alt.value(10), text="TEXT:N").properties(width=WIDTH, height=24),
            title=alt.Title(title))
    sets = _with_selected(co_failures, selected)
    labels = dict(zip(catalog["IETESTCD"].to_list(), catalog["IETEST"].to_list(), strict=True)) \
        if catalog is not None else {}
    criteria_order = catalog["IETESTCD"].to_list() if catalog is not None else None
    members = sets.select("SET_ID", "N", pl.col("CRITERIA").alias("IETESTCD")).explode("IETESTCD")
    weight = members.group_by("IETESTCD").agg(pl.col("N").sum().alias("W"))
    if criteria_order:
        rank = {c: i for i, c in enumerate(criteria_order)}
        codes = sorted(weight["IETESTCD"].to_list(), key=lambda c: (rank.get(c, len(rank)), c))
    else:
        codes = weight.sort(["W", "IETESTCD"], descending=[True, False])["IETESTCD"].to_list()
    names = {c: (f"{c} {labels[c][:34]}…" if len(labels.get(c, "")) > 35 else f"{c} {labels.get(c, '')}".strip())
             for c in codes}
    order = [names[c] for c in codes]
    position = {c: i for i, c in enumerate(codes)}
    grid = (sets.select("SET_ID").join(pl.DataFrame({"IETESTCD": codes}, schema={"IETESTCD": pl.String}), how="cross")
            .join(members.select("SET_ID", "IETESTCD", pl.lit(True).alias("MEMBER")), on=["SET_ID", "IETESTCD"],
                  how="left")
            .with_columns(pl.col("MEMBER").fill_null(False),
                          pl.col("IETESTCD").replace_strict(names, default=None).alias("NAME"),
                          pl.col("IETESTCD").replace_strict(labels, default=None).alias("TEXT")))
    spans = (members.with_columns(pl.col("IETESTCD").replace_strict(position, return_dtype=pl.Int64).alias("_P"))
             .group_by("SET_ID").agg(pl.col("IETESTCD").sort_by("_P").first().alias("FIRST"),
                                     pl.col("IETESTCD").sort_by("_P").last().alias("LAST"))
             .with_columns(pl.col("FIRST").replace_strict(names), pl.col("LAST").replace_strict(names)))
    bars_data = chart_data(sets, ["SET_ID", "LABEL", "N", "SIZE", "N_SELECTED"])
    x = alt.X("SET_ID:O", title=None, axis=None, sort="ascending")
    top = alt.Chart(bars_data).mark_bar(color="#52606d").encode(
        x=x, y=alt.Y("N:Q", title="Screen failures", axis=_count_axis(sets["N"].max() if sets.height else 0)),
        tooltip=[alt.Tooltip("LABEL:N", title="Criteria failed together"), alt.Tooltip("N:Q", title="Screen failures")])
    counts = alt.Chart(bars_data).mark_text(dy=-6, color="#333333").encode(x=x, y="N:Q", text="N:Q")
    top_layers = [top, counts]
    if selected is not None:
        top_layers.append(alt.Chart(bars_data).mark_bar(color=SELECTED_COLOR, size=6).encode(x=x, y="N_SELECTED:Q"))
    y = alt.Y("NAME:N", title=None, sort=order, axis=alt.Axis(labelLimit=260))
    dots = alt.Chart(chart_data(grid, ["SET_ID", "IETESTCD", "NAME", "TEXT", "MEMBER"])).mark_circle(size=90).encode(
        x=alt.X("SET_ID:O", title="Sets of two or more criteria failed together (largest first)", sort="ascending",
                axis=alt.Axis(labelAngle=0)), y=y,
        color=alt.condition(alt.datum.MEMBER, alt.value("#1f2933"), alt.value("#e4e7eb")),
        tooltip=[alt.Tooltip("IETESTCD:N", title="Criterion"), alt.Tooltip("TEXT:N", title="Text")])
    lines = alt.Chart(chart_data(spans, ["SET_ID", "FIRST", "LAST"])).mark_rule(color="#1f2933", strokeWidth=2).encode(
        x=alt.X("SET_ID:O", sort="ascending"), y=alt.Y("FIRST:N", sort=order), y2="LAST:N")
    first = sets.row(0, named=True) if sets.height else {}
    single = int(first.get("SINGLE_SUBJECTS") or 0)
    subtitle = (f"Screen failures who failed two or more criteria; {format_count(single)} failed one criterion only "
                "(see the criteria above)")
    if first.get("OTHER_SETS"):
        subtitle += f"; {first['OTHER_SETS']} smaller set(s) of {first['OTHER_SUBJECTS']} subject(s) not shown"
    width = alt.Step(24)
    return alt.vconcat(
        alt.layer(*top_layers).properties(width=width, height=110),
        alt.layer(lines, dots).properties(width=width, height=alt.Step(18)),
        spacing=4).properties(title=alt.Title(title, subtitle=subtitle))


# --------------------------------------------------------------------------------------------
# recruitment
# --------------------------------------------------------------------------------------------
def plot_recruitment(cumulative: pl.DataFrame, outlook: pl.DataFrame, *, selected: Collection[str] | None = None,
                     title: str = "Randomized subjects against the target") -> alt.LayerChart:
    """Cumulative randomized (one step per subject), the target, and the projected date with its range.

    Args:
        cumulative: :func:`trialkit.derive.screening.summarize_cumulative_randomized`.
        outlook: :func:`trialkit.derive.screening.summarize_recruitment` (one row).
        selected: USUBJIDs to highlight (the others' points fade).
        title: chart title.

    Example:
        >>> import datetime as dt
        >>> cum = pl.DataFrame({"DATE": [dt.date(2026, 1, 5)], "CUMULATIVE": [1], "KIND": ["observed"],
        ...                     "USUBJID": ["1"]})
        >>> out = pl.DataFrame({"TARGET": [4], "REACHED": [False], "TARGET_DATE": [None],
        ...                     "TARGET_DATE_EARLIEST": [None], "TARGET_DATE_LATEST": [None]})
        >>> [layer["mark"]["type"] for layer in plot_recruitment(cum, out).to_dict()["layer"]][:2]
        ['line', 'point']
    """
    use_theme()
    observed = cumulative.filter(pl.col("KIND") == "observed").pipe(derive_selected, selected)
    data = chart_data(observed, ["DATE", "CUMULATIVE", "USUBJID", "SELECTED"])
    x = alt.X("DATE:T", title="Randomization date", axis=alt.Axis(format="%Y-%m", labelAngle=-45, labelOverlap=True))
    y = alt.Y("CUMULATIVE:Q", title="Subjects randomized (cumulative)", axis=alt.Axis(format="d"))
    layers = [alt.Chart(data).mark_line(interpolate="step-after", color="#0072B2").encode(x=x, y=y),
              alt.Chart(data).mark_point(filled=True, size=18, color="#0072B2").encode(
                  x=x, y=y, opacity=selection_opacity(selected=selected) if selected is not None else alt.value(0.8),
                  tooltip=[alt.Tooltip("USUBJID:N", title="Subject"), alt.Tooltip("DATE:T", title="Randomized"),
                           alt.Tooltip("CUMULATIVE:Q", title="Randomized so far")])]
    target = outlook["TARGET"][0] if "TARGET" in outlook.columns else None
    subtitle = "One step per subject randomized"
    reference = outlook["REFERENCE_DATE"][0] if "REFERENCE_DATE" in outlook.columns else None
    if reference is not None:
        ref = pl.DataFrame({"DATE": [reference], "TEXT": [f"data cutoff {reference}"]})
        layers += [alt.Chart(ref).mark_rule(color="#9aa5b1").encode(x="DATE:T"),
                   alt.Chart(ref).mark_text(align="right", dx=-4, dy=-4, baseline="bottom", color="#52606d").encode(
                       x="DATE:T", y=alt.value(260), text="TEXT:N")]
    if target is not None:
        rule = pl.DataFrame({"TARGET": [target], "TEXT": [f"target: {target}"]})
        layers += [alt.Chart(rule).mark_rule(color="#D55E00", strokeDash=[6, 3]).encode(y="TARGET:Q"),
                   alt.Chart(rule).mark_text(align="left", dx=4, dy=-6, color="#D55E00").encode(
                       y="TARGET:Q", x=alt.value(0), text="TEXT:N")]
        projected = cumulative.filter(pl.col("KIND") != "observed")
        if projected.height:
            proj = chart_data(projected, ["DATE", "CUMULATIVE", "KIND"])
            layers.append(alt.Chart(proj).mark_line(strokeDash=[4, 4]).encode(
                x="DATE:T", y="CUMULATIVE:Q", detail="KIND:N",
                color=alt.Color("KIND:N", title="At the current pace",
                                scale=alt.Scale(domain=["projected", "earliest", "latest"],
                                                range=["#52606d", "#9aa5b1", "#9aa5b1"]),
                                legend=alt.Legend(orient="bottom", direction="horizontal")),
                tooltip=[alt.Tooltip("KIND:N", title="Date"), alt.Tooltip("DATE:T", title="Target reached")]))
            subtitle += "; dashed: the date the target is reached at the current pace, with its range"
        elif bool(outlook["REACHED"][0]) and outlook["TARGET_DATE"][0] is not None:
            reached = pl.DataFrame({"DATE": [outlook["TARGET_DATE"][0]], "CUMULATIVE": [target],
                                    "TEXT": [f"target reached {outlook['TARGET_DATE'][0]}"]})
            layers.append(alt.Chart(reached).mark_text(align="right", dx=-6, dy=-8, color="#D55E00").encode(
                x="DATE:T", y="CUMULATIVE:Q", text="TEXT:N"))
    return alt.layer(*layers).properties(width=WIDTH, height=260, title=alt.Title(title, subtitle=subtitle))


# --------------------------------------------------------------------------------------------
# the CONSORT flow diagram
# --------------------------------------------------------------------------------------------
CONSORT_CSS = """
.tk-consort{font-family:inherit;color:#1f2933;max-width:1000px;margin:8px 0 18px;font-size:13px;line-height:1.35}
.tk-consort *{box-sizing:border-box}
.tk-consort-title{font-size:16px;font-weight:600;margin:0 0 2px}
.tk-consort-sub{font-size:12px;color:#52606d;margin:0 0 10px}
.tk-stage{margin:0 0 4px;break-inside:avoid;page-break-inside:avoid}
.tk-stage-name{background:#dbeafe;color:#0b3d5c;font-weight:700;font-size:12px;letter-spacing:.04em;
  text-transform:uppercase;padding:3px 8px;border-radius:3px;margin:8px 0 6px}
.tk-enrol{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px 16px;align-items:start}
.tk-side .tk-box + .tk-box{margin-top:6px}
.tk-side .tk-sub{margin:6px 0 0 14px;border-left:2px solid #9aa5b1;padding-left:8px}
.tk-arms{display:grid;gap:8px}
.tk-arm .tk-box + .tk-box{margin-top:6px}
.tk-box{border:1.5px solid #52606d;border-radius:4px;padding:5px 8px 6px;background:#fff;min-width:0;overflow-wrap:anywhere}
.tk-box-arm{border-top:4px solid var(--tk-arm,#52606d)}
.tk-box-label{font-weight:600}
.tk-box-n{font-size:15px;font-weight:700}
.tk-box ul{margin:3px 0 0;padding:0 0 0 2px;list-style:none}
.tk-box li{margin:1px 0}
.tk-box-note,.tk-check{font-size:11.5px;color:#52606d;margin:4px 0 0}
.tk-check-bad{color:#9b1c1c;font-weight:600}
.tk-arrow{height:14px;position:relative;margin:1px auto 6px;width:2px;background:#52606d}
.tk-arrow:after{content:"";position:absolute;bottom:-5px;left:-4px;border:5px solid transparent;border-top-color:#52606d;border-bottom:0}
.tk-consort summary{cursor:pointer}
.tk-consort summary::marker{color:#0072B2}
.tk-ids{margin:3px 0 4px;font-family:"DejaVu Sans Mono","Liberation Mono",Menlo,monospace;font-size:11px;
  max-height:160px;overflow:auto;color:#333;background:#f5f7fa;padding:3px 5px;border-radius:3px}
@media (max-width:640px){.tk-arms{grid-template-columns:repeat(2,minmax(0,1fr)) !important}
  .tk-enrol{grid-template-columns:minmax(0,1fr)}}
@media print{.tk-consort{font-size:10px;max-width:none}.tk-box-n{font-size:12px}.tk-box{padding:3px 5px}
  .tk-box-note,.tk-check{font-size:9.5px}
  .tk-arms{grid-template-columns:repeat(var(--tk-n),minmax(0,1fr)) !important}
  .tk-consort summary::marker{content:""}.tk-consort-sub{display:none}}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _count(box: str, line: str, ids: Sequence[str], n: int) -> str:
    """``line`` (trusted HTML) that opens on the subjects behind it; a plain line when nobody is."""
    if not n:
        return f'<div class="tk-line">{line}</div>'
    shown = ", ".join(html.escape(str(i)) for i in ids)
    more = f" … and {format_count(n - len(ids))} more (see the run's tables/)" if n > len(ids) else ""
    return (f'<details class="tk-line"><summary>{line}</summary>'
            f'<p class="tk-ids" id="tk-consort-ids-{_slug(box)}">{shown}{more}</p></details>')


def _box_html(row: dict, children: list[dict], checks: Mapping[str, list[dict]], *, arm_color: str | None = None
              ) -> str:
    label = html.escape(str(row["LABEL"]))
    parts = [f'<div class="tk-box{" tk-box-arm" if arm_color else ""}" id="tk-consort-{_slug(row["BOX"])}"'
             + (f' style="--tk-arm:{arm_color}"' if arm_color else "") + ">",
             f'<div class="tk-box-label">{label}</div>',
             _count(row["BOX"], f'<span class="tk-box-n">n = {format_count(row["N"])}</span>', row["USUBJIDS"], row["N"])]
    if children:
        parts.append('<ul>' + "".join(
            "<li>" + _count(c["BOX"], f"{html.escape(str(c['LABEL']))}: <strong>{format_count(c['N'])}</strong>",
                            c["USUBJIDS"], c["N"]) + "</li>" for c in children) + "</ul>")
    explained = False
    for check in checks.get(row["BOX"], []):
        if check["DIFFERENCE"]:
            explained = True
            bad = check["RESULT"] == "does not add up"
            more = "more" if check["DIFFERENCE"] > 0 else "fewer"
            parts.append(f'<p class="tk-check{" tk-check-bad" if bad else ""}">'
                         f'These add to {format_count(check["SUM"])}, {format_count(abs(check["DIFFERENCE"]))} {more} '
                         f'than {format_count(check["N"])}: {html.escape(str(check["EXPLANATION"] or ""))}.</p>')
    if row.get("NOTE") and not explained:
        note = str(row["NOTE"])
        parts.append(f'<p class="tk-box-note">{html.escape(note[:1].upper() + note[1:])}.</p>')
    parts.append("</div>")
    return "".join(parts)


def consort_html(consort: pl.DataFrame, checks: pl.DataFrame | None = None, *,
                 arms: Mapping[str, str] | None = None, title: str = "CONSORT 2025 flow diagram") -> str:
    """The CONSORT flow as HTML and CSS: readable without JavaScript, printable, four arms side by side.

    Enrollment on top (assessed, excluded with the reasons beside it, randomized), then one
    column per arm for allocation, follow-up and analysis, each arm's boxes topped by its
    colour (:func:`trialkit.charts.theme.arm_colors`). Every number opens on its subjects
    (``<details>``); a box whose details do not add up to it says by how much and why
    (:func:`trialkit.derive.consort.check_consort`). Every text is escaped.

    Args:
        consort: :func:`trialkit.derive.consort.derive_consort`.
        checks: :func:`trialkit.derive.consort.check_consort` (None: no arithmetic notes).
        arms: the study's arms, code -> label in protocol order (the colour of each).
        title: the diagram's title.

    Example:
        >>> flow = pl.DataFrame({"BOX": ["assessed"], "PARENT": [None], "STAGE": ["ENROLLMENT"], "GROUP": ["ALL"],
        ...                      "LABEL": ["Assessed <for> eligibility"], "N": [2], "KIND": ["box"], "ORDER": [0],
        ...                      "NOTE": [None], "USUBJIDS": [["S1", "S2"]]})
        >>> page = consort_html(flow)
        >>> "Assessed &lt;for&gt; eligibility" in page and "<details" in page and "<script" not in page
        True
    """
    rows = {r["BOX"]: r for r in consort.sort("ORDER").iter_rows(named=True)}
    children: dict[str, list[dict]] = {}
    for r in rows.values():  # reasons, and what a box of received subjects received, are listed in their box
        if r["PARENT"] and (r["KIND"] == "reason" or (r["KIND"] == "detail" and r["PARENT"].startswith("received."))):
            children.setdefault(r["PARENT"], []).append(r)
    by_box: dict[str, list[dict]] = {}
    if checks is not None:
        for c in checks.iter_rows(named=True):
            by_box.setdefault(c["BOX"], []).append(c)

    def box(name: str, color: str | None = None) -> str:
        return _box_html(rows[name], children.get(name, []), by_box, arm_color=color) if name in rows else ""

    arrow = '<div class="tk-arrow" aria-hidden="true"></div>'
    out = [f'<div class="tk-consort" role="figure" aria-label="{html.escape(title, quote=True)}">',
           f"<style>{CONSORT_CSS}</style>",
           f'<p class="tk-consort-title">{html.escape(title)}</p>',
           '<p class="tk-consort-sub">Click a number to list the subjects counted there.</p>']
    if "assessed" in rows:
        side = [box(b) for b in ("excluded",) if b in rows]
        side_children = "".join(box(b) for b in ("criteria", "declined", "other") if b in rows)
        main = [box("assessed"), arrow] + ([box("in_screening"), arrow] if "in_screening" in rows else []) + \
            [box("randomized")]
        out += ['<div class="tk-stage"><div class="tk-stage-name">Enrollment</div><div class="tk-enrol">',
                f'<div class="tk-main">{"".join(main)}</div>',
                f'<div class="tk-side">{"".join(side)}<div class="tk-sub">{side_children}</div></div>',
                "</div></div>"]
    allocated = [r for r in rows.values() if r["BOX"].startswith("allocated.")]
    codes = [r["GROUP"] for r in allocated]
    labels = dict(arms or {})
    colors = arm_colors(list(labels) + [c for c in codes if c not in labels])
    n = max(len(codes), 1)
    for stage, name, prefixes in (("ALLOCATION", "Allocation", ("allocated", "received", "not_received")),
                                  ("FOLLOW-UP", "Follow-up", ("discontinued", "completed", "ongoing", "lost")),
                                  ("ANALYSIS", "Analysis", ("analysed", "excluded_analysis"))):
        if not codes:
            break
        cells = []
        for code in codes:
            boxes = [box(f"{p}.{code}", colors.get(code)) for p in prefixes if f"{p}.{code}" in rows
                     and rows[f"{p}.{code}"]["KIND"] == "box"]
            # a detail of an arm (lost to follow-up, excluded from analysis) as a small box of its own
            boxes += [box(f"{p}.{code}", colors.get(code)) for p in prefixes if f"{p}.{code}" in rows
                      and rows[f"{p}.{code}"]["KIND"] == "detail" and rows[f"{p}.{code}"]["PARENT"] == f"allocated.{code}"]
            cells.append(f'<div class="tk-arm">{"".join(boxes)}</div>')
        out += [f'<div class="tk-stage"><div class="tk-stage-name">{name}</div>',
                f'<div class="tk-arms" style="--tk-n:{n};grid-template-columns:repeat({n},minmax(0,1fr))">',
                "".join(cells), "</div></div>"]
    out.append("</div>")
    return "".join(out)
