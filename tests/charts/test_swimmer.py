"""The swimmer chart checked by its Vega-Lite spec: panels, lanes, sub-lanes, glyph scales, data, tooltips."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from trialkit.charts import ARM_PALETTE, RESPONSE_COLORS, plot_swimmer, swimmer_notes_html
from trialkit.charts.swimmer import NAMES, ROLES
from trialkit.derive.swimmer import derive_swimmer_lanes, summarize_lanes_shown, summarize_swimmer_legend
from trialkit.protocol import load_protocol

PROTOCOL = load_protocol("NCT07334483")
ARMS = PROTOCOL.arm_labels
RAND = dt.date(2025, 9, 1)


def lanes_frame() -> pl.DataFrame:
    rows = [  # ARMCD, USUBJID, RANK, ROW, G, DAY, DAY2
        ("D", "D1", 1, None, "ON_STUDY", 1, 30), ("D", "D1", 1, "PROCEDURES", "CTACE", 8, None),
        ("D", "D1", 1, "RESPONSES", "PD", 29, None),
        ("A", "A2", 1, None, "ON_STUDY", 1, 100), ("A", "A2", 1, None, "ON_TREATMENT", 2, 100),
        ("A", "A2", 1, "CAMRELIZUMAB", "CAMRELIZUMAB", 2, None), ("A", "A2", 1, "APATINIB", "APATINIB", 23, 100),
        ("A", "A2", 1, "RESPONSES", "PR", 43, None), ("A", "A2", 1, None, "ONGOING", 100, None),
        ("A", "A2", 1, None, "CUTOFF", 100, None), ("A", "A2", 1, "CAMRELIZUMAB", "DEVIATION", 2, None),
        ("A", "A1", 2, None, "ON_STUDY", 1, 60), ("A", "A1", 2, "PROCEDURES", "MAA_MAPPING", -5, None),
    ]
    frame = pl.DataFrame(rows, schema=["ARMCD", "USUBJID", "RANK", "ROW", "G", "DAY", "DAY2"], orient="row")
    return frame.with_columns(pl.format("day {}", pl.col("DAY")).alias("WHEN"), pl.lit("detail").alias("DETAIL"))


def spec(time_unit: str = "days", selected=None) -> dict:
    lanes = lanes_frame()
    legend = summarize_swimmer_legend(lanes, protocol=PROTOCOL)
    subjects = pl.DataFrame({"USUBJID": ["A1", "A2", "A3", "D1"], "ARMCD": ["A", "A", "A", "D"]})
    shown = summarize_lanes_shown(subjects, lanes, arm_labels=ARMS)
    return plot_swimmer(lanes, legend, arms=ARMS, shown=shown, time_unit=time_unit, subtitle=["line one"],
                        selected=selected).to_dict()


def panel_data(s: dict, panel: int) -> list[dict]:
    return s["datasets"][s["vconcat"][panel]["data"]["name"]]


def test_one_panel_per_arm_in_protocol_order_with_n_and_the_arms_colour():
    s = spec()
    titles = [p["title"] for p in s["vconcat"]]
    # arm A shows 2 of its 3 lanes, arm D its only one; A first (protocol order), coloured as the theme's arm A
    assert [t["text"] for t in titles] == [
        "A: SIRT + camrelizumab + apatinib (n = 3; 2 lanes shown: the first in the sort order)", "D: cTACE (n = 1)"]
    assert [t["color"] for t in titles] == [ARM_PALETTE[0], ARM_PALETTE[3]]
    assert s["resolve"]["scale"] == {"y": "independent", "yOffset": "independent", "x": "shared"}


def test_lanes_in_rank_order_and_sub_lanes_per_arm():
    s = spec()
    a = s["vconcat"][0]["layer"]
    y = a[0]["encoding"]["y"]
    assert y["scale"]["domain"] == ["A2", "A1"]
    offsets = {tuple(layer["encoding"]["yOffset"]["scale"]["domain"]) for layer in a if "yOffset" in layer["encoding"]}
    assert offsets == {("a", "b", "c", "d")}          # camrelizumab, apatinib, procedures, responses
    d = s["vconcat"][1]["layer"]
    assert {tuple(layer["encoding"]["yOffset"]["scale"]["domain"]) for layer in d if "yOffset" in layer["encoding"]} == {
        ("a", "b")}                                     # procedures and responses only
    # the height grows with lanes and sub-lanes: 2 lanes x (4 x 8 + 4) px; 1 lane x max(2 x 8 + 4, 40)
    assert [p["height"] for p in s["vconcat"]] == [72, 40]


def test_data_are_compact_and_positions_in_days_since_randomization():
    s = spec()
    rows = panel_data(s, 0)
    assert set(rows[0]) == {"S", "R", "G", "A", "X", "X2", "W", "D"}
    # only the band of time on treatment carries the arm (for its colour)
    assert {r["A"] for r in rows} == {None, "A"}
    codes = s["params"][0]["value"]
    by_label = {codes[r["G"]]: r for r in rows}
    # a dose on study day 2 (1 day after randomization) at the middle of its day; the mapping on day -5
    assert by_label["Camrelizumab dose"]["X"] == 1.5
    assert by_label["99mTc-MAA mapping"]["X"] == -4.5
    # the apatinib interval from day 23 to the end of day 100; the arrow and the cutoff at the end of day 100
    assert (by_label["Apatinib 250 mg daily"]["X"], by_label["Apatinib 250 mg daily"]["X2"]) == (22, 100)
    assert by_label["On study treatment at the data cutoff"]["X"] == 100
    weeks = {s2["params"][0]["value"][r["G"]]: r for s2 in [spec("weeks")] for r in panel_data(s2, 0)}
    assert weeks["Apatinib 250 mg daily"]["X"] == pytest.approx(22 / 7, abs=1e-3)


def test_one_glyph_legend_with_every_glyph_and_the_shared_response_colours():
    s = spec()
    names, roles = (p["value"] for p in s["params"])
    assert [p["name"] for p in s["params"]] == [NAMES, ROLES]
    points = next(layer for layer in s["vconcat"][0]["layer"] if layer["mark"]["type"] == "point"
                  and "yOffset" in layer["encoding"])
    enc = points["encoding"]
    assert enc["shape"]["scale"]["domain"] == enc["fill"]["scale"]["domain"] == enc["stroke"]["scale"]["domain"]
    domain = enc["fill"]["scale"]["domain"]
    labels = [names[c] for c in domain]
    assert labels == ["On study, off study treatment", "On study treatment (band in the arm's colour)",
                      "Camrelizumab dose", "Apatinib 250 mg daily", "99mTc-MAA mapping", "cTACE session",
                      "PR: partial response", "PD: progressive disease", "On study treatment at the data cutoff",
                      "Data cutoff", "Protocol deviation (listed below)"]
    colours = dict(zip(labels, enc["fill"]["scale"]["range"]))
    assert colours["PR: partial response"] == RESPONSE_COLORS["PR"] and colours["PD: progressive disease"] == RESPONSE_COLORS["PD"]
    shapes = dict(zip(labels, enc["shape"]["scale"]["range"]))
    assert len({shapes[k] for k in ("99mTc-MAA mapping", "cTACE session", "PR: partial response")}) == 3
    assert enc["fill"]["legend"]["labelExpr"] == f"{NAMES}[datum.value] || datum.value"
    assert roles[next(c for c in domain if names[c] == "Data cutoff")] == "cutoff"


def test_tooltips_name_subject_what_when_detail():
    s = spec()
    for layer in s["vconcat"][0]["layer"]:
        assert [t["title"] for t in layer["encoding"]["tooltip"]] == ["Subject", "What", "When", "Detail"]
        assert layer["mark"]["aria"] is False


def test_selected_subjects_stay_opaque_the_others_fade():
    s = spec(selected=["A1"])
    rows = panel_data(s, 0)
    assert {r["S"]: r["SELECTED"] for r in rows} == {"A2": False, "A1": True}
    layer = s["vconcat"][0]["layer"][2]
    assert layer["encoding"]["opacity"]["condition"]["test"] == "datum.SELECTED"


def test_an_unknown_time_unit_is_refused():
    lanes = lanes_frame()
    with pytest.raises(ValueError, match="days, weeks, months"):
        plot_swimmer(lanes, summarize_swimmer_legend(lanes, protocol=PROTOCOL), arms=ARMS, time_unit="years")


def test_a_chart_never_holds_more_rows_than_altair_takes():
    n = 2500
    subj = pl.DataFrame({"USUBJID": [f"S{i}" for i in range(4 * n)], "ARMCD": [a for a in "ABCD" for _ in range(n)],
                         "ARM": [a for a in "ABCD" for _ in range(n)], "RANDDT": [RAND] * 4 * n,
                         "LAST_DAY": [200] * 4 * n, "END_STATUS": ["ON TREATMENT"] * 4 * n, "ONGOING": ["Y"] * 4 * n,
                         "TREATED": ["Y"] * 4 * n, "FIRST_TREATMENT_DAY": [2] * 4 * n, "LAST_TREATMENT_DAY": [200] * 4 * n,
                         "EOT_DAY": [None] * 4 * n, "EOT_REASON": [None] * 4 * n, "BOR": ["SD"] * 4 * n,
                         "FIRST_RESPONSE_DAY": [None] * 4 * n, "CUTOFF_DAY": [200] * 4 * n},
                        schema_overrides={"EOT_DAY": pl.Int64, "EOT_REASON": pl.String, "FIRST_RESPONSE_DAY": pl.Int64})
    events = pl.DataFrame(schema={"USUBJID": pl.String, "EVENT": pl.String, "KIND": pl.String, "START_DAY": pl.Int64,
                                  "END_DAY": pl.Int64, "START_DATE": pl.Date, "END_DATE": pl.Date, "DETAIL": pl.String,
                                  "CLASS": pl.String})
    lanes = derive_swimmer_lanes(subj, events)
    chart = plot_swimmer(lanes, summarize_swimmer_legend(lanes, protocol=PROTOCOL), arms={a: a for a in "ABCD"},
                         shown=summarize_lanes_shown(subj, lanes, arm_labels={a: a for a in "ABCD"}))
    s = chart.to_dict()
    assert sum(len(v) for v in s["datasets"].values()) <= 5000
    assert "2,500; " in s["vconcat"][0]["title"]["text"]


def test_notes_are_escaped():
    assert "&lt;script&gt;" in swimmer_notes_html(["<script>x</script>"])
