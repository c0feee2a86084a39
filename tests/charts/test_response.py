"""Response charts checked by their Vega-Lite specs: data, encodings, the shared subject param."""

from __future__ import annotations

import json

import polars as pl

from trialkit.charts import RESPONSE_COLORS, plot_concordance, plot_km, plot_orr, plot_waterfall_spider
from trialkit.charts.response import END_SHAPES, SUBJECT_PARAM


def _bars(n: int = 3, arm: str = "A") -> pl.DataFrame:
    values = [146.0, 10.0, -40.0, -100.0, -5.0][:n]
    return pl.DataFrame({
        "USUBJID": [f"{arm}{i}" for i in range(n)], "ARMCD": [arm] * n, "ARM": [f"Arm {arm}"] * n,
        "BOR": ["PD", "SD", "PR", "CR", "SD"][:n], "BEST_PCHG": values,
        "PLOT_PCHG": [min(v, 100.0) for v in values], "CLIP_LABEL": ["+146.0%" if v > 100 else None for v in values],
        "BEST_TEXT": [f"{v:+.1f}%" for v in values], "BEST_WHEN": ["week 6 (day 43)"] * n,
        "BOR_WHEN": ["week 6 (day 43)"] * n,
        "PD_MARK": ["PD from new or non-target lesions" if i == 1 else None for i in range(n)],
        "MARK_Y": [18.0 if i == 1 else None for i in range(n)], "RANK": list(range(1, n + 1)),
        "SECRET": ["not drawn"] * n})


def _spider(bars: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for u, arm, b, y in bars.select("USUBJID", "ARMCD", "BOR", "PLOT_PCHG").iter_rows():
        rows += [(u, arm, b, "assessment", 0.0, 1, 0.0, "0.0%"), (u, arm, b, "assessment", 6.0, 43, y, f"{y}%"),
                 (u, arm, b, "PD" if b == "PD" else "No progression at last assessment", 6.0, 43, y, f"{y}%")]
    return pl.DataFrame(rows, schema=["USUBJID", "ARMCD", "BOR", "KIND", "WEEK", "DAY", "PLOT_PCHG", "PCHG_TEXT"],
                        orient="row")


def _find(node, predicate, found=None):
    """Every dict in a nested spec for which predicate holds."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if predicate(node):
            found.append(node)
        for value in node.values():
            _find(value, predicate, found)
    elif isinstance(node, list):
        for value in node:
            _find(value, predicate, found)
    return found


def test_waterfall_and_spider_are_one_chart_sharing_one_subject_param():
    bars = pl.concat([_bars(3, "A"), _bars(2, "D")])
    spec = plot_waterfall_spider(bars, _spider(bars), panels={"A": "Arm A\n3 plotted", "D": "Arm D"},
                                 title="Best % change — 5 plotted / 6 randomized").to_dict()
    assert len(spec["vconcat"]) == 2 and spec["title"]["text"] == "Best % change — 5 plotted / 6 randomized"
    [param] = spec["params"]
    assert param["name"] == SUBJECT_PARAM and param["select"]["fields"] == ["USUBJID"]
    assert param["select"]["on"] == "click" and param["select"]["clear"] == "dblclick"
    assert set(param["views"]) == {"waterfall_bars", "spider_lines"}
    named = {n["name"]: n for n in _find(spec, lambda d: d.get("name") in ("waterfall_bars", "spider_lines"))}
    assert named["waterfall_bars"]["mark"]["type"] == "bar" and named["spider_lines"]["mark"]["type"] == "line"
    for view in named.values():  # both fade what is not the clicked subject
        opacity = view["encoding"]["opacity"]
        assert opacity["condition"]["test"] == {"param": SUBJECT_PARAM, "empty": True}
        assert opacity["value"] == 0.2
    bar = named["waterfall_bars"]["encoding"]
    assert bar["color"]["scale"]["domain"] == list(RESPONSE_COLORS)
    assert bar["x"]["sort"] == {"field": "RANK", "order": "ascending"}
    assert [t["title"] for t in bar["tooltip"]] == ["Subject", "Arm", "Best overall response", "Best % change",
                                                   "Best % change at", "Best response first at"]


def test_waterfall_panels_share_the_y_axis_clip_at_100_and_label_the_reference_lines():
    bars = _bars(3)
    spec = plot_waterfall_spider(bars, _spider(bars), panels={"A": "Arm A\n3 plotted / 3 randomized"},
                                 title="t").to_dict()
    waterfall = spec["vconcat"][0]
    assert waterfall["facet"]["field"] == "ARMCD" and waterfall["resolve"]["scale"] == {"x": "independent"}
    assert "3 plotted / 3 randomized" in waterfall["facet"]["header"]["labelExpr"]
    values = next(iter(v for k, v in spec["datasets"].items() if any("BEST_TEXT" in row for row in v)))
    assert [row["PLOT_PCHG"] for row in values] == [100.0, 10.0, -40.0]
    assert "SECRET" not in values[0]                                   # only the columns drawn
    texts = _find(waterfall, lambda d: d.get("mark", {}).get("type") == "text" if isinstance(d.get("mark"), dict) else False)
    clip = [t for t in texts if t["encoding"].get("text", {}).get("field") == "CLIP_LABEL"]
    assert clip and clip[0]["transform"] == [{"filter": "isValid(datum.CLIP_LABEL)"}]
    rules = _find(waterfall, lambda d: d.get("data", {}).get("values") == [{"Y": -30.0, "LABEL": "−30% PR"},
                                                                         {"Y": 20.0, "LABEL": "+20% guide"}])
    assert {r["mark"]["type"] for r in rules} == {"rule", "text"}
    assert "a guide only: progression is measured from the nadir" in " ".join(spec["title"]["subtitle"])
    marker = _find(waterfall, lambda d: d.get("encoding", {}).get("shape", {}).get("field") == "PD_MARK")
    assert marker and marker[0]["encoding"]["y"]["field"] == "MARK_Y"


def test_spider_end_markers_and_the_selected_subjects():
    bars = _bars(2)
    spec = plot_waterfall_spider(bars, _spider(bars), panels={"A": "Arm A"}, title="t", selected=["A1"]).to_dict()
    ends = _find(spec["vconcat"][1], lambda d: d.get("encoding", {}).get("shape", {}).get("field") == "KIND")
    assert ends[0]["encoding"]["shape"]["scale"] == {"domain": list(END_SHAPES), "range": list(END_SHAPES.values())}
    bars_view = _find(spec, lambda d: d.get("name") == "waterfall_bars")[0]
    assert bars_view["encoding"]["opacity"]["condition"]["test"] == {
        "and": [{"param": SUBJECT_PARAM, "empty": True}, {"field": "SELECTED", "equal": True}]}
    values = [row for v in spec["datasets"].values() for row in v if "BEST_TEXT" in row]
    assert {row["USUBJID"]: row["SELECTED"] for row in values} == {"A0": False, "A1": True}


def test_an_empty_waterfall_says_why_instead_of_a_blank_frame():
    spec = plot_waterfall_spider(_bars(0), _spider(_bars(0)), panels={"A": "Arm A"}, title="t").to_dict()
    assert "No randomized subject has a best % change" in json.dumps(spec)


def test_km_chart_steps_censor_ticks_and_at_risk_counts():
    curve = pl.DataFrame({"ARMCD": ["A", "A", "D"], "ARM": ["Arm A", "Arm A", "Arm D"], "MONTHS": [0.0, 2.0, 0.0],
                          "SURV": [1.0, 0.5, 1.0], "AT_RISK": [2, 1, 1]})
    cens = pl.DataFrame({"ARMCD": ["A"], "ARM": ["Arm A"], "MONTHS": [3.0], "SURV": [0.5]})
    risk = pl.DataFrame({"ARMCD": ["A", "A", "D", "D"], "ARM": ["Arm A", "Arm A", "Arm D", "Arm D"],
                         "MONTHS": [0.0, 3.0, 0.0, 3.0], "N_AT_RISK": [2, 1, 1, 0]})
    spec = plot_km(curve, cens, risk, arms={"A": "Arm A", "D": "Arm D"}).to_dict()
    km, table = spec["vconcat"]
    lines, ticks, _ = km["layer"]
    assert lines["mark"]["interpolate"] == "step-after" and ticks["mark"]["type"] == "tick"
    assert table["mark"]["type"] == "text" and table["encoding"]["text"]["field"] == "N_AT_RISK"
    assert table["encoding"]["y"]["sort"] == ["A", "D"]
    # the curves and the at-risk table keep one y-axis width, so their x positions line up
    assert km["layer"][0]["encoding"]["y"]["axis"]["minExtent"] == table["encoding"]["y"]["axis"]["minExtent"]


def test_orr_chart_bar_with_its_exact_interval():
    orr = pl.DataFrame({"ARMCD": ["A", "D"], "ARM": ["Arm A", "Arm D"], "ORR_PCT": [50.0, 0.0],
                        "CI_LOWER_PCT": [30.0, 0.0], "CI_UPPER_PCT": [70.0, 11.6], "LABEL": ["15/30 (50.0%)", "0/30 (0.0%)"],
                        "CI_TEXT": ["30.0–70.0", "0.0–11.6"]})
    bars, ci, text = plot_orr(orr, arms={"A": "Arm A", "D": "Arm D"}).to_dict()["layer"]
    assert ci["mark"]["type"] == "rule"
    assert (ci["encoding"]["x"]["field"], ci["encoding"]["x2"]["field"]) == ("CI_LOWER_PCT", "CI_UPPER_PCT")
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 100] and text["encoding"]["text"]["field"] == "LABEL"


def test_concordance_heatmap_one_panel_per_comparison_named_by_its_assessors():
    c = pl.DataFrame({"COMPARISON": ["BICR vs INVESTIGATOR", "MRECIST vs RECIST 1.1"], "ARMCD": ["ALL", "ALL"],
                      "BOR_1": ["PR", "CR"], "BOR_2": ["SD", "PR"], "N": [2, 3]})
    spec = plot_concordance(c).to_dict()
    titles = [(p["layer"][0]["encoding"]["y"]["title"], p["layer"][0]["encoding"]["x"]["title"]) for p in spec["hconcat"]]
    assert titles == [("BICR", "INVESTIGATOR"), ("MRECIST", "RECIST 1.1")]
    assert spec["hconcat"][0]["layer"][0]["encoding"]["y"]["sort"] == list(RESPONSE_COLORS)


def test_no_comparison_gives_a_message_not_an_empty_frame():
    empty = pl.DataFrame(schema={"COMPARISON": pl.String, "ARMCD": pl.String, "BOR_1": pl.String, "BOR_2": pl.String,
                                 "N": pl.Int64})
    assert "No comparison is available" in json.dumps(plot_concordance(empty).to_dict())
