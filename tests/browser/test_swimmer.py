"""The swimmer report in headless Chromium, offline: every lane drawn, a dose's tooltip with its
date, study day and cycle, readable on a phone (the chart keeps its size and scrolls in its own
box) and on paper (it fits the page width). Screenshots are saved beside the report."""

from __future__ import annotations

import re

import polars as pl
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
RENDERED = ".vega-embed svg.marks"


def _swimmer_page(demo_run):
    pages = [p for p in demo_run.pages if p.name == "swimmer.html" and p.parent != demo_run.xss_folder]
    if not pages:
        pytest.skip("no swimmer report in the demo run")
    return pages[0]


def _open(browser, path, *, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 1000})
    blocked, errors = [], []
    context.route("http*://**", lambda route: (blocked.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(f"document.querySelectorAll('{RENDERED}').length > 0", timeout=20000)
    return context, page, blocked, errors


def test_every_lane_is_drawn_and_a_dose_tooltip_gives_date_day_and_cycle(browser, demo_run):
    path = _swimmer_page(demo_run)
    subjects = pl.read_csv(path.parent / "tables" / "swimmer_subjects.csv", infer_schema=False)
    context, page, blocked, errors = _open(browser, path)
    chart = page.locator(".trialkit-chart").filter(has=page.locator(RENDERED)).first
    labels = chart.locator("svg.marks text").evaluate_all("ts => ts.map(t => t.textContent)")
    drawn = {t for t in labels if t in set(subjects["USUBJID"])}
    assert drawn == set(subjects["USUBJID"]), f"{len(drawn)} of {subjects.height} lanes labelled"
    for title in ("Glyphs", "Camrelizumab dose", "Y-90 SIRT session", "PR: partial response", "Data cutoff"):
        assert title in labels, f"legend lacks {title!r}"
    # a dose tick: a narrow rect (ticks are rect marks) one sub-lane high, in the first lanes
    ticks = chart.locator(".mark-rect path")
    tooltip_text = ""
    for i in range(min(ticks.count(), 400)):
        box = ticks.nth(i).bounding_box()
        if not box or not (box["width"] <= 3 and 5 <= box["height"] <= 12):
            continue
        ticks.nth(i).scroll_into_view_if_needed()
        box = ticks.nth(i).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tip = page.locator("#vg-tooltip-element")
        tip.wait_for(state="visible", timeout=5000)
        tooltip_text = tip.inner_text()
        if "Cycle" in tooltip_text:
            break
    page.screenshot(path=str(path.parent / "screenshots-swimmer-1280.png"), full_page=True)
    context.close()
    assert re.search(r"\d{4}-\d{2}-\d{2}, day -?\d+", tooltip_text), tooltip_text
    assert re.search(r"Cycle \d+; 200 mg", tooltip_text), tooltip_text
    assert not blocked and not errors


def test_on_a_phone_the_chart_scrolls_in_its_box_and_on_paper_it_fits(browser, demo_run):
    path = _swimmer_page(demo_run)
    context, page, blocked, errors = _open(browser, path, width=420)
    width = page.evaluate("document.documentElement.scrollWidth")
    own = page.evaluate(f"Number(document.querySelector('{RENDERED}').getAttribute('width'))")
    shown = page.evaluate(f"document.querySelector('{RENDERED}').getBoundingClientRect().width")
    page.screenshot(path=str(path.parent / "screenshots-swimmer-420.png"), full_page=True)
    assert width <= 420, f"the page scrolls sideways at 420 px ({width} px)"
    assert round(shown) == own > 420            # kept at its size: labels stay readable
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 690, "height": 1000})       # A4 minus margins, in CSS px
    page.wait_for_timeout(200)
    right = page.evaluate(f"document.querySelector('{RENDERED}').getBoundingClientRect().right")
    page.screenshot(path=str(path.parent / "screenshots-swimmer-print.png"), full_page=True)
    context.close()
    assert right <= 690, f"the swimmer is clipped on paper (right edge {right} px)"
    assert not blocked and not errors
