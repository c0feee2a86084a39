"""pack.html from report pages (no browser: ids, bundle, contents) and the packed bundle."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from trialkit.report.bundle import ALPHABET, bundle_html, decode_base85, encode_base85
from trialkit.report.html import export_html
from trialkit.report.notebook import chart_html, static_image, table_html
from trialkit.report.pack import prefix_ids, render_pack, write_pack


def _page(title: str) -> str:
    import polars as pl

    spec = {"mark": "bar", "data": {"values": [{"a": "x", "b": 1}, {"a": "y", "b": 2}]},
            "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}
    html_out = lambda markup: new_output("display_data", data={"text/html": markup})  # noqa: E731
    nb = new_notebook(cells=[new_markdown_cell(f"# {title}\n\n## Counts"),
                             new_code_cell("", outputs=[html_out(chart_html(spec, chart_id="tkchart-counts-1")),
                                                        html_out(table_html(pl.DataFrame({"A": [1]}), title="T",
                                                                            table_id="tktable-counts"))]),
                             new_markdown_cell("## Notes\n\nText with id=\"Counts\" as words.")])
    return export_html(nb, audience="investigator", title=title, study="NCT07334483", data_cutoff="2026-10-31",
                       run_time="2026-11-25 08:00 UTC")


@pytest.fixture
def run(tmp_path) -> tuple[Path, dict]:
    reports = []
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.html").write_text(_page(name.capitalize()), encoding="utf-8")
        reports.append({"report": name, "status": "ok", "title": name.capitalize(), "html": f"{name}.html"})
    reports.append({"report": "gamma", "status": "failed", "title": "Gamma", "html": None,
                    "error": {"cell": 2, "exception": "KeyError", "message": "'ARM' <b>"}})
    return tmp_path, {"run_name": "r", "params": {"study": "NCT07334483", "data_cutoff": "2026-10-31"},
                      "run_start": "2026-11-25T08:00:00+00:00", "reports": reports}


def test_pack_has_one_bundle_unique_ids_and_every_reference_resolves(run):
    folder, manifest = run
    text = render_pack(folder, manifest)
    assert text.count('id="trialkit-vega-bundle"') == 1 and text.count('class="trialkit-chart-spec"') == 2
    body = text.split("</head>", 1)[1]
    ids = re.findall(r'<[A-Za-z][^<>]*?\bid="([^"]+)"', body)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for ref in re.findall(r'href="#([^"]+)"', body) + re.findall(r'getElementById\("([^"]+)"\)', body):
        assert ref in ids, ref
    for selector in re.findall(r"#(tktable-[\w-]+)", body):              # great_tables CSS follows its table
        assert selector in ids, selector
    assert {"r1-tkchart-counts-1", "r2-tkchart-counts-1", "r1-Counts", "r2-Counts"} <= set(ids)
    assert 'Text with id="Counts" as words' in body                    # text between tags untouched
    assert re.search(r'id="report-alpha".*id="report-beta"', body, re.S)
    assert "Gamma — <span class=\"trialkit-status-failed\">failed</span>: cell 2: KeyError: &#x27;ARM&#x27; &lt;b&gt;" in body
    assert "Investigator pack: 2 reports" in text and "Confidential" in text


def test_write_pack_records_it_and_skips_a_run_without_reports(run, tmp_path):
    folder, manifest = run
    info = write_pack(folder, manifest)
    assert info == {"html": "pack.html", "html_bytes": (folder / "pack.html").stat().st_size,
                    "reports": ["alpha", "beta"]}
    nothing = {**manifest, "reports": [manifest["reports"][2]]}
    (folder / "pack.html").unlink()
    assert write_pack(folder, nothing) is None and not (folder / "pack.html").exists()


def test_prefix_ids_touches_references_only():
    fragment = ('<div id="c"><svg><clipPath id="c-clip"/><g clip-path="url(#c-clip)"/></svg>'
                '<script>document.getElementById("c")</script><style>#c .x{} #c-clip{}</style>'
                '<a href="#c">#c</a><p>url(#c) and #c, id="c"</p></div>')
    assert prefix_ids(fragment, "r2-") == (
        '<div id="r2-c"><svg><clipPath id="r2-c-clip"/><g clip-path="url(#r2-c-clip)"/></svg>'
        '<script>document.getElementById("r2-c")</script><style>#r2-c .x{} #r2-c-clip{}</style>'
        '<a href="#r2-c">#c</a><p>url(#c) and #c, id="c"</p></div>')


def test_bundle_round_trip_and_page_safe_alphabet():
    data = bytes(range(256)) * 3 + b"\x00\x01"
    text = encode_base85(data)
    assert decode_base85(text, len(data)) == data
    assert set(text) <= set(ALPHABET) and "<" not in ALPHABET and len(set(ALPHABET)) == 85
    code = "window.vegaEmbed=function(){return '</script>'};" * 50
    page = bundle_html(code)
    packed = re.search(r'data-bytes="(\d+)">([^<]*)</script>', page)
    assert gzip.decompress(decode_base85(packed.group(2), int(packed.group(1)))).decode() == code
    assert "window.vegaEmbed=function" not in page and page.count("<script") == 2


def test_a_huge_chart_falls_back_to_a_png_and_a_small_one_stays_svg():
    import altair as alt
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    frame = pl.DataFrame({"x": rng.random(3000).round(3), "y": rng.random(3000).round(3)})
    with alt.data_transformers.disable_max_rows():
        spec = alt.Chart(frame).mark_circle().encode(x="x", y="y").properties(title="Many <points>").to_dict()
    html = chart_html(spec, chart_id="tkchart-many")
    static = re.search(r'<div class="trialkit-chart-static"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert static.startswith('<img class="trialkit-chart-png" src="data:image/png;base64,')
    assert 'alt="Many &lt;points&gt;"' in static and re.search(r' width="\d+" height="\d+"', static)
    assert len(html) < 1_200_000
    small = static_image({}, '<svg width="10" height="10"><g role="graphics-object"></g></svg>')
    assert small == '<svg width="10" height="10"><g></g></svg>'
