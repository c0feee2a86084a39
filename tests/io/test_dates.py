"""ISO 8601 parsing, admiral-style imputation and flags, hand-computed on tiny frames."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from trialkit.io import compute_date, compute_date_imputation_flag, compute_dtc_is_valid, derive_dates

DTC = ["2025-09-03", "2025-02", "2024-02", "2025", "2025-09-03T10:15", "2025-09-03T10:15:30+08:00",
       "2025-02-30", "2025-13", "31/12/2025", "2025-9-3", None, " 2025-01-05 "]


def _eval(expr: pl.Expr) -> list:
    return pl.DataFrame({"DTC": DTC}).select(expr.alias("OUT"))["OUT"].to_list()


def test_compute_date_without_imputation_keeps_partial_dates_null():
    assert _eval(compute_date(pl.col("DTC"))) == [
        date(2025, 9, 3), None, None, None, date(2025, 9, 3), date(2025, 9, 3),
        None, None, None, None, None, date(2025, 1, 5)]


def test_compute_date_start_imputes_first_day_of_period():
    assert _eval(compute_date(pl.col("DTC"), impute="start")) == [
        date(2025, 9, 3), date(2025, 2, 1), date(2024, 2, 1), date(2025, 1, 1), date(2025, 9, 3),
        date(2025, 9, 3), None, None, None, None, None, date(2025, 1, 5)]


def test_compute_date_end_imputes_last_day_of_period_with_leap_years():
    assert _eval(compute_date(pl.col("DTC"), impute="end")) == [
        date(2025, 9, 3), date(2025, 2, 28), date(2024, 2, 29), date(2025, 12, 31), date(2025, 9, 3),
        date(2025, 9, 3), None, None, None, None, None, date(2025, 1, 5)]


def test_compute_date_rejects_unknown_rule():
    with pytest.raises(ValueError):
        compute_date(pl.col("DTC"), impute="middle")


def test_imputation_flag_follows_admiral_dtf():
    assert _eval(compute_date_imputation_flag(pl.col("DTC"))) == [
        None, "D", "D", "M", None, None, None, None, None, None, None, None]


def test_dtc_validity():
    assert _eval(compute_dtc_is_valid(pl.col("DTC"))) == [
        True, True, True, True, True, True, False, False, False, False, None, True]


def test_derive_dates_names_columns_and_imputes_end_dates_to_the_end():
    ex = pl.DataFrame({"USUBJID": ["S1", "S2"], "EXSTDTC": ["2025-02", "2025-09-03T08:00"],
                       "EXENDTC": ["2025-02", "2025"], "RFICDTC": ["2025-01-02", None]})
    out = derive_dates(ex)
    assert out.columns == ["USUBJID", "EXSTDTC", "EXENDTC", "RFICDTC", "EXSTDT", "EXSTDTF",
                           "EXENDT", "EXENDTF", "RFICDT", "RFICDTF"]
    assert out["EXSTDT"].to_list() == [date(2025, 2, 1), date(2025, 9, 3)]
    assert out["EXSTDTF"].to_list() == ["D", None]
    assert out["EXENDT"].to_list() == [date(2025, 2, 28), date(2025, 12, 31)]
    assert out["EXENDTF"].to_list() == ["D", "M"]
    assert out["RFICDT"].to_list() == [date(2025, 1, 2), None]
    assert out["RFICDTF"].to_list() == [None, None]
    assert ex.columns == ["USUBJID", "EXSTDTC", "EXENDTC", "RFICDTC"]  # input untouched


def test_derive_dates_without_imputation_and_selected_columns():
    ex = pl.DataFrame({"EXSTDTC": ["2025-02"], "EXENDTC": ["2025-02-10"]})
    out = derive_dates(ex, columns=["EXSTDTC"], impute=None)
    assert out.columns == ["EXSTDTC", "EXENDTC", "EXSTDT", "EXSTDTF"]
    assert out.row(0) == ("2025-02", "2025-02-10", None, None)


def test_derive_dates_leaves_existing_dt_columns_alone():
    adsl = pl.DataFrame({"RFSTDTC": ["2025-02-03"], "RFSTDT": [date(2025, 2, 4)]})
    assert derive_dates(adsl).equals(adsl)


def test_derive_dates_is_lazy_friendly_on_many_rows():
    # expressions only: 100k rows derive in one with_columns
    frame = pl.DataFrame({"RSDTC": ["2025-02", "2025-03-04"] * 50_000})
    out = derive_dates(frame)
    assert out["RSDT"].null_count() == 0
    assert out["RSDTF"].value_counts().sort("RSDTF", nulls_last=True)["count"].to_list() == [50_000, 50_000]


def test_sdtm_missing_month_form_reads_as_the_year():
    # SDTMIG: "2025---15" is year and day with the month unknown; the day is unusable
    # without its month, so it is "2025" (valid, flag M), as admiral's impute_dtc_dt does
    frame = pl.DataFrame({"DTC": ["2025---15", "2024---29T08:00", "2025---32", "2025-09---"]})
    out = frame.select(
        compute_dtc_is_valid(pl.col("DTC")).alias("VALID"),
        compute_date(pl.col("DTC"), impute="start").alias("START"),
        compute_date(pl.col("DTC"), impute="end").alias("END"),
        compute_date_imputation_flag(pl.col("DTC")).alias("FLAG"))
    assert out.rows() == [
        (True, date(2025, 1, 1), date(2025, 12, 31), "M"),
        (True, date(2024, 1, 1), date(2024, 12, 31), "M"),
        (False, None, None, None),
        (False, None, None, None)]


def test_compute_functions_keep_the_column_name():
    frame = pl.DataFrame({"RSDTC": ["2025-09"]})
    out = frame.select(compute_date(pl.col("RSDTC")), compute_date_imputation_flag(pl.col("RSDTC")).alias("F"),
                       compute_dtc_is_valid(pl.col("RSDTC")).alias("V"))
    assert out.columns == ["RSDTC", "F", "V"]
    assert frame.select(compute_date_imputation_flag(pl.col("RSDTC"))).columns == ["RSDTC"]
    assert frame.select(compute_dtc_is_valid(pl.col("RSDTC"))).columns == ["RSDTC"]
