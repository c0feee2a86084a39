"""A corpus of bad study folders: each raises one exact error class, names what is wrong,
and ``trialkit validate`` exits non-zero on it without a traceback.

Each case starts from the valid tiny study (tests/io/conftest.py) and breaks one thing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from trialkit import cli
from trialkit.errors import (
    ColumnTypeError,
    DataError,
    DateFormatError,
    DuplicateSubjectError,
    MissingColumnError,
    MissingDatasetError,
    OrphanRecordError,
    UnknownArmError,
    UnreadableFileError,
    ValidationFailed,
)
from trialkit.io import read_study


@dataclass(frozen=True)
class Case:
    build: Callable[[Path, dict[str, pl.DataFrame], Callable], Path]  # (tmp, frames, writer) -> data dir
    error: type[DataError]
    dataset: str | None
    column: str | None = None
    report: str | None = None
    also_in_message: tuple[str, ...] = ()


def _folder(tmp: Path, frames: dict[str, pl.DataFrame], write, fmt: str = "parquet",
            overrides: dict[str, str] | None = None) -> Path:
    """Write ``frames`` into tmp/study; ``overrides`` gives a per-dataset format."""
    folder = tmp / "study"
    folder.mkdir(exist_ok=True)
    for name, frame in frames.items():
        write(frame, folder / f"{name}.{(overrides or {}).get(name, fmt)}")
    return folder


# ---- builders, one per case -------------------------------------------------------------------
def missing_dm(tmp, f, w):
    del f["dm"]
    return _folder(tmp, f, w)


def missing_tu_for_waterfall(tmp, f, w):
    del f["tu"]
    return _folder(tmp, f, w)


def missing_ex_and_adex_for_swimmer(tmp, f, w):
    del f["ex"]
    return _folder(tmp, f, w)


def missing_column_siteid(tmp, f, w):
    f["dm"] = f["dm"].drop("SITEID")
    return _folder(tmp, f, w)


def missing_column_rsstresc(tmp, f, w):
    f["rs"] = f["rs"].drop("RSSTRESC")
    return _folder(tmp, f, w)


def text_in_age_csv(tmp, f, w):
    f["dm"] = f["dm"].with_columns(pl.Series("AGE", ["54", "fifty", "47", "70"]))
    return _folder(tmp, f, w, fmt="csv")


def text_in_trstresn_parquet(tmp, f, w):
    f["tr"] = f["tr"].with_columns(pl.Series("TRSTRESN", ["50", "30mm", "40", "41"]))
    return _folder(tmp, f, w)


def boolean_age(tmp, f, w):
    f["dm"] = f["dm"].with_columns(pl.Series("AGE", [True, False, True, True]))
    return _folder(tmp, f, w)


def malformed_date_slashes(tmp, f, w):
    f["dm"] = f["dm"].with_columns(pl.Series("RFICDTC", ["2025-09-01", "31/12/2025", "2025-09-03", "2025-09"]))
    return _folder(tmp, f, w)


def impossible_date_feb30(tmp, f, w):
    f["ex"] = f["ex"].with_columns(pl.Series("EXSTDTC", ["2025-02-30", "2025-10-02T09:30", "2025-09-12"]))
    return _folder(tmp, f, w, fmt="csv")


def impossible_month_13(tmp, f, w):
    f["rs"] = f["rs"].with_columns(pl.Series("RSDTC", ["2025-10-22", "2025-13", "2025-10-23"]))
    return _folder(tmp, f, w, fmt="xpt")


def adam_randdt_not_iso(tmp, f, w):
    adsl = f["dm"].with_columns(pl.Series("RANDDT", ["2025/09/10", "2025-09-11", None, None]))
    return _folder(tmp, {"dm": f["dm"], "adsl": adsl}, w, fmt="csv")


def duplicate_usubjid_dm(tmp, f, w):
    f["dm"] = pl.concat([f["dm"], f["dm"].head(1)])
    return _folder(tmp, f, w)


def duplicate_usubjid_adsl(tmp, f, w):
    adsl = f["dm"].with_columns(pl.lit("2025-09-10").alias("RANDDT"))
    return _folder(tmp, {"dm": f["dm"], "adsl": pl.concat([adsl, adsl.tail(1)])}, w)


def orphan_rs_records(tmp, f, w):
    f["rs"] = f["rs"].with_columns(pl.Series("USUBJID", ["01-001", "09-999", "01-002"]))
    return _folder(tmp, f, w)


def orphan_ex_records_xpt(tmp, f, w):
    f["ex"] = f["ex"].with_columns(pl.Series("USUBJID", ["01-001", "01-001", "01-0002"]))
    return _folder(tmp, f, w, fmt="xpt")


def unknown_arm(tmp, f, w):
    f["dm"] = f["dm"].with_columns(pl.Series("ARMCD", ["A", "E", "SCRNFAIL", None]))
    return _folder(tmp, f, w)


def _empty(fmt):
    def build(tmp, f, w):
        folder = _folder(tmp, f, w)
        (folder / "dm.parquet").unlink()
        (folder / f"dm.{fmt}").write_bytes(b"")
        return folder
    build.__name__ = f"empty_{fmt}_file"
    return build


def truncated_xpt(tmp, f, w):
    folder = _folder(tmp, f, w, overrides={"dm": "xpt"})
    raw = (folder / "dm.xpt").read_bytes()
    (folder / "dm.xpt").write_bytes(raw[: len(raw) - 100])
    return folder


def truncated_xpt_header(tmp, f, w):
    folder = _folder(tmp, f, w, overrides={"dm": "xpt"})
    raw = (folder / "dm.xpt").read_bytes()
    (folder / "dm.xpt").write_bytes(raw[:400])  # five whole records: only the size check can't see it
    return folder


def corrupt_parquet(tmp, f, w):
    folder = _folder(tmp, f, w)
    raw = (folder / "dm.parquet").read_bytes()
    (folder / "dm.parquet").write_bytes(raw[: len(raw) // 2])
    return folder


def random_bytes_xpt(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    (folder / "DM.XPT").write_bytes(random.Random(7).randbytes(1600))
    return folder


def random_bytes_sas7bdat(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "ex.parquet").unlink()
    (folder / "ex.sas7bdat").write_bytes(random.Random(8).randbytes(4096))
    return folder


def latin1_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    text = f["dm"].with_columns(pl.lit("Zürich Universitätsspital").alias("SITENAME")).write_csv()
    (folder / "dm.csv").write_bytes(text.encode("latin-1"))
    return folder


def gbk_site_names_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    names = ["北京清华长庚医院", "北京清华长庚医院", "南京天印山医院", "复旦大学附属中山医院"]
    text = f["dm"].with_columns(pl.Series("SITENAME", names)).write_csv()
    (folder / "dm.csv").write_bytes(text.encode("gbk"))
    return folder


def _xpt_with_bytes(tmp, f, w, placeholder: str, raw: bytes):
    """An XPT whose SITENAME holds ``raw`` bytes (pyreadstat itself writes UTF-8 only)."""
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    dm = f["dm"].with_columns(pl.lit(placeholder).alias("SITENAME"))
    w(dm, folder / "dm.xpt")
    data = (folder / "dm.xpt").read_bytes()
    (folder / "dm.xpt").write_bytes(data.replace(placeholder.encode(), raw))
    return folder


def latin1_xpt(tmp, f, w):
    return _xpt_with_bytes(tmp, f, w, "ZQrich", "Zürich".encode("latin-1"))


def gbk_site_names_xpt(tmp, f, w):
    return _xpt_with_bytes(tmp, f, w, "QQQQQQQQ", "北京医院".encode("gbk"))


def stray_delimiter_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "ie.parquet").unlink()
    (folder / "ie.csv").write_text(
        "STUDYID,USUBJID,IECAT,IETESTCD,IETEST,IESTRESC\n"
        "NCT07334483,02-003,INCLUSION,INCL03,Child-Pugh A or B7,N\n"
        "NCT07334483,03-004,EXCLUSION,EXCL17,Prior TACE, or SIRT,Y\n", encoding="utf-8")
    return folder


def short_row_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "ie.parquet").unlink()
    (folder / "ie.csv").write_text(
        "STUDYID,USUBJID,IECAT,IETESTCD\nNCT07334483,02-003,INCLUSION,INCL03\nNCT07334483,03-004\n")
    return folder


def unclosed_quote_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "ie.parquet").unlink()
    (folder / "ie.csv").write_text(
        'STUDYID,USUBJID,IECAT,IETESTCD\nNCT07334483,02-003,"INCLUSION,INCL03\nNCT07334483,03-004,EXCLUSION,EXCL17\n')
    return folder


def short_row_after_multiline_value_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "ie.parquet").unlink()
    (folder / "ie.csv").write_text(
        'STUDYID,USUBJID,IECAT,IETESTCD,IETEST\n'
        'NCT07334483,02-003,INCLUSION,INCL03,"Child-Pugh A\nor B7"\n'
        'NCT07334483,03-004,EXCLUSION,EXCL17\n')
    return folder


def duplicate_header_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    (folder / "dm.csv").write_text(f["dm"].with_columns(pl.col("AGE").alias("AGE2")).write_csv()
                                   .replace("AGE2", "age", 1))
    return folder


def missing_usubjid_values(tmp, f, w):
    f["ex"] = f["ex"].with_columns(pl.Series("USUBJID", ["01-001", None, "01-002"]))
    return _folder(tmp, f, w, fmt="csv")


def header_only_csv(tmp, f, w):
    folder = _folder(tmp, f, w)
    (folder / "dm.parquet").unlink()
    (folder / "dm.csv").write_text(",".join(f["dm"].columns) + "\n")
    return folder


def case_clash_columns(tmp, f, w):
    f["dm"] = f["dm"].with_columns(pl.col("SITEID").alias("siteid"))
    return _folder(tmp, f, w)


def two_files_one_dataset(tmp, f, w):
    folder = _folder(tmp, f, w)
    w(f["dm"], folder / "DM.csv")
    return folder


def missing_folder(tmp, f, w):
    return tmp / "no-such-folder"


def folder_is_a_file(tmp, f, w):
    path = tmp / "dm.parquet"
    f["dm"].write_parquet(path)
    return path


def several_errors(tmp, f, w):
    f["dm"] = pl.concat([f["dm"], f["dm"].head(1)])
    f["rs"] = f["rs"].with_columns(pl.Series("USUBJID", ["01-001", "09-999", "01-002"]))
    return _folder(tmp, f, w)


CASES: dict[str, Case] = {
    "missing_dataset_dm": Case(missing_dm, MissingDatasetError, "dm"),
    "missing_dataset_tu_waterfall": Case(missing_tu_for_waterfall, MissingDatasetError, "tu", report="waterfall",
                                         also_in_message=("adtr",)),
    "missing_dataset_ex_or_adex_swimmer": Case(missing_ex_and_adex_for_swimmer, MissingDatasetError, "ex",
                                               report="swimmer", also_in_message=("adex",)),
    "missing_column_dm_siteid": Case(missing_column_siteid, MissingColumnError, "dm", "SITEID"),
    "missing_column_rs_rsstresc": Case(missing_column_rsstresc, MissingColumnError, "rs", "RSSTRESC",
                                       report="efficacy"),
    "wrong_type_text_in_age_csv": Case(text_in_age_csv, ColumnTypeError, "dm", "AGE", also_in_message=("fifty", "01-002")),
    "wrong_type_text_in_trstresn": Case(text_in_trstresn_parquet, ColumnTypeError, "tr", "TRSTRESN",
                                        also_in_message=("30mm",)),
    "wrong_type_boolean_age": Case(boolean_age, ColumnTypeError, "dm", "AGE"),
    "malformed_date_slashes": Case(malformed_date_slashes, DateFormatError, "dm", "RFICDTC",
                                   also_in_message=("31/12/2025", "01-002")),
    "impossible_date_feb30_csv": Case(impossible_date_feb30, DateFormatError, "ex", "EXSTDTC",
                                      also_in_message=("2025-02-30",)),
    "impossible_month_13_xpt": Case(impossible_month_13, DateFormatError, "rs", "RSDTC", also_in_message=("2025-13",)),
    "adam_date_not_iso": Case(adam_randdt_not_iso, DateFormatError, "adsl", "RANDDT", also_in_message=("2025/09/10",)),
    "duplicate_usubjid_dm": Case(duplicate_usubjid_dm, DuplicateSubjectError, "dm", "USUBJID",
                                 also_in_message=("01-001",)),
    "duplicate_usubjid_adsl": Case(duplicate_usubjid_adsl, DuplicateSubjectError, "adsl", "USUBJID",
                                   also_in_message=("03-004",)),
    "orphan_rs_records": Case(orphan_rs_records, OrphanRecordError, "rs", "USUBJID", also_in_message=("09-999",)),
    "orphan_ex_records_xpt": Case(orphan_ex_records_xpt, OrphanRecordError, "ex", "USUBJID",
                                  also_in_message=("01-0002",)),
    "unknown_arm": Case(unknown_arm, UnknownArmError, "dm", "ARMCD", also_in_message=("'E'", "A, B, C, D")),
    "empty_parquet_file": Case(_empty("parquet"), UnreadableFileError, "dm", also_in_message=("0 bytes",)),
    "empty_csv_file": Case(_empty("csv"), UnreadableFileError, "dm", also_in_message=("0 bytes",)),
    "empty_xpt_file": Case(_empty("xpt"), UnreadableFileError, "dm", also_in_message=("0 bytes",)),
    "empty_sas7bdat_file": Case(_empty("sas7bdat"), UnreadableFileError, "dm", also_in_message=("0 bytes",)),
    "truncated_xpt": Case(truncated_xpt, UnreadableFileError, "dm", also_in_message=("truncated",)),
    "truncated_xpt_at_record_boundary": Case(truncated_xpt_header, UnreadableFileError, "dm", also_in_message=("xpt",)),
    "corrupt_parquet": Case(corrupt_parquet, UnreadableFileError, "dm", also_in_message=("parquet",)),
    "random_bytes_named_xpt": Case(random_bytes_xpt, UnreadableFileError, "dm", also_in_message=("DM.XPT",)),
    "random_bytes_named_sas7bdat": Case(random_bytes_sas7bdat, UnreadableFileError, "ex", report="swimmer",
                                        also_in_message=("ex.sas7bdat",)),
    "latin1_csv": Case(latin1_csv, UnreadableFileError, "dm", also_in_message=("UTF-8", "Zürich")),
    "gbk_site_names_csv": Case(gbk_site_names_csv, UnreadableFileError, "dm",
                               also_in_message=("UTF-8", "北京清华长庚医院", "iconv")),
    "latin1_xpt": Case(latin1_xpt, UnreadableFileError, "dm", also_in_message=("not UTF-8", "encoding=")),
    "gbk_site_names_xpt": Case(gbk_site_names_xpt, UnreadableFileError, "dm", also_in_message=("GBK",)),
    "missing_usubjid_values": Case(missing_usubjid_values, DataError, "ex", "USUBJID", also_in_message=("row 2",)),
    "csv_stray_delimiter": Case(stray_delimiter_csv, UnreadableFileError, "ie", report="screening",
                                also_in_message=("line 3", "Prior TACE, or SIRT")),
    "csv_short_row": Case(short_row_csv, UnreadableFileError, "ie", report="screening", also_in_message=("line 3",)),
    "csv_unclosed_quote": Case(unclosed_quote_csv, UnreadableFileError, "ie", report="screening"),
    "csv_short_row_after_multiline_value": Case(short_row_after_multiline_value_csv, UnreadableFileError, "ie",
                                                report="screening", also_in_message=("line 4: 4 fields",)),
    "csv_column_named_twice": Case(duplicate_header_csv, UnreadableFileError, "dm", "AGE",
                                   also_in_message=("more than once",)),
    "header_only_csv": Case(header_only_csv, MissingDatasetError, "dm", also_in_message=("no rows",)),
    "columns_differ_only_in_case": Case(case_clash_columns, UnreadableFileError, "dm", "SITEID"),
    "two_files_for_one_dataset": Case(two_files_one_dataset, DataError, "dm",
                                      also_in_message=("dm.parquet", "DM.csv")),
    "missing_folder": Case(missing_folder, MissingDatasetError, None, also_in_message=("no-such-folder",)),
    "folder_is_a_file": Case(folder_is_a_file, MissingDatasetError, None, also_in_message=("not a folder",)),
    "several_errors": Case(several_errors, ValidationFailed, "dm", "USUBJID", also_in_message=("rs", "09-999")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, tiny, writer, capsys):
    case = CASES[name]
    data_dir = case.build(tmp_path, tiny, writer)

    with pytest.raises(DataError) as info:
        read_study(data_dir, report=case.report)
    error = info.value
    message = str(error)
    assert type(error) is case.error, message
    assert message.startswith("trialkit:")
    if case.dataset:
        assert f"'{case.dataset}'" in message
    if case.column:
        assert case.column in message
    for text in case.also_in_message:
        assert text in message

    args = ["validate", str(data_dir)] + (["--report", case.report] if case.report else [])
    code = cli.main(args)
    out = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in out.out + out.err
    assert "trialkit" in out.out + out.err
    if case.dataset:
        assert case.dataset in out.out + out.err


def test_corpus_has_at_least_25_cases():
    assert len(CASES) >= 25


def test_single_error_carries_dataset_column_and_findings(tmp_path, tiny, writer):
    with pytest.raises(DateFormatError) as info:
        read_study(malformed_date_slashes(tmp_path, tiny, writer))
    assert (info.value.dataset, info.value.column) == ("dm", "RFICDTC")
    assert [f.kind for f in info.value.findings] == ["DateFormatError"]
    assert info.value.findings[0].rows == ("USUBJID 01-002: '31/12/2025'",)


def test_several_errors_are_grouped_by_dataset(tmp_path, tiny, writer):
    with pytest.raises(ValidationFailed) as info:
        read_study(several_errors(tmp_path, tiny, writer))
    kinds = sorted(f.kind for f in info.value.findings if f.level == "error")
    assert kinds == ["DuplicateSubjectError", "OrphanRecordError"]
    message = str(info.value)
    assert message.index("\ndm") < message.index("\nrs")


def test_unreadable_file_does_not_hide_other_findings(tmp_path, tiny, writer):
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("USUBJID", ["01-001", "09-999", "01-002"]))
    folder = _folder(tmp_path, tiny, writer)
    (folder / "ex.parquet").write_bytes(b"")
    from trialkit.io import validate_study

    kinds = sorted(f.kind for f in validate_study(folder))
    assert kinds == ["OrphanRecordError", "UnreadableFileError"]


def test_unknown_report_name_is_a_clear_error(tmp_path, tiny, writer, capsys):
    folder = _folder(tmp_path, tiny, writer)
    with pytest.raises(DataError, match="no report 'swimmers'"):
        read_study(folder, report="swimmers")
    assert cli.main(["validate", str(folder), "--report", "swimmers"]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_odd_response_value_is_a_warning_not_an_error(tmp_path, tiny, writer, capsys):
    tiny["rs"] = tiny["rs"].with_columns(pl.Series("RSSTRESC", ["PR", "CHECK", "SD"]))
    folder = _folder(tmp_path, tiny, writer)
    study = read_study(folder)
    assert [(f.level, f.dataset, f.column) for f in study.findings] == [("warning", "rs", "RSSTRESC")]
    assert "CHECK" in study.findings[0].message
    assert cli.main(["validate", str(folder)]) == 0
    assert "CHECK" in capsys.readouterr().out


def test_unknown_arms_can_be_downgraded_to_warnings(tmp_path, tiny, writer):
    study = read_study(unknown_arm(tmp_path, tiny, writer), warn_only=["UnknownArmError"])
    assert [(f.level, f.kind) for f in study.findings] == [("warning", "UnknownArmError")]


