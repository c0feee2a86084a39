"""Numbers the way a clinical report prints them (STYLE section 10), in one place.

Every table, tooltip and sentence of the reports formats its numbers here, so a number reads
the same everywhere; the CSVs of a run keep the raw values for machines.

- counts with thousands separators: ``14,116``;
- percentages with one decimal: ``40.0%``;
- "n (%)" cells: ``12 (40.0%)``, and ``0 (0.0%)`` with a zero denominator shown as ``0 (—)``;
- confidence intervals: ``40.0% (22.7–59.4)``, the method named once in a footnote;
- dates ISO (``2026-10-31``); study days as integers (there is no day 0).

The ``compute_*`` variants build the same text as polars expressions, for whole columns.

Example:
    >>> format_count(14116), format_pct(12 / 30 * 100), format_n_pct(12, 30), format_ci(40.0, 22.66, 59.4)
    ('14,116', '40.0%', '12 (40.0%)', '40.0% (22.7–59.4)')
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

MISSING = "—"


def format_count(value: int | float | None) -> str:
    """A count with thousands separators ("—" when missing).

    Example:
        >>> format_count(1234567), format_count(None)
        ('1,234,567', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{int(round(value)):,}"


def format_pct(value: float | None, *, digits: int = 1) -> str:
    """A percentage with one decimal ("—" when missing).

    Example:
        >>> format_pct(33.3333), format_pct(None)
        ('33.3%', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{digits}f}%"


def format_n_pct(n: int | None, denominator: int | None, *, digits: int = 1) -> str:
    """"n (%)" with the percentage of the denominator; a zero denominator has no percentage.

    Example:
        >>> format_n_pct(12, 30), format_n_pct(0, 30), format_n_pct(0, 0)
        ('12 (40.0%)', '0 (0.0%)', '0 (—)')
    """
    if n is None:
        return MISSING
    if not denominator:
        return f"{format_count(n)} ({MISSING})"
    return f"{format_count(n)} ({format_pct(100 * n / denominator, digits=digits)})"


def format_ci(estimate: float | None, lower: float | None, upper: float | None, *, digits: int = 1,
              percent: bool = True) -> str:
    """An estimate with its interval: ``40.0% (22.7–59.4)`` (an en dash between the bounds).

    Example:
        >>> format_ci(40.0, 22.66, 59.4), format_ci(5.1, 3.9, None, percent=False)
        ('40.0% (22.7–59.4)', '5.1 (3.9–NE)')
    """
    if estimate is None:
        return MISSING

    def bound(value: float | None) -> str:
        return "NE" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    head = format_pct(estimate, digits=digits) if percent else f"{estimate:.{digits}f}"
    return f"{head} ({bound(lower)}–{bound(upper)})"


def format_date(value: dt.date | None) -> str:
    """An ISO date ("—" when missing).

    Example:
        >>> format_date(dt.date(2026, 10, 31))
        '2026-10-31'
    """
    return value.isoformat() if value is not None else MISSING


def compute_count_text(n: pl.Expr) -> pl.Expr:
    """:func:`format_count` for a column.

    Example:
        >>> pl.select(compute_count_text(pl.lit(14116))).item()
        '14,116'
    """
    return (pl.when(n.is_null()).then(pl.lit(MISSING))
            .otherwise(n.cast(pl.Int64).map_batches(_thousands, return_dtype=pl.String)))


def _thousands(series: pl.Series) -> pl.Series:
    # polars has no thousands format; digits grouped by a regex on the text of the integer
    text = series.cast(pl.String)
    for _ in range(6):  # up to 10^18
        text = text.str.replace(r"^(-?\d+)(\d{3})", "${1},${2}")
    return text


def compute_fixed_text(value: pl.Expr, *, digits: int = 1) -> pl.Expr:
    """A number with a fixed count of decimals, as text ("40.0"), without Python per row.

    Example:
        >>> pl.DataFrame({"X": [40.0, 33.333, 2.25, -1.04]}).select(compute_fixed_text(pl.col("X"))).to_series().to_list()
        ['40.0', '33.3', '2.3', '-1.0']
    """
    scale = 10 ** digits
    scaled = (value.cast(pl.Float64).fill_nan(None).abs() * scale + 0.5).floor().cast(pl.Int64, strict=False)  # half up
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    if digits == 0:
        return pl.format("{}{}", sign, scaled)
    return pl.format("{}{}.{}", sign, scaled // scale, (scaled % scale).cast(pl.String).str.zfill(digits))


def compute_n_pct_text(n: pl.Expr, denominator: pl.Expr, *, digits: int = 1) -> pl.Expr:
    """:func:`format_n_pct` for columns.

    Example:
        >>> pl.DataFrame({"N": [12, 0, 1], "D": [30, 0, 3]}).select(compute_n_pct_text(pl.col("N"), pl.col("D"))).to_series().to_list()
        ['12 (40.0%)', '0 (—)', '1 (33.3%)']
    """
    pct = compute_fixed_text(n.cast(pl.Float64) * 100 / pl.when(denominator != 0).then(denominator), digits=digits)
    return (pl.when(n.is_null()).then(pl.lit(MISSING))
            .when(denominator.fill_null(0) == 0).then(pl.format("{} ({})", compute_count_text(n), pl.lit(MISSING)))
            .otherwise(pl.format("{} ({}%)", compute_count_text(n), pct)))
