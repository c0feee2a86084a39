"""Chart specs checked by their Vega-Lite dict: data values, encodings, the theme's colour maps."""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl
import pytest

from trialkit.charts import theme as charts
from trialkit.charts import (ARM_PALETTE, RESPONSE_COLORS, arm_colors, STATUS_COLORS, arm_color, plot_screening_by_site,
                             plot_subjects_by_arm_site, response_color)


def _values(spec: dict) -> list[dict]:
    (values,) = spec["datasets"].values()
    return values


def test_theme_is_registered_enabled_and_in_every_spec():
    spec = plot_subjects_by_arm_site(pl.DataFrame({"SITEID": ["01"], "ARMCD": ["A"], "N": [1]})).to_dict()
    assert alt.theme.active == "trialkit"
    assert spec["config"]["font"] == charts.FONT
    assert spec["config"]["title"]["fontSize"] == charts.TITLE_SIZE


def test_theme_reapplied_when_another_theme_was_enabled():
    alt.theme.enable("dark")
    try:
        spec = plot_subjects_by_arm_site(pl.DataFrame({"SITEID": ["01"], "ARMCD": ["A"], "N": [1]})).to_dict()
        assert spec["config"]["font"] == charts.FONT
    finally:
        alt.theme.enable("trialkit")


def test_colour_maps_cover_the_arms_and_cdisc_responses():
    assert len(set(ARM_PALETTE)) == len(ARM_PALETTE) >= 8
    assert list(RESPONSE_COLORS) == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"]
    assert len(set(RESPONSE_COLORS.values())) == 7
    assert response_color().to_dict()["scale"] == {"domain": list(RESPONSE_COLORS),
                                                   "range": list(RESPONSE_COLORS.values())}


def test_subjects_by_arm_site_spec():
    counts = pl.DataFrame({
        "SITEID": ["01", "01", "02"], "ARMCD": ["A", "B", "D"],
        "ARM": ["A: SIRT + camrelizumab + apatinib", "B: SIRT + camrelizumab", "D: cTACE"],
        "N": [3, 2, 4], "USUBJID_LIST": ["x", "y", "z"],   # not encoded: must not reach the HTML
    })
    arms = {"A": "A: SIRT + camrelizumab + apatinib", "B": "B: SIRT + camrelizumab", "C": "C: SIRT alone",
            "D": "D: cTACE"}
    spec = plot_subjects_by_arm_site(counts, arms=arms).to_dict()
    assert _values(spec) == [
        {"SITEID": "01", "ARMCD": "A", "N": 3, "ARM": "A: SIRT + camrelizumab + apatinib"},
        {"SITEID": "01", "ARMCD": "B", "N": 2, "ARM": "B: SIRT + camrelizumab"},
        {"SITEID": "02", "ARMCD": "D", "N": 4, "ARM": "D: cTACE"},
    ]
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "bar"
    assert (enc["x"]["field"], enc["x"]["type"]) == ("N", "quantitative")
    assert (enc["y"]["field"], enc["y"]["type"], enc["y"]["title"]) == ("SITEID", "nominal", "Site")
    assert enc["color"]["field"] == "ARMCD"
    # every arm of the protocol keeps its colour, also those absent from this chart (C)
    assert enc["color"]["scale"] == {"domain": ["A", "B", "C", "D"], "range": list(ARM_PALETTE[:4])}
    assert "A: SIRT + camrelizumab + apatinib" in enc["color"]["legend"]["labelExpr"]
    assert [t["field"] for t in enc["tooltip"]] == ["SITEID", "ARM", "N"]
    (param,) = spec["params"]
    assert param["select"] == {"type": "point", "fields": ["ARMCD"]} and param["bind"] == "legend"
    assert enc["opacity"]["condition"]["param"] == param["name"]


def test_screening_by_site_spec():
    screening = pl.DataFrame({"SITEID": ["01", "01", "01"], "STATUS": ["SCREENED", "RANDOMIZED", "SCREEN FAILURE"],
                              "N": [10, 7, 3]}).with_columns(
        pl.col("STATUS").cast(pl.Enum(list(STATUS_COLORS))))
    spec = plot_screening_by_site(screening).to_dict()
    assert [v["STATUS"] for v in _values(spec)] == ["SCREENED", "RANDOMIZED", "SCREEN FAILURE"]
    assert spec["encoding"]["color"]["scale"] == {"domain": list(STATUS_COLORS), "range": list(STATUS_COLORS.values())}
    assert spec["encoding"]["yOffset"]["field"] == "STATUS"
    assert spec["params"][0]["bind"] == "legend"


def test_chart_data_types_are_made_json_safe():
    frame = pl.DataFrame({"SITEID": ["01", "02"], "ARMCD": ["A", "B"], "N": [1.0, float("nan")],
                          "WHEN": [dt.date(2025, 1, 2), None]})
    data = charts.chart_data(frame, ["SITEID", "ARMCD", "N"])
    assert data["N"].to_list() == [1.0, None]
    aware = pl.DataFrame({"T": [dt.datetime(2025, 1, 2, 9, 30)], "E": ["PR"]}).with_columns(
        pl.col("T").dt.replace_time_zone("Asia/Shanghai"), pl.col("E").cast(pl.Enum(["CR", "PR"])))
    data = charts.chart_data(aware, ["T", "E"])
    assert data.schema == pl.Schema({"T": pl.Datetime("us"), "E": pl.String})
    assert data["T"].to_list() == [dt.datetime(2025, 1, 2, 9, 30)]
    with pytest.raises(TypeError, match="eager"):
        charts.chart_data(frame.lazy(), ["SITEID"])


def test_too_many_rows_are_refused_with_the_fix():
    big = pl.DataFrame({"SITEID": ["01"] * 5001, "ARMCD": ["A"] * 5001, "N": [1] * 5001})
    with pytest.raises(ValueError, match="aggregate in trialkit.derive"):
        plot_subjects_by_arm_site(big)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="lacks column.*N"):
        plot_subjects_by_arm_site(pl.DataFrame({"SITEID": ["01"], "ARMCD": ["A"]}))


def test_arm_colours_follow_the_protocol_order_of_any_trial():
    from trialkit.protocol import generic_protocol

    other = generic_protocol("XY-9", arms={"PBO": "Placebo", "LOW": "Low dose", "HIGH": "High dose"})
    assert arm_colors(other.arm_labels) == {"PBO": ARM_PALETTE[0], "LOW": ARM_PALETTE[1], "HIGH": ARM_PALETTE[2]}
    counts = pl.DataFrame({"SITEID": ["101"], "ARMCD": ["HIGH"], "N": [2]})
    scale = plot_subjects_by_arm_site(counts, arms=other.arm_labels).to_dict()["encoding"]["color"]["scale"]
    assert scale == {"domain": ["PBO", "LOW", "HIGH"], "range": list(ARM_PALETTE[:3])}


def test_arm_color_labels_are_quoted_data_not_code():
    legend = arm_color(arms={"A": 'x" + alert(1) + "'}).to_dict()["legend"]
    assert '"x\\" + alert(1) + \\""' in legend["labelExpr"]


def test_a_subject_selection_fades_the_others():
    from trialkit.charts import derive_selected, selection_opacity

    frame = derive_selected(pl.DataFrame({"USUBJID": ["1", "2", "3"]}), ["3", "9"])
    assert frame["SELECTED"].to_list() == [False, False, True]
    assert derive_selected(frame.drop("SELECTED"), None)["SELECTED"].to_list() == [True] * 3
    assert selection_opacity(selected=["3"]) == {"condition": {"test": "datum.SELECTED", "value": 1.0}, "value": 0.2}
    assert selection_opacity() == {"value": 1.0}
