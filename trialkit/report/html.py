"""Self-contained offline HTML: executed notebooks and plain pages in one shell.

Investigators open the reports offline, sometimes with JavaScript blocked, never with
Python. So every page:

- references no external resource (no CDN script, font or stylesheet; no require.js,
  MathJax, mermaid or ipywidgets manager — the ``trialkit`` nbconvert template in
  ``templates/trialkit`` empties those blocks of nbconvert's ``lab`` template);
- holds the vega + vega-lite + vega-embed bundle (``vl_convert.javascript_bundle()``) once
  in ``<head>``, gzip-packed (0.39 MB for 0.9 MB, :mod:`trialkit.report.bundle`), and only
  when it has charts; each chart is a static SVG (a PNG when its SVG would be huge) that the
  bundle turns interactive (see :mod:`trialkit.report.notebook`);
- has a header (study, report title, data cutoff, run time, a confidentiality line), a
  table of contents built from its headings, and the one theme CSS
  (``templates/trialkit/static/trialkit.css``);
- hides code for the ``investigator`` audience and shows it for ``analyst``.

Example:
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Subjects")])
    >>> text = export_html(nb, audience="investigator", title="Overview", study="TRIAL-1",
    ...                    data_cutoff="2026-03-31", run_time="2026-04-01 08:00 UTC")
    >>> "https://" in text.split("<body")[1]
    False
"""

from __future__ import annotations

import copy
import html
import re
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from trialkit.cache import cache_dir
from trialkit.errors import TrialkitError
from trialkit.report.bundle import bundle_html
from trialkit.report.vega import vl_version

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "trialkit"
# Used only when the study's protocol gives no line of its own (Protocol.confidentiality).
CONFIDENTIALITY = "Confidential: contains clinical trial data; do not forward"
AUDIENCES = ("investigator", "analyst")
BUNDLE_ID = "trialkit-vega-bundle"
_TOC_MARK = "<!--trialkit-toc-->"
_HEADING = re.compile(r'<h([23])\s+id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_TAG = re.compile(r"<[^>]+>")
# The runner exports from several threads; nbconvert exporters and their preprocessors keep
# per-call state, so one export at a time (~0.2 s each once the exporter is built).
_EXPORT_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def theme_css() -> str:
    """The one theme stylesheet of every page (read once per process)."""
    return (TEMPLATES / TEMPLATE_NAME / "static" / "trialkit.css").read_text(encoding="utf-8")


_BUNDLE_END = "\n})();"


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one classic script (~0.9 MB), built once per machine.

    The bundle is an ES module body with top-level ``const``s; wrapped in a function it runs
    as a classic (synchronous) script, so chart scripts later in the page find
    ``window.vegaEmbed``, and its names stay out of the page's global scope.

    Building it costs ~1.2 s of CPU (vl-convert bundles it on every call), once per run and
    once per live notebook session. It depends only on the vl-convert version and the
    Vega-Lite version, so it is kept in the cache folder (:func:`trialkit.cache.cache_dir`,
    beside the demo data) under a name holding both; a file that does not look whole is
    rebuilt, and a cache that cannot be written is simply not used.
    """
    try:
        cache = _bundle_cache_file()
    except TrialkitError:  # no writable cache folder at all: build it every time
        return _build_vega_bundle()
    try:
        cached = cache.read_text(encoding="utf-8")
        if cached.startswith("(function(){\n") and cached.endswith(_BUNDLE_END) and "vegaEmbed" in cached:
            return cached
    except (OSError, UnicodeDecodeError):
        pass
    code = _build_vega_bundle()
    try:
        from trialkit.report.files import write_text

        write_text(code, cache)
    except OSError:
        pass  # read-only home, full disk: the next run builds it again
    return code


def _bundle_cache_file() -> Path:
    root = cache_dir()
    version = re.sub(r"[^A-Za-z0-9.]", "_", metadata.version("vl-convert-python"))
    return root / f"vega-bundle-vlconvert{version}-vl{vl_version()}.js"


def _build_vega_bundle() -> str:
    import vl_convert

    code = vl_convert.javascript_bundle(vl_version=vl_version())
    # A literal "</script" inside would end the element early.
    code = re.sub(r"</(script)", r"<\\/\1", code, flags=re.I)
    return f"(function(){{\n{code}{_BUNDLE_END}"


def _locked_bundle() -> str:
    """The ``<head>`` scripts of the bundle, gzip-packed (see :mod:`trialkit.report.bundle`)."""
    with _EXPORT_LOCK:          # built once, not once per thread racing for it
        return bundle_html(vega_bundle())


@lru_cache(maxsize=len(AUDIENCES))
def _exporter(audience: str):
    from nbconvert import HTMLExporter

    hide_code = audience == "investigator"
    return HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=hide_code,
        exclude_input_prompt=hide_code,
        exclude_output_prompt=hide_code,
        embed_images=True,
    )


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def header_html(*, title: str, study: str, data_cutoff: str | None, run_time: str,
                confidentiality: str | None = None) -> str:
    """The page header: study, title, data cutoff, run time and the confidentiality line (escaped).

    Example:
        >>> "&lt;b&gt;" in header_html(title="<b>", study="S", data_cutoff=None, run_time="t")
        True
    """
    cutoff = _text(data_cutoff) if data_cutoff else "not set (all records)"
    return (
        '<header class="trialkit-header">'
        f'<p class="trialkit-study">Study {_text(study)}</p>'
        f"<h1>{_text(title)}</h1>"
        '<dl class="trialkit-meta">'
        f'<div><dt>Data cutoff</dt><dd class="trialkit-cutoff">{cutoff}</dd></div>'
        f'<div><dt>Run</dt><dd class="trialkit-run-time">{_text(run_time)}</dd></div>'
        "</dl>"
        f'<p class="trialkit-confidential">{_text(confidentiality or CONFIDENTIALITY)}</p>'
        "</header>"
    )


def footer_html(*, study: str, run_time: str, confidentiality: str | None = None) -> str:
    line = (confidentiality or CONFIDENTIALITY).rstrip(".")
    return (f'<footer class="trialkit-footer">{_text(line)}. Study {_text(study)}; '
            f"generated {_text(run_time)} by trialkit. Works offline; charts are interactive "
            "when JavaScript is allowed and static images otherwise.</footer>")


_STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.S)


def dedupe_styles(page_html: str) -> str:
    """Keep the first of identical ``<style>`` blocks (great_tables tables styled alike share one).

    Example:
        >>> dedupe_styles("<style>a{}</style><p>x</p><style>a{}</style><style>b{}</style>")
        '<style>a{}</style><p>x</p><style>b{}</style>'
    """
    seen: set[str] = set()

    def keep_first(match: re.Match[str]) -> str:
        if match.group(1) in seen:
            return ""
        seen.add(match.group(1))
        return match.group(0)

    return _STYLE_BLOCK.sub(keep_first, page_html)


def _with_toc(page_html: str) -> str:
    """Fill the table-of-contents placeholder from the page's h2/h3 headings."""
    items = []
    for level, anchor, inner in _HEADING.findall(page_html.split(_TOC_MARK, 1)[-1]):
        label = html.unescape(_TAG.sub("", inner)).replace("¶", "").strip()
        if label:
            items.append(f'<li class="trialkit-toc-{level}"><a href="#{_text(html.unescape(anchor))}">'
                         f"{_text(label)}</a></li>")
    # a one-entry table of contents says nothing: only from two headings on
    nav = ('<nav class="trialkit-toc" aria-label="Contents"><h2>Contents</h2><ol>'
           + "".join(items) + "</ol></nav>") if len(items) >= 2 else ""
    return page_html.replace(_TOC_MARK, nav, 1)


def _prepare(notebook: nbformat.NotebookNode, *, audience: str, title: str, study: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(notebook)
    # Widget state would make nbconvert emit the CDN widget manager; widgets can't run offline.
    nb.metadata.pop("widgets", None)
    nb.metadata["title"] = f"{title} — {study}" if study else title
    dropped_title = False
    for cell in nb.cells:
        cell.metadata.pop("widgets", None)
        if cell.cell_type == "markdown" and not dropped_title:
            # The header shows the report title: drop the notebook's own "# Title" line once.
            lines = cell.source.splitlines()
            if lines and re.match(r"#\s", lines[0]):
                cell.source = "\n".join(lines[1:]).strip()
                dropped_title = True
        if cell.cell_type == "code":
            # setup()'s live-JupyterLab copy of the bundle: the page has its own in <head>
            cell.outputs = [o for o in cell.get("outputs", [])
                            if o.get("metadata", {}).get("trialkit") != "vega-bundle"]
        if cell.cell_type == "code" and audience == "investigator":
            # Library warnings on stderr mean nothing to an investigator (the run log keeps them).
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and not c.source.strip())]
    return nb


def export_html(notebook: nbformat.NotebookNode, *, audience: str, title: str, study: str,
                data_cutoff: str | None, run_time: str, confidentiality: str | None = None) -> str:
    """An executed notebook as one self-contained offline HTML page.

    Args:
        notebook: the executed notebook (not modified).
        audience: ``investigator`` (code hidden) or ``analyst`` (code shown).
        title: the report title for the header and ``<title>``.
        study: how the header names the study (``Protocol.display_id``).
        data_cutoff: ISO date or None.
        run_time: when the run started, as shown to readers.
        confidentiality: the study's confidentiality line (``Protocol.confidentiality``).

    Returns:
        The HTML text (UTF-8 when written). The nbconvert exporter and the vega bundle are
        built once per process, so repeated exports are fast.

    Example:
        >>> import nbformat
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
        >>> "hello" in export_html(nb, audience="analyst", title="T", study="S",
        ...                        data_cutoff=None, run_time="now")
        True
    """
    if audience not in AUDIENCES:
        raise ValueError(f"trialkit: audience {audience!r} is not one of {', '.join(AUDIENCES)}")
    nb = _prepare(notebook, audience=audience, title=title, study=study)
    has_charts = any('class="trialkit-chart"' in str(out.get("data", {}).get("text/html", ""))
                     for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))
    resources = {
        "trialkit": {
            "audience": audience,
            "css": theme_css(),
            "vega_bundle": _locked_bundle() if has_charts else "",
            "header_html": header_html(title=title, study=study, data_cutoff=data_cutoff, run_time=run_time,
                                       confidentiality=confidentiality),
            "footer_html": footer_html(study=study, run_time=run_time, confidentiality=confidentiality),
        },
        "metadata": {"name": title},
    }
    with _EXPORT_LOCK:
        body, _ = _exporter(audience).from_notebook_node(nb, resources=resources)
    return dedupe_styles(_with_toc(body))


def page(title: str, body_html: str, *, study: str, data_cutoff: str | None, run_time: str,
         include_vega: bool | None = None, confidentiality: str | None = None) -> str:
    """A non-notebook page (e.g. the run's ``index.html``) in the same shell as the reports.

    Args:
        title: page title (plain text; escaped).
        body_html: trusted HTML for the content; escape any data in it with ``html.escape``.
        study: the study id.
        data_cutoff: ISO date or None.
        run_time: when the run started.
        include_vega: add the vega bundle; default: only if the body holds a trialkit chart.

    Example:
        >>> text = page("Run index", "<h2>Reports</h2><h2>Failures</h2>", study="TRIAL-1",
        ...             data_cutoff="2026-03-31", run_time="2026-04-01 08:00 UTC")
        >>> 'href="#' in text and "Reports</a>" in text
        True
    """
    if include_vega is None:
        include_vega = 'class="trialkit-chart"' in body_html
    # h2 headings without ids get one, so the table of contents can link to them.
    counter = iter(range(1, 10_000))
    body_html = re.sub(r"<h([23])>", lambda m: f'<h{m.group(1)} id="section-{next(counter)}">', body_html)
    head_js = bundle_html(vega_bundle()) if include_vega else ""
    doc = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
        f"<title>{_text(title)} — {_text(study)}</title>\n"
        f"{head_js}\n"
        f'<style id="trialkit-theme">\n{theme_css()}\n</style>\n'
        "</head>\n"
        '<body class="trialkit-page">\n'
        f"{header_html(title=title, study=study, data_cutoff=data_cutoff, run_time=run_time, confidentiality=confidentiality)}\n"
        f'<div class="trialkit-layout">\n{_TOC_MARK}\n'
        f'<main class="trialkit-content jp-RenderedMarkdown">\n{body_html}\n</main>\n</div>\n'
        f"{footer_html(study=study, run_time=run_time, confidentiality=confidentiality)}\n"
        "</body>\n</html>\n"
    )
    return _with_toc(doc)
