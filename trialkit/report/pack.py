"""``pack.html``: every report of a run in one self-contained page, with one vega bundle.

An investigator opens one file instead of five, and the 0.4 MB bundle is carried once
instead of once per report. The pack is made from the run's own report pages (the
manifest says which; any set of reports), so it shows exactly what they show:

- ``<head>``: the packed bundle once (:mod:`trialkit.report.bundle`) and each distinct
  stylesheet of the reports once;
- a contents list of the reports (failed ones listed with the reason, not included), each
  with its own headings under it;
- each report's content as a ``<section id="report-<name>">``, its element ids prefixed
  (``r1-``, ``r2-``…) so that two reports' charts, tables and headings never share an id.

With JavaScript, the contents list switches between reports: one report is shown at a
time, the one named in the address (``pack.html#report-study_overview``, also a heading of
it), else the first; printing prints the report on screen. Without JavaScript every report
is shown one after the other and the contents list links jump to them, so nothing is lost.

Example:
    >>> write_pack(Path("outputs/demo_2026-10-31"), manifest)   # doctest: +SKIP
    {'html': 'pack.html', 'html_bytes': 493712, 'reports': ['study_overview']}
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trialkit.report.run_folder import failed_reports, ok_reports, read_study_info, report_label

PACK_NAME = "pack.html"
_SCRIPT_OR_HEAD_END = re.compile(r"<script\b[^>]*>.*?</script\s*>|</head\s*>", re.S | re.I)
_STYLE = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.S | re.I)
_BODY = re.compile(r'<body\b[^>]*class="([^"]*)"[^>]*>', re.I)
_MAIN = re.compile(r"<main\b[^>]*>", re.I)
_TOC = re.compile(r'<nav class="trialkit-toc"[^>]*>.*?<ol>(.*?)</ol></nav>', re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.S | re.I)

PACK_CSS = """
.trialkit-pack-contents { flex-basis: 250px; }
.trialkit-pack-contents > ol > li { margin: 0 0 10px; }
.trialkit-pack-contents > ol > li > a { font-weight: 600; }
.trialkit-pack-contents ol ol { margin: 4px 0 0 10px; }
.trialkit-pack-js .trialkit-pack-item:not(.trialkit-pack-active) ol { display: none; }
.trialkit-pack-active > a { color: var(--tk-accent); }
.trialkit-pack-failed { color: var(--tk-muted); }
.trialkit-pack-report + .trialkit-pack-report { border-top: 3px solid var(--tk-band); margin-top: 36px; padding-top: 8px; }
.trialkit-pack-title { font-size: 24px; margin: 6px 0 2px; }
@media print {
  .trialkit-pack-js .trialkit-pack-contents { display: none; }
  .trialkit-pack-report + .trialkit-pack-report { break-before: page; page-break-before: always; border: none; }
}
"""

# One report on screen at a time; the address names it (or a heading of it), so the back
# button and a bookmarked pack.html#report-x both work.
PACK_JS = """(function(){var sections=[].slice.call(document.querySelectorAll(".trialkit-pack-report"));
if(!sections.length){return;}var items=[].slice.call(document.querySelectorAll(".trialkit-pack-item[data-target]"));
document.body.classList.add("trialkit-pack-js");
function show(section){sections.forEach(function(s){s.hidden=s!==section;});
items.forEach(function(li){var on=li.getAttribute("data-target")===section.id;li.classList.toggle("trialkit-pack-active",on);
var a=li.querySelector("a");if(on){a.setAttribute("aria-current","true");}else{a.removeAttribute("aria-current");}});}
function route(){var id="";try{id=decodeURIComponent(location.hash.slice(1));}catch(e){}
var el=id?document.getElementById(id):null;var section=el&&el.closest?el.closest(".trialkit-pack-report"):null;
if(!section){section=sections[0];el=null;}show(section);
if(el&&el!==section){el.scrollIntoView();}else{window.scrollTo(0,0);}}
window.addEventListener("hashchange",route);route();})();"""


def write_pack(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """Write ``pack.html`` into a run folder (atomically); what the manifest records of it.

    Args:
        run_dir: the run folder (or its staging folder) holding the reports' HTML.
        manifest: the run's manifest (reports, study, cutoff, run time).

    Returns:
        ``{"html": "pack.html", "html_bytes": n, "reports": [names]}``, or None when no
        report ran to the end (there is nothing to pack; no file is written).
    """
    from trialkit.report.files import write_text

    text = render_pack(run_dir, manifest)
    if text is None:
        return None
    write_text(text, Path(run_dir) / PACK_NAME)
    return {"html": PACK_NAME, "html_bytes": len(text.encode("utf-8")),
            "reports": [r["report"] for r in ok_reports(manifest)]}


def render_pack(run_dir: Path, manifest: Mapping[str, Any]) -> str | None:
    """The pack page of a run folder as text (None when no report has an HTML page)."""
    from trialkit.report.bundle import bundle_html
    from trialkit.report.html import footer_html, header_html, theme_css, vega_bundle
    from trialkit.report.index import format_run_time

    reports = ok_reports(manifest)
    if not reports:
        return None
    study = read_study_info(manifest)
    params = manifest.get("params") or {}
    run_time = format_run_time(manifest.get("run_start"))
    styles: dict[str, None] = {f'<style id="trialkit-theme">\n{theme_css()}\n</style>': None}
    sections, items, has_charts = [], [], False
    for number, report in enumerate(reports, start=1):
        page = (Path(run_dir) / str(report["html"])).read_text(encoding="utf-8")
        head, audience, toc, content = split_report_page(page)
        for style in _STYLE.findall(head):
            styles.setdefault(style.strip(), None)
        has_charts = has_charts or 'class="trialkit-chart"' in content
        toc, content = prefix_ids(toc + "\x00" + content, f"r{number}-").split("\x00", 1)
        section_id = f"report-{re.sub(r'[^A-Za-z0-9_-]', '-', str(report['report']))}"
        label = html.escape(report_label(report))
        sections.append(
            f'<section class="trialkit-pack-report {html.escape(audience)}" id="{section_id}" '
            f'aria-labelledby="{section_id}-title">\n'
            f'<h1 class="trialkit-pack-title" id="{section_id}-title">{label}</h1>\n'
            f'<div class="jp-Notebook">{content}</div>\n</section>')
        items.append(f'<li class="trialkit-pack-item" data-target="{section_id}"><a href="#{section_id}">{label}</a>'
                     + (f"<ol>{toc}</ol>" if toc.strip() else "") + "</li>")
    for report in failed_reports(manifest):
        from trialkit.report.index import describe_error

        items.append(f'<li class="trialkit-pack-failed">{html.escape(report_label(report))} — '
                     f'<span class="trialkit-status-failed">failed</span>: '
                     f'{html.escape(describe_error(report.get("error")))} (not in this pack)</li>')
    nav = ('<nav class="trialkit-toc trialkit-pack-contents" aria-label="Reports"><h2>Reports</h2><ol>'
           + "".join(items) + "</ol></nav>")
    title = f"Investigator pack: {len(reports)} report{'s' if len(reports) != 1 else ''}"
    head_js = bundle_html(vega_bundle()) if has_charts else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{html.escape(title)} — {html.escape(study['id'])}</title>\n"
        f"{head_js}\n" + "\n".join(styles) + f'\n<style id="trialkit-pack">{PACK_CSS}</style>\n'
        "</head>\n"
        '<body class="trialkit-page trialkit-pack-page">\n'
        f"{header_html(title=title, study=study['id'], data_cutoff=params.get('data_cutoff'), run_time=run_time)}\n"
        f'<div class="trialkit-layout">\n{nav}\n'
        '<main class="trialkit-content trialkit-pack">\n' + "\n".join(sections) + "\n</main>\n</div>\n"
        f"{footer_html(study=study['id'], run_time=run_time)}\n"
        f'<script id="trialkit-pack-switch">{PACK_JS}</script>\n'
        "</body>\n</html>\n"
    )


def split_report_page(page: str) -> tuple[str, str, str, str]:
    """``(head, body class, table-of-contents items, main content)`` of a report page.

    The head ends at the first ``</head>`` outside a script (a plain bundle holds the text
    ``</head>`` in its strings); the content is everything inside ``<main>``.
    """
    head_end = next((m.start() for m in _SCRIPT_OR_HEAD_END.finditer(page)
                     if m.group(0).lower().startswith("</head")), None)
    if head_end is None:
        raise ValueError("not a trialkit report page: no </head>")
    head, body = page[:head_end], page[head_end:]
    body_tag = _BODY.search(body)
    audience = " ".join(c for c in (body_tag.group(1).split() if body_tag else []) if c.startswith("trialkit-audience-"))
    main = _MAIN.search(body)
    end = body.rfind("</main>")
    if main is None or end < main.end():
        raise ValueError("not a trialkit report page: no <main> element")
    toc = _TOC.search(body[:main.start()])
    return head, audience, toc.group(1) if toc else "", body[main.end():end]


def prefix_ids(fragment: str, prefix: str) -> str:
    """Prefix every element id of an HTML fragment and every reference to one.

    Inside tags: ``id="x"``, ``href="#x"`` (also ``xlink:href``) and ``url(#x)`` (SVG clip
    paths); inside ``<script>``: ``getElementById("x")`` (the charts' scripts); inside
    ``<style>``: ``#x`` selectors and ``url(#x)`` (great_tables scopes each table's CSS by
    its id). Text between tags is never touched.

    Example:
        >>> prefix_ids('<h2 id="a">A id="a"</h2><a href="#a">#a</a><style>#a td {x:1}</style>', "r1-")
        '<h2 id="r1-a">A id="a"</h2><a href="#r1-a">#a</a><style>#r1-a td {x:1}</style>'
    """
    ids = {i for tag in _TAG.findall(fragment) for i in _ID.findall(tag)}
    if not ids:
        return fragment
    names = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    in_tag = re.compile(rf'(\bid="|\bhref="#|url\(#)({names})(?=[")])')
    in_script = re.compile(rf'(getElementById\(")({names})(?="\))')
    in_style = re.compile(rf"(#|url\(#)({names})(?=[\s.,:{{>\[~+)])")

    def add(pattern: re.Pattern[str]):
        return lambda m: pattern.sub(lambda n: f"{n.group(1)}{prefix}{n.group(2)}", m.group(0))

    fragment = _SCRIPT.sub(add(in_script), fragment)
    fragment = _STYLE.sub(add(in_style), fragment)
    return _TAG.sub(add(in_tag), fragment)
