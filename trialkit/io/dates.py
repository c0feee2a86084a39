"""Dates: ISO 8601 text (full or partial) to ``pl.Date``, admiral's imputation (DESIGN section 2).

Datetimes are truncated to their date; a partial date is null unless a rule asks for
imputation (admiral's convention: a start date to the first day of the missing period, an
end date to the last). A time that cannot exist (``T25:99``) makes the value invalid.

Example:
    >>> frame = pl.DataFrame({"EXSTDTC": ["2025-09", "2025-09-03T10:15"]})
    >>> frame.select(compute_date(pl.col("EXSTDTC"), impute="start"))["EXSTDTC"].to_list()
    [datetime.date(2025, 9, 1), datetime.date(2025, 9, 3)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import polars as pl

# ISO 8601 as SDTM writes it: YYYY, YYYY-MM, YYYY-MM-DD, optionally THH, THH:MM, THH:MM:SS(.f)
# and a zone. Anything else ("31/12/2025", "2025-9-3", "UNK") is not a date.
_TIME = r"(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)"
_ISO = (r"^(?<date>(?<y>\d{4})(?:-(?<m>\d{2})(?:-(?<d>\d{2})" + _TIME + r"?)?)?)$")
_ISO_POLARS = _ISO.replace("?<", "?P<")
# SDTMIG writes a missing middle component as a hyphen: "2025---15" is year and day, month
# unknown. The day cannot be used without the month, so it is read as the year ("2025"),
# as admiral's impute_dtc_dt does.
_MISSING_MONTH = r"^(\d{4})---(?:0[1-9]|[12]\d|3[01])" + _TIME + "?$"


def _dtc_text(dtc: pl.Expr) -> pl.Expr:
    """ISO 8601 text, stripped, with SDTM's missing-month form reduced to the year."""
    return dtc.cast(pl.String).str.strip_chars().str.replace(_MISSING_MONTH, "${1}")


def _iso_parts(dtc: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    text = _dtc_text(dtc)
    year = text.str.extract(_ISO_POLARS, 2).cast(pl.Int32, strict=False)
    month = text.str.extract(_ISO_POLARS, 3).cast(pl.Int32, strict=False)
    day_text = text.str.extract(_ISO_POLARS, 4)
    return year, month, day_text


def _per_distinct(dtc: pl.Expr, build: Callable[[pl.Expr], pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """``build`` evaluated once per distinct text of ``dtc`` and mapped back to every row.

    A --DTC column holds far fewer distinct values than rows (7.5 million LB rows, a few
    thousand dates): parsing those and mapping them back is 30-300 times faster than running
    the regular expressions on every row. Element-wise, so it is safe in any context.
    """
    def apply(series: pl.Series) -> pl.Series:
        text = series.cast(pl.String)
        values = text.unique().drop_nulls()
        if values.len() * 2 >= text.len():  # few repeats: no gain in mapping
            out = text.to_frame("_DTC").select(build(pl.col("_DTC"))).to_series()
        else:
            mapped = values.to_frame("_DTC").select(build(pl.col("_DTC"))).to_series()
            out = text.replace_strict(values, mapped, default=None, return_dtype=dtype)
        return out.cast(dtype).rename(series.name)

    return dtc.map_batches(apply, return_dtype=dtype, is_elementwise=True)


def compute_date(dtc: pl.Expr, *, impute: Literal["start", "end"] | None = None) -> pl.Expr:
    """ISO 8601 text -> ``pl.Date``.

    Full dates and datetimes (truncated to their date) parse as they are. A partial date
    (``"2025-09"``, ``"2025"``) is null unless ``impute`` is given, then admiral's convention
    applies: ``"start"`` takes the first day of the missing period, ``"end"`` the last
    (leap years included). SDTM's missing-month form ``"2025---15"`` counts as ``"2025"``.
    Text that is not ISO 8601 or not a real date (``"2025-02-30"``,
    ``"2025-13"``, ``"31/12/2025"``) is null; ``trialkit.validate`` reports such values.

    Args:
        dtc: an expression of ISO 8601 text (a ``--DTC`` column).
        impute: None (partial dates are null), ``"start"`` or ``"end"``.

    Example:
        >>> frame = pl.DataFrame({"EXENDTC": ["2024-02", "2025-09-03T10:15", "2025"]})
        >>> frame.select(compute_date(pl.col("EXENDTC"), impute="end"))["EXENDTC"].to_list()
        [datetime.date(2024, 2, 29), datetime.date(2025, 9, 3), datetime.date(2025, 12, 31)]
    """
    if impute not in (None, "start", "end"):
        raise ValueError(f"impute must be None, 'start' or 'end', not {impute!r}")
    return _per_distinct(dtc, lambda text: _compute_date_rows(text, impute), pl.Date)


def _compute_date_rows(dtc: pl.Expr, impute: Literal["start", "end"] | None) -> pl.Expr:
    year, month, day_text = _iso_parts(dtc)
    # the first 10 characters of a matched full date or datetime are YYYY-MM-DD; to_date
    # rejects impossible days (2025-02-30) with null
    full = (_dtc_text(dtc).str.extract(_ISO_POLARS, 1).str.slice(0, 10)
            .str.to_date("%Y-%m-%d", strict=False))
    month_ok = month.is_between(1, 12)
    if impute is None:
        partial = pl.lit(None, dtype=pl.Date)
    elif impute == "start":
        partial = pl.when(month.is_null()).then(pl.date(year, 1, 1)).when(month_ok).then(
            pl.date(year, month.clip(1, 12), 1))
    elif impute == "end":
        partial = pl.when(month.is_null()).then(pl.date(year, 12, 31)).when(month_ok).then(
            pl.date(year, month.clip(1, 12), 1).dt.month_end())
    else:
        raise ValueError(f"impute must be None, 'start' or 'end', not {impute!r}")
    return (pl.when(day_text.is_not_null()).then(full)
            .when(year.is_not_null()).then(partial)
            .otherwise(None).cast(pl.Date))


def compute_date_imputation_flag(dtc: pl.Expr) -> pl.Expr:
    """admiral's ``--DTF``: which part of a date imputation would fill in.

    ``"D"`` the day is missing (``"2025-09"``), ``"M"`` month and day (``"2025"``,
    ``"2025---15"``), ``"Y"``
    the year too (a ``--DTC`` that is given but empty of a date, e.g. ``"--09-03"``); null
    for a complete date, a missing value, or text that is not a date at all.

    Example:
        >>> frame = pl.DataFrame({"DTC": ["2025-09-03", "2025-09", "2025", None]})
        >>> frame.select(compute_date_imputation_flag(pl.col("DTC")))["DTC"].to_list()
        [None, 'D', 'M', None]
    """
    return _per_distinct(dtc, _imputation_flag_rows, pl.String)


def _imputation_flag_rows(dtc: pl.Expr) -> pl.Expr:
    text = _dtc_text(dtc)
    year, month, day_text = _iso_parts(dtc)
    # "--09-03" / "-----T10:00": SDTM writes missing components as hyphens
    year_missing = text.str.contains(r"^-{2,}")
    return (pl.when(year_missing).then(pl.lit("Y"))
            .when(year.is_null()).then(None)
            .when(month.is_null()).then(pl.lit("M"))
            .when(~month.is_between(1, 12)).then(None)
            .when(day_text.is_null()).then(pl.lit("D"))
            .otherwise(None))


# hours 00-23, minutes 00-59, seconds 00-60 (a leap second), zone hours 00-14
_TIME_OK = (r"T(?:[01]\d|2[0-3])(?::[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d+)?)?)?"
            r"(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)?$")


def compute_dtc_is_valid(dtc: pl.Expr) -> pl.Expr:
    """True when ISO 8601 text is a real (full or partial) date; null for a missing value.

    ``"2025"``, ``"2025-09"``, ``"2025-09-03T10:15"`` are valid; ``"2025-02-30"``,
    ``"2025-13"``, ``"31/12/2025"`` and a time that cannot exist (``"2025-09-03T25:99"``)
    are not.

    Example:
        >>> frame = pl.DataFrame({"DTC": ["2025-09", "2025-02-30", "31/12/2025", "2025-09-03T25:99", None]})
        >>> frame.select(compute_dtc_is_valid(pl.col("DTC")))["DTC"].to_list()
        [True, False, False, False, None]
    """
    return _per_distinct(dtc, _dtc_is_valid_rows, pl.Boolean)


def _dtc_is_valid_rows(dtc: pl.Expr) -> pl.Expr:
    text = _dtc_text(dtc)
    year, month, day_text = _iso_parts(dtc)
    time_part = text.str.extract(r"(T.*)$", 1)
    return (pl.when(text.is_null()).then(None)
            .when(year.is_null()).then(False)
            .when(month.is_null()).then(True)
            .when(day_text.is_null()).then(month.is_between(1, 12))
            .when(time_part.is_not_null() & ~time_part.str.contains(_TIME_OK).fill_null(False)).then(False)
            .otherwise(_compute_date_rows(dtc, None).is_not_null()))


def compute_date_of(frame: pl.DataFrame, columns: Iterable[str], *,
                    impute: Literal["start", "end"] | None = None) -> pl.Expr:
    """:func:`compute_date` of the first of ``columns`` given in each row, once per distinct text.

    A --DTC column holds far fewer distinct dates than rows: parsing those and mapping them
    back is much faster than parsing every row. Columns the frame lacks are skipped (none:
    a null date).

    Example:
        >>> ds = pl.DataFrame({"DSSTDTC": ["2025-09", None], "DSDTC": ["2025-09-30", "2025-10-02"]})
        >>> ds.select(compute_date_of(ds, ("DSSTDTC", "DSDTC"), impute="start").alias("D"))["D"].to_list()
        [datetime.date(2025, 9, 1), datetime.date(2025, 10, 2)]
    """
    present = [c for c in columns if c in frame.columns]
    if not present:
        return pl.lit(None, pl.Date)
    return compute_date(pl.coalesce([pl.col(c).cast(pl.String) for c in present]), impute=impute)


def _is_end_date(column: str) -> bool:
    # --ENDTC (EXENDTC, AEENDTC, RFENDTC, RFXENDTC, RFPENDTC) and SVENDTC are period ends.
    return column.endswith("ENDTC")


def derive_dates(frame: pl.DataFrame, *, columns: Iterable[str] | None = None,
                 impute: Literal["start", "end"] | None = "start") -> pl.DataFrame:
    """Add a ``--DT`` date and a ``--DTF`` imputation flag for each ``--DTC`` column.

    ``EXSTDTC`` -> ``EXSTDT``, ``EXSTDTF``; ``RFICDTC`` -> ``RFICDT``, ``RFICDTF``. With
    ``impute="start"`` (the default) start dates are imputed to the first day of the
    missing period and end dates (``--ENDTC``) to the last, admiral's convention; with
    ``impute="end"`` every column is imputed to the end; with None partial dates stay null.
    The flag (``"D"``, ``"M"``) is set only where a date was imputed. Columns whose ``--DT``
    already exists (ADaM datasets) are left alone.

    Args:
        frame: any dataset.
        columns: the ``--DTC`` columns to convert (default: every text column ending in DTC).
        impute: the imputation rule for start dates (end dates always use "end" when set).

    Returns:
        The same rows with the new columns.

    Example:
        >>> ex = pl.DataFrame({"EXSTDTC": ["2025-02"], "EXENDTC": ["2025-02"]})
        >>> derive_dates(ex).row(0)
        ('2025-02', '2025-02', datetime.date(2025, 2, 1), 'D', datetime.date(2025, 2, 28), 'D')
    """
    names = list(columns) if columns is not None else [
        c for c, t in frame.schema.items() if c.endswith("DTC") and t == pl.String]
    exprs = []
    for name in names:
        target = name[:-1]
        if target in frame.columns:
            continue
        rule = None if impute is None else ("end" if _is_end_date(name) else impute)
        date = compute_date(pl.col(name), impute=rule)
        flag = (compute_date_imputation_flag(pl.col(name)) if rule else pl.lit(None, pl.String))
        exprs += [date.alias(target), pl.when(date.is_not_null()).then(flag).otherwise(None)
                  .cast(pl.String).alias(target + "F")]
    return frame.with_columns(exprs) if exprs else frame


