"""Charts of the study overview: screening and randomization by site and arm."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import polars as pl

from trialkit.charts.theme import (
    HINT,
    STATUS_COLORS,
    TOP_LEFT_TITLE,
    WIDTH,
    arm_color,
    arm_labels_of,
    chart_data,
    scale,
    site_field,
    use_theme,
)


def plot_subjects_by_arm_site(counts: pl.DataFrame, *, arms: Mapping[str, str] | None = None,
                              title: str = "Randomized subjects by site and arm") -> alt.Chart:
    """Stacked bars: randomized subjects per site, coloured by arm; click the legend to highlight an arm.

    Args:
        counts: one row per site and arm: ``SITEID`` (str), ``ARMCD``, ``ARM`` (display
            label, optional), ``N`` (int). See
            :func:`trialkit.derive.overview.summarize_subjects_by_arm_site`.
        arms: the study's arms, code -> label in protocol order (``Protocol.arm_labels``):
            the colour of each arm; default: the arms of ``counts``, in code order.
        title: chart title.

    Returns:
        An ``alt.Chart`` with a tooltip and a legend-bound selection ``arm`` (field ARMCD).

    Example:
        >>> import polars as pl
        >>> chart = plot_subjects_by_arm_site(pl.DataFrame(
        ...     {"SITEID": ["01"], "ARMCD": ["A"], "ARM": ["A: SIRT"], "N": [4]}), arms={"A": "A: SIRT"})
        >>> chart.to_dict()["encoding"]["x"]["field"]
        'N'
    """
    use_theme()
    site = site_field(counts)
    columns = [site, "ARMCD", "N"] + (["ARM"] if "ARM" in counts.columns else [])
    data = chart_data(counts, columns)
    labels = dict(arms) if arms else arm_labels_of(data)
    arm = alt.selection_point(fields=["ARMCD"], bind="legend", name="arm")
    n_sites = max(data[site].n_unique(), 1)
    tooltip = [alt.Tooltip(f"{site}:N", title="Site")]
    tooltip += [alt.Tooltip("ARM:N", title="Arm")] if "ARM" in columns else [alt.Tooltip("ARMCD:N", title="Arm")]
    tooltip += [alt.Tooltip("N:Q", title="Subjects")]
    return (
        alt.Chart(data, title=alt.Title(title, subtitle=f"{HINT} an arm"))
        .mark_bar()
        .encode(
            y=alt.Y(f"{site}:N", title="Site", sort="ascending", axis=TOP_LEFT_TITLE),
            x=alt.X("N:Q", title="Randomized subjects", stack="zero",
                    axis=alt.Axis(format="d", tickMinStep=1)),
            color=arm_color(arms=labels),
            order=alt.Order("ARMCD:N", sort="ascending"),
            opacity=alt.condition(arm, alt.value(1.0), alt.value(0.2)),
            tooltip=tooltip,
        )
        .add_params(arm)
        .properties(width=WIDTH, height=max(60, 38 * n_sites))
    )


def plot_screening_by_site(screening: pl.DataFrame, *, title: str = "Screening by site") -> alt.Chart:
    """Grouped bars: subjects screened, randomized and screen failures per site.

    Args:
        screening: one row per site and status: ``SITEID`` (str), ``STATUS`` (SCREENED |
            RANDOMIZED | SCREEN FAILURE), ``N`` (int). See
            :func:`trialkit.derive.overview.summarize_screening_by_site`.
        title: chart title.

    Example:
        >>> import polars as pl
        >>> chart = plot_screening_by_site(pl.DataFrame(
        ...     {"SITEID": ["01"], "STATUS": ["SCREENED"], "N": [10]}))
        >>> chart.to_dict()["encoding"]["color"]["scale"]["domain"]
        ['SCREENED', 'RANDOMIZED', 'SCREEN FAILURE']
    """
    use_theme()
    site = site_field(screening)
    data = chart_data(screening, [site, "STATUS", "N"])
    status = alt.selection_point(fields=["STATUS"], bind="legend", name="status")
    n_sites = max(data[site].n_unique(), 1)
    order = list(STATUS_COLORS)
    return (
        alt.Chart(data, title=alt.Title(title, subtitle=f"{HINT} a status"))
        .mark_bar()
        .encode(
            y=alt.Y(f"{site}:N", title="Site", sort="ascending", axis=TOP_LEFT_TITLE),
            yOffset=alt.YOffset("STATUS:N", title="Status", sort=order, scale=alt.Scale(domain=order)),
            x=alt.X("N:Q", title="Subjects", axis=alt.Axis(format="d", tickMinStep=1)),
            color=alt.Color("STATUS:N", title="Status", scale=scale(STATUS_COLORS), sort=order),
            opacity=alt.condition(status, alt.value(1.0), alt.value(0.2)),
            tooltip=[alt.Tooltip(f"{site}:N", title="Site"), alt.Tooltip("STATUS:N", title="Status"),
                     alt.Tooltip("N:Q", title="Subjects")],
        )
        .add_params(status)
        .properties(width=WIDTH, height=max(80, 66 * n_sites))
    )
