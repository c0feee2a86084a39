"""Study days (SDTMIG --DY, DESIGN section 5): day 1 is the reference date, the day before is -1, no day 0.

The demo's tumour assessments never fall on the randomization day, so the boundary is
checked here, on hand-made dates around it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from trialkit.derive.days import compute_days_between, compute_study_day

REFERENCE = dt.date(2024, 2, 28)   # a leap year: 2024-02-29 exists


def _days(dates: list[dt.date | None]) -> list[int | None]:
    frame = pl.DataFrame({"DTC": dates, "RANDDT": [REFERENCE] * len(dates)}, schema={"DTC": pl.Date, "RANDDT": pl.Date})
    return frame.select(compute_study_day(pl.col("DTC"), pl.col("RANDDT")))["DTC"].to_list()


def test_the_reference_day_is_day_1_and_the_day_before_day_minus_1():
    assert _days([REFERENCE - dt.timedelta(days=1), REFERENCE, REFERENCE + dt.timedelta(days=1)]) == [-1, 1, 2]


def test_there_is_no_day_0_anywhere_around_the_reference():
    days = _days([REFERENCE + dt.timedelta(days=k) for k in range(-400, 400)])
    assert 0 not in days
    assert days[:3] == [-400, -399, -398] and days[-3:] == [398, 399, 400]


def test_leap_day_month_and_year_ends_count_as_days():
    assert _days([dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2025, 2, 28), dt.date(2023, 12, 31)]) == \
        [2, 3, 367, -59]


def test_a_missing_date_has_no_study_day():
    assert _days([None]) == [None]


def test_days_between_counts_both_ends():
    frame = pl.DataFrame({"S": [REFERENCE, REFERENCE], "E": [REFERENCE, dt.date(2024, 3, 29)]})
    assert frame.select(compute_days_between(pl.col("S"), pl.col("E")))["E"].to_list() == [1, 31]
