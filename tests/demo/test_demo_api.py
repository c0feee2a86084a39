"""The demo study's public API: determinism, defaults, formats, caching and bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from trialkit.cli import main
from trialkit.demo import (DEFAULT_CUTOFF, DEFAULT_SUBJECTS, demo_data_dir, generate_demo, main_demo,
                           write_demo)
from trialkit.errors import TrialkitError
from trialkit.protocol import load_protocol

SMALL = 12


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "xpt"])
def test_same_seed_gives_byte_identical_files(tmp_path, fmt):
    a = write_demo(tmp_path / "a", seed=5, subjects=SMALL, fmt=fmt)
    b = write_demo(tmp_path / "b", seed=5, subjects=SMALL, fmt=fmt)
    files_a, files_b = _bytes(a), _bytes(b)
    assert "demo_truth.json" in files_a and f"dm.{fmt}" in files_a and f"ie.{fmt}" in files_a
    assert files_a == files_b
    c = write_demo(tmp_path / "c", seed=6, subjects=SMALL, fmt=fmt)
    assert _bytes(c)[f"dm.{fmt}"] != files_a[f"dm.{fmt}"]


def test_xpt_files_respect_v5_limits_and_read_back(tmp_path):
    import pyreadstat

    out = write_demo(tmp_path / "x", seed=5, subjects=SMALL, fmt="xpt")
    df, meta = pyreadstat.read_xport(str(out / "ie.xpt"))
    assert all(len(c) <= 8 for c in meta.column_names)
    assert df["IETEST"].str.len().max() <= 200
    dm, _ = pyreadstat.read_xport(str(out / "dm.xpt"))
    assert len(dm) == pl.read_parquet(write_demo(tmp_path / "p", seed=5, subjects=SMALL) / "dm.parquet").height


def test_defaults_give_120_randomized_about_30_per_arm_at_the_three_sites(demo_dir):
    dm = pl.read_parquet(demo_dir / "dm.parquet")
    ds = pl.read_parquet(demo_dir / "ds.parquet")
    protocol = load_protocol("NCT07334483")
    randomized = dm.filter(pl.col("ARMCD").is_in(protocol.arm_codes))
    assert randomized.height == DEFAULT_SUBJECTS
    assert ds.filter(pl.col("DSDECOD") == "RANDOMIZED").height == DEFAULT_SUBJECTS
    per_arm = dict(randomized.group_by("ARMCD").len().iter_rows())
    assert set(per_arm) == set("ABCD") and all(27 <= n <= 33 for n in per_arm.values()), per_arm
    assert set(dm["SITEID"]) == {s["siteid"] for s in protocol.sites}
    assert dict(randomized.select("ARMCD", "ARM").unique().iter_rows()) == {a["armcd"]: a["arm"] for a in protocol.arms}
    assert 180 <= dm.height <= 220                          # ~200 screened
    first = ds.filter(pl.col("DSDECOD") == "INFORMED CONSENT OBTAINED")["DSSTDTC"].min()
    last_rand = ds.filter(pl.col("DSDECOD") == "RANDOMIZED")["DSSTDTC"].max()
    assert first >= "2025-08-22" and "2026-05-01" <= last_rand <= DEFAULT_CUTOFF
    assert dm["STUDYID"].unique().to_list() == ["ST561-1"]


def test_truth_lists_the_planted_screening_facts(demo_dir):
    text = (demo_dir / "demo_truth.json").read_text(encoding="utf-8")
    truth = json.loads(text)
    assert text == json.dumps(truth, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    scr = truth["screening"]
    dm = pl.read_parquet(demo_dir / "dm.parquet")
    ie = pl.read_parquet(demo_dir / "ie.parquet")
    assert set(scr["screen_failures"]) == set(ie["USUBJID"])
    (pair,) = scr["rescreened"]
    first, again = (dm.filter(pl.col("USUBJID") == pair[k]).row(0, named=True)
                    for k in ("screen_failure_usubjid", "rescreen_usubjid"))
    assert first["ARMCD"] == "SCRNFAIL" and again["ARMCD"] in "ABCD"
    assert first["RFICDTC"] < again["RFICDTC"] and first["SITEID"] == again["SITEID"]
    assert first["SEX"] == again["SEX"] and first["BRTHDTC"][:4] == again["BRTHDTC"][:4]
    (never,) = scr["never_treated"]
    row = dm.filter(pl.col("USUBJID") == never).row(0, named=True)
    assert row["ARMCD"] in "ABCD" and (row["ACTARMCD"], row["ACTARM"]) == ("NOTTRT", "Not Treated")
    assert row["RFXSTDTC"] is None
    ex = pl.read_parquet(demo_dir / "ex.parquet")
    assert ex.filter(pl.col("USUBJID") == never).height == 0
    partial = {(d["usubjid"], d["variable"]): d["value"] for d in truth["partial_dates"] if d["domain"] == "DM"}
    brth = dict(dm.filter(pl.col("BRTHDTC").str.len_chars() < 10).select("USUBJID", "BRTHDTC").iter_rows())
    assert brth and all(partial[(u, "BRTHDTC")] == v for u, v in brth.items())


def test_ds_sequence_numbers_run_per_subject(demo_dir):
    ds = pl.read_parquet(demo_dir / "ds.parquet")
    seq = ds.group_by("USUBJID").agg(pl.col("DSSEQ").sort(), pl.len())
    assert all(s == list(range(1, n + 1)) for s, n in seq.select("DSSEQ", "len").iter_rows())


@pytest.mark.parametrize("kwargs, words", [
    ({"subjects": -5}, "subjects"),
    ({"subjects": 0}, "subjects"),
    ({"subjects": 2.5}, "subjects"),
    ({"seed": -1}, "seed"),
    ({"cutoff": "2026-13-40"}, "not an ISO date"),
    ({"cutoff": "31/10/2026"}, "not an ISO date"),
    ({"cutoff": "2025-01-01"}, "before the study"),
])
def test_bad_arguments_raise_clear_errors(kwargs, words):
    with pytest.raises(TrialkitError) as err:
        generate_demo(**kwargs)
    assert str(err.value).startswith("trialkit:") and words in str(err.value)


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(TrialkitError, match="^trialkit: unknown demo format 'json'"):
        write_demo(tmp_path / "x", subjects=SMALL, fmt="json")
    assert not (tmp_path / "x").exists()


def test_cli_prints_the_error_without_a_traceback(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "x"), "--subjects", "-3"])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("trialkit:") and "Traceback" not in err
    code = main(["demo", "--out", str(tmp_path / "y"), "--cutoff", "2024-12-31"])
    assert code != 0 and "2025-08-22" in capsys.readouterr().err


def test_main_demo_prints_where_and_how_much(tmp_path, capsys):
    assert main_demo(tmp_path / "m", seed=None, subjects=SMALL, cutoff=None, fmt="csv") == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "m") in out and "dm.csv" in out and "demo_truth.json" in out
    assert (tmp_path / "m" / "ie.csv").is_file()


def test_rewriting_replaces_files_and_leaves_no_temporary_folder(tmp_path):
    out = tmp_path / "demo"
    write_demo(out, subjects=SMALL, fmt="csv")
    write_demo(out, subjects=SMALL, fmt="parquet")
    names = sorted(p.name for p in out.iterdir())
    assert "dm.parquet" in names and "dm.csv" not in names        # one format per dataset
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_demo_data_dir_is_built_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALKIT_CACHE_DIR", str(tmp_path))
    first = demo_data_dir()
    assert first.parent == tmp_path and (first / "dm.parquet").is_file()
    stamp = (first / "demo_truth.json").stat().st_mtime_ns
    assert demo_data_dir() == first
    assert (first / "demo_truth.json").stat().st_mtime_ns == stamp
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(TrialkitError, match="^trialkit: cannot write the demo study to .*it is a file"):
        write_demo(target, subjects=SMALL)
