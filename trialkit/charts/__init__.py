"""Altair chart builders and the one theme every chart uses (DESIGN section 1: the charts layer).

A ``plot_*`` function takes a tidy, eager polars frame with documented columns and returns
an ``alt.Chart``; it never reads files and never computes statistics beyond what a mark
needs (aggregate in ``trialkit.derive`` first: more than 5,000 rows is refused). Charts of
subjects take ``selected=`` (USUBJIDs to highlight), for the exploration app to link views.

Modules:
    theme     fonts, sizes, the colours of arms, responses and statuses; the subject selection
    overview  screening and randomized subjects by site and arm
    response  waterfall + spider (one linked chart), ORR by arm, agreement heatmaps, Kaplan-Meier

Example:
    >>> import polars as pl
    >>> from trialkit.charts import plot_subjects_by_arm_site
    >>> counts = pl.DataFrame({"SITEID": ["01", "01"], "ARMCD": ["A", "B"], "ARM": ["A: one", "B: two"],
    ...                        "N": [3, 2]})
    >>> plot_subjects_by_arm_site(counts, arms={"A": "A: one", "B": "B: two"}).to_dict()["mark"]["type"]
    'bar'
"""

from trialkit.charts.overview import plot_screening_by_site, plot_subjects_by_arm_site
from trialkit.charts.response import notes_html, plot_concordance, plot_km, plot_orr, plot_waterfall_spider
from trialkit.charts.theme import (
    ARM_PALETTE,
    FONT,
    MAX_ROWS,
    RESPONSE_COLORS,
    STATUS_COLORS,
    THEME_NAME,
    arm_color,
    arm_colors,
    chart_data,
    derive_selected,
    response_color,
    selection_opacity,
)

__all__ = ["ARM_PALETTE", "FONT", "MAX_ROWS", "RESPONSE_COLORS", "STATUS_COLORS", "THEME_NAME", "arm_color",
           "arm_colors", "chart_data", "derive_selected", "notes_html", "plot_concordance", "plot_km", "plot_orr",
           "plot_screening_by_site", "plot_subjects_by_arm_site", "plot_waterfall_spider", "response_color",
           "selection_opacity"]
