"""Altair chart builders and the one theme every chart uses (DESIGN section 1: the charts layer).

A ``plot_*`` function takes a tidy, eager polars frame with documented columns and returns
an ``alt.Chart``; it never reads files and never computes statistics beyond what a mark
needs (aggregate in ``trialkit.derive`` first: more than 5,000 rows is refused). Charts of
subjects take ``selected=`` (USUBJIDs to highlight), for the exploration app to link views.

Modules:
    theme     fonts, sizes, the colours of arms, responses, statuses and sites; the subject selection
    overview  screening and randomized subjects by site and arm
    swimmer   each subject's course on study: doses, sessions, responses, deviations
    screening screening over time, its duration, failures by criterion, co-failures, recruitment;
              the CONSORT flow diagram (HTML)
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
from trialkit.charts.swimmer import plot_swimmer, swimmer_notes_html
from trialkit.charts.screening import (
    consort_html,
    plot_co_failures,
    plot_failures_by_criterion,
    plot_recruitment,
    plot_screening_duration,
    plot_screening_over_time,
)
from trialkit.charts.response import notes_html, plot_concordance, plot_km, plot_orr, plot_waterfall_spider
from trialkit.charts.theme import (
    ARM_PALETTE,
    FONT,
    MAX_ROWS,
    OUTCOME_COLORS,
    RESPONSE_COLORS,
    SITE_PALETTE,
    STATUS_COLORS,
    THEME_NAME,
    arm_color,
    arm_colors,
    chart_data,
    derive_selected,
    response_color,
    selection_opacity,
    site_color,
)

__all__ = ["ARM_PALETTE", "FONT", "MAX_ROWS", "OUTCOME_COLORS", "RESPONSE_COLORS", "SITE_PALETTE",
           "STATUS_COLORS", "THEME_NAME", "arm_color", "arm_colors", "chart_data", "consort_html",
           "derive_selected", "notes_html", "plot_co_failures", "plot_concordance",
           "plot_failures_by_criterion", "plot_km", "plot_orr", "plot_recruitment", "plot_screening_by_site",
           "plot_screening_duration", "plot_screening_over_time", "plot_subjects_by_arm_site", "plot_swimmer",
           "plot_waterfall_spider", "response_color", "selection_opacity", "site_color", "swimmer_notes_html"]
