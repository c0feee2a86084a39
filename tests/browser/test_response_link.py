"""The waterfall and the spider plot are linked offline: a click on a bar highlights that subject in both.

Opened from the demo run of the browser session (``demo_run``), every http(s) request aborted.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _point(element) -> tuple[float, float]:
    """A point where the element itself is on top: the middle of a bar, or a point along a line's path
    that no other mark covers (lines cross each other and their points)."""
    element.scroll_into_view_if_needed()
    return tuple(element.evaluate("""e => {
        if (!e.closest('.mark-line')) {
            const b = e.getBoundingClientRect();
            return [b.x + b.width / 2, b.y + b.height / 2];
        }
        const m = e.getScreenCTM(), n = e.getTotalLength();
        for (let f = 0.5; f < 0.98; f += 0.013) {
            for (const g of [f, 1 - f]) {
                const p = e.getPointAtLength(n * g);
                const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
                if (document.elementFromPoint(x, y) === e) { return [x, y]; }
            }
        }
        return null;
    }"""))


def _subject(page, element) -> str:
    """Hover an element and read the subject of its tooltip."""
    page.mouse.move(*_point(element))
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible", timeout=5000)
    match = re.search(r"Subject\s+(\S+)", tooltip.inner_text())
    assert match, tooltip.inner_text()
    return match.group(1)


def _line_subject(line) -> str:
    """The subject of a spider line, from the scenegraph item Vega binds to its SVG path (lines
    show no tooltip of their own; their points and end markers do)."""
    return line.evaluate("e => e.__data__.datum.USUBJID")


def _opacities(locator) -> list[str | None]:
    return [locator.nth(i).get_attribute("opacity") for i in range(locator.count())]


@pytest.mark.parametrize("clicked", ["bar", "line"])
def test_a_click_highlights_the_subject_in_the_waterfall_and_the_spider_plot(browser, demo_run, clicked):
    path = next(p for p in demo_run.pages if p.name == "waterfall.html" and p.parent != demo_run.xss_folder)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    context.route("http*://**", lambda route: (blocked.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.waterfall_bars_marks path').length > 0", timeout=20000)
    bars = page.locator(".waterfall_bars_marks path")
    lines = page.locator(".spider_lines_marks path")
    ends = page.locator(".spider_ends_marks path")
    assert bars.count() > 10 and lines.count() == bars.count() and ends.count() == bars.count()
    assert set(_opacities(bars)) == {"1"} and set(_opacities(lines)) == {"1"}     # nothing selected yet
    if clicked == "bar":
        target = bars.nth(bars.count() // 3)
        subject = _subject(page, target)
    else:  # a line with a stretch no other mark covers
        target = next(lines.nth(i) for i in range(lines.count()) if lines.nth(i).evaluate("e => e.getTotalLength()") > 80)
        subject = _line_subject(target)
    page.mouse.click(*_point(target))
    page.wait_for_timeout(300)
    bar_op, line_op, end_op = _opacities(bars), _opacities(lines), _opacities(ends)
    assert bar_op.count("1") == 1 and bar_op.count("0.2") == bars.count() - 1
    assert line_op.count("1") == 1 and line_op.count("0.2") == lines.count() - 1
    assert end_op.count("1") == 1
    # the highlighted bar, line and line end are the clicked subject's
    assert _subject(page, bars.nth(bar_op.index("1"))) == subject
    assert _line_subject(lines.nth(line_op.index("1"))) == subject
    assert _subject(page, ends.nth(end_op.index("1"))) == subject
    context.close()
    assert not blocked and not errors
