"""Study days and other day counts, as polars expressions (DESIGN section 5).

Study day (SDTMIG ``--DY``): day 1 is the reference date, the day before is day -1; there
is no day 0. In this suite the reference is the randomization date (DM.RFSTDTC in the demo,
the usual oncology reference), so the study day of DESIGN section 5 and SDTM's ``--DY``
agree.

Example:
    >>> import datetime as dt, polars as pl
    >>> frame = pl.DataFrame({"D": [dt.date(2025, 9, 2), dt.date(2025, 9, 3), dt.date(2025, 9, 4)],
    ...                       "R": [dt.date(2025, 9, 3)] * 3})
    >>> frame.select(compute_study_day(pl.col("D"), pl.col("R")))["D"].to_list()
    [-1, 1, 2]
"""

from __future__ import annotations

import polars as pl


def compute_study_day(date: pl.Expr, reference: pl.Expr) -> pl.Expr:
    """SDTMIG study day of ``date`` from ``reference`` (both ``pl.Date``): no day 0.

    ``date - reference + 1`` on or after the reference, ``date - reference`` before it;
    null when either is null. The result keeps the name of ``date``.

    Example:
        >>> import datetime as dt, polars as pl
        >>> pl.select(compute_study_day(pl.lit(dt.date(2025, 1, 1)), pl.lit(dt.date(2025, 1, 1)))).item()
        1
    """
    delta = (date - reference).dt.total_days()
    return pl.when(delta >= 0).then(delta + 1).otherwise(delta).cast(pl.Int64)


def compute_days_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Duration in days counting both ends (admiral ``derive_vars_duration(add_one=TRUE)``).

    ``end - start + 1``: a PFS event on the randomization date is day 1.

    Example:
        >>> import datetime as dt, polars as pl
        >>> pl.select(compute_days_between(pl.lit(dt.date(2025, 1, 1)), pl.lit(dt.date(2025, 1, 31)))).item()
        31
    """
    return ((end - start).dt.total_days() + 1).cast(pl.Int64)
