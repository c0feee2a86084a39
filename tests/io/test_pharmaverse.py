"""The readers and checks on real third-party CDISC data (../shared/data/pharmaverse).

Skipped with a reason when that folder is absent (``pharmaverse_dir`` fixture).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from trialkit.derive.subjects import derive_randomization_date, derive_screen_failure
from trialkit.errors import ValidationFailed
from trialkit.io import (
    derive_dates,
    find_datasets,
    read_dataset,
    read_study,
)
from trialkit.io import validate_study

FOLDERS = ("sdtm", "sdtm-recist-mini", "adam")


def _all_files(root: Path) -> list[Path]:
    return sorted(p for folder in FOLDERS for p in find_datasets(root / folder).values())


def test_every_pharmaverse_dataset_reads(pharmaverse_dir):
    files = _all_files(pharmaverse_dir)
    assert len(files) == 18  # 10 SDTM, 3 mini, 5 ADaM
    for path in files:
        frame = read_dataset(path)
        raw = pl.read_parquet(path)
        assert frame.shape == raw.shape, path
        assert frame.columns == [c.upper() for c in raw.columns], path
        # text stripped and "" -> null: never an empty string left
        for column in frame.select(pl.col(pl.String)).columns:
            assert not (frame[column] == "").any(), (path, column)


@pytest.mark.parametrize("fmt", ["csv", "xpt"])
def test_pharmaverse_dm_round_trips_through_other_formats(pharmaverse_dir, tmp_path, fmt):
    import pyreadstat

    dm = read_dataset(pharmaverse_dir / "sdtm" / "dm.parquet")
    (tmp_path / "parquet").mkdir()
    dm.write_parquet(tmp_path / "parquet" / "dm.parquet")
    (tmp_path / fmt).mkdir()
    target = tmp_path / fmt / f"DM.{fmt.upper()}"
    if fmt == "csv":
        dm.write_csv(target)
    else:
        pyreadstat.write_xport(dm.to_pandas(), str(target), table_name="DM")
    left = read_study(tmp_path / "parquet")["dm"]
    right = read_study(tmp_path / fmt)["dm"]
    assert left.equals(right)


def test_validate_pharmaverse_sdtm_finishes_with_its_findings(pharmaverse_dir):
    findings = validate_study(pharmaverse_dir / "sdtm")
    warnings = {(f.dataset, f.column) for f in findings if f.level == "warning"}
    errors = {(f.dataset, f.column, f.kind) for f in findings if f.level == "error"}
    assert ("rs", "RSSTRESC") in warnings
    check = next(f for f in findings if f.column == "RSSTRESC")
    assert "'CHECK' (3)" in check.message
    # no protocol file for CDISCPILOT01: a generic protocol from the data, said once, no error
    assert errors == set()
    generic = [f for f in findings if "generic protocol" in f.message]
    assert len(generic) == 1 and "CDISCPILOT01" in generic[0].message and "Pbo, Xan_Hi, Xan_Lo" in generic[0].message


def test_pharmaverse_runs_under_a_generic_protocol_and_fails_under_this_trials(pharmaverse_dir):
    # the study key enforces a protocol: the pilot's arms are not NCT07334483's
    with pytest.raises(ValidationFailed, match="Xan_Hi"):
        read_study(pharmaverse_dir / "sdtm", study="NCT07334483")
    study = read_study(pharmaverse_dir / "sdtm", report="swimmer")
    assert study.protocol.generic and study.protocol.study_id == "CDISCPILOT01"
    assert study.protocol.arm_labels == {"Pbo": "Placebo", "Xan_Hi": "Xanomeline High Dose",
                                         "Xan_Lo": "Xanomeline Low Dose"}
    assert len(study.protocol.site_ids) == 17 and study.protocol.site_ids[0] == "701"
    assert {"dm", "ex", "ds", "rs"} <= set(study.frames)
    assert "tu" not in study  # the swimmer report does not read lesions
    assert any("CHECK" in f.message for f in study.warnings)


def test_adam_and_mini_validate_without_crashing(pharmaverse_dir):
    adam = validate_study(pharmaverse_dir / "adam", report="efficacy")
    assert [f for f in adam if f.level == "error"] == []
    mini = validate_study(pharmaverse_dir / "sdtm-recist-mini", report="waterfall")
    assert [f for f in mini if f.level == "error"] == []


def test_pharmaverse_screen_failures_and_randomization(pharmaverse_dir):
    study = read_study(pharmaverse_dir / "sdtm")
    dm = derive_screen_failure(study["dm"])
    assert dm["SCRNFAIL"].value_counts().sort("SCRNFAIL").rows() == [("N", 254), ("Y", 52)]

    from_ds = derive_randomization_date(dm, disposition=study["ds"])
    assert from_ds["RANDDT_SOURCE"].value_counts().sort("RANDDT_SOURCE", nulls_last=True).rows() == [
        ("DS RANDOMIZED", 254), (None, 52)]
    # no screen failure is randomized
    assert from_ds.filter(pl.col("SCRNFAIL") == "Y")["RANDDT"].null_count() == 52

    adsl = read_study(pharmaverse_dir / "adam", report="efficacy")["adsl"]
    from_adsl = derive_randomization_date(dm, disposition=study["ds"], adsl=adsl)
    assert set(from_adsl["RANDDT_SOURCE"].drop_nulls().unique()) == {"ADSL.RANDDT"}
    # both sources agree on every randomized subject
    both = from_ds.join(from_adsl, on="USUBJID", suffix="_ADSL").filter(pl.col("RANDDT").is_not_null())
    assert both.height == 254
    assert (both["RANDDT"] == both["RANDDT_ADSL"]).all()


def test_pharmaverse_partial_dates(pharmaverse_dir):
    tr = read_dataset(pharmaverse_dir / "sdtm" / "tr.parquet")
    out = derive_dates(tr.select("USUBJID", "TRDTC"))
    partial = out.filter(pl.col("TRDTC").str.len_chars() == 7)
    assert partial.height == 16
    assert partial["TRDTF"].unique().to_list() == ["D"]
    assert (partial["TRDT"].dt.day() == 1).all()

    rs = read_dataset(pharmaverse_dir / "sdtm-recist-mini" / "rs.parquet")
    end = derive_dates(rs.filter(pl.col("RSDTC") == "2014-02"), impute="end")
    assert end["RSDT"].unique().to_list() == [date(2014, 2, 28)]

    ex = derive_dates(read_dataset(pharmaverse_dir / "sdtm" / "ex.parquet"))
    assert ex["EXENDT"].null_count() == 6  # the six records without EXENDTC stay empty
