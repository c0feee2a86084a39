"""A listing (report.notebook.listing_html) searched and sorted in Chromium, offline, and read without JavaScript."""

from __future__ import annotations

import polars as pl
import pytest

from trialkit.report.html import page
from trialkit.report.notebook import listing_html

pytestmark = [pytest.mark.browser]

ROWS = pl.DataFrame({
    "Subject": ["S-03", "S-01", "S-10", "S-02"],
    "Site": ["02 Nanjing", "01 Beijing", "01 Beijing", "03 Shanghai"],
    "Day": [21, 3, 120, None],
    "Reason": ["late <b>dose</b>", "early", "late", "mapping"],
}, schema_overrides={"Day": pl.Int64})


@pytest.fixture
def listing_page(tmp_path):
    body = "<h2>Listing</h2>" + listing_html(ROWS, title="Doses", subtitle="Hand-made", listing_id="tkl-doses")
    path = tmp_path / "listing.html"
    path.write_text(page("Listing", body, study="TRIAL-1", data_cutoff=None, run_time="now"), encoding="utf-8")
    return path


def _column(page_, index):
    return page_.eval_on_selector_all(
        "#tkl-doses tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{index}].textContent)")


def test_search_and_sort_offline(browser, listing_page):
    context = browser.new_context()
    context.route("http*://**", lambda route: route.abort())
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(listing_page.as_uri())
    assert tab.inner_text("#tkl-doses .trialkit-listing-count") == "4 rows"
    tab.fill("#tkl-doses input", "beijing")
    assert _column(tab, 0) == ["S-01", "S-10"]
    assert tab.inner_text("#tkl-doses .trialkit-listing-count") == "2 of 4 rows"
    tab.fill("#tkl-doses input", "")
    tab.click("#tkl-doses th:nth-child(3)")            # Day: numbers sort as numbers, blanks last
    assert _column(tab, 2) == ["3", "21", "120", "—"]
    tab.click("#tkl-doses th:nth-child(3)")
    assert _column(tab, 2)[:3] == ["120", "21", "3"]
    assert tab.get_attribute("#tkl-doses th:nth-child(3)", "aria-sort") == "descending"
    assert "<b>dose</b>" in tab.inner_text("#tkl-doses tbody")   # data shown as text, never markup
    assert errors == []
    context.close()


def test_without_javascript_the_whole_table_shows(browser, listing_page):
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    tab.goto(listing_page.as_uri())
    assert tab.locator("#tkl-doses tbody tr").count() == 4
    assert not tab.is_visible("#tkl-doses input")        # no search box that would do nothing
    context.close()
