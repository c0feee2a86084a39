"""Summaries for the study overview report: datasets, subject status, arms and sites.

Every function takes eager polars frames (``subjects`` is a DM-shaped frame: one row per
subject with ``USUBJID``, ``SITEID``, ``ARMCD``, optionally ``ARM``, ``ACTARMCD``,
``ARMNRS``, ``SCRNFAIL``, ``RFICDTC``) and returns a new frame; inputs are never modified.

Example:
    >>> import polars as pl
    >>> from trialkit.derive.subjects import derive_subject_status
    >>> from trialkit.derive.overview import summarize_screening_by_site
    >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "01", "02"],
    ...                    "ARMCD": ["A", "SCRNFAIL", "B"]})
    >>> subjects = derive_subject_status(dm)
    >>> subjects["STATUS"].to_list()
    ['RANDOMIZED', 'SCREEN FAILURE', 'RANDOMIZED']
    >>> summarize_screening_by_site(subjects).filter(pl.col("SITEID") == "01")["N"].to_list()
    [2, 1, 1]
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

SCREENING_STAGES = ["SCREENED", "RANDOMIZED", "SCREEN FAILURE"]


def _sites(subjects: pl.DataFrame) -> pl.DataFrame:
    """The (SITEID, SITE) pairs of a frame; SITE defaults to SITEID."""
    site = pl.col("SITEID").cast(pl.String)
    label = pl.col("SITE").cast(pl.String) if "SITE" in subjects.columns else site
    return subjects.select(site, label.alias("SITE"))


def summarize_datasets(frames: Mapping[str, pl.DataFrame], files: Mapping[str, str | Path] | None = None,
                       *, rows_read: Mapping[str, int] | None = None) -> pl.DataFrame:
    """One row per dataset read: ``Dataset, File, Rows read, Rows used, Columns`` (sorted by dataset).

    Args:
        frames: dataset name -> frame as the report uses it (cut off and filtered).
        files: dataset name -> the file it came from; only the file name is kept, never the
            folder (a path can reveal more than the report needs).
        rows_read: dataset name -> rows in the file (default: the rows used).

    Example:
        >>> import polars as pl
        >>> summarize_datasets({"dm": pl.DataFrame({"USUBJID": ["1"]})}, {"dm": "/d/dm.parquet"},
        ...                    rows_read={"dm": 3}).row(0)
        ('DM', 'dm.parquet', 3, 1, 1)
    """
    files = files or {}
    rows_read = rows_read or {}
    names = sorted(frames)
    return pl.DataFrame(
        {
            "Dataset": [n.upper() for n in names],
            "File": [Path(str(files[n])).name if n in files else "" for n in names],
            "Rows read": [int(rows_read.get(n, frames[n].height)) for n in names],
            "Rows used": [frames[n].height for n in names],
            "Columns": [frames[n].width for n in names],
        },
        schema={"Dataset": pl.String, "File": pl.String, "Rows read": pl.Int64, "Rows used": pl.Int64,
                "Columns": pl.Int64},
    )


def summarize_subjects_by_arm_site(subjects: pl.DataFrame, *, arm_labels: Mapping[str, str] | None = None
                                   ) -> pl.DataFrame:
    """Randomized subjects per site and arm: ``SITEID, SITE, ARMCD, ARM, N``, zeros included.

    Args:
        subjects: frame with ``STATUS`` (see :func:`derive_subject_status`).
        arm_labels: arm code -> label (the protocol's short names); its keys are the arms
            always listed, even with no subject. Without it, the arms present.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
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


def summarize_screening_by_site(subjects: pl.DataFrame, *, screening: bool = True) -> pl.DataFrame:
    """Subjects screened, randomized and screen failures per site: ``SITEID, SITE, STATUS, N`` (long).

    Every site has all three rows, zeros included; ``STATUS`` is an Enum in that order.
    With ``screening=False`` (subjects from an ADSL of randomized subjects only, so nobody
    screened can be counted) only the RANDOMIZED rows are returned.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
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
    long = (
        per_site.unpivot(index=["SITEID", "SITE"], on=SCREENING_STAGES, variable_name="STATUS", value_name="N")
        .with_columns(pl.col("STATUS").cast(pl.Enum(SCREENING_STAGES)))
        .sort("SITEID", "STATUS")
    )
    return long if screening else long.filter(pl.col("STATUS") == "RANDOMIZED")


def summarize_site_table(subjects: pl.DataFrame, *, arm_labels: Mapping[str, str] | None = None,
                         screening: bool = True) -> pl.DataFrame:
    """The overview table: one row per site and a final ``All sites`` row.

    Columns: ``Site, Screened, Screen failures, Randomized, Other, not randomized`` (so
    that each row adds up: e.g. consent withdrawn during screening), then one column per
    arm (its label), counts of randomized subjects. With ``screening=False`` (an ADSL of
    randomized subjects only) the screening columns are left out rather than shown wrong.

    Example:
        >>> from trialkit.derive.subjects import derive_subject_status
        >>> dm = derive_subject_status(pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"],
        ...                                          "ARMCD": ["A", "SCRNFAIL"]}))
        >>> summarize_site_table(dm, arm_labels={"A": "A: x"}).rows()
        [('01', 2, 1, 1, 0, 1), ('All sites', 2, 1, 1, 0, 1)]
    """
    by_status = (summarize_screening_by_site(subjects)
                 .with_columns(pl.col("STATUS").cast(pl.String))
                 .pivot(on="STATUS", index=["SITEID", "SITE"], values="N"))
    # no subject at all (a selection that matches nothing): the same columns, one row of zeros
    by_status = by_status.with_columns(pl.lit(0, pl.Int64).alias(s) for s in SCREENING_STAGES
                                       if s not in by_status.columns)
    arms = summarize_subjects_by_arm_site(subjects, arm_labels=arm_labels)
    arm_order = arms.select("ARMCD", "ARM").unique(maintain_order=True)["ARM"].to_list() if arms.height else \
        list(dict(arm_labels or {}).values())
    arm_wide = arms.drop("SITE").pivot(on="ARM", index="SITEID", values="N") if arms.height else pl.DataFrame(
        {"SITEID": []}, schema={"SITEID": pl.String})
    arm_wide = arm_wide.with_columns(pl.lit(0, pl.Int64).alias(a) for a in arm_order if a not in arm_wide.columns)
    table = (by_status.join(arm_wide, on="SITEID", how="left")
             .sort("SITEID")
             .select(pl.col("SITE").alias("Site"),
                     pl.col("SCREENED").alias("Screened"),
                     pl.col("SCREEN FAILURE").alias("Screen failures"),
                     pl.col("RANDOMIZED").alias("Randomized"),
                     # neither: e.g. withdrew consent during screening; shown so the row adds up
                     (pl.col("SCREENED") - pl.col("SCREEN FAILURE") - pl.col("RANDOMIZED"))
                     .alias("Other, not randomized"),
                     *[pl.col(a).fill_null(0) for a in arm_order]))
    if not screening:
        table = table.drop("Screened", "Screen failures", "Other, not randomized")
    total = table.select(pl.lit("All sites").alias("Site"), pl.exclude("Site").sum().cast(pl.Int64))
    return pl.concat([table.with_columns(pl.exclude("Site").cast(pl.Int64)), total])
