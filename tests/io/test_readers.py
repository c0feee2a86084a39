"""Readers: every format gives the same frame; names, text and types are normalised."""

from __future__ import annotations

from datetime import date

import pandas as pd
import polars as pl
import pytest

from trialkit.derive.subjects import derive_randomization_date, derive_screen_failure
from trialkit.errors import DataError, MissingDatasetError, UnreadableFileError
from trialkit.io import (
    Study,
    find_datasets,
    read_dataset,
    read_study,
)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "xpt"])
def test_every_format_reads_to_the_same_frames(fmt, study_dir, tiny):
    study = read_study(study_dir(fmt=fmt))
    assert study.findings == []
    assert sorted(study.frames) == sorted(tiny)
    for name, expected in tiny.items():
        got = study[name]
        assert got.columns == expected.columns, name
        assert got.equals(expected), name
    assert study["dm"].schema["AGE"] == pl.Float64  # CSV text cast by the validation spec


def test_find_datasets_is_case_insensitive_and_ignores_other_files(tmp_path, tiny, writer):
    writer(tiny["dm"], tmp_path / "DM.XPT")
    writer(tiny["rs"], tmp_path / "Rs.csv")
    writer(tiny["ie"], tmp_path / "ie.Parquet")
    (tmp_path / "dm.labels.json").write_text("{}")
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / ".dm.parquet").write_bytes(b"hidden")
    (tmp_path / "ae.sas7bdat").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    found = find_datasets(tmp_path)
    assert {k: v.name for k, v in found.items()} == {
        "ae": "ae.sas7bdat", "dm": "DM.XPT", "ie": "ie.Parquet", "rs": "Rs.csv"}


def test_two_files_for_one_dataset_names_both(tmp_path, tiny, writer):
    writer(tiny["dm"], tmp_path / "dm.parquet")
    writer(tiny["dm"], tmp_path / "DM.xpt")
    with pytest.raises(DataError) as info:
        find_datasets(tmp_path)
    assert type(info.value) is DataError
    assert "DM.xpt" in str(info.value) and "dm.parquet" in str(info.value)


def test_names_upper_cased_text_stripped_empty_is_null(tmp_path):
    (tmp_path / "dm.csv").write_text(
        "studyid, usubjid ,siteid,AGE,Arm\nNCT07334483,  01-001 ,01,54,\"\"\nNCT07334483,01-002,  ,  ,A\n\n",
        encoding="utf-8-sig")
    dm = read_dataset(tmp_path / "dm.csv")
    assert dm.columns == ["STUDYID", "USUBJID", "SITEID", "AGE", "ARM"]
    assert dm.rows() == [("NCT07334483", "01-001", "01", "54", None),
                         ("NCT07334483", "01-002", None, None, "A")]


def test_csv_quoted_delimiters_are_fine(tmp_path):
    (tmp_path / "ie.csv").write_text('USUBJID,IETEST\n01-001,"Prior TACE, or SIRT"\n')
    assert read_dataset(tmp_path / "ie.csv")["IETEST"].to_list() == ["Prior TACE, or SIRT"]


def test_csv_value_over_two_lines_reads_as_one_value(tmp_path):
    (tmp_path / "ie.csv").write_text('USUBJID,IETEST,IECAT\n01-001,"Prior TACE\nor SIRT",INCLUSION\n'
                                     '01-002,Child-Pugh B8,EXCLUSION\n')
    assert read_dataset(tmp_path / "ie.csv").rows() == [
        ("01-001", "Prior TACE\nor SIRT", "INCLUSION"), ("01-002", "Child-Pugh B8", "EXCLUSION")]


def test_csv_short_row_after_a_value_over_two_lines_is_an_error(tmp_path):
    # polars would pad the short row: 'EXCLUSION' silently in IETEST, IECAT empty
    (tmp_path / "ie.csv").write_text('USUBJID,IETEST,IECAT\n01-001,"Prior TACE\nor SIRT",INCLUSION\n'
                                     '01-002,EXCLUSION\n')
    with pytest.raises(UnreadableFileError) as info:
        read_dataset(tmp_path / "ie.csv")
    assert "(3): line 4: 2 fields (1 row(s))" in str(info.value)
    assert "'01-002,EXCLUSION'" in str(info.value)


def test_csv_column_named_twice_is_an_error(tmp_path):
    # polars would read the second as AGE_DUPLICATED_0 and the reports would use the first
    (tmp_path / "dm.csv").write_text("USUBJID,AGE,SITEID,age\n01-001,54,01,45\n")
    with pytest.raises(UnreadableFileError) as info:
        read_dataset(tmp_path / "dm.csv")
    assert "dataset 'dm'" in str(info.value)
    assert "the column(s) AGE more than once" in str(info.value)


def test_csv_with_known_encoding_reads_gbk_site_names(tmp_path, study_dir, tiny):
    folder = study_dir()
    (folder / "dm.parquet").unlink()
    names = ["北京清华长庚医院", "北京清华长庚医院", "南京天印山医院", "复旦大学附属中山医院"]
    (folder / "dm.csv").write_bytes(tiny["dm"].with_columns(pl.Series("SITENAME", names)).write_csv().encode("gbk"))
    study = read_study(folder, encoding="gbk")
    assert study["dm"]["SITENAME"].to_list() == names
    from trialkit.io import validate_study

    assert [f.kind for f in validate_study(folder)] == ["UnreadableFileError"]
    assert validate_study(folder, encoding="gbk") == []


def test_utf8_site_names_read_as_is(tmp_path):
    (tmp_path / "dm.csv").write_text("USUBJID,SITENAME\n01-001,北京清华长庚医院\n", encoding="utf-8")
    assert read_dataset(tmp_path / "dm.csv")["SITENAME"].to_list() == ["北京清华长庚医院"]


def test_xpt_written_by_pyreadstat_with_sas_dates(tmp_path):
    import pyreadstat

    frame = pd.DataFrame({"usubjid": ["01-001 ", "01-002"], "RANDDT": [date(2025, 9, 10), None],
                          "AGE": [54.0, None], "ARM": ["A", ""]})
    pyreadstat.write_xport(frame, str(tmp_path / "adsl.xpt"), table_name="ADSL")
    adsl = read_dataset(tmp_path / "adsl.xpt")
    assert adsl.columns == ["USUBJID", "RANDDT", "AGE", "ARM"]
    assert adsl.schema["RANDDT"] == pl.Date
    assert adsl.rows() == [("01-001", date(2025, 9, 10), 54.0, "A"), ("01-002", None, None, None)]


def test_unformatted_sas_date_number_in_adam_becomes_a_date(tmp_path, tiny, writer):
    # days since 1960-01-01, as SAS stores dates, without a date format attached
    sas_days = (date(2025, 9, 10) - date(1960, 1, 1)).days
    adsl = tiny["dm"].with_columns(pl.Series("RANDDT", [float(sas_days), None, None, None]))
    writer(tiny["dm"], tmp_path / "dm.parquet")
    import pyreadstat

    pyreadstat.write_xport(adsl.to_pandas(), str(tmp_path / "adsl.xpt"), table_name="ADSL")
    study = read_study(tmp_path)
    assert study["adsl"]["RANDDT"].to_list() == [date(2025, 9, 10), None, None, None]


def test_adam_dates_as_text_in_csv_become_dates(tmp_path, tiny, writer):
    writer(tiny["dm"], tmp_path / "dm.parquet")
    writer(tiny["dm"].with_columns(pl.Series("RANDDT", ["2025-09-10", "2025-09-11", None, None])),
           tmp_path / "adsl.csv")
    assert read_study(tmp_path)["adsl"]["RANDDT"].to_list() == [date(2025, 9, 10), date(2025, 9, 11), None, None]


def test_numbers_where_text_is_expected_become_text_and_dates_become_iso(tmp_path, tiny, writer):
    dm = tiny["dm"].with_columns(pl.Series("SITEID", [1, 1, 2, 3]),
                                 pl.Series("RFICDTC", [date(2025, 9, 1)] * 4))
    writer(dm, tmp_path / "dm.parquet")
    study = read_study(tmp_path, warn_only=["DataError"])  # sites 1/2/3 are not "01"/"02"/"03"
    assert study["dm"]["SITEID"].to_list() == ["1", "1", "2", "3"]
    assert study["dm"]["RFICDTC"].to_list() == ["2025-09-01"] * 4
    assert [f.column for f in study.findings] == ["SITEID"]


def test_sas7bdat_goes_through_pyreadstat(tmp_path, tiny, monkeypatch):
    """pyreadstat cannot write sas7bdat and no sample file ships with it here, so the
    sas7bdat reader is pointed at an XPT reader to check the dispatch and tidying; the real
    pyreadstat.read_sas7bdat is exercised on bad files in test_bad_inputs.py."""
    import pyreadstat

    xpt = tmp_path / "src.xpt"
    pyreadstat.write_xport(tiny["dm"].to_pandas(), str(xpt), table_name="DM")
    calls = []

    def fake_read_sas7bdat(path, **kwargs):
        calls.append((path, kwargs.get("output_format")))
        return pyreadstat.read_xport(str(xpt), **kwargs)

    monkeypatch.setattr(pyreadstat, "read_sas7bdat", fake_read_sas7bdat)
    (tmp_path / "dm.sas7bdat").write_bytes(b"stand-in")
    dm = read_dataset(tmp_path / "dm.sas7bdat")
    assert calls == [(str(tmp_path / "dm.sas7bdat"), "polars")]
    assert dm.equals(tiny["dm"])


def test_real_sas7bdat_file_if_available():
    from pathlib import Path

    import pyreadstat

    samples = sorted(Path(pyreadstat.__file__).parent.rglob("*.sas7bdat"))
    if not samples:
        pytest.skip("no sas7bdat sample file is installed (pyreadstat cannot write one; its wheel ships none)")
    frame = read_dataset(samples[0])
    assert frame.width > 0


def test_study_access(study_dir):
    study = read_study(study_dir(), report="screening")
    assert isinstance(study, Study)
    assert "DM" in study and "ie" in study and "rs" not in study
    assert study.get("rs") is None
    assert study.get("dm").height == 4
    with pytest.raises(MissingDatasetError, match="'rs' was found .* not read"):
        study["rs"]
    with pytest.raises(MissingDatasetError, match="'ae' is not in the folder"):
        study["ae"]
    assert sorted(study.files) == ["dm", "ds", "ex", "ie", "rs", "tr", "tu"]
    assert sorted(study.frames) == ["dm", "ds", "ex", "ie"]


def test_read_study_does_not_mutate_its_inputs(study_dir, tiny):
    folder = study_dir(fmt="csv")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    read_study(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# ---- subject-level derivations ----------------------------------------------------------------
def test_screen_failure_both_sdtmig_conventions_and_not_assigned():
    dm = pl.DataFrame({
        "USUBJID": ["1", "2", "3", "4", "5", "6", "7", "8"],
        "ARMCD": ["A", "Scrnfail", None, "NOTASSGN", None, "scrnfail", None, None],
        "ACTARMCD": ["A", "Scrnfail", None, "NOTASSGN", None, "SCRNFAIL", None, "Scrnfail"],
        "ARMNRS": [None, None, "SCREEN FAILURE", None, "NOT ASSIGNED", None, None, None],
    })
    out = derive_screen_failure(dm)
    assert out["SCRNFAIL"].to_list() == ["N", "Y", "Y", "N", "N", "Y", "N", "Y"]
    assert out["ARMSTAT"].to_list() == ["ASSIGNED", "SCREEN FAILURE", "SCREEN FAILURE", "NOT ASSIGNED",
                                        "NOT ASSIGNED", "SCREEN FAILURE", "NOT ASSIGNED", "SCREEN FAILURE"]
    assert dm.columns == ["USUBJID", "ARMCD", "ACTARMCD", "ARMNRS"]


def test_empty_string_arm_is_blank_not_an_arm():
    # a frame built outside read_study may hold "" where SAS/CSV meant missing
    dm = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["", " "], "ACTARMCD": ["", ""],
                       "ARMNRS": ["", "Screen Failure"]})
    out = derive_screen_failure(dm)
    assert out["ARMSTAT"].to_list() == ["NOT ASSIGNED", "SCREEN FAILURE"]
    assert out["SCRNFAIL"].to_list() == ["N", "Y"]


def test_arm_status_assigned_not_treated_both_conventions():
    dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "ARMCD": ["A", "B", "C"],
                       "ACTARMCD": ["NOTTRT", None, "Unplan"],
                       "ARMNRS": [None, "ASSIGNED, NOT TREATED", None]})
    out = derive_screen_failure(dm)
    assert out["ARMSTAT"].to_list() == ["ASSIGNED, NOT TREATED", "ASSIGNED, NOT TREATED", "UNPLANNED TREATMENT"]
    assert out["SCRNFAIL"].to_list() == ["N", "N", "N"]


def test_screen_failure_without_arm_columns():
    out = derive_screen_failure(pl.DataFrame({"USUBJID": ["1"], "ARMNRS": ["Screen  failure"]}))
    assert out["SCRNFAIL"].to_list() == ["Y"]


def test_randomization_date_prefers_adsl_then_ds_never_first_dose():
    dm = pl.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"]})
    adsl = pl.DataFrame({"USUBJID": ["S1", "S2"], "RANDDT": [date(2025, 9, 1), None]})
    ds = pl.DataFrame({
        "USUBJID": ["S1", "S2", "S2", "S3", "S4"],
        "DSDECOD": ["RANDOMIZED", "Randomized", "RANDOMIZED", "RANDOMIZED", "SCREEN FAILURE"],
        "DSSTDTC": ["2025-08-30", "2025-09-05", "2025-09-03T10:00", "2025-09", "2025-09-02"],
    })
    out = derive_randomization_date(dm, disposition=ds, adsl=adsl)
    assert out.columns == ["USUBJID", "RANDDT", "RANDDT_SOURCE"]
    assert out["RANDDT"].to_list() == [date(2025, 9, 1), date(2025, 9, 3), None, None]
    assert out["RANDDT_SOURCE"].to_list() == ["ADSL.RANDDT", "DS RANDOMIZED", None, None]


def test_randomization_date_from_subjects_own_randdt_and_dsdtc_fallback():
    adsl = pl.DataFrame({"USUBJID": ["S1", "S2"], "RANDDT": ["2025-09-01", None]})
    ds = pl.DataFrame({"USUBJID": ["S2"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": [None], "DSDTC": ["2025-09-04"]})
    out = derive_randomization_date(adsl, disposition=ds)
    assert out.rows() == [("S1", date(2025, 9, 1), "ADSL.RANDDT"), ("S2", date(2025, 9, 4), "DS RANDOMIZED")]


def test_randomization_date_from_a_datetime_randdt_is_its_date():
    from datetime import datetime

    adsl = pl.DataFrame({"USUBJID": ["S1", "S2"], "RANDDT": [datetime(2025, 9, 1, 14, 30), None]})
    ds = pl.DataFrame({"USUBJID": ["S1", "S2"], "DSDECOD": ["RANDOMIZED"] * 2,
                       "DSSTDTC": ["2025-08-31", "2025-09-02"]})
    out = derive_randomization_date(adsl.select("USUBJID"), disposition=ds, adsl=adsl)
    assert out.rows() == [("S1", date(2025, 9, 1), "ADSL.RANDDT"), ("S2", date(2025, 9, 2), "DS RANDOMIZED")]


@pytest.mark.parametrize("fmt", ["csv", "xpt"])
def test_demo_study_validates_and_is_the_same_in_every_format(fmt, demo_dir, tmp_path):
    """Every report's input has one set of types, whatever format the sponsor sent."""
    from trialkit.demo import write_demo

    reference = read_study(demo_dir)
    assert reference.findings == []
    other = read_study(write_demo(tmp_path / fmt, fmt=fmt))
    assert sorted(other.frames) == sorted(reference.frames)
    for name, frame in reference.frames.items():
        assert other[name].schema == frame.schema, name
        assert other[name].equals(frame), name
