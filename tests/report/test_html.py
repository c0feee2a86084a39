"""export_html / page on small notebooks: one bundle, no external URL, code by audience, header."""

from __future__ import annotations

import re

import nbformat
import polars as pl
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from trialkit.charts import plot_subjects_by_arm_site
from trialkit.report import html as report_html
from trialkit.report.html import BUNDLE_ID, export_html, page, vega_bundle

# The page's own confidentiality line when the study's protocol gives none, as it must read
# (written out: the module's constant would pass even if it were empty).
DEFAULT_CONFIDENTIALITY = "Confidential: contains clinical trial data; do not forward"
from trialkit.report.notebook import chart_html, chart_svg, findings_frame, table_html

# Anything a browser would fetch: src/href/srcset attributes, CSS url(...) and @import "..."
RESOURCE_URL = re.compile(r"""(?:\bsrc|\bhref|\bsrcset)\s*=\s*["']?\s*(?:https?:)?//"""
                          r"""|url\(\s*["']?\s*(?:https?:)?//|@import\s+["']\s*(?:https?:)?//""", re.I)
EVIL = "<script>window.__xss=1</script>"
COUNTS = pl.DataFrame({"SITEID": ["01", EVIL], "ARMCD": ["A", "B"], "ARM": ["A: x", "B: y"], "N": [3, 2]})


def _html_output(markup: str):
    return new_output("display_data", data={"text/html": markup, "text/plain": "<chart>"})


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: two charts and a table displayed by trialkit."""
    spec = plot_subjects_by_arm_site(COUNTS).to_dict()
    cells = [
        new_markdown_cell("# Overview\n\nIntro."),
        new_code_cell("SECRET_CODE_MARKER = 1", execution_count=1),
        new_markdown_cell("## Subjects by arm"),
        new_code_cell("show_chart(...)", execution_count=2, outputs=[_html_output(chart_html(spec)),
                                                                     _html_output(chart_html(spec))]),
        new_markdown_cell("## Tables & more"),
        new_code_cell("show_table(...)", execution_count=3,
                      outputs=[_html_output(table_html(COUNTS, title="Counts")),
                               new_output("stream", name="stderr", text="a library warning\n")]),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                            "version_minor": 0}}
    return nb


def _export(nb, audience="investigator", **kw):
    args = {"title": "Study <overview>", "study": "NCT07334483", "data_cutoff": "2026-03-31",
            "run_time": "2026-04-01 08:00 UTC"} | kw
    return export_html(nb, audience=audience, **args)


def test_one_vega_bundle_and_no_external_url(executed):
    text = _export(executed)
    assert text.count(f'id="{BUNDLE_ID}"') == 1
    assert text.count('type="application/x-trialkit-vega"') == 1   # gzip-packed (trialkit.report.bundle)
    assert vega_bundle()[1000:1200] not in text                     # never also in plain text
    assert text.count('class="trialkit-chart"') == 2
    assert not RESOURCE_URL.findall(text)
    for absent in ("require.js", "require.min.js", "MathJax", "mermaid", "unpkg", "jsdelivr", "cdnjs",
                   "@jupyter-widgets/html-manager"):
        assert absent not in text, absent


def test_live_jupyterlab_bundle_output_is_dropped(executed):
    nb = nbformat.reads(nbformat.writes(executed), as_version=4)
    nb.cells[1].outputs = [new_output("display_data", data={"text/html": "<script>LIVE_BUNDLE</script>"},
                                      metadata={"trialkit": "vega-bundle"})]
    text = _export(nb, audience="analyst")
    assert "LIVE_BUNDLE" not in text and text.count(f'id="{BUNDLE_ID}"') == 1


def test_page_without_charts_has_no_bundle():
    nb = new_notebook(cells=[new_markdown_cell("## Only text")])
    text = _export(nb)
    assert BUNDLE_ID not in text and not RESOURCE_URL.findall(text)


def test_code_hidden_for_investigators_shown_for_analysts(executed):
    investigator = _export(executed, audience="investigator")
    analyst = _export(executed, audience="analyst")
    assert "SECRET_CODE_MARKER" not in investigator
    assert "SECRET_CODE_MARKER" in analyst
    assert "a library warning" not in investigator and "a library warning" in analyst


def test_header_fields_present_and_escaped(executed):
    text = _export(executed, data_cutoff="2026-03-31<b>", run_time="2026-04-01 <i>08:00</i>")
    header = text.split('<header class="trialkit-header">', 1)[1].split("</header>", 1)[0]
    assert "NCT07334483" in header
    assert "Study &lt;overview&gt;" in header
    assert "2026-03-31&lt;b&gt;" in header
    assert "2026-04-01 &lt;i&gt;08:00&lt;/i&gt;" in header
    assert f'<p class="trialkit-confidential">{DEFAULT_CONFIDENTIALITY}</p>' in header
    assert "<title>Study &lt;overview&gt; — NCT07334483</title>" in text


def test_table_of_contents_from_headings_and_title_not_repeated(executed):
    text = _export(executed)
    toc = text.split('<nav class="trialkit-toc"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r">([^<>]+)</a>", toc) == ["Subjects by arm", "Tables &amp; more"]
    assert "<h1" not in text.split("</header>", 1)[1]      # the header holds the one h1


def test_data_text_is_escaped_in_tables_and_charts(executed):
    text = _export(executed)
    assert EVIL not in text                      # never as markup, anywhere
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text   # shown as text (table and SVG)
    spec_json = re.search(r'<script[^>]*trialkit-chart-spec[^>]*>(.*?)</script>', text, re.S).group(1)
    assert "<" not in spec_json and "\\u003cscript\\u003e" in spec_json


def test_static_svg_ids_are_prefixed_per_chart():
    spec = plot_subjects_by_arm_site(COUNTS).to_dict()
    one, two = chart_svg(spec, prefix="c1"), chart_svg(spec, prefix="c2")
    ids_one = set(re.findall(r'id="([^"]+)"', one))
    assert ids_one and all(i.startswith("c1-") for i in ids_one)
    assert not ids_one & set(re.findall(r'id="([^"]+)"', two))
    assert all(ref.startswith("c1-") for ref in re.findall(r"url\(#([^)]+)\)", one))


@pytest.mark.parametrize("fetching", [
    '<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>',
    '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">',
    "<style>@import url('https://fonts.googleapis.com/css2?family=IBM+Plex+Mono');</style>",
    '<style>@import "https://example.org/x.css";</style>',
    "<style>@font-face { src: url(https://fonts.gstatic.com/x.woff2); }</style>",
    '<img srcset="https://example.org/a.png 2x">',
])
def test_the_external_url_check_catches_every_way_to_fetch(fetching):
    assert RESOURCE_URL.search(fetching)
    assert not RESOURCE_URL.search('<svg xmlns="http://www.w3.org/2000/svg"><a href="#s1">x</a></svg>')


def test_vega_bundle_is_built_once_per_machine_and_cached_by_version(tmp_path, monkeypatch):
    built = []
    fake = "(function(){\nwindow.vegaEmbed=function(){};\n})();"
    monkeypatch.setenv("TRIALKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(report_html, "_build_vega_bundle", lambda: built.append(1) or fake)
    report_html.vega_bundle.cache_clear()
    try:
        assert report_html.vega_bundle() == fake and len(built) == 1
        [cached] = tmp_path.glob("vega-bundle-*.js")
        from importlib.metadata import version
        assert f"vlconvert{version('vl-convert-python')}" in cached.name and cached.name.endswith(f"-vl{alt_vl()}.js")
        report_html.vega_bundle.cache_clear()               # a new process: read, not built
        assert report_html.vega_bundle() == fake and len(built) == 1
        cached.write_text(fake[:-6], encoding="utf-8")      # cut short (disk full, killed)
        report_html.vega_bundle.cache_clear()
        assert report_html.vega_bundle() == fake and len(built) == 2
        assert cached.read_text(encoding="utf-8") == fake   # and repaired
        monkeypatch.setenv("TRIALKIT_CACHE_DIR", str(cached))  # not a folder: cannot be written,
        monkeypatch.setattr("tempfile.gettempdir", lambda: str(cached))  # nor the temp fallback
        report_html.vega_bundle.cache_clear()
        assert report_html.vega_bundle() == fake and len(built) == 3
    finally:
        report_html.vega_bundle.cache_clear()


def alt_vl() -> str:
    import altair as alt

    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def test_exporter_and_bundle_are_cached(executed):
    _export(executed)
    hits = report_html._exporter.cache_info().hits
    bundle_hits = report_html.vega_bundle.cache_info().hits
    _export(executed)
    assert report_html._exporter.cache_info().hits == hits + 1
    assert report_html.vega_bundle.cache_info().hits == bundle_hits + 1


def test_export_does_not_modify_the_notebook(executed):
    before = nbformat.writes(executed)
    _export(executed)
    assert nbformat.writes(executed) == before


def test_unknown_audience_is_refused(executed):
    with pytest.raises(ValueError, match="investigator, analyst"):
        _export(executed, audience="public")


def test_page_shell_for_the_run_index():
    text = page("Run <index>", "<h2>Reports</h2><p>x</p><h2>Failures</h2>", study="NCT07334483",
                data_cutoff=None, run_time="2026-04-01 08:00 UTC")
    assert "Run &lt;index&gt;" in text and DEFAULT_CONFIDENTIALITY in text and "not set" in text
    assert '<a href="#section-1">Reports</a>' in text and '<a href="#section-2">Failures</a>' in text
    assert BUNDLE_ID not in text
    assert not RESOURCE_URL.findall(text)


def test_tables_and_csv_take_nested_and_duration_columns(tmp_path):
    import datetime as dt

    from trialkit.report import notebook

    frame = pl.DataFrame({"L": [[1, 2]], "S": [{"x": 1}], "D": [dt.timedelta(days=2)], "T": [dt.time(9, 30)],
                          "W": [dt.datetime(2025, 1, 2, 3, 4, 5)]})
    markup = table_html(frame, title="Odd types")
    assert "1, 2" in markup and "P2D" in markup and "09:30" in markup
    assert notebook._csv_bytes(frame).decode("utf-8").splitlines() == [
        "L,S,D,T,W", '"1, 2","{""x"":1}",P2D,09:30:00,2025-01-02T03:04:05']


def test_a_run_refuses_to_write_one_name_twice(tmp_path, monkeypatch):
    from trialkit.report import notebook

    monkeypatch.setattr(notebook, "_display_html", lambda markup: None)
    notebook.setup(audience="investigator", output_dir=str(tmp_path), interactive=False)
    try:
        notebook.show_table(COUNTS, "counts", title="Counts")
        assert (tmp_path / "tables" / "counts.csv").read_text(encoding="utf-8").startswith("SITEID,ARMCD,ARM,N\n")
        with pytest.raises(ValueError, match="tables/counts.csv is written twice"):
            notebook.show_findings([], "counts")
        with pytest.raises(ValueError, match="plain file stem"):
            notebook.show_table(COUNTS, "../escape")
    finally:
        notebook.setup(audience="analyst", output_dir="", interactive=False)


def test_findings_frame_shows_file_names_not_server_folders():
    frame = findings_frame([{"level": "warning", "dataset": "dm", "column": "SITEID", "path": "/srv/study/dm.parquet",
                             "message": "trialkit: dataset 'dm' (/srv/study/dm.parquet): odd site", "rows": ()}])
    assert frame["Message"].to_list() == ["dataset 'dm' (dm.parquet): odd site"]


def test_findings_frame_orders_errors_first():
    frame = findings_frame([{"level": "warning", "dataset": "rs", "column": "RSSTRESC", "message": "trialkit: odd",
                             "rows": ("a", "b")},
                            {"level": "error", "dataset": "dm", "column": None, "message": "dup", "rows": ()}])
    assert frame["Level"].to_list() == ["ERROR", "WARNING"]
    assert frame.row(1) == ("WARNING", "RS", "RSSTRESC", "odd", "a; b")


@pytest.mark.slow
def test_really_executed_notebook_exports(tmp_path):
    import papermill

    nb = new_notebook(cells=[
        new_code_cell("output_dir = ''", metadata={"tags": ["parameters"]}),
        new_code_cell("import polars as pl\nfrom trialkit.charts import plot_subjects_by_arm_site\n"
                      "from trialkit.report.notebook import setup, show_chart, show_table\n"
                      "setup(audience='investigator', output_dir=output_dir)"),
        new_markdown_cell("## Chart"),
        new_code_cell("counts = pl.DataFrame({'SITEID': ['01'], 'ARMCD': ['A'], 'N': [2]})\n"
                      "show_chart(plot_subjects_by_arm_site(counts), 'arms', data=counts)\n"
                      "show_table(counts.with_columns(DAY=pl.date(2025, 1, 2)), 'arms_table', title='Arms')\n"
                      "plot_subjects_by_arm_site(counts)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    papermill.execute_notebook(str(source), str(target), parameters={"output_dir": str(tmp_path / "run")},
                               kernel_name="python3", progress_bar=False)
    text = _export(nbformat.read(target, as_version=4))
    assert text.count('class="trialkit-chart"') == 2 and text.count(f'id="{BUNDLE_ID}"') == 1
    assert (tmp_path / "run" / "figures" / "arms.svg").read_text().startswith("<svg")
    assert (tmp_path / "run" / "tables" / "arms.csv").read_text(encoding="utf-8") == "SITEID,ARMCD,N\n01,A,2\n"
    assert (tmp_path / "run" / "tables" / "arms_table.csv").read_text().splitlines()[1] == "01,A,2,2025-01-02"
    assert not list((tmp_path / "run").rglob("*.tmp"))
