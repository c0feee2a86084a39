"""The one look of every chart: fonts, sizes, colours of the arms and of responses (STYLE section 5).

- :data:`FONT`, sizes and titles: the ``"trialkit"`` altair theme, registered and enabled
  on import, so any chart built in a report shares it;
- :data:`ARM_PALETTE` (Okabe-Ito, colour-blind safe), given to a study's arms in the order
  of its protocol file (:func:`arm_colors`); :data:`RESPONSE_COLORS` (CR, PR, SD,
  NON-CR/NON-PD, PD, NE, MISSING) and :data:`STATUS_COLORS` (screening status). Every
  ``plot_*`` function uses these through :func:`arm_color` / :func:`response_color`, with
  an explicit scale domain so a colour never depends on which categories are present;
- the subject selection every chart takes (:func:`derive_selected`, :func:`selection_opacity`):
  ``selected=`` a collection of USUBJIDs highlights those subjects (the others fade), so
  the exploration app can link every view by one selection;
- :func:`chart_data`: only the columns a chart draws, in JSON-safe types, and the row limit.

Interactivity uses Vega-Lite params (legend-bound selections, tooltips): it works in an
offline HTML file, unlike ipywidgets, whose kernel callbacks cannot run in an e-mailed report.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence

import altair as alt
import polars as pl

THEME_NAME = "trialkit"
# System fonts only: a report opened offline must not fetch a web font.
FONT = "Helvetica Neue, Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif"
FONT_SIZE = 12
TITLE_SIZE = 15
WIDTH = 560
MAX_ROWS = 5000

#: Colours of the arms, given in the order of the protocol file's arms: Okabe-Ito blue,
#: orange, bluish green, reddish purple, vermillion, sky blue, yellow (colour-blind safe,
#: readable on white, distinct in greyscale print), then Tableau's for larger studies.
ARM_PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
                                "#F0E442", "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F")

#: Overall responses in CDISC terms: blues for response, grey for stable, red for
#: progression (a ColorBrewer RdBu-based scale, colour-blind safe), muted for the rest.
RESPONSE_COLORS: dict[str, str] = {
    "CR": "#2166AC",
    "PR": "#67A9CF",
    "SD": "#BABABA",
    "NON-CR/NON-PD": "#8C96C6",
    "PD": "#B2182B",
    "NE": "#E6AB02",
    "MISSING": "#4D4D4D",
}

#: Screening status (subjects screened, randomized, screen failures).
STATUS_COLORS: dict[str, str] = {
    "SCREENED": "#56B4E9",
    "RANDOMIZED": "#0072B2",
    "SCREEN FAILURE": "#D55E00",
}

#: How a subject's screening ended (``trialkit.derive.screening`` OUTCOME): the status
#: colours, grey for a subject neither randomized nor a screen failure.
OUTCOME_COLORS: dict[str, str] = {
    "RANDOMIZED": STATUS_COLORS["RANDOMIZED"],
    "SCREEN FAILURE": STATUS_COLORS["SCREEN FAILURE"],
    "NOT ASSIGNED": "#8C8C8C",
}

#: Colours of the sites (never an arm's): ColorBrewer Set2 then Dark2, muted, readable in print.
SITE_PALETTE: tuple[str, ...] = ("#66C2A5", "#FC8D62", "#8DA0CB", "#E78AC3", "#A6D854", "#FFD92F", "#E5C494",
                                 "#B3B3B3", "#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02",
                                 "#A6761D", "#666666")


@alt.theme.register(THEME_NAME, enable=True)
def trialkit_theme() -> alt.theme.ThemeConfig:
    """The trialkit Vega-Lite config: fonts, sizes, titles and axes of every chart.

    Example:
        >>> import altair as alt
        >>> alt.theme.active
        'trialkit'
    """
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"continuousWidth": WIDTH, "continuousHeight": 320, "stroke": None},
            "padding": {"left": 8, "right": 8, "top": 8, "bottom": 8},
            "title": {"fontSize": TITLE_SIZE, "fontWeight": 600, "anchor": "start",
                      "color": "#1f2933", "subtitleFontSize": FONT_SIZE,
                      "subtitleColor": "#52606d", "offset": 10},
            "axis": {"labelFontSize": FONT_SIZE, "titleFontSize": FONT_SIZE,
                     "titleFontWeight": 600, "labelColor": "#333333", "titleColor": "#1f2933",
                     "gridColor": "#e4e7eb", "domainColor": "#9aa5b1", "tickColor": "#9aa5b1",
                     "labelLimit": 260},
            "legend": {"labelFontSize": FONT_SIZE, "titleFontSize": FONT_SIZE,
                       "titleFontWeight": 600, "labelLimit": 320, "symbolType": "square",
                       "orient": "bottom", "direction": "vertical", "columns": 2},
            "header": {"labelFontSize": FONT_SIZE, "titleFontSize": FONT_SIZE},
            "bar": {"cornerRadiusEnd": 2},
            "text": {"fontSize": FONT_SIZE},
        }
    }


# A y-axis title set above the labels, not rotated beside them: long site names would collide.
TOP_LEFT_TITLE = alt.Axis(titleAngle=0, titleAnchor="end", titleAlign="right", titleBaseline="bottom",
                           titleX=-6, titleY=-6, labelLimit=280)  # room for "01 Beijing Tsinghua ..."
HINT = "With JavaScript: hover a bar for details, click the legend to highlight"


def use_theme() -> None:
    # Another notebook cell may have switched themes; every plot_* re-enables ours.
    if alt.theme.active != THEME_NAME:
        alt.theme.enable(THEME_NAME)


def scale(colors: Mapping[str, str], domain: Sequence[str] | None = None) -> alt.Scale:
    keys = list(domain) if domain is not None else list(colors)
    return alt.Scale(domain=keys, range=[colors[k] for k in keys])


def arm_colors(arms: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """Arm code -> colour, in the protocol's arm order (``Protocol.arm_labels``).

    Every chart of a study gives an arm the same colour, whichever arms a chart shows.

    Example:
        >>> arm_colors(["A", "B"])
        {'A': '#0072B2', 'B': '#E69F00'}
    """
    codes = list(arms)
    return {code: ARM_PALETTE[i % len(ARM_PALETTE)] for i, code in enumerate(codes)}


def arm_color(field: str = "ARMCD", *, arms: Mapping[str, str] | Sequence[str],
              title: str = "Arm") -> alt.Color:
    """The colour encoding of the arms: the study's arms in protocol order, a fixed domain.

    Args:
        field: the column holding the arm code.
        arms: the study's arms, code -> legend label (``Protocol.arm_labels``), or codes.
        title: legend title.

    Example:
        >>> arm_color(arms={"A": "A: SIRT", "B": "B: cTACE"}).to_dict()["scale"]["domain"]
        ['A', 'B']
    """
    legend = alt.Legend(title=title)
    if isinstance(arms, Mapping) and any(str(k) != str(v) for k, v in arms.items()):
        # A JS object literal from JSON: labels are data, so they are quoted, never code.
        legend = alt.Legend(title=title, labelExpr=f"{json.dumps(dict(arms))}[datum.value] || datum.value")
    return alt.Color(f"{field}:N", scale=scale(arm_colors(arms)), legend=legend)


def site_color(field: str = "SITE", *, sites: Sequence[str], title: str = "Site") -> alt.Color:
    """The colour encoding of sites: :data:`SITE_PALETTE` over the given sites, in their order.

    Example:
        >>> site_color(sites=["01 Beijing", "02 Nanjing"]).to_dict()["scale"]["range"]
        ['#66C2A5', '#FC8D62']
    """
    colors = {s: SITE_PALETTE[i % len(SITE_PALETTE)] for i, s in enumerate(sites)}
    return alt.Color(f"{field}:N", scale=scale(colors), sort=list(sites), legend=alt.Legend(title=title))


def response_color(field: str = "BOR", *, title: str = "Best overall response") -> alt.Color:
    """The colour encoding of responses: :data:`RESPONSE_COLORS`, fixed CDISC order.

    Example:
        >>> response_color().to_dict()["scale"]["range"][0]
        '#2166AC'
    """
    return alt.Color(f"{field}:N", scale=scale(RESPONSE_COLORS), sort=list(RESPONSE_COLORS),
                     legend=alt.Legend(title=title))


def chart_data(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Only the columns the chart encodes, JSON-safe types, and the row limit checked."""
    if isinstance(frame, pl.LazyFrame):
        raise TypeError("trialkit.charts takes eager polars DataFrames; call .collect() first")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"chart data lacks column(s) {', '.join(missing)}; "
                         f"columns present: {', '.join(frame.columns)}")
    if frame.height > MAX_ROWS:
        raise ValueError(f"chart data has {frame.height} rows (> {MAX_ROWS}); aggregate in "
                         "trialkit.derive before plotting")
    out = frame.select(columns)
    casts = []
    for name, dtype in out.schema.items():
        if dtype in (pl.Categorical,) or isinstance(dtype, pl.Enum):
            casts.append(pl.col(name).cast(pl.String))
        elif dtype.is_float():
            casts.append(pl.col(name).fill_nan(None))
        elif isinstance(dtype, pl.Decimal):
            casts.append(pl.col(name).cast(pl.Float64))
        elif isinstance(dtype, (pl.Duration, pl.Time)):
            casts.append(pl.col(name).cast(pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            # tz-aware times render in the viewer's zone in a browser but the server's in the
            # static SVG: keep the wall-clock time of the data's own zone in both
            casts.append(pl.col(name).dt.replace_time_zone(None))
    return out.with_columns(casts) if casts else out


def arm_labels_of(frame: pl.DataFrame) -> dict[str, str]:
    """The arms of a frame, code -> label (the code when there is no ARM column), in code order."""
    if "ARM" not in frame.columns:
        return {c: c for c in frame["ARMCD"].drop_nulls().unique().sort().to_list()}
    pairs = frame.select("ARMCD", "ARM").unique().drop_nulls().sort("ARMCD")
    return dict(zip(pairs["ARMCD"].to_list(), pairs["ARM"].to_list(), strict=True))


def site_field(frame: pl.DataFrame) -> str:
    """The site label to show: ``SITE`` ("01 Beijing ...") when the frame has it, else SITEID."""
    return "SITE" if "SITE" in frame.columns else "SITEID"




#: Opacity of the subjects outside a selection (:func:`selection_opacity`).
FADED = 0.2


def derive_selected(frame: pl.DataFrame, selected: Collection[str] | None) -> pl.DataFrame:
    """Add ``SELECTED`` (bool): the subject is in ``selected`` (every subject when it is None).

    Every ``plot_*`` of subjects takes ``selected=`` (a collection of USUBJIDs) and passes
    its frame through here, so one selection highlights the same subjects in every view.

    Example:
        >>> derive_selected(pl.DataFrame({"USUBJID": ["1", "2"]}), ["2"])["SELECTED"].to_list()
        [False, True]
    """
    if selected is None:
        return frame.with_columns(pl.lit(True).alias("SELECTED"))
    return frame.with_columns(pl.col("USUBJID").cast(pl.String).is_in([str(s) for s in selected]).alias("SELECTED"))


def selection_opacity(param: alt.Parameter | None = None, *, selected: Collection[str] | None = None) -> dict:
    """The opacity encoding that fades what is not selected: by ``SELECTED`` and/or a chart param.

    Example:
        >>> selection_opacity(selected=["1"])["value"]
        0.2
    """
    if param is not None and selected is not None:
        return alt.condition(param & alt.datum.SELECTED, alt.value(1.0), alt.value(FADED))
    if param is not None:
        return alt.condition(param, alt.value(1.0), alt.value(FADED))
    if selected is not None:
        return alt.condition(alt.datum.SELECTED, alt.value(1.0), alt.value(FADED))
    return alt.value(1.0)
