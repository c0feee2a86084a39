"""The screening report's CONSORT diagram in Chromium: four arms side by side, at 420 px, in print, without JavaScript.

Reads the screening page of the session's demo run (tests/browser/conftest.py runs every notebook).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def screening_page(demo_run):
    pages = [p for p in demo_run.pages if p.name == "screening.html" and p.parent != demo_run.xss_folder]
    assert pages, "the demo run wrote no screening.html"
    return pages[0]


@pytest.mark.parametrize(("width", "media", "script"), [(1280, "screen", True), (794, "print", True),
                                                         (1280, "screen", False)])
def test_four_arms_fit_side_by_side(browser, screening_page, width, media, script):
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=script)
    context.route("http*://**", lambda route: route.abort())
    tab = context.new_page()
    tab.emulate_media(media=media)
    tab.goto(screening_page.as_uri())
    boxes = tab.eval_on_selector_all(
        ".tk-consort .tk-stage .tk-arms", "els => els[0] ? Array.from(els[0].children).map(e => {"
        "const r = e.getBoundingClientRect(); return [r.x, r.y, r.right]; }) : []")
    assert len(boxes) == 4
    assert len({round(y) for _, y, _ in boxes}) == 1                   # one row
    page_width = tab.evaluate("document.documentElement.clientWidth")
    assert max(right for _, _, right in boxes) <= page_width            # nothing beyond the page
    overflow = tab.evaluate("Array.from(document.querySelectorAll('.tk-consort .tk-box'))"
                            ".filter(b => b.scrollWidth > b.clientWidth + 1).length")
    assert overflow == 0                                                # no label runs out of its box
    context.close()


def test_narrow_screen_two_by_two_and_subjects_open_without_javascript(browser, screening_page):
    context = browser.new_context(viewport={"width": 420, "height": 900}, java_script_enabled=False)
    tab = context.new_page()
    tab.goto(screening_page.as_uri())
    boxes = tab.eval_on_selector_all(
        ".tk-consort .tk-arms", "els => Array.from(els[0].children).map(e => e.getBoundingClientRect().y)")
    assert len(set(round(y) for y in boxes)) == 2                       # two rows of two arms
    assert tab.evaluate("document.querySelector('.tk-consort').scrollWidth <= document.documentElement.clientWidth")
    ids = tab.locator("#tk-consort-ids-randomized")
    assert not ids.is_visible()
    tab.click("#tk-consort-randomized summary")
    assert ids.is_visible() and ids.inner_text().count("ST561-1-") >= 1
    context.close()
