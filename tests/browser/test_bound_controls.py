"""Bound controls (Vega-Lite params bound to inputs) work offline in a report page.

The reports use Vega-Lite params instead of ipywidgets for interactivity (widgets need a
kernel, which an emailed file does not have). This builds a chart with a dropdown through
the same chart HTML and page shell as the reports, opens it with the network blocked, and
checks that choosing a value redraws the chart.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import pytest

from trialkit.report.html import page
from trialkit.report.notebook import chart_html

pytestmark = [pytest.mark.browser]

BARS = ".vega-embed svg.marks .mark-rect path"


@pytest.fixture(scope="module")
def control_page(tmp_path_factory):
    counts = pl.DataFrame({"ARMCD": ["A", "B", "C", "D"], "N": [30, 29, 30, 28]})
    pick = alt.param(name="pick", value="ALL",
                     bind=alt.binding_select(options=["ALL", "A", "B", "C", "D"], name="Arm "))
    chart = (alt.Chart(counts, title="Subjects by arm").mark_bar()
             .encode(x=alt.X("ARMCD:N", title="Arm"), y=alt.Y("N:Q", title="Subjects"))
             .add_params(pick)
             .transform_filter("pick == 'ALL' || datum.ARMCD == pick"))
    body = "<h2>Arms</h2>" + chart_html(chart.to_dict())
    path = tmp_path_factory.mktemp("controls") / "controls.html"
    path.write_text(page("Bound control", body, study="NCT07334483", data_cutoff="2026-10-31",
                         run_time="2026-11-25 08:00 UTC"), encoding="utf-8")
    return path


def test_a_bound_dropdown_redraws_the_chart_offline(browser, control_page):
    context = browser.new_context()
    blocked = []
    context.route("http*://**", lambda route: (blocked.append(route.request.url), route.abort()))
    page_ = context.new_page()
    errors = []
    page_.on("pageerror", lambda exc: errors.append(str(exc)))
    page_.goto(control_page.as_uri())
    page_.wait_for_function(f"document.querySelectorAll('{BARS}').length === 4", timeout=15000)
    page_.select_option(".vega-bind select", "B")
    page_.wait_for_function(f"document.querySelectorAll('{BARS}').length === 1", timeout=5000)
    page_.select_option(".vega-bind select", "ALL")
    page_.wait_for_function(f"document.querySelectorAll('{BARS}').length === 4", timeout=5000)
    context.close()
    assert not blocked and not errors, (blocked, errors)


def test_without_javascript_the_static_chart_shows_all_bars(browser, control_page):
    context = browser.new_context(java_script_enabled=False)
    page_ = context.new_page()
    page_.goto(control_page.as_uri())
    static = page_.locator(".trialkit-chart-static svg")
    assert static.count() == 1 and static.first.bounding_box()["height"] > 50
    assert page_.locator(".trialkit-chart-static svg .mark-rect path").count() == 4
    context.close()
