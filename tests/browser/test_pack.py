"""pack.html and the packed bundle in headless Chromium, offline, with and without JavaScript.

The pack under test holds the demo's overview twice (as two reports: every chart, table
and heading id would clash unless prefixed) and a failed report; it is made from the demo
run's own page by :func:`trialkit.report.pack.write_pack`, as the runner does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trialkit.report.pack import write_pack

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RENDERED = ".vega-embed svg.marks, .vega-embed canvas.marks"
NO_DECOMPRESSION = "delete window.DecompressionStream;"
MAX_OVERVIEW, MAX_REPORT, MAX_PACK = 500_000, 1_200_000, 3_000_000


@pytest.fixture(scope="module")
def two_report_pack(demo_run, tmp_path_factory) -> Path:
    source = next(f for f in demo_run.folders if f.name == "demo_2026-10-31")
    folder = tmp_path_factory.mktemp("pack") / "demo_2026-10-31"
    folder.mkdir()
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    overview = next(r for r in manifest["reports"] if r["report"] == "study_overview")
    shutil.copy(source / "study_overview.html", folder / "study_overview.html")
    shutil.copy(source / "study_overview.html", folder / "second_look.html")
    manifest["reports"] = [overview, {**overview, "report": "second_look", "title": "Second look",
                                      "html": "second_look.html"},
                           {"report": "screening", "status": "failed", "title": "Screening", "html": None,
                            "error": {"cell": 3, "exception": "ValueError", "message": "planted"}}]
    assert write_pack(folder, manifest)["html_bytes"] < MAX_PACK
    return folder / "pack.html"


def _open(browser, path: Path, *, javascript: bool = True, init: str | None = None, width: int = 1280):
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": width, "height": 900})
    blocked, errors = [], []
    context.route("http*://**", lambda route: (blocked.append(route.request.url), route.abort()))
    if init:
        context.add_init_script(init)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.goto(path.as_uri(), wait_until="load")
    return context, page, blocked, errors


def _shot(page, path: Path, suffix: str) -> None:
    target = path.parent / "screenshots" / f"{path.stem}{suffix}.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target), full_page=True)


def _rendered_in(page, section: str) -> int:
    return page.locator(f"#{section}").locator(RENDERED).count()


def test_contents_list_switches_between_reports_with_every_chart_interactive(browser, two_report_pack):
    context, page, blocked, errors = _open(browser, two_report_pack)
    sections = page.locator("section.trialkit-pack-report")
    assert sections.count() == 2
    first, second = "report-study_overview", "report-second_look"
    charts = page.locator(f"#{first} .trialkit-chart").count()
    assert charts >= 2
    page.wait_for_function(f"document.querySelectorAll('{RENDERED}').length >= {2 * charts}", timeout=20000)
    assert page.evaluate("window.trialkitVega") == "ready"
    assert page.locator(f"#{first}").is_visible() and not page.locator(f"#{second}").is_visible()
    assert page.locator(".trialkit-chart-static").count() == 0          # every static image swapped
    _shot(page, two_report_pack, "-desktop")

    page.locator(".trialkit-pack-contents a", has_text="Second look").first.click()
    page.wait_for_timeout(200)
    assert page.evaluate("location.hash") == f"#{second}"
    assert page.locator(f"#{second}").is_visible() and not page.locator(f"#{first}").is_visible()
    boxes = page.locator(f"#{second} .trialkit-chart svg.marks").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().width)")
    assert len(boxes) == charts and min(boxes) > 300                     # drawn at their size, not 0
    assert page.locator("[aria-current='true']").inner_text() == "Second look"

    # the address of a heading of the first report (a bookmark, a link in another page):
    # switches back to that report and to the heading
    heading_link = page.locator(f".trialkit-pack-item[data-target='{first}'] ol a").nth(1)
    target_id = heading_link.get_attribute("href")[1:]
    assert not heading_link.is_visible()                  # the other report's headings are folded
    page.evaluate(f"location.hash = {json.dumps('#' + target_id)}")
    page.wait_for_timeout(200)
    assert page.locator(f"#{first}").is_visible() and page.locator(f"[id='{target_id}']").is_visible()
    assert heading_link.is_visible() and page.locator(f"[id='{target_id}']").bounding_box()["y"] < 200
    heading_link.click()                                   # and a click on it keeps the report
    assert page.locator(f"#{first}").is_visible()

    duplicates = page.evaluate("""(() => { const seen = {}, dup = [];
        document.querySelectorAll('[id]').forEach(e => { if (seen[e.id]) dup.push(e.id); seen[e.id] = 1; });
        return dup; })()""")
    failed = page.locator(".trialkit-pack-failed").inner_text()
    page.set_viewport_size({"width": 420, "height": 900})
    page.wait_for_timeout(100)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    _shot(page, two_report_pack, "-420")
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 690, "height": 1000})
    _shot(page, two_report_pack, "-print")
    printed = page.locator("section.trialkit-pack-report:visible").count()
    context.close()
    assert duplicates == [], duplicates[:10]
    assert "Screening" in failed and "failed" in failed and "planted" in failed
    assert scroll_width <= 420, f"the pack scrolls sideways at 420 px ({scroll_width} px)"
    assert printed == 1                                                  # paper shows the report on screen
    assert not blocked and not errors, (blocked, errors)


def test_without_javascript_every_report_shows_with_static_charts(browser, two_report_pack):
    context, page, blocked, errors = _open(browser, two_report_pack, javascript=False)
    sections = page.locator("section.trialkit-pack-report")
    assert [sections.nth(i).is_visible() for i in range(sections.count())] == [True, True]
    charts = page.locator(".trialkit-chart").count()
    static = page.locator(".trialkit-chart-static > svg, .trialkit-chart-static > img")
    assert charts >= 4 and static.count() == charts
    assert all(static.nth(i).bounding_box()["height"] > 50 for i in range(charts))
    _shot(page, two_report_pack, "-nojs")
    context.close()
    assert not blocked


@pytest.mark.parametrize("name", ["study_overview.html", "pack.html"])
def test_without_decompression_stream_the_static_charts_stay(browser, demo_run, name):
    """An older browser (no DecompressionStream): no error, no half-swapped chart, static images."""
    path = next(p for p in demo_run.pages if p.name == name and p.parent.name == "demo_2026-10-31")
    context, page, blocked, errors = _open(browser, path, init=NO_DECOMPRESSION)
    page.wait_for_timeout(800)
    state = page.evaluate("window.trialkitVega")
    charts = page.locator(".trialkit-chart").count()
    static = page.locator(".trialkit-chart-static > svg, .trialkit-chart-static > img").count()
    rendered = page.locator(RENDERED).count()
    context.close()
    assert state == "unsupported"
    assert charts >= 2 and static == charts and rendered == 0
    assert not blocked and not errors, (blocked, errors)


def test_page_sizes_on_the_demo(demo_run):
    """Issue 12: overview <= 0.5 MB, every report <= 1.2 MB, the pack <= 3 MB (static images included)."""
    sizes = {f"{p.parent.name}/{p.name}": p.stat().st_size for p in demo_run.pages}
    print("\n".join(f"{name}: {size:,} bytes" for name, size in sorted(sizes.items())))
    assert sizes["demo_2026-10-31/study_overview.html"] <= MAX_OVERVIEW
    assert all(size <= MAX_REPORT for name, size in sizes.items() if not name.endswith("pack.html")), sizes
    assert all(size <= MAX_PACK for name, size in sizes.items() if name.endswith("pack.html")), sizes
    assert "demo_2026-10-31/pack.html" in sizes
