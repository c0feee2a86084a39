"""What a report is about: the data cutoff and the params filters, applied in one place.

A real data transfer holds records dated after its cutoff (doses, scans, deaths entered
before the extraction). DESIGN section 3: records after ``data_cutoff`` are ignored. The
rules follow pharmaverse's ``datacutr`` (the admiral family's data-cut package):

- **Which date dates a record** (:func:`record_date_column`): ADaM ``ADT``, else ``ASTDT``;
  SDTM ``--STDTC``, else ``--DTC`` (events and interventions by their start, findings by
  their collection). Partial dates are imputed to the *start* of their period (admiral's
  convention for start dates), so a record of "2026-10" is kept with a cutoff of
  2026-10-15: it may have happened before it. A record with no date at all is kept (it
  cannot be shown to be after the cutoff) and counted.
- **Records after the cutoff** are removed and counted per dataset.
- **Other dates after the cutoff in a kept record** (an ``EXENDTC`` of an exposure still
  running at the cutoff, DM's ``DTHDTC`` of a death after it) are set to null and counted,
  so that no date after the cutoff is left in any frame; ``DTHFL`` goes with ``DTHDTC``.
  A null end then reads, correctly, as "ongoing at the cutoff".
- **Subject-level datasets** (DM, ADSL) lose no rows here; their subjects are placed by
  :func:`derive_status_at_cutoff` (randomized after the cutoff: still in screening then)
  and :func:`derive_left_out` (consented after the cutoff: not screened yet).
- Trial-design datasets (TS, TI, TA, TE, TV) and supplemental qualifiers (SUPP--) are not
  dated and are left as they are.

The ``sites`` and ``arms`` filters act on subjects (:func:`derive_left_out`); the records of
the subjects left out are then dropped from every dataset (:func:`filter_records`).

Example:
    >>> import datetime as dt
    >>> ex = pl.DataFrame({"USUBJID": ["1", "1", "1"], "EXSTDTC": ["2026-10-01", "2026-10-29", "2026-11-19"],
    ...                    "EXENDTC": ["2026-10-28", "2026-11-18", "2026-12-09"]})
    >>> frames, summary = derive_cutoff({"ex": ex}, dt.date(2026, 10, 31))
    >>> frames["ex"]["EXENDTC"].to_list(), summary.select("RECORDS_AFTER_CUTOFF", "VALUES_BLANKED").row(0)
    (['2026-10-28', None], (1, 1))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl

from trialkit.format import format_count
from trialkit.io.dates import compute_date

#: Datasets the cutoff leaves alone: trial design (not about subjects' time) and supplements.
UNDATED_DATASETS = ("ts", "ti", "ta", "te", "tv", "tdm")
SUBJECT_LEVEL = ("dm", "adsl")
CUTOFF_SUMMARY_SCHEMA = {"DATASET": pl.String, "DATE_COLUMN": pl.String, "RECORDS": pl.Int64,
                         "RECORDS_AFTER_CUTOFF": pl.Int64, "NOT_DATED": pl.Int64, "VALUES_BLANKED": pl.Int64}


def as_date(value: dt.date | str | None) -> dt.date | None:
    """A cutoff as a date ("2026-10-31", a date, or empty for none).

    Example:
        >>> as_date("2026-10-31"), as_date("")
        (datetime.date(2026, 10, 31), None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def record_date_column(frame: pl.DataFrame, dataset: str) -> str | None:
    """The column that dates a record of ``dataset`` (see the module notes), or None.

    Example:
        >>> record_date_column(pl.DataFrame({"AESTDTC": [], "AEENDTC": []}), "ae")
        'AESTDTC'
        >>> record_date_column(pl.DataFrame({"ADT": [], "PARAMCD": []}), "adrs")
        'ADT'
    """
    name = dataset.lower()
    if name in UNDATED_DATASETS or name in SUBJECT_LEVEL or name.startswith("supp"):
        return None
    if name.startswith("ad"):
        candidates = ["ADT", "ASTDT"]
    else:
        prefix = name.upper()
        candidates = [f"{prefix}STDTC", f"{prefix}DTC"]
    return next((c for c in candidates if c in frame.columns), None)


def _date_of(frame: pl.DataFrame, column: str, *, impute: str = "start") -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    return compute_date(pl.col(column).cast(pl.String), impute=impute)


def _date_columns(frame: pl.DataFrame) -> list[str]:
    """Every date-valued column: SDTM ``--DTC`` text, ADaM ``--DT`` dates (not ``--DTF`` flags)."""
    out = []
    for column, dtype in frame.schema.items():
        if column.endswith("DTC") and dtype == pl.String:
            out.append(column)
        elif column.endswith("DT") and (dtype == pl.Date or isinstance(dtype, pl.Datetime)):
            out.append(column)
    return out


def derive_cutoff(frames: Mapping[str, pl.DataFrame], cutoff: dt.date | str | None
                  ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Apply the data cutoff to every dataset (see the module notes for the rules).

    Args:
        frames: dataset -> frame (conformed, as read).
        cutoff: the data cutoff (ISO text or a date); None or "" changes nothing.

    Returns:
        The cut frames and one summary row per dataset: ``DATASET, DATE_COLUMN, RECORDS``
        (before the cut), ``RECORDS_AFTER_CUTOFF`` (removed), ``NOT_DATED`` (kept, no date),
        ``VALUES_BLANKED`` (other dates after the cutoff set to null).
    """
    cutoff = as_date(cutoff)
    out: dict[str, pl.DataFrame] = {}
    rows = []
    for dataset, frame in frames.items():
        column = record_date_column(frame, dataset)
        removed = not_dated = 0
        if cutoff is not None and column is not None:
            after = frame.select((_date_of(frame, column) > cutoff).alias("_AFTER")).to_series()
            removed, not_dated = int(after.sum()), int(after.null_count())
            if removed:  # a frame with nothing after the cutoff is kept as it is (no copy)
                frame = frame.filter(~after.fill_null(False))
        blanked = 0
        if cutoff is not None and dataset.lower() not in UNDATED_DATASETS and not dataset.lower().startswith("supp"):
            frame, blanked = _blank_after(frame, cutoff, skip=(column,))
        out[dataset] = frame
        rows.append((dataset, column, frames[dataset].height, removed, not_dated, blanked))
    summary = pl.DataFrame(rows, schema=CUTOFF_SUMMARY_SCHEMA, orient="row").sort("DATASET")
    return out, summary


def _blank_after(frame: pl.DataFrame, cutoff: dt.date, *, skip: Sequence[str | None] = ()) -> tuple[pl.DataFrame, int]:
    """Null every date value after the cutoff (but the ``skip`` columns); DTHFL follows DTHDTC/DTHDT."""
    columns = [c for c in _date_columns(frame) if c not in skip]
    if not columns or frame.is_empty():
        return frame, 0
    after = {c: (_date_of(frame, c) > cutoff).fill_null(False) for c in columns}
    counts = frame.select([expr.sum().alias(c) for c, expr in after.items()]).row(0)
    total = int(sum(counts))
    if not total:
        return frame, 0
    exprs = [pl.when(after[c]).then(None).otherwise(pl.col(c)).alias(c) for c in columns]
    death = next((c for c in ("DTHDTC", "DTHDT") if c in after), None)
    if death and "DTHFL" in frame.columns:
        exprs.append(pl.when(after[death]).then(None).otherwise(pl.col("DTHFL")).alias("DTHFL"))
    return frame.with_columns(exprs), total


def derive_status_at_cutoff(subjects: pl.DataFrame, cutoff: dt.date | str | None) -> pl.DataFrame:
    """Place the subjects as they stood at the cutoff; add ``CUTOFF_NOTE``.

    A subject randomized after the cutoff was still in screening at it: ``STATUS`` OTHER,
    ``ARMSTAT`` "IN SCREENING AT CUTOFF", no arm and no randomization date. So was a subject
    not randomized whose screening ended after the cutoff (``SCRENDDT``, see
    :func:`trialkit.derive.subjects.derive_screening_end`: a screen failure recorded later
    was not one yet at the cutoff). Other subject
    dates after the cutoff (first dose, death, ...) are set to null, and ``TREATED`` follows
    ``TRTSDT``; the consent date stays, for :func:`derive_left_out` to leave out who consented
    after the cutoff. ``CUTOFF_NOTE`` says what changed (null when nothing did).

    Args:
        subjects: one row per subject with ``STATUS`` and ``RANDDT`` (see
            :mod:`trialkit.derive.subjects`).
        cutoff: the data cutoff; None changes nothing.

    Example:
        >>> import datetime as dt
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "B"], "ARM_LABEL": ["A", "B"],
        ...                   "STATUS": ["RANDOMIZED", "RANDOMIZED"], "ARMSTAT": ["ASSIGNED"] * 2,
        ...                   "RANDDT": [dt.date(2026, 10, 1), dt.date(2026, 11, 2)]})
        >>> derive_status_at_cutoff(s, "2026-10-31").select("STATUS", "ARMCD").rows()
        [('RANDOMIZED', 'A'), ('OTHER', None)]
    """
    cutoff = as_date(cutoff)
    if cutoff is None or "RANDDT" not in subjects.columns:
        return subjects.with_columns(pl.lit(None, pl.String).alias("CUTOFF_NOTE"))
    late = (pl.col("RANDDT") > cutoff).fill_null(False)
    ended_late = pl.lit(False)
    if "SCRENDDT" in subjects.columns and "STATUS" in subjects.columns:
        ended_late = ((pl.col("STATUS").cast(pl.String) != "RANDOMIZED") & (pl.col("SCRENDDT") > cutoff)).fill_null(False)
    status_dtype = subjects.schema.get("STATUS", pl.String)
    note = (pl.when(late).then(pl.lit("randomized after the data cutoff: in screening at the cutoff"))
            .when(ended_late).then(pl.lit("screening ended after the data cutoff: in screening at the cutoff"))
            .otherwise(None).alias("CUTOFF_NOTE"))
    late = late | ended_late
    changes = [note, pl.when(late).then(pl.lit("OTHER")).otherwise(pl.col("STATUS").cast(pl.String))
               .cast(status_dtype).alias("STATUS")]
    for column, value in (("ARMSTAT", "IN SCREENING AT CUTOFF"), ("SCRNFAIL", "N")):
        if column in subjects.columns:
            changes.append(pl.when(late).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))
    for column in ("ARMCD", "ARM", "ARM_LABEL", "ACTARMCD", "ACTARM"):
        if column in subjects.columns:
            changes.append(pl.when(late).then(None).otherwise(pl.col(column)).alias(column))
    placed = subjects.with_columns(changes)
    placed, _ = _blank_after(placed, cutoff, skip=("RFICDT", "RFICDTC"))
    if "TRTSDT" in placed.columns and "TREATED" in placed.columns:
        placed = placed.with_columns(
            pl.when(pl.col("TRTSDT").is_not_null()).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TREATED"))
    return placed


def derive_left_out(subjects: pl.DataFrame, *, sites: Sequence[str] = (), arms: Sequence[str] = (),
                    data_cutoff: dt.date | str | None = None) -> pl.DataFrame:
    """Add ``LEFT_OUT``: why the run's cutoff and filters leave a subject out (null: the subject counts).

    The first reason that applies, in this order: consent (``RFICDTC``/``RFICDT``) after the
    data cutoff (not screened yet at the cutoff); the ``sites`` filter; the ``arms`` filter
    (randomized subjects only: screen failures and other non-randomized subjects have no
    arm and stay, so screening counts stay whole). A partial or missing consent date is
    kept: it cannot be shown to be after the cutoff.

    Args:
        subjects: one row per subject with ``STATUS`` (see
            :func:`trialkit.derive.subjects.derive_subject_status`).
        sites: SITEID values to keep; empty keeps every site.
        arms: arm codes to keep among randomized subjects; empty keeps every arm.
        data_cutoff: ISO date; empty keeps every subject.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2", "3"],
        ...     "SITEID": ["01", "02", "01"], "ARMCD": ["A", "B", "SCRNFAIL"]}))
        >>> derive_left_out(dm, sites=["01"], arms=["B"])["LEFT_OUT"].to_list()
        ['arm not in the arms filter', 'site not in the sites filter', None]
    """
    checks = []
    cutoff = as_date(data_cutoff)
    consent = next((c for c in ("RFICDT", "RFICDTC") if c in subjects.columns), None)
    if cutoff is not None and consent is not None:
        date = _date_of(subjects, consent, impute="start") if consent == "RFICDT" else \
            compute_date(pl.col(consent).cast(pl.String))
        checks.append(((date > cutoff).fill_null(False), f"consented after the data cutoff {cutoff}"))
    if sites:
        checks.append((pl.col("SITEID").cast(pl.String).is_in([str(s) for s in sites]).not_().fill_null(True),
                       "site not in the sites filter"))
    if arms:
        checks.append(((pl.col("STATUS") == "RANDOMIZED")
                       & pl.col("ARMCD").cast(pl.String).is_in([str(a) for a in arms]).not_().fill_null(True),
                       "arm not in the arms filter"))
    reason = pl.lit(None, dtype=pl.String)
    if checks:
        expr = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
        for condition, text in checks[1:]:
            expr = expr.when(condition).then(pl.lit(text))
        reason = expr.otherwise(reason)
    return subjects.with_columns(reason.alias("LEFT_OUT"))


def drop_left_out(subjects: pl.DataFrame) -> pl.DataFrame:
    """The subjects of :func:`derive_left_out` that count (``LEFT_OUT`` null), without the column."""
    return subjects.filter(pl.col("LEFT_OUT").is_null()).drop("LEFT_OUT")


def filter_records(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Keep, in every dataset with ``USUBJID``, only the records of ``subjects`` (those who count).

    ``subjects`` is either the subjects who count or the output of :func:`derive_left_out`
    (then the rows with a ``LEFT_OUT`` reason are the ones dropped). A dataset none of whose
    records belongs to a subject left out is kept as it is, without a copy.

    Example:
        >>> keep = pl.DataFrame({"USUBJID": ["1"]})
        >>> filter_records({"ex": pl.DataFrame({"USUBJID": ["1", "2"]})}, keep)["ex"]["USUBJID"].to_list()
        ['1']
    """
    if "LEFT_OUT" in subjects.columns:
        out_ids = subjects.filter(pl.col("LEFT_OUT").is_not_null())["USUBJID"].cast(pl.String)
        result = {}
        for name, frame in frames.items():
            if "USUBJID" in frame.columns and out_ids.len():
                drop = frame["USUBJID"].cast(pl.String).is_in(out_ids.implode())
                frame = frame.filter(~drop) if drop.any() else frame
            result[name] = frame
        return result
    ids = subjects.select(pl.col("USUBJID").cast(pl.String)).unique()
    return {name: (frame.join(ids, on="USUBJID", how="semi") if "USUBJID" in frame.columns else frame)
            for name, frame in frames.items()}


def summarize_left_out(subjects: pl.DataFrame) -> pl.DataFrame:
    """The subjects left out, one row each: ``Subject, Site, Status, Arm, Reason``.

    Args:
        subjects: the output of :func:`derive_left_out`.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "02"],
        ...                                          "ARMCD": ["A", "B"]}))
        >>> summarize_left_out(derive_left_out(dm, sites=["01"])).rows()
        [('2', '02', 'RANDOMIZED', 'B', 'site not in the sites filter')]
    """
    site = pl.col("SITE") if "SITE" in subjects.columns else pl.col("SITEID")
    return (subjects.filter(pl.col("LEFT_OUT").is_not_null())
            .sort("USUBJID")
            .select(pl.col("USUBJID").alias("Subject"), site.cast(pl.String).alias("Site"),
                    pl.col("STATUS").cast(pl.String).alias("Status"), pl.col("ARMCD").cast(pl.String).alias("Arm"),
                    pl.col("LEFT_OUT").alias("Reason")))


def describe_left_out(subjects: pl.DataFrame, *, source: str = "DM") -> str:
    """One line: how many subjects each reason leaves out.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "02", "02"],
        ...                                          "ARMCD": ["A", "B", "A"]}))
        >>> describe_left_out(derive_left_out(dm, sites=["01"]))
        '2 subject(s) left out: 2 site not in the sites filter.'
        >>> describe_left_out(derive_left_out(dm))
        'No subject is left out: every subject in DM counts.'
    """
    counts = (subjects.filter(pl.col("LEFT_OUT").is_not_null()).group_by("LEFT_OUT").len()
              .sort(["len", "LEFT_OUT"], descending=[True, False]))
    if counts.is_empty():
        return f"No subject is left out: every subject in {source} counts."
    parts = "; ".join(f"{format_count(n)} {reason}" for reason, n in counts.iter_rows())
    return f"{format_count(counts['len'].sum())} subject(s) left out: {parts}."


def summarize_cutoff(summary: pl.DataFrame) -> pl.DataFrame:
    """The cutoff summary for readers: datasets with something removed or blanked, then totals.

    Columns: ``Dataset, Dated by, Records, Records after the cutoff, Dates after the cutoff
    blanked, Records without a date``.

    Example:
        >>> s = pl.DataFrame([("ex", "EXSTDTC", 10, 2, 0, 1)], schema=CUTOFF_SUMMARY_SCHEMA, orient="row")
        >>> summarize_cutoff(s).row(0)
        ('EX', 'EXSTDTC', 10, 2, 1, 0)
    """
    return (summary.filter((pl.col("RECORDS_AFTER_CUTOFF") > 0) | (pl.col("VALUES_BLANKED") > 0)
                           | (pl.col("NOT_DATED") > 0))
            .select(pl.col("DATASET").str.to_uppercase().alias("Dataset"),
                    pl.col("DATE_COLUMN").fill_null("—").alias("Dated by"),
                    pl.col("RECORDS").alias("Records"),
                    pl.col("RECORDS_AFTER_CUTOFF").alias("Records after the cutoff"),
                    pl.col("VALUES_BLANKED").alias("Dates after the cutoff blanked"),
                    pl.col("NOT_DATED").alias("Records without a date")))


def describe_cutoff(summary: pl.DataFrame, cutoff: dt.date | str | None) -> str:
    """One sentence: what the cutoff left out.

    Example:
        >>> s = pl.DataFrame([("ex", "EXSTDTC", 10, 2, 0, 1), ("rs", "RSDTC", 5, 1, 0, 0)],
        ...                  schema=CUTOFF_SUMMARY_SCHEMA, orient="row")
        >>> describe_cutoff(s, "2026-10-31")
        'The data cutoff 2026-10-31 leaves out 3 record(s) dated after it (EX 2, RS 1) and blanks 1 later date(s) in records it keeps.'
    """
    cutoff = as_date(cutoff)
    if cutoff is None:
        return "No data cutoff: every record counts."
    removed = summary.filter(pl.col("RECORDS_AFTER_CUTOFF") > 0)
    total = int(summary["RECORDS_AFTER_CUTOFF"].sum()) if summary.height else 0
    blanked = int(summary["VALUES_BLANKED"].sum()) if summary.height else 0
    if not total and not blanked:
        return f"The data cutoff {cutoff} leaves out no record: none is dated after it."
    per = ", ".join(f"{d.upper()} {format_count(n)}"
                    for d, n in removed.select("DATASET", "RECORDS_AFTER_CUTOFF").iter_rows())
    text = (f"The data cutoff {cutoff} leaves out {format_count(total)} record(s) dated after it"
            + (f" ({per})" if per else ""))
    if blanked:
        text += f" and blanks {format_count(blanked)} later date(s) in records it keeps"
    return text + "."
