"""Summaries for the study overview report: datasets, subject status, arms and sites.

Every function takes eager polars frames (``subjects`` is a DM-shaped frame: one row per
subject with ``USUBJID``, ``SITEID``, ``ARMCD``, optionally ``ARM``, ``ACTARMCD``,
``ARMNRS``, ``SCRNFAIL``, ``RFICDTC``) and returns a new frame; inputs are never modified.

Example:
    >>> import polars as pl
    >>> from trialkit.derive.overview import derive_subject_status, summarize_screening_by_site
    >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "01", "02"],
    ...                    "ARMCD": ["A", "SCRNFAIL", "B"]})
    >>> subjects = derive_subject_status(dm)
    >>> subjects["STATUS"].to_list()
    ['RANDOMIZED', 'SCREEN FAILURE', 'RANDOMIZED']
    >>> summarize_screening_by_site(subjects).filter(pl.col("SITEID") == "01")["N"].to_list()
    [2, 1, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import polars as pl

from trialkit.io import derive_screen_failure

STATUSES = ["RANDOMIZED", "SCREEN FAILURE", "OTHER"]
SCREENING_STAGES = ["SCREENED", "RANDOMIZED", "SCREEN FAILURE"]
_NOT_RANDOMIZED = ["SCREEN FAILURE", "NOT ASSIGNED"]


def derive_subject_status(subjects: pl.DataFrame, *, site_labels: Mapping[str, str] | None = None
                          ) -> pl.DataFrame:
    """Add ``STATUS``: RANDOMIZED | SCREEN FAILURE | OTHER (DESIGN section 5, screening), and ``SITE``.

    The arm conventions are decided once, by :func:`trialkit.io.derive_screen_failure`
    (both SDTMIG conventions): a screen failure is SCREEN FAILURE; a subject never assigned
    an arm (NOTASSGN, or a blank arm without reason, e.g. withdrawn during screening) is
    OTHER; every other subject was randomized, including those assigned but never treated.
    ``SITEID`` is cast to text so site codes such as "01" keep their zeros; ``SITE`` is the
    label reports show: ``site_labels[SITEID]`` (see :func:`protocol_site_labels`), or the
    SITEID itself for a site the protocol does not name.

    Example:
        >>> import polars as pl
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "02", "02"],
        ...                    "ARMCD": ["A", None, "Scrnfail"]})
        >>> derive_subject_status(dm)["STATUS"].to_list()
        ['RANDOMIZED', 'OTHER', 'SCREEN FAILURE']
    """
    with_status = derive_screen_failure(subjects)
    status = (pl.when(pl.col("SCRNFAIL") == "Y").then(pl.lit("SCREEN FAILURE"))
              .when(pl.col("ARMSTAT").is_in(_NOT_RANDOMIZED).not_()).then(pl.lit("RANDOMIZED"))
              .otherwise(pl.lit("OTHER")))
    site = pl.col("SITEID").cast(pl.String)
    return with_status.with_columns(
        site,
        site.replace_strict(dict(site_labels or {}), default=site, return_dtype=pl.String).alias("SITE"),
        status.cast(pl.Enum(STATUSES)).alias("STATUS"),
    )


def protocol_site_labels(protocol) -> dict[str, str]:
    """SITEID -> "SITEID name" for the sites the protocol names (axis and table labels).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> protocol_site_labels(load_protocol())["03"]
        '03 Zhongshan Hospital Fudan University'
    """
    return {str(s["siteid"]): f"{s['siteid']} {s['name']}" for s in protocol.sites}


def _sites(subjects: pl.DataFrame) -> pl.DataFrame:
    """The (SITEID, SITE) pairs of a frame; SITE defaults to SITEID."""
    site = pl.col("SITEID").cast(pl.String)
    label = pl.col("SITE").cast(pl.String) if "SITE" in subjects.columns else site
    return subjects.select(site, label.alias("SITE"))


def _as_date(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        return pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return pl.col(name).dt.date()
    # ISO 8601 text; partial dates (2025-09) stay null and are kept (no imputation needed here)
    return pl.col(name).cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def derive_left_out(subjects: pl.DataFrame, *, sites: Sequence[str] = (), arms: Sequence[str] = (),
                    data_cutoff: date | str | None = None) -> pl.DataFrame:
    """Add ``LEFT_OUT``: why the run's filters leave a subject out (null: the subject counts).

    The first reason that applies, in this order: the ``sites`` filter, the ``arms`` filter
    (randomized subjects only: screen failures and other non-randomized subjects have no
    arm and stay, so screening counts stay whole), consent (RFICDTC) after the data cutoff.
    A partial or missing consent date is kept: it cannot be shown to be after the cutoff.

    Args:
        subjects: DM-shaped frame with ``STATUS`` (see :func:`derive_subject_status`).
        sites: SITEID values to keep; empty keeps every site.
        arms: arm codes to keep among randomized subjects; empty keeps every arm.
        data_cutoff: ISO date; empty keeps every subject.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2", "3"],
        ...     "SITEID": ["01", "02", "01"], "ARMCD": ["A", "B", "SCRNFAIL"]}))
        >>> derive_left_out(dm, sites=["01"], arms=["B"])["LEFT_OUT"].to_list()
        ['arm not in the arms filter', 'site not in the sites filter', None]
    """
    reason = pl.lit(None, dtype=pl.String)
    checks = []
    if sites:
        checks.append((pl.col("SITEID").cast(pl.String).is_in([str(s) for s in sites]).not_(),
                       "site not in the sites filter"))
    if arms:
        checks.append(((pl.col("STATUS") == "RANDOMIZED") & pl.col("ARMCD").is_in([str(a) for a in arms]).not_(),
                       "arm not in the arms filter"))
    if data_cutoff and "RFICDTC" in subjects.columns:
        cutoff = date.fromisoformat(str(data_cutoff)[:10])
        consent = _as_date("RFICDTC", subjects.schema["RFICDTC"])
        checks.append(((consent > cutoff).fill_null(False), f"consented after the data cutoff {cutoff}"))
    if checks:
        expr = pl.when(checks[0][0]).then(pl.lit(checks[0][1]))
        for condition, text in checks[1:]:
            expr = expr.when(condition).then(pl.lit(text))
        reason = expr.otherwise(reason)
    return subjects.with_columns(reason.alias("LEFT_OUT"))


def filter_subjects(subjects: pl.DataFrame, *, sites: Sequence[str] = (), arms: Sequence[str] = (),
                    data_cutoff: date | str | None = None) -> pl.DataFrame:
    """Keep the subjects a report is about (see :func:`derive_left_out` for the rules).

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2", "3"],
        ...     "SITEID": ["01", "02", "01"], "ARMCD": ["A", "B", "SCRNFAIL"]}))
        >>> filter_subjects(dm, sites=["01"], arms=["B"])["USUBJID"].to_list()
        ['3']
    """
    return drop_left_out(derive_left_out(subjects, sites=sites, arms=arms, data_cutoff=data_cutoff))


def drop_left_out(subjects: pl.DataFrame) -> pl.DataFrame:
    """The subjects of :func:`derive_left_out` that count (``LEFT_OUT`` null), without the column."""
    return subjects.filter(pl.col("LEFT_OUT").is_null()).drop("LEFT_OUT")


def summarize_left_out(subjects: pl.DataFrame) -> pl.DataFrame:
    """The subjects a run's filters leave out, one row each: ``Subject, Site, Status, Arm, Reason``.

    Args:
        subjects: the output of :func:`derive_left_out`.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "02"],
        ...                                          "ARMCD": ["A", "B"]}))
        >>> summarize_left_out(derive_left_out(dm, sites=["01"])).rows()
        [('2', '02', 'RANDOMIZED', 'B', 'site not in the sites filter')]
    """
    return (subjects.filter(pl.col("LEFT_OUT").is_not_null())
            .sort("USUBJID")
            .select(pl.col("USUBJID").alias("Subject"), pl.col("SITE").alias("Site"),
                    pl.col("STATUS").cast(pl.String).alias("Status"), pl.col("ARMCD").cast(pl.String).alias("Arm"),
                    pl.col("LEFT_OUT").alias("Reason")))


def describe_left_out(subjects: pl.DataFrame) -> str:
    """One line for the table's subtitle: how many subjects each reason leaves out.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "02", "02"],
        ...                                          "ARMCD": ["A", "B", "A"]}))
        >>> describe_left_out(derive_left_out(dm, sites=["01"]))
        '2 subject(s) left out: 2 site not in the sites filter.'
        >>> describe_left_out(derive_left_out(dm))
        'None: every subject in DM counts.'
    """
    counts = (subjects.filter(pl.col("LEFT_OUT").is_not_null()).group_by("LEFT_OUT").len()
              .sort(["len", "LEFT_OUT"], descending=[True, False]))
    if counts.is_empty():
        return "None: every subject in DM counts."
    parts = "; ".join(f"{n} {reason}" for reason, n in counts.iter_rows())
    return f"{counts['len'].sum()} subject(s) left out: {parts}."


def protocol_arm_labels(protocol) -> dict[str, str]:
    """Arm code -> the protocol's short label, in protocol order (legend and table labels).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> protocol_arm_labels(load_protocol())["D"]
        'D: cTACE'
    """
    return {str(a["armcd"]): str(a.get("short") or a.get("arm") or a["armcd"]) for a in protocol.arms}


def summarize_datasets(frames: Mapping[str, pl.DataFrame], files: Mapping[str, str | Path] | None = None
                       ) -> pl.DataFrame:
    """One row per dataset read: ``Dataset, File, Rows, Columns`` (sorted by dataset).

    Args:
        frames: dataset name -> frame (``Study.frames``).
        files: dataset name -> the file it came from (``Study.files``); only the file name
            is kept, never the folder (a path can reveal more than the report needs).

    Example:
        >>> import polars as pl
        >>> summarize_datasets({"dm": pl.DataFrame({"USUBJID": ["1"]})}, {"dm": "/d/dm.parquet"}).row(0)
        ('DM', 'dm.parquet', 1, 1)
    """
    files = files or {}
    names = sorted(frames)
    return pl.DataFrame(
        {
            "Dataset": [n.upper() for n in names],
            "File": [Path(str(files[n])).name if n in files else "" for n in names],
            "Rows": [frames[n].height for n in names],
            "Columns": [frames[n].width for n in names],
        },
        schema={"Dataset": pl.String, "File": pl.String, "Rows": pl.Int64, "Columns": pl.Int64},
    )


def summarize_subjects_by_arm_site(subjects: pl.DataFrame, *, arm_labels: Mapping[str, str] | None = None
                                   ) -> pl.DataFrame:
    """Randomized subjects per site and arm: ``SITEID, SITE, ARMCD, ARM, N``, zeros included.

    Args:
        subjects: frame with ``STATUS`` (see :func:`derive_subject_status`).
        arm_labels: arm code -> label (the protocol's short names); its keys are the arms
            always listed, even with no subject. Without it, the arms present.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"],
        ...                                          "ARMCD": ["A", "A"]}))
        >>> summarize_subjects_by_arm_site(dm, arm_labels={"A": "A: x", "B": "B: y"})["N"].to_list()
        [2, 0]
    """
    randomized = subjects.filter(pl.col("STATUS") == "RANDOMIZED").select(
        pl.col("SITEID").cast(pl.String), pl.col("ARMCD").cast(pl.String))
    present = randomized["ARMCD"].unique().sort().to_list()
    labels = dict(arm_labels or {})
    arm_codes = list(labels) + [a for a in present if a not in labels]
    sites = _sites(subjects).unique().sort("SITEID")
    grid = sites.join(pl.DataFrame({"ARMCD": arm_codes}, schema={"ARMCD": pl.String}), how="cross")
    counts = randomized.group_by("SITEID", "ARMCD").agg(pl.len().cast(pl.Int64).alias("N"))
    return (
        grid.join(counts, on=["SITEID", "ARMCD"], how="left")
        .with_columns(
            pl.col("N").fill_null(0),
            pl.col("ARMCD").replace_strict(labels, default=pl.col("ARMCD"), return_dtype=pl.String).alias("ARM"),
        )
        .select("SITEID", "SITE", "ARMCD", "ARM", "N")
        .sort("SITEID", "ARMCD")
    )


def summarize_screening_by_site(subjects: pl.DataFrame) -> pl.DataFrame:
    """Subjects screened, randomized and screen failures per site: ``SITEID, SITE, STATUS, N`` (long).

    Every site has all three rows, zeros included; ``STATUS`` is an Enum in that order.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"],
        ...                                          "ARMCD": ["A", "SCRNFAIL"]}))
        >>> summarize_screening_by_site(dm)["N"].to_list()
        [2, 1, 1]
    """
    per_site = pl.concat([_sites(subjects), subjects.select("STATUS")], how="horizontal").group_by(
        "SITEID", "SITE").agg(
        pl.len().cast(pl.Int64).alias("SCREENED"),
        (pl.col("STATUS") == "RANDOMIZED").sum().cast(pl.Int64).alias("RANDOMIZED"),
        (pl.col("STATUS") == "SCREEN FAILURE").sum().cast(pl.Int64).alias("SCREEN FAILURE"),
    )
    return (
        per_site.unpivot(index=["SITEID", "SITE"], on=SCREENING_STAGES, variable_name="STATUS", value_name="N")
        .with_columns(pl.col("STATUS").cast(pl.Enum(SCREENING_STAGES)))
        .sort("SITEID", "STATUS")
    )


def summarize_site_table(subjects: pl.DataFrame, *, arm_labels: Mapping[str, str] | None = None
                         ) -> pl.DataFrame:
    """The overview table: one row per site and a final ``All sites`` row.

    Columns: ``Site, Screened, Screen failures, Randomized, Other, not randomized`` (so
    that each row adds up: e.g. consent withdrawn during screening), then one column per
    arm (its label), counts of randomized subjects.

    Example:
        >>> import polars as pl
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"],
        ...                                          "ARMCD": ["A", "SCRNFAIL"]}))
        >>> summarize_site_table(dm, arm_labels={"A": "A: x"}).rows()
        [('01', 2, 1, 1, 0, 1), ('All sites', 2, 1, 1, 0, 1)]
    """
    screening = (summarize_screening_by_site(subjects)
                 .with_columns(pl.col("STATUS").cast(pl.String))
                 .pivot(on="STATUS", index=["SITEID", "SITE"], values="N"))
    arms = summarize_subjects_by_arm_site(subjects, arm_labels=arm_labels)
    arm_order = arms.select("ARMCD", "ARM").unique(maintain_order=True)["ARM"].to_list()
    arm_wide = arms.drop("SITE").pivot(on="ARM", index="SITEID", values="N") if arms.height else pl.DataFrame(
        {"SITEID": []}, schema={"SITEID": pl.String})
    table = (screening.join(arm_wide, on="SITEID", how="left")
             .sort("SITEID")
             .select(pl.col("SITE").alias("Site"),
                     pl.col("SCREENED").alias("Screened"),
                     pl.col("SCREEN FAILURE").alias("Screen failures"),
                     pl.col("RANDOMIZED").alias("Randomized"),
                     # neither: e.g. withdrew consent during screening; shown so the row adds up
                     (pl.col("SCREENED") - pl.col("SCREEN FAILURE") - pl.col("RANDOMIZED"))
                     .alias("Other, not randomized"),
                     *[pl.col(a).fill_null(0) for a in arm_order]))
    total = table.select(pl.lit("All sites").alias("Site"), pl.exclude("Site").sum().cast(pl.Int64))
    return pl.concat([table.with_columns(pl.exclude("Site").cast(pl.Int64)), total])
