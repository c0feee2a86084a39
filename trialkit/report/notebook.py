"""Helpers that report notebooks call: offline charts, readable tables, findings.

A report notebook calls :func:`setup` once after its parameters, then one ``show_*`` per
figure or table. Each ``show_*`` displays its object and, when the notebook runs inside
``trialkit run`` (``output_dir`` set), also writes the static copy the run folder promises
(DESIGN section 4): ``figures/<name>.svg`` and ``tables/<name>.csv``. Interactively
(``output_dir=""``) nothing is written. Writes are atomic.

Charts use the ``trialkit`` altair renderer: each chart is a ``<div>`` holding a static SVG
(vl-convert, ids prefixed so several SVGs can share a page) and a few lines of script that
swap in the interactive chart when ``window.vegaEmbed`` exists — the exported HTML defines
it once in ``<head>`` (see :mod:`trialkit.report.html`). JavaScript blocked, or a live
JupyterLab without the bundle: the SVG stays. No CDN is ever referenced.

Interactivity in reports uses Vega-Lite params (legend selections, tooltips, bound
ranges), never ipywidgets: an e-mailed HTML has no kernel to run widget callbacks.

Example (a notebook cell)::

    from trialkit.report.notebook import setup, show_chart, show_table
    setup(audience=audience, output_dir=output_dir)
    show_table(site_table, "subjects_by_site", title="Subjects by site")
    show_chart(plot_subjects_by_arm_site(counts), "subjects_by_arm_site")
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from trialkit.format import MISSING
from trialkit.report.files import write_bytes
from trialkit.report.vega import vl_version

AUDIENCES = ("investigator", "analyst")
RENDERER = "trialkit"
TABLE_MAX_ROWS = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_counter = itertools.count(1)


@dataclass
class _State:
    audience: str = "analyst"
    output_dir: Path | None = None
    written: set[Path] = field(default_factory=set)
    empty_selection: bool = False  # set by show_scope: every table and chart then says why it is empty


#: What an empty table or chart says when the run's cutoff and filters select no subject.
EMPTY_SELECTION = "No subject matches these filters"


_STATE = _State()


# ---------------------------------------------------------------------------------------
# writing (the only place a notebook writes files)

def _checked_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValueError(f"trialkit: figure/table name {name!r} must be a plain file stem "
                         "(letters, digits, '_', '-', '.'), e.g. 'subjects_by_site'")
    return name


def _target(kind: str, name: str, suffix: str) -> Path | None:
    if _STATE.output_dir is None:
        return None
    path = _STATE.output_dir / kind / f"{_checked_name(name)}{suffix}"
    if path in _STATE.written:
        # in a run every cell runs once: a second write would silently replace the first file
        raise ValueError(f"trialkit: {kind}/{path.name} is written twice in this report; "
                         "give each show_chart/show_table/show_findings call its own name")
    _STATE.written.add(path)
    return path


# ---------------------------------------------------------------------------------------
# charts

def chart_svg(spec: Mapping[str, Any], *, prefix: str | None = None) -> str:
    """The static SVG of a Vega-Lite spec, with every id prefixed (unique per page).

    Args:
        spec: a Vega-Lite dict (``chart.to_dict()``).
        prefix: id prefix; default derived from the spec's hash.

    Example:
        >>> svg = chart_svg({"mark": "point", "data": {"values": [{"x": 1}]},
        ...                  "encoding": {"x": {"field": "x", "type": "quantitative"}}}, prefix="c1")
        >>> svg.startswith("<svg")
        True
    """
    import vl_convert

    svg = compact_svg(vl_convert.vegalite_to_svg(dict(spec), vl_version=vl_version()))
    if prefix is None:
        prefix = "c" + hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if ids:
        alternation = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
        svg = re.sub(rf'\bid="({alternation})"', rf'id="{prefix}-\1"', svg)
        svg = re.sub(rf"url\(#({alternation})\)", rf"url(#{prefix}-\1)", svg)
        svg = re.sub(rf'href="#({alternation})"', rf'href="#{prefix}-\1"', svg)
    return svg


# Geometry attributes of vl-convert's SVG, whose numbers come with 15 decimals
# (16.500000000000004): two are 1/100 px, and a chart of many marks is a third smaller.
_GEOMETRY = re.compile(r'\b(d|transform|x|y|x1|x2|y1|y2|cx|cy|r|width|height|points|viewBox)="([^"]*)"')
_LONG_NUMBER = re.compile(r"(-?\d+\.\d{3,})")
_ARIA = re.compile(r'\s(?:aria-[a-z]+|role|pointer-events)="[^"]*"')
# A static fallback SVG larger than this (a chart of thousands of marks) becomes a PNG when
# the PNG is smaller: a report stays under ~1.2 MB however many subjects a chart draws.
SVG_MAX_BYTES = 200_000
PNG_SCALE = 2  # pixels per CSS pixel: sharp on high-density screens and on paper


def compact_svg(svg: str) -> str:
    """Round the long decimals of an SVG's geometry attributes to 2 places (text untouched).

    Example:
        >>> compact_svg('<path d="M0.30000000000000004,16.500000000000004h2"/><text>0.125</text>')
        '<path d="M0.3,16.5h2"/><text>0.125</text>'
    """
    def short(number: re.Match[str]) -> str:
        text = f"{float(number.group(1)):.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text

    return _GEOMETRY.sub(lambda m: f'{m.group(1)}="{_LONG_NUMBER.sub(short, m.group(2))}"', svg)


def static_image(spec: Mapping[str, Any], svg: str, *, label: str = "Chart") -> str:
    """The chart's static fallback: its SVG, or a PNG ``<img>`` when the SVG is huge.

    A scatter or swimmer plot of thousands of marks makes an SVG of megabytes; above
    :data:`SVG_MAX_BYTES` the chart is rendered as a PNG (``PNG_SCALE`` x, else 1 x) and that
    is used when it is smaller. The ``figures/`` copy stays the SVG (vector, for print).

    Example:
        >>> static_image({}, '<svg><g role="graphics-object" aria-roledescription="axis"></g></svg>')
        '<svg><g></g></svg>'
    """
    # The page wraps the image in role="img" with the chart's title as its label, which makes
    # everything inside presentational to a screen reader: vl-convert's per-mark ARIA
    # attributes are a fifth of the SVG and say nothing there.
    svg = _ARIA.sub("", svg)
    if len(svg) <= SVG_MAX_BYTES:
        return svg
    import base64

    import vl_convert

    for scale in (PNG_SCALE, 1):  # sharp if that is smaller than the SVG, else at least 1x
        png = vl_convert.vegalite_to_png(dict(spec), scale=scale, vl_version=vl_version())
        encoded = base64.b64encode(png).decode("ascii")
        if len(encoded) < len(svg):
            break
    else:
        return svg  # a PNG of a tall chart can be larger still: the SVG is the smaller copy
    root = re.match(r"<svg\b[^>]*>", svg)
    dims = ""
    for name in ("width", "height"):
        found = re.search(rf'\s{name}="([\d.]+)"', root.group(0)) if root else None
        dims += f' {name}="{found.group(1)}"' if found else ""
    return (f'<img class="trialkit-chart-png" src="data:image/png;base64,{encoded}"{dims} '
            f'alt="{html.escape(label, quote=True)}">')


def _json_for_script(obj: Any) -> str:
    # JSON that cannot close its <script> element nor open a comment, whatever the data holds.
    text = json.dumps(obj, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# The page's bundle is gzip-packed and unpacked asynchronously (trialkit.report.bundle): a
# chart swaps in its interactive view at once when vegaEmbed is already there (a live
# JupyterLab after setup()), else when the loader fires "trialkit-vega-ready" (never, where
# JavaScript or DecompressionStream is missing: the static image stays).
_SWAP_JS = """(function(){var root=document.getElementById("%s");if(!root){return;}
function go(){if(typeof window.vegaEmbed!=="function"){return;}
var live=root.querySelector(".trialkit-chart-live"),el=root.querySelector(".trialkit-chart-spec"),n=el.getAttribute("data-bytes");
var text=n?(typeof window.trialkitInflate==="function"?window.trialkitInflate(el.textContent,parseInt(n,10)):Promise.reject(new Error("no inflater"))):Promise.resolve(el.textContent);
text.then(function(t){return window.vegaEmbed(live,JSON.parse(t),{actions:false,renderer:"svg"});}).then(function(){var s=root.querySelector(".trialkit-chart-static");if(s){s.remove();}root.classList.add("trialkit-chart-interactive");})
.catch(function(e){live.replaceChildren();console.warn("trialkit: interactive chart unavailable, static image kept:",e);});}
function start(){if(typeof window.vegaEmbed==="function"){go();}else{window.addEventListener("trialkit-vega-ready",go,{once:true});}}
if(document.readyState==="loading"){document.addEventListener("DOMContentLoaded",start);}else{start();}})();"""


def chart_html(spec: Mapping[str, Any], *, svg: str | None = None, chart_id: str | None = None) -> str:
    """The HTML of one chart: inline static SVG + spec + the script that makes it interactive.

    Args:
        spec: a Vega-Lite dict (``chart.to_dict()``).
        svg: the static SVG if already computed (see :func:`chart_svg`).
        chart_id: the element id; default unique in this process and stable across runs.

    Example:
        >>> html_ = chart_html({"mark": "point", "data": {"values": [{"x": 1}]},
        ...                     "encoding": {"x": {"field": "x", "type": "quantitative"}}})
        >>> html_.count('class="trialkit-chart-static"')
        1
    """
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:8]
    chart_id = chart_id or f"tkchart-{next(_counter)}-{digest}"
    if svg is None:
        svg = chart_svg(spec, prefix=chart_id)
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    label = html.escape(str(title if title else "Chart"), quote=True)
    static = static_image(spec, svg, label=str(title if title else "Chart"))
    return (
        f'<div class="trialkit-chart" id="{chart_id}">'
        f'<div class="trialkit-chart-static" role="img" aria-label="{label}">{static}</div>'
        f'<div class="trialkit-chart-live"></div>'
        f"{spec_script(spec)}"
        f"<script>{_SWAP_JS % chart_id}</script>"
        f"</div>"
    )


# A spec above this many characters of JSON is packed (gzip + base-85, ~10 x smaller): only
# the interactive view reads it, and that needs JavaScript, which unpacks it
# (window.trialkitInflate, defined with the page's bundle). Smaller specs stay plain JSON.
SPEC_PACK_MIN = 20_000


def spec_script(spec: Mapping[str, Any]) -> str:
    """The ``<script>`` holding a chart's spec: plain JSON, or packed when it is large.

    Example:
        >>> spec_script({"mark": "bar"})
        '<script type="application/json" class="trialkit-chart-spec">{"mark":"bar"}</script>'
        >>> packed = spec_script({"data": {"values": [{"x": i} for i in range(3000)]}})
        >>> 'data-encoding="gzip+base85"' in packed and len(packed) < 10_000
        True
    """
    from trialkit.report.bundle import ENCODING, pack_text

    text = _json_for_script(spec)
    if len(text) < SPEC_PACK_MIN:
        return f'<script type="application/json" class="trialkit-chart-spec">{text}</script>'
    packed, size = pack_text(text)
    return (f'<script type="application/x-trialkit-spec" class="trialkit-chart-spec" data-encoding="{ENCODING}" '
            f'data-bytes="{size}">{packed}</script>')


def _renderer(spec: dict, **_metadata: Any) -> dict[str, str]:
    """Altair renderer: the chart as self-contained HTML (static SVG + interactive swap)."""
    return {"text/html": chart_html(spec), "text/plain": "<trialkit chart>"}


def enable_renderer() -> None:
    """Register and enable the ``trialkit`` altair renderer (idempotent).

    Example:
        >>> enable_renderer()
        >>> import altair as alt
        >>> alt.renderers.active
        'trialkit'
    """
    import altair as alt

    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, _renderer)
    alt.renderers.enable(RENDERER)


LIVE_BUNDLE_METADATA = {"trialkit": "vega-bundle"}


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def setup(*, audience: str = "analyst", output_dir: str | os.PathLike[str] = "",
          interactive: bool | None = None) -> None:
    """Prepare a report notebook: the offline chart renderer, the theme, where to write.

    Args:
        audience: ``investigator`` or ``analyst`` (only the HTML export uses it: code hidden
            or shown).
        output_dir: the run folder ("" when run interactively: nothing is written).
        interactive: load the vega bundle into a live JupyterLab so charts are interactive
            (one ~0.9 MB output, dropped by the HTML export, which has its own copy in
            ``<head>``). Default: when run interactively in a kernel (``output_dir`` "").
            Without it charts still show, as static SVG.

    Example:
        >>> setup(audience="analyst", output_dir="")
    """
    if audience not in AUDIENCES:
        raise ValueError(f"trialkit: audience {audience!r} is not one of {', '.join(AUDIENCES)}")
    import trialkit.charts  # noqa: F401  registers and enables the one theme

    enable_renderer()
    _STATE.audience = audience
    _STATE.output_dir = Path(output_dir) if str(output_dir or "").strip() else None
    _STATE.written = set()
    _STATE.empty_selection = False
    if interactive is None:
        interactive = _STATE.output_dir is None and _in_kernel()
    if interactive:
        from IPython.display import display

        from trialkit.report.html import vega_bundle

        from trialkit.report.bundle import inflate_js

        display({"text/html": f'<script class="trialkit-vega-bundle-live">{vega_bundle()}\n{inflate_js()}</script>'},
                metadata=dict(LIVE_BUNDLE_METADATA), raw=True)


def load_study(report: str, *, study: Any = "", data_dir: Any = "", data_cutoff: Any = "",
               sites: Any = (), arms: Any = ()):
    """The study a report notebook reads (:func:`trialkit.study.open_study`): read, checked, cut off, filtered.

    The same resolution as ``trialkit run``: an empty ``data_dir`` is the built-in demo
    study with its cutoff, an empty ``study`` the protocol matching the data's STUDYID.

    Example (a notebook cell)::

        data = load_study("study_overview", study=study, data_dir=data_dir,
                          data_cutoff=data_cutoff, sites=sites, arms=arms)
    """
    from trialkit.study import open_study

    return open_study(report, study=study, data_dir=data_dir, data_cutoff=data_cutoff, sites=sites, arms=arms)


def show_scope(data: Any) -> None:
    """What this report covers and what it leaves out, shown once near the top of every report.

    - the protocol used (a warning when it is generic, built from the data);
    - the data cutoff and the records dated after it, per dataset (in a run also
      ``tables/cutoff.csv``);
    - how many subjects the cutoff and the ``sites``/``arms`` filters leave out, by reason
      (the subjects themselves are listed by :func:`show_left_out`, at the end of a report);
    - why screening counts cannot be shown, when the folder has ADSL only;
    - when no subject matches the cutoff and filters (``data.empty``), that first, with what
      each filter left out: an empty selection is a result, and every table and chart that
      follows says it is empty because of it.

    The output carries ``data.describe_selection()`` in its metadata (``trialkit.selection``):
    ``trialkit run`` reads it from the executed notebook, records it in the manifest and the
    index, and exits with the ``--fail-on-empty`` code when asked. A report gets all of this
    by calling ``show_scope(data)`` once, near the top, as every report does.

    Args:
        data: the :class:`trialkit.study.ReportStudy` of :func:`load_study`.
    """
    from trialkit.derive.scope import describe_cutoff, describe_left_out, summarize_cutoff

    protocol = data.protocol
    selection = data.describe_selection()
    _STATE.empty_selection = bool(selection["empty"])
    notes = [_empty_selection_html(selection)] if selection["empty"] else []
    if protocol.generic:
        notes.append(f"<p class=\"trialkit-note trialkit-note-warning\"><strong>No protocol file for this "
                     f"study:</strong> {html.escape(protocol.display_id)} is shown with a generic protocol built "
                     f"from the data (its arms and sites; no dosing windows, no eligibility catalog). Checks "
                     f"that need a protocol rule are skipped and say so.</p>")
    else:
        notes.append(f"<p class=\"trialkit-note\">Protocol: {html.escape(protocol.display_id)} — "
                     f"{html.escape(protocol.title)}.</p>")
    source = {"ADSL": "ADSL (this folder has no DM)",
              "NONE": "nowhere: this folder has neither DM nor ADSL, so no subject is known to be randomized"
              }.get(data.source, "DM")
    notes.append(f"<p class=\"trialkit-note\">Subjects from {html.escape(source)}. "
                 f"{html.escape(describe_cutoff(data.cutoff_summary, data.params.data_cutoff))} "
                 f"{html.escape(describe_left_out(data.screened, source=data.source))}</p>")
    if data.screening_note:
        notes.append(f"<p class=\"trialkit-note trialkit-note-warning\">{html.escape(data.screening_note)}</p>")
    _display_marked('<div class="trialkit-scope">' + "".join(notes) + "</div>", {"selection": selection})
    cut = summarize_cutoff(data.cutoff_summary)
    if data.params.data_cutoff is not None and cut.height:
        show_table(cut, "cutoff", title=f"Records and dates after the data cutoff {data.params.data_cutoff}",
                   subtitle="Left out of every table and chart of this report.")


def describe_empty_selection(selection: Mapping[str, Any]) -> str:
    """The sentence under "No subject matches these filters": the filters, and what each left out.

    Example:
        >>> describe_empty_selection({"in_data": 200, "source": "DM", "data_cutoff": "2020-01-01", "sites": [],
        ...     "arms": [], "left_out": {"consented after the data cutoff 2020-01-01": 200}})
        'Data cutoff 2020-01-01, every site, every arm: of the 200 subjects in DM, 200 consented after the data cutoff 2020-01-01. The tables and charts below count no subject; the subjects left out are listed at the end.'
    """
    filters = ", ".join([
        f"data cutoff {selection['data_cutoff']}" if selection.get("data_cutoff") else "no data cutoff",
        f"sites {', '.join(selection['sites'])}" if selection.get("sites") else "every site",
        f"arms {', '.join(selection['arms'])}" if selection.get("arms") else "every arm"])
    counts = "; ".join(f"{n:,} {reason}" for reason, n in selection.get("left_out", {}).items())
    subjects = f"of the {selection.get('in_data', 0):,} subjects in {selection.get('source', 'DM')}, "
    if selection.get("subjects") and selection.get("arms"):
        counts = (f"{counts + '; ' if counts else ''}none of the {selection['subjects']:,} left is randomized "
                  f"to arm {', '.join(selection['arms'])}")
    return (f"{filters[0].upper()}{filters[1:]}: {subjects}{counts or 'none is left out'}. The tables and charts "
            f"below count no subject; the subjects left out are listed at the end.")


def _empty_selection_html(selection: Mapping[str, Any]) -> str:
    return (f'<p class="trialkit-note trialkit-note-warning trialkit-empty-selection"><strong>{EMPTY_SELECTION}.'
            f"</strong> {html.escape(describe_empty_selection(selection))}</p>")


def _display_marked(markup: str, marks: Mapping[str, Any]) -> None:
    """Display HTML whose output metadata carries ``{"trialkit": marks}`` for the runner to read."""
    from IPython.display import display

    display({"text/html": markup, "text/plain": "<trialkit output>"}, metadata={"trialkit": dict(marks)}, raw=True)


def _empty_note(what: str) -> str:
    reason = f"{EMPTY_SELECTION}." if _STATE.empty_selection else "No rows."
    return f'<p class="trialkit-note trialkit-empty">{html.escape(what)}: {html.escape(reason)}</p>'


def show_left_out(data: Any, name: str = "left_out") -> None:
    """Every subject the cutoff and the filters leave out, with the reason (in a run also ``tables/<name>.csv``).

    Args:
        data: the :class:`trialkit.study.ReportStudy` of :func:`load_study`.
        name: file stem of the CSV.
    """
    from trialkit.derive.scope import describe_left_out, summarize_left_out

    show_listing(summarize_left_out(data.screened), name, title="Subjects left out by the cutoff and filters",
                 subtitle=describe_left_out(data.screened, source=data.source))


def show_notes(notes: Iterable[str], *, title: str = "", warning: bool = True) -> None:
    """Display sentences as a short note (e.g. what the data do not let a report show); nothing when empty.

    Args:
        notes: plain-text sentences (escaped).
        title: a bold lead-in.
        warning: the warning style (a yellow bar) rather than a plain note.

    Example (a notebook cell)::

        show_notes(scr.notes, title="What this report cannot show")
    """
    items = [str(n) for n in notes if str(n).strip()]
    if not items:
        return
    style = "trialkit-note trialkit-note-warning" if warning else "trialkit-note"
    head = f"<strong>{html.escape(title)}</strong>" if title else ""
    body = (f"<p>{html.escape(items[0])}</p>" if len(items) == 1 and not title
            else "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in items) + "</ul>")
    _display_html(f'<div class="{style} trialkit-notes">{head}{body}</div>')


def _display_html(markup: str) -> None:
    from IPython.display import display

    display({"text/html": markup, "text/plain": "<trialkit output>"}, raw=True)


def _write_data(name: str, data: pl.DataFrame | None) -> None:
    """In a run, ``tables/<name>.csv``: the data behind a figure (DESIGN section 4)."""
    _checked_name(name)
    target = _target("tables", name, ".csv")
    if data is not None and target is not None:
        write_bytes(_csv_bytes(data), target)


def show_chart(chart: Any, name: str, *, data: pl.DataFrame | None = None) -> None:
    """Display a chart and, in a run, write ``figures/<name>.svg`` (and ``tables/<name>.csv``).

    Args:
        chart: an altair chart (any ``plot_*`` result).
        name: file stem of the static copy, e.g. ``"subjects_by_arm_site"``.
        data: the tidy frame behind the chart; in a run it is written as
            ``tables/<name>.csv`` (DESIGN section 4: the data behind every figure).

    Example (a notebook cell)::

        show_chart(plot_subjects_by_arm_site(counts), "subjects_by_arm_site", data=counts)
    """
    _write_data(name, data)
    spec = chart.to_dict()
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:8]
    chart_id = f"tkchart-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}-{digest}"
    svg = chart_svg(spec, prefix=chart_id)
    target = _target("figures", name, ".svg")
    if target is not None:
        write_bytes(svg.encode("utf-8"), target)
    nothing = data is not None and data.height == 0   # an empty chart says why instead of showing bare axes
    _display_html(_empty_note(_chart_title(spec) or "Chart") if nothing else chart_html(spec, svg=svg, chart_id=chart_id))


def _chart_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    if isinstance(title, Mapping):
        title = title.get("text")
    return " ".join(title) if isinstance(title, list) else str(title or "")


# ---------------------------------------------------------------------------------------
# tables

def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns CSV and HTML tables cannot hold, as text: lists joined, structs as JSON, durations ISO."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Array):
            col, dtype = col.cast(pl.List(dtype.inner)), pl.List(dtype.inner)
        if isinstance(dtype, pl.List):
            exprs.append(col.list.eval(pl.element().cast(pl.String)).list.join(", ").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode().alias(name))
        elif isinstance(dtype, pl.Duration):
            exprs.append(col.dt.to_string("iso").alias(name))
    return frame.with_columns(exprs) if exprs else frame


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    return _flatten(frame).write_csv(date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S", time_format="%H:%M:%S",
                          include_header=True).encode("utf-8")


def table_html(frame: pl.DataFrame, *, title: str = "", subtitle: str = "", table_id: str | None = None,
               max_rows: int = TABLE_MAX_ROWS) -> str:
    """A great_tables HTML table; every cell, label and title is escaped.

    Args:
        frame: the rows to show (at most ``max_rows`` are rendered, with a note).
        title: table title (plain text).
        subtitle: optional plain-text subtitle.
        table_id: the element id (stable ids keep outputs diff-friendly).
        max_rows: rows rendered in the HTML; the CSV copy always has all of them.

    Example:
        >>> import polars as pl
        >>> "&lt;b&gt;" in table_html(pl.DataFrame({"Site": ["<b>"]}), title="Sites")
        True
    """
    from great_tables import GT

    if frame.width == 0:  # nothing to lay out at all
        return _empty_note(title or "Table")
    shown = frame.head(max_rows)
    if frame.height > max_rows:
        note = f"First {max_rows} of {frame.height} rows; the full table is in the run's tables/ folder."
        subtitle = f"{subtitle} — {note}" if subtitle else note
    shown = _flatten(shown)
    table = GT(shown, id=table_id or f"tktable-{next(_counter)}")
    if title or subtitle:
        table = table.tab_header(title=title or "", subtitle=subtitle or None)
    table = table.opt_stylize(style=1, color="gray").tab_options(
        table_font_size="14px", column_labels_font_weight="600", table_width="auto",
        data_row_padding="4px", heading_align="left", table_margin_left="0px")
    # STYLE section 10: counts with thousands separators, a dash for what is missing
    integers = [c for c, dtype in shown.schema.items() if dtype.is_integer()]
    if integers and shown.height:
        table = table.fmt_integer(columns=integers, use_seps=True)
    if shown.height:
        table = table.sub_missing(missing_text=MISSING)
    if shown.height == 0:
        table = table.tab_source_note(f"{EMPTY_SELECTION}." if _STATE.empty_selection else "No rows.")
    return f'<div class="trialkit-table">{shared_table_css(table.as_raw_html())}</div>'


_GT_ROOT = re.compile(r'<div id="([^"]+)" style=')
_GT_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def shared_table_css(markup: str) -> str:
    """A great_tables table whose ~8 KB stylesheet can be shared by every table styled alike.

    great_tables scopes its stylesheet to the table's id, so ten tables carry ten copies.
    Here it is scoped to a class named after the stylesheet's own hash instead (tables
    styled alike get the same class), and minified; the page export then keeps one copy of
    each (:func:`trialkit.report.html.dedupe_styles`).

    Example:
        >>> html_ = '<div id="t1" style="x"><style>#t1 table {  color: red;  }</style><table></table></div>'
        >>> shared_table_css(html_)
        '<div id="t1" class="tkgt-44c8611e" style="x"><style>.tkgt-44c8611e table { color: red; }</style><table></table></div>'
    """
    root, style = _GT_ROOT.search(markup), _GT_STYLE.search(markup)
    if not root or not style:
        return markup
    table_id = root.group(1)
    css = re.sub(r"\s+", " ", style.group(1)).strip().replace(f"#{table_id}", "#__TABLE__")
    scope = "tkgt-" + hashlib.sha1(css.encode()).hexdigest()[:8]
    css = css.replace("#__TABLE__", f".{scope}")
    markup = markup.replace(style.group(0), f"<style>{css}</style>", 1)
    return markup.replace(root.group(0), f'<div id="{table_id}" class="{scope}" style=', 1)


def show_table(frame: pl.DataFrame, name: str, *, title: str = "", subtitle: str = "",
               max_rows: int = TABLE_MAX_ROWS, data: pl.DataFrame | None = None) -> None:
    """Display a readable table and, in a run, write ``tables/<name>.csv`` (all rows).

    The CSV is UTF-8 with a header row and ISO dates (DESIGN section 5).

    Args:
        frame: an eager polars frame.
        name: file stem of the CSV, e.g. ``"subjects_by_site"``.
        title: table title shown above it.
        subtitle: optional line under the title.
        max_rows: rows shown in the HTML.
        data: the raw numbers to write as the CSV instead of ``frame`` (a table printed with
            "12 (40.0%)" cells keeps its counts and percentages as numbers for machines).

    Example (a notebook cell)::

        show_table(site_table, "subjects_by_site", title="Subjects by site")
    """
    _checked_name(name)
    target = _target("tables", name, ".csv")
    if target is not None:
        write_bytes(_csv_bytes(frame if data is None else data), target)
    _display_html(table_html(frame, title=title, subtitle=subtitle, max_rows=max_rows,
                             table_id=f"tktable-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"))


LISTING_MAX_ROWS = 2000

# Search and sort for a listing, offline: the rows are in the page; without JavaScript the
# table is simply shown whole. One function per listing (ids are unique per page).
_LISTING_JS = """(function(){var root=document.getElementById("%s");if(!root){return;}
var table=root.querySelector("table"),body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows),
box=root.querySelector("input"),count=root.querySelector(".trialkit-listing-count"),total=rows.length;
root.classList.add("trialkit-listing-live");
function show(){var q=box.value.trim().toLowerCase(),n=0;rows.forEach(function(r){var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;r.hidden=!hit;if(hit){n++;}});
count.textContent=(q?n+" of "+total:total)+" row"+(total===1?"":"s");}
box.addEventListener("input",show);
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){th.tabIndex=0;th.setAttribute("role","button");
function sort(){var dir=th.getAttribute("aria-sort")==="ascending"?-1:1;
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",dir>0?"ascending":"descending");
function key(c){return c.hasAttribute("data-v")?c.getAttribute("data-v"):c.textContent;}
rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
var nx=parseFloat(x),ny=parseFloat(y);if(x!==""&&y!==""&&!isNaN(nx)&&!isNaN(ny)&&isFinite(x)&&isFinite(y)){return dir*(nx-ny);}
if(x===""){return 1;}if(y===""){return -1;}return dir*x.localeCompare(y);});
rows.forEach(function(r){body.appendChild(r);});}
th.addEventListener("click",sort);th.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault();sort();}});});
show();})();"""


def listing_html(frame: pl.DataFrame, *, title: str = "", subtitle: str = "", listing_id: str = "tklisting",
                 max_rows: int = LISTING_MAX_ROWS) -> str:
    """A listing to search and sort in the page, offline (every value escaped).

    Clicking a column heading sorts by it (numbers as numbers, ISO dates as text sort right,
    blanks last); the search box keeps the rows holding its text. Without JavaScript it is a
    plain table. At most ``max_rows`` rows are put in the page, with a note.

    Example:
        >>> text = listing_html(pl.DataFrame({"Subject": ["<i>1</i>"], "Day": [3], "N": [14116]}), title="Listing")
        >>> "&lt;i&gt;1&lt;/i&gt;" in text and "<td>3</td>" in text and '<td data-v="14116">14,116</td>' in text
        True
    """
    shown = _flatten(frame.head(max_rows))
    note = (f" First {max_rows:,} of {frame.height:,} rows; the full listing is in the run's tables/ folder."
            if frame.height > max_rows else "")
    integers = {c for c, dtype in shown.schema.items() if dtype.is_integer()}
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in shown.columns)
    body = []
    for row in shown.iter_rows():
        cells = []
        for column, value in zip(shown.columns, row):
            raw = "" if value is None else str(value)
            text = MISSING if value is None else (f"{value:,}" if column in integers else raw)
            # the sort key only where the shown text differs from the value (14,116; a dash)
            key = f' data-v="{html.escape(raw, quote=True)}"' if text != raw else ""
            cells.append(f"<td{key}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = ""
    if title or subtitle or note:
        caption = (f'<p class="trialkit-listing-title">{html.escape(title)}</p>' if title else "") + \
                  (f'<p class="trialkit-listing-subtitle">{html.escape(subtitle + note)}</p>' if subtitle or note else "")
    return (f'<div class="trialkit-listing" id="{listing_id}">{caption}'
            f'<div class="trialkit-listing-tools"><input type="search" placeholder="Search this listing" '
            f'aria-label="Search {html.escape(title or "listing", quote=True)}">'
            f'<span class="trialkit-listing-count">{shown.height:,} row{"s" if shown.height != 1 else ""}</span></div>'
            f'<div class="trialkit-listing-scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            f"<script>{_LISTING_JS % listing_id}</script></div>")


def show_listing(frame: pl.DataFrame, name: str, *, title: str = "", subtitle: str = "",
                 max_rows: int = LISTING_MAX_ROWS, data: pl.DataFrame | None = None) -> None:
    """Display a searchable, sortable listing (:func:`listing_html`); in a run also ``tables/<name>.csv``.

    ``data``, when given, is written as the CSV instead of ``frame`` (e.g. the same rows
    under their CDISC column names, while the page shows readable headings).

    Example (a notebook cell)::

        show_listing(screening.summarize_failure_listing(data), "screen_failures", title="Screen failures")
    """
    _checked_name(name)
    target = _target("tables", name, ".csv")
    if target is not None:
        write_bytes(_csv_bytes(frame if data is None else data), target)
    _display_html(listing_html(frame, title=title, subtitle=subtitle, max_rows=max_rows,
                               listing_id=f"tklisting-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}"))


def show_html(markup: str, name: str, *, data: pl.DataFrame | None = None) -> None:
    """Display trusted HTML built by a ``trialkit.charts`` builder (e.g. a flow diagram).

    The builder escapes every text from the data; in a run ``data`` (the numbers behind
    the figure) is written as ``tables/<name>.csv`` and the markup as ``figures/<name>.html``.

    Example (a notebook cell)::

        show_html(consort_html(flow), "consort", data=flow)
    """
    _write_data(name, data)
    figure_target = _target("figures", name, ".html")
    if figure_target is not None:
        write_bytes(markup.encode("utf-8"), figure_target)
    _display_html(f'<div class="trialkit-figure" id="tkfigure-{re.sub(r"[^A-Za-z0-9_-]", "-", name)}">{markup}</div>')


_LEVEL_STYLE = {
    "ERROR": ("#fde8e8", "#9b1c1c"),
    "WARNING": ("#fdf6e3", "#8a5a00"),
    "INFO": ("#eef2f7", "#334e68"),
}


def findings_frame(findings: Iterable[Any]) -> pl.DataFrame:
    """Findings (``trialkit.validate`` objects with level, dataset, column, message, rows) as a frame.

    Example:
        >>> from types import SimpleNamespace as F
        >>> findings_frame([F(level="warning", dataset="rs", column="RSSTRESC",
        ...                   message="odd value", rows=[3, 7])]).row(0)
        ('WARNING', 'RS', 'RSSTRESC', 'odd value', '3; 7')
    """
    def rows_text(rows: Any) -> str:
        if rows is None:
            return ""
        if isinstance(rows, (str, int)):
            return str(rows)
        if isinstance(rows, pl.DataFrame):
            return f"{rows.height} rows"
        try:
            items = list(rows)
        except TypeError:
            return str(rows)
        text = "; ".join(str(r) for r in items[:10])
        return text + (f", … ({len(items)} in all)" if len(items) > 10 else "")

    records = []
    for f in findings:
        get = (lambda k, f=f: f.get(k)) if isinstance(f, Mapping) else (lambda k, f=f: getattr(f, k, None))
        level = get("level")
        level = getattr(level, "name", None) or getattr(level, "value", None) or level
        message = re.sub(r"^trialkit:\s*", "", str(get("message") or ""))
        path = get("path")
        if path:
            # an e-mailed report names the file, not the server's folders
            message = message.replace(str(path), Path(str(path)).name)
        records.append({
            "Level": str(level or "").upper(),
            "Dataset": str(get("dataset") or "").upper(),
            "Column": str(get("column") or ""),
            "Message": message,
            "Rows": rows_text(get("rows")),
        })
    schema = {k: pl.String for k in ("Level", "Dataset", "Column", "Message", "Rows")}
    order = {"ERROR": 0, "WARNING": 1}
    return pl.DataFrame(records, schema=schema).sort(
        pl.col("Level").replace_strict(order, default=2, return_dtype=pl.Int8), "Dataset", maintain_order=True)


def show_findings(findings: Iterable[Any], name: str = "findings", *, title: str = "Validation findings"
                  ) -> None:
    """Display validation errors and warnings as a styled table (all text escaped).

    In a run, also writes ``tables/<name>.csv``.

    Args:
        findings: ``Study.findings`` / ``validate_study(...)`` results (objects or dicts with
            level, dataset, column, message, rows).
        name: file stem of the CSV.
        title: table title.

    Example (a notebook cell)::

        show_findings(study.findings)
    """
    from great_tables import loc, style

    frame = findings_frame(findings)
    target = _target("tables", name, ".csv")
    if target is not None:
        write_bytes(_csv_bytes(frame), target)
    if frame.height == 0:
        _display_html('<div class="trialkit-findings trialkit-findings-none">'
                      f"<strong>{html.escape(title)}:</strong> none — every check passed.</div>")
        return
    from great_tables import GT

    counts = frame["Level"].value_counts().sort("Level")
    summary = ", ".join(f"{n} {lvl.lower()}{'s' if n != 1 else ''}" for lvl, n in counts.iter_rows())
    table = (GT(frame, id=f"tkfindings-{re.sub(r'[^A-Za-z0-9_-]', '-', name)}")
             .tab_header(title=title, subtitle=summary)
             .opt_stylize(style=1, color="gray")
             .tab_options(table_font_size="14px", column_labels_font_weight="600", heading_align="left",
                          data_row_padding="4px", table_margin_left="0px"))
    for level, (background, colour) in _LEVEL_STYLE.items():
        rows = frame.with_row_index().filter(pl.col("Level") == level)["index"].to_list()
        if rows:
            table = table.tab_style(style=[style.fill(color=background), style.text(color=colour)],
                                    locations=loc.body(rows=rows))
            table = table.tab_style(style=style.text(weight="bold"),
                                    locations=loc.body(columns="Level", rows=rows))
    _display_html(f'<div class="trialkit-table trialkit-findings">{shared_table_css(table.as_raw_html())}</div>')
