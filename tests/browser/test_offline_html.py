"""Every HTML of a demo run, opened in headless Chromium the way investigators open it.

Offline (every http(s) request aborted and counted), with and without JavaScript; charts
counted, a tooltip hovered, hostile site names checked inert; full-page screenshots are
saved under each run folder's ``screenshots/`` for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RENDERED = ".vega-embed svg.marks, .vega-embed canvas.marks"
# Anything a browser would fetch (src/href/srcset, CSS url() and @import), also JSON-escaped in .ipynb
RESOURCE_URL = re.compile(r"""(?:\bsrc|\bhref|\bsrcset)\s*=\s*\\?["']?\s*(?:https?:)?//"""
                          r"""|url\(\s*\\?["']?\s*(?:https?:)?//|@import\s+\\?["']\s*(?:https?:)?//""", re.I)


def _open(browser, page_path: Path, *, javascript: bool = True):
    """Open a file offline; returns (context, page, blocked requests, errors)."""
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []

    def abort(route):
        blocked.append(route.request.url)
        route.abort()

    context.route("http*://**", abort)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type in ("error", "assert") else None)
    page.goto(page_path.as_uri(), wait_until="load")
    return context, page, blocked, errors


def _hover(page, element) -> bool:
    """Move the mouse to the middle of an element that has a size; False if it has none."""
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    if not box or box["width"] < 2 or box["height"] < 2:
        return False
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return True


def _screenshot(page, page_path: Path, suffix: str = "") -> Path:
    target = page_path.parent / "screenshots" / f"{page_path.stem}{suffix}.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


def test_every_page_opens_offline_with_every_chart_rendered(browser, demo_run):
    summary, problems = [], []
    for path in demo_run.pages:
        context, page, blocked, errors = _open(browser, path)
        charts = page.locator(".trialkit-chart").count()
        if charts:
            page.wait_for_function(
                f"document.querySelectorAll('{RENDERED}').length >= {charts}", timeout=15000)
        page.wait_for_timeout(300)
        rendered = page.locator(RENDERED).count()
        static_left = page.locator(".trialkit-chart-static").count()
        _screenshot(page, path)
        context.close()
        summary.append(f"{path.parent.name}/{path.name}: charts={charts} rendered={rendered} "
                       f"blocked={len(blocked)} errors={len(errors)}")
        if blocked:
            problems.append(f"{path}: blocked requests {blocked}")
        if errors:
            problems.append(f"{path}: page errors {errors}")
        if rendered != charts or static_left:
            problems.append(f"{path}: {rendered} of {charts} charts interactive, {static_left} static left")
        if path.name != "index.html" and not charts and path.stem == "study_overview":
            problems.append(f"{path}: the overview shows no chart")
    summary += [f"screenshots: {folder / 'screenshots'}" for folder in demo_run.folders]
    print("\n".join(summary))
    assert not problems, "\n".join(problems)


def test_every_chart_visible_without_javascript(browser, demo_run):
    problems = []
    for path in demo_run.pages:
        context, page, blocked, errors = _open(browser, path, javascript=False)
        charts = page.locator(".trialkit-chart")
        svgs = page.locator(".trialkit-chart-static svg")
        if svgs.count() != charts.count():
            problems.append(f"{path}: {svgs.count()} static SVGs for {charts.count()} charts")
        for i in range(svgs.count()):
            box = svgs.nth(i).bounding_box()
            if not box or box["width"] < 50 or box["height"] < 50:
                problems.append(f"{path}: chart {i} static SVG is not visible ({box})")
        if path.stem == "study_overview" and charts.count() < 2:   # an empty page must not pass
            problems.append(f"{path}: the overview shows {charts.count()} charts without JavaScript, 2 expected")
        _screenshot(page, path, "-nojs")
        context.close()
        if blocked:
            problems.append(f"{path}: blocked requests {blocked}")
    assert not problems, "\n".join(problems)


def test_tooltip_appears_on_hover(browser, demo_run):
    with_charts = [p for p in demo_run.pages if 'class="trialkit-chart"' in p.read_text(encoding="utf-8")]
    assert with_charts, "no page with a chart in the demo run"
    problems = []
    for path in with_charts:
        context, page, _, _ = _open(browser, path)
        page.wait_for_function(f"document.querySelectorAll('{RENDERED}').length > 0", timeout=15000)
        bars = page.locator(".vega-embed svg.marks .mark-rect path")
        hovered = any(_hover(page, bars.nth(i)) for i in range(bars.count()))
        assert hovered, f"{path}: no bar with a size to hover"
        tooltip = page.locator("#vg-tooltip-element")
        try:
            tooltip.wait_for(state="visible", timeout=5000)
            text = tooltip.inner_text()
            # the field names alone would pass on a tooltip of empty values: the count must be there
            if path.stem == "study_overview" and ("Site" not in text or not re.search(r"Subjects\s+\d+", text)):
                problems.append(f"{path}: tooltip without the site and its count: {text!r}")
            if path.stem != "study_overview" and not re.search(r"\w+\s+\S*\d", text):  # a field with a number
                problems.append(f"{path}: tooltip without a value: {text!r}")
        except Exception as exc:  # noqa: BLE001 - reported below with the page
            problems.append(f"{path}: no tooltip after hovering a bar ({exc.__class__.__name__})")
        context.close()
    assert not problems, "\n".join(problems)


def test_site_names_with_html_stay_inert_and_readable(browser, demo_run):
    pages = [p for p in demo_run.pages if p.parent == demo_run.xss_folder and p.name != "index.html"]
    assert pages, f"no report in the escaping-check run {demo_run.xss_folder}"
    problems = []
    for path in pages:
        for javascript in (True, False):
            context, page, _, errors = _open(browser, path, javascript=javascript)
            if javascript:
                page.wait_for_timeout(1500)
                # hover every bar: tooltips render the site names too
                bars = page.locator(".vega-embed svg.marks .mark-rect path")
                for i in range(min(bars.count(), 20)):
                    _hover(page, bars.nth(i))
                xss = page.evaluate("typeof window.__xss === 'undefined' ? null : window.__xss")
                if xss is not None:
                    problems.append(f"{path}: injected code ran (window.__xss={xss})")
            for literal in demo_run.xss_literals:
                shown = page.get_by_text(literal, exact=True)
                if shown.count() == 0 or not shown.first.is_visible():
                    problems.append(f"{path} (js={javascript}): the literal site name {literal!r} is not shown")
            if page.locator("main img[src='x']").count():
                problems.append(f"{path}: an <img> from the data became an element")
            _screenshot(page, path, "-escaping" if javascript else "-escaping-nojs")
            context.close()
    assert not problems, "\n".join(problems)


def test_no_resource_url_in_any_file_of_the_run(demo_run):
    """Needs no browser: runs even where chromium is missing."""
    offenders = []
    for folder in demo_run.folders:
        for file in folder.rglob("*"):
            if file.is_file() and file.suffix.lower() not in (".png",):
                text = file.read_text(encoding="utf-8", errors="ignore")
                offenders += [f"{file}: {m.group(0)}" for m in RESOURCE_URL.finditer(text)]
    assert not offenders, "\n".join(offenders[:20])


def test_one_vega_bundle_per_page_with_charts(demo_run):
    for path in demo_run.pages:
        text = path.read_text(encoding="utf-8")
        bundles = text.count('id="trialkit-vega-bundle"')
        charts = text.count('class="trialkit-chart"')
        assert bundles == (1 if charts else 0), f"{path}: {bundles} vega bundles for {charts} charts"
        assert text.count("window.vegaEmbed=") == bundles, path


def test_legend_click_highlights_one_arm(browser, demo_run):
    """The legend-bound Vega-Lite selection works offline: other arms fade to 0.2 opacity."""
    path = next(p for p in demo_run.pages if p.name == "study_overview.html" and p.parent != demo_run.xss_folder)
    context, page, blocked, errors = _open(browser, path)
    page.wait_for_function(f"document.querySelectorAll('{RENDERED}').length > 0", timeout=15000)
    chart = page.locator(".trialkit-chart").filter(has_text="Randomized subjects by site and arm").last
    bars = chart.locator(".mark-rect path")
    before = {bars.nth(i).get_attribute("opacity") for i in range(bars.count())}
    label = chart.locator("svg.marks text", has_text="B: SIRT + camrelizumab").first
    label.scroll_into_view_if_needed()
    box = label.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    after = [bars.nth(i).get_attribute("opacity") for i in range(bars.count())]
    context.close()
    assert before == {"1"}
    assert "1" in after and "0.2" in after, after
    assert after.count("1") * 4 <= len(after) + 3      # about one bar in four (one arm) stays opaque
    assert not blocked and not errors


def test_narrow_screen_and_print_keep_charts_readable_and_nothing_clipped(browser, demo_run):
    """On a phone a chart keeps its size and scrolls in its own box (scaled to fit, its labels
    would be 5 px); on paper, which cannot scroll, every table and chart fits the page width."""
    path = next(p for p in demo_run.pages if p.name == "study_overview.html" and p.parent != demo_run.xss_folder)
    context, page, blocked, errors = _open(browser, path)
    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_function(f"document.querySelectorAll('{RENDERED}').length >= 2", timeout=15000)
    widths = page.evaluate("""[...document.querySelectorAll('.trialkit-chart svg.marks')].map(
        s => [Math.round(s.getBoundingClientRect().width), Number(s.getAttribute('width'))])""")
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert len(widths) >= 2 and all(shown == own > 420 for shown, own in widths), widths
    assert page_width <= 420, f"the page scrolls sideways at 420 px ({page_width} px)"

    page.emulate_media(media="print")
    page.set_viewport_size({"width": 690, "height": 1000})       # A4 minus 14 mm margins, in CSS px
    page.wait_for_timeout(200)
    boxes = page.evaluate("""[...document.querySelectorAll('.trialkit-table table, .trialkit-chart svg.marks')].map(
        e => Math.round(e.getBoundingClientRect().right))""")
    context.close()
    assert len(boxes) >= 4, boxes                                  # the overview's tables and charts
    assert max(boxes) <= 690, f"clipped on paper: right edges {boxes} > 690 px"
    assert not blocked and not errors
