"""Dates of the demo study: the one ISO-date helper and the clinic calendar.

Every date inside the generator is a whole number of days since 1970-01-01 (numpy int64) or
a ``pl.Date``; :func:`compute_iso_date` is the only place that turns a date into the ISO
8601 text of a ``--DTC`` column, and :data:`NEVER` marks "no such event".

The clinic calendar is the sites' national calendar from the ``holidays`` package (China for
this protocol, ``visits.calendar_country`` in the protocol file). A working day is a weekday
that is not a public holiday, or a weekend day that the State Council declared a make-up
working day (``holidays`` lists those as ``weekend_workdays``; ``is_working_day`` counts them).
Scheduled activity is moved onto working days with :meth:`ClinicCalendar.nearest_working`,
vectorized over subjects by lookup tables built once for the study's date range.

Example:
    >>> import datetime as dt
    >>> cal = ClinicCalendar("CN", dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    >>> day = (dt.date(2026, 2, 17) - dt.date(1970, 1, 1)).days       # Spring Festival
    >>> bool(cal.is_working(np.array([day]))[0])
    False
    >>> str(days_to_dates(cal.next_working(np.array([day])))[0])
    '2026-02-24'
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

NEVER = 10**7                        # "no such event": a day far beyond any cutoff
EPOCH = dt.date(1970, 1, 1)


_PRECISION = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


def compute_iso_date(date: pl.Expr, precision: str = "day") -> pl.Expr:
    """ISO 8601 text of a ``pl.Date`` expression (``YYYY-MM-DD``; ``precision`` "month" or
    "year" for a partial date as a CRF records it); null stays null.

    Example:
        >>> pl.select(compute_iso_date(pl.lit(dt.date(2026, 2, 1))), compute_iso_date(pl.lit(dt.date(2026, 2, 1)), "month").alias("M")).row(0)
        ('2026-02-01', '2026-02')
    """
    return date.dt.to_string(_PRECISION[precision])


def to_day(value: dt.date) -> int:
    """Days since 1970-01-01 of a date."""
    return (value - EPOCH).days


def days_to_dates(days: np.ndarray) -> pl.Series:
    """A ``pl.Date`` Series from days since 1970-01-01; :data:`NEVER` (or beyond) gives null.

    Example:
        >>> days_to_dates(np.array([0, NEVER])).to_list()
        [datetime.date(1970, 1, 1), None]
    """
    days = np.asarray(days, dtype=np.int64)
    never = days >= NEVER // 2
    out = pl.Series(np.where(never, 0, days).astype(np.int32)).cast(pl.Date)
    if never.any():
        out = out.zip_with(pl.Series(~never), pl.Series([None] * len(out), dtype=pl.Date))
    return out


def iso_dates(days: np.ndarray) -> pl.Series:
    """ISO 8601 text of days since 1970-01-01 through :func:`compute_iso_date` (null for
    :data:`NEVER`): the truth file's dates.

    Example:
        >>> iso_dates(np.array([20454, NEVER])).to_list()
        ['2026-01-01', None]
    """
    return pl.select(compute_iso_date(pl.lit(days_to_dates(days)))).to_series()


class ClinicCalendar:
    """Working days of a country between two dates, with vectorized look-ups.

    Days outside the range built follow the plain Monday-Friday rule.

    Args:
        country: ISO 3166 alpha-2 code known to the ``holidays`` package (``CN``).
        first, last: the range to build (inclusive).
    """

    def __init__(self, country: str, first: dt.date, last: dt.date):
        import holidays

        self.country = country
        self.first = to_day(first)
        years = list(range(first.year, last.year + 1))
        calendar = holidays.country_holidays(country, years=years)
        n = to_day(last) - self.first + 1
        dates = [first + dt.timedelta(days=i) for i in range(n)]       # loops over days, not subjects
        self._working = np.fromiter((calendar.is_working_day(d) for d in dates), dtype=bool, count=n)
        idx = np.arange(n)
        # next working day at or after i; previous at or before i (n / -1 when none in range)
        nxt = np.where(self._working, idx, n)
        self._next = np.minimum.accumulate(nxt[::-1])[::-1]
        prv = np.where(self._working, idx, -1)
        self._prev = np.maximum.accumulate(prv)
        self.holidays = {to_day(d): name for d, name in calendar.items() if first <= d <= last}

    def _offset(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        off = np.asarray(days, dtype=np.int64) - self.first
        inside = (off >= 0) & (off < self._working.size)
        return np.clip(off, 0, self._working.size - 1), inside

    def is_working(self, days: np.ndarray) -> np.ndarray:
        """True on working days (make-up weekend days included)."""
        days = np.asarray(days, dtype=np.int64)
        off, inside = self._offset(days)
        weekday = ((days + 3) % 7) < 5                 # 1970-01-01 was a Thursday
        return np.where(inside, self._working[off], weekday)

    def next_working(self, days: np.ndarray) -> np.ndarray:
        """The first working day on or after each day."""
        days = np.asarray(days, dtype=np.int64)
        off, inside = self._offset(days)
        found = self._next[off]
        ok = inside & (found < self._working.size)
        return np.where(ok, found + self.first, days + np.where(((days + 3) % 7) == 5, 2,
                                                                 np.where(((days + 3) % 7) == 6, 1, 0)))

    def prev_working(self, days: np.ndarray) -> np.ndarray:
        """The last working day on or before each day."""
        days = np.asarray(days, dtype=np.int64)
        off, inside = self._offset(days)
        found = self._prev[off]
        ok = inside & (found >= 0)
        return np.where(ok, found + self.first, days - np.where(((days + 3) % 7) == 5, 1,
                                                                 np.where(((days + 3) % 7) == 6, 2, 0)))

    def nearest_working(self, planned: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A working day in ``[lo, hi]`` for each planned day: the planned day itself if it is
        a working day, else the next working day (a clinic reschedules after a holiday), else
        the previous one; if the range holds no working day, the planned day (never the case
        for ranges of 10 days or more in China, whose longest break is 9 days).

        Example:
            >>> cal = ClinicCalendar("CN", dt.date(2026, 1, 1), dt.date(2026, 3, 31))
            >>> sat = np.array([to_day(dt.date(2026, 1, 10))])
            >>> str(days_to_dates(cal.nearest_working(sat, sat - 3, sat + 3))[0])
            '2026-01-12'
        """
        planned = np.asarray(planned, dtype=np.int64)
        lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), planned.shape)
        hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), planned.shape)
        nxt = self.next_working(planned)
        prv = self.prev_working(planned)
        first_in = self.next_working(lo)
        return np.where(nxt <= hi, nxt, np.where(prv >= lo, prv, np.where(first_in <= hi, first_in, planned)))
