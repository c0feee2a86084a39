"""Screening: the funnel, failures by criterion, co-failures, the CONSORT flow and the recruitment outlook.

Frames in, frames out (DESIGN section 5, ``screening_*.csv`` and ``consort.csv``). The one
entry point a report calls is :func:`create_screening`; each step is a function of its own.

**Who counts, and how** (one row per USUBJID, :func:`derive_screening_subjects`):

- ``STATUS`` is the data layer's (RANDOMIZED | SCREEN FAILURE | OTHER), ``OUTCOME`` says more:
  RANDOMIZED, SCREEN FAILURE, NOT ASSIGNED (screened, neither randomized nor a screen
  failure, e.g. consent withdrawn) or IN SCREENING AT CUTOFF.
- **Screening dates**: start = consent (DM.RFICDTC, else the DS milestone INFORMED CONSENT
  OBTAINED, else DM.DMDTC, the date demographics were collected at screening: pharmaverse
  has no consent date); end = randomization, else the first DS disposition event, ADSL's
  SCRFDT or DM.RFPENDTC (:func:`trialkit.derive.subjects.derive_screening_end`).
  ``SCREENING_DAYS`` = end - start (the consent day is day 0), only from complete dates.
- **Failed criteria**: an IE record is a failed criterion (SDTM IE holds only exceptions);
  when IEORRES/IESTRESC is given, an inclusion must be "N" and an exclusion "Y".
- **Rescreening.** A person screened twice may carry two USUBJIDs. Attempts are linked only
  by what the data record, in these conventions: the same SUBJID at the same site on two
  USUBJIDs; a SUPPDM record with QNAM in :data:`RESCREEN_QNAMS` whose QVAL is the other
  attempt's USUBJID or SUBJID; a RELSUB pair whose SREL contains "RESCREEN". Linked
  attempts are one person (``PERSON``: the USUBJID of the latest attempt); the funnel and
  the CONSORT flow count persons (``COUNTED`` "Y" on the latest attempt only), the
  listings show every attempt. Pairs that look like one person but carry no link (same
  site, sex and complete birth date, the earlier attempt not randomized) are listed by
  :func:`summarize_possible_rescreens`, never merged.

**Failures by criterion** count screen-failure attempts (every USUBJID whose OUTCOME is
SCREEN FAILURE, the first attempt of a rescreened person included): ``N_SUBJECTS`` those
with an IE record of the criterion, ``PCT_OF_SCREEN_FAILURES`` = N / all screen failures
(``DENOMINATOR``). A subject may fail several criteria. Screen failures with no IE record
get a row per DS reason (``SOURCE`` "DS"), and so do subjects not assigned (e.g. consent
withdrawn), whose rows have no percentage: they are not screen failures.

**The CONSORT flow** (CONSORT 2025 items 22a/b; :func:`derive_consort`): assessed for
eligibility (persons) -> excluded (not meeting eligibility criteria, by group; declined:
DS WITHDRAWAL BY SUBJECT; other reasons) -> randomized -> per arm: allocated -> received the
allocated intervention (a record of at least one of the arm's study treatments; each
treatment counted) or not (the first DS event after randomization says why) -> among those
who received it: discontinued intervention (the first DS disposition event of the
treatment epoch that is not COMPLETED), completed, or on treatment at the cutoff -> analysed
(ITT: all randomized). :func:`check_consort` tests that each box's children add up.

**Recruitment outlook** (:func:`summarize_recruitment`): see :data:`RATE_WINDOW_DAYS` and
the method sentence of the result.

Example:
    >>> from trialkit.protocol import load_protocol
    >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "01", "02"],
    ...                    "STATUS": ["RANDOMIZED", "SCREEN FAILURE", "SCREEN FAILURE"]})
    >>> ie = pl.DataFrame({"USUBJID": ["2", "2", "3"], "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION"],
    ...                    "IETESTCD": ["INCL13B", "EXCL03", "INCL13B"]})
    >>> scr = derive_screening_subjects(dm, failed=derive_failed_criteria(ie, load_protocol("NCT07334483")))
    >>> scr.select("USUBJID", "OUTCOME", "N_FAILED_CRITERIA").rows()
    [('1', 'RANDOMIZED', 0), ('2', 'SCREEN FAILURE', 2), ('3', 'SCREEN FAILURE', 1)]
"""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trialkit.derive.eligibility import (
    checkable_criteria,
    derive_eligibility_recheck,
    derive_screening_values,
    describe_check,
    summarize_check_inputs,
    summarize_recheck_values,
)
from trialkit.derive.consort import ALL, check_consort, compute_reason_label, derive_consort
from trialkit.derive.scope import as_date
from trialkit.derive.subjects import filter_disposition_events
from trialkit.format import compute_count_text, compute_fixed_text, compute_n_pct_text, format_count, format_date
from trialkit.io.dates import compute_date_of
from trialkit.io.terms import col_or_null, compute_term, compute_term_of

#: OUTCOME values, in the order of every table.
OUTCOMES = ["RANDOMIZED", "SCREEN FAILURE", "NOT ASSIGNED", "IN SCREENING AT CUTOFF"]
#: SUPPDM qualifiers that link a rescreened attempt to the earlier one (QVAL: its USUBJID or SUBJID).
RESCREEN_QNAMS = ("RSUBJID", "RESCRNID", "PRVSUBJ", "PREVSUBJ")
#: Days before the reference date whose randomizations give the current pace (13 weeks).
RATE_WINDOW_DAYS = 91
DAYS_PER_MONTH = 365.25 / 12
CONFIDENCE = 0.95
ALL_SITES = "All sites"

SUBJECT_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String, "SITEID": pl.String, "STATUS": pl.String, "N_FAILED_CRITERIA": pl.Int64,
    "SUBJID": pl.String, "SITE": pl.String, "OUTCOME": pl.String, "ARMCD": pl.String, "ARM": pl.String,
    "SCRSTDT": pl.Date, "SCRSTDT_SOURCE": pl.String, "SCRENDDT": pl.Date, "RANDDT": pl.Date,
    "SCREENING_DAYS": pl.Int64, "OVER_WINDOW": pl.String, "DS_REASON": pl.String, "DS_TERM": pl.String,
    "FAILED_CRITERIA": pl.List(pl.String), "PERSON": pl.String, "ATTEMPT": pl.Int64, "N_ATTEMPTS": pl.Int64,
    "COUNTED": pl.String, "LINK_SOURCE": pl.String, "TREATED": pl.String,
}
FAILURE_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String, "SITEID": pl.String, "IECAT": pl.String, "IETESTCD": pl.String, "IETEST": pl.String,
    "CATEGORY": pl.String, "GROUP": pl.String, "STATUS": pl.String, "OUTCOME": pl.String, "CATORDER": pl.Int64,
}


# --------------------------------------------------------------------------------------------
# the catalog
# --------------------------------------------------------------------------------------------
def summarize_catalog(protocol) -> pl.DataFrame:
    """The protocol's eligibility catalog: ``IECAT, IETESTCD, IETEST, CATEGORY, GROUP, RULE, CATORDER``.

    ``GROUP`` is the report group of the criterion's category (``eligibility_groups`` of
    the protocol file; "Other" when no group lists it), ``RULE`` the machine check in words
    (null for a criterion only the investigator can judge).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> summarize_catalog(load_protocol("NCT07334483")).filter(pl.col("IETESTCD") == "INCL13B").select(
        ...     "GROUP", "RULE").row(0)
        ('Laboratory', 'PLAT ≥ 75 10^9/L')
    """
    groups = protocol.eligibility_groups
    rows = [{"IECAT": str(c.get("iecat") or ""), "IETESTCD": str(c["ietestcd"]), "IETEST": str(c.get("ietest") or ""),
             "CATEGORY": str(c.get("category") or ""),
             "GROUP": groups.get(str(c.get("category") or ""), protocol.OTHER_GROUP),
             "RULE": describe_check(c["check"]) if c.get("check") else None, "CATORDER": i}
            for i, c in enumerate(protocol.eligibility)]
    schema = {"IECAT": pl.String, "IETESTCD": pl.String, "IETEST": pl.String, "CATEGORY": pl.String,
              "GROUP": pl.String, "RULE": pl.String, "CATORDER": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def derive_failed_criteria(ie: pl.DataFrame | None, protocol) -> pl.DataFrame:
    """One row per failed criterion per subject from IE: ``USUBJID, IECAT, IETESTCD, IETEST, CATEGORY, GROUP, CATORDER``.

    SDTM IE holds only the criteria not met. When IESTRESC (or IEORRES) is given, an
    inclusion record counts when "N" and an exclusion when "Y" (a record saying the
    opposite is not a failure). Texts and categories come from the protocol catalog; a
    code the catalog lacks keeps the IE record's text, category "Not in the protocol catalog".

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> ie = pl.DataFrame({"USUBJID": ["1", "1", "2"], "IETESTCD": ["INCL13B", "EXCL03", "INCL13B"],
        ...                    "IECAT": ["INCLUSION", "EXCLUSION", "INCLUSION"], "IESTRESC": ["N", "N", "N"]})
        >>> derive_failed_criteria(ie, load_protocol("NCT07334483")).select("USUBJID", "IETESTCD").rows()
        [('1', 'INCL13B'), ('2', 'INCL13B')]
    """
    schema = {"USUBJID": pl.String, "IECAT": pl.String, "IETESTCD": pl.String, "IETEST": pl.String,
              "CATEGORY": pl.String, "GROUP": pl.String, "CATORDER": pl.Int64}
    if ie is None or not {"USUBJID", "IETESTCD"} <= set(ie.columns) or ie.is_empty():
        return pl.DataFrame(schema=schema)
    catalog = summarize_catalog(protocol)
    result = pl.coalesce(compute_term_of(ie, "IESTRESC"), compute_term_of(ie, "IEORRES"))
    records = ie.select(pl.col("USUBJID").cast(pl.String), compute_term_of(ie, "IETESTCD").alias("IETESTCD"),
                        compute_term_of(ie, "IECAT").alias("_IECAT"),
                        col_or_null(ie, "IETEST").alias("_IETEST"), result.alias("_RESULT"))
    records = records.join(catalog.drop("RULE"), on="IETESTCD", how="left").with_columns(
        pl.coalesce("IECAT", "_IECAT").alias("IECAT"))
    failed = records.filter(
        pl.col("_RESULT").is_null()
        | ((pl.col("IECAT") == "INCLUSION") & (pl.col("_RESULT") == "N"))
        | ((pl.col("IECAT") == "EXCLUSION") & (pl.col("_RESULT") == "Y"))
        | ~pl.col("IECAT").is_in(["INCLUSION", "EXCLUSION"]).fill_null(False))
    order = catalog.height
    return (failed.with_columns(
        pl.coalesce("IETEST", "_IETEST").alias("IETEST"),
        pl.col("CATEGORY").fill_null("Not in the protocol catalog"),
        pl.col("GROUP").fill_null(protocol.OTHER_GROUP),
        pl.col("CATORDER").fill_null(order))
        .unique(["USUBJID", "IETESTCD"], keep="first")
        .select(list(schema)).sort("USUBJID", "CATORDER", "IETESTCD").cast(schema))


# --------------------------------------------------------------------------------------------
# subjects
# --------------------------------------------------------------------------------------------
def _consent_from_ds(disposition: pl.DataFrame | None) -> pl.DataFrame:
    schema = {"USUBJID": pl.String, "_DSIC": pl.Date}
    if disposition is None or not {"USUBJID", "DSDECOD"} <= set(disposition.columns):
        return pl.DataFrame(schema=schema)
    consent = disposition.filter(compute_term_of(disposition, "DSDECOD") == "INFORMED CONSENT OBTAINED")
    return (consent.select(pl.col("USUBJID").cast(pl.String), compute_date_of(consent, ("DSSTDTC", "DSDTC")).alias("_DSIC"))
            .group_by("USUBJID").agg(pl.col("_DSIC").min()).cast(schema))


def derive_rescreen_links(subjects: pl.DataFrame, *, suppdm: pl.DataFrame | None = None,
                          relsub: pl.DataFrame | None = None) -> pl.DataFrame:
    """The recorded links between screening attempts of one person: ``USUBJID, LINKED_USUBJID, LINK_SOURCE``.

    See the module notes for the conventions read. Each link is listed once per direction
    it was found in; links to a USUBJID absent from ``subjects`` are dropped.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["S-1", "S-2", "S-3"], "SUBJID": ["1", "2", "3"], "SITEID": ["01"] * 3})
        >>> supp = pl.DataFrame({"USUBJID": ["S-3"], "QNAM": ["RSUBJID"], "QVAL": ["2"]})
        >>> derive_rescreen_links(dm, suppdm=supp).rows()
        [('S-3', 'S-2', 'SUPPDM.RSUBJID')]
    """
    schema = {"USUBJID": pl.String, "LINKED_USUBJID": pl.String, "LINK_SOURCE": pl.String}
    ids = subjects.select(pl.col("USUBJID").cast(pl.String), col_or_null(subjects, "SUBJID").alias("SUBJID"),
                          col_or_null(subjects, "SITEID").alias("SITEID"))
    parts = []
    if ids["SUBJID"].is_not_null().any():
        same = ids.filter(pl.col("SUBJID").is_not_null())
        parts.append(same.join(same, on=["SITEID", "SUBJID"], suffix="_L", nulls_equal=True)
                     .filter(pl.col("USUBJID") != pl.col("USUBJID_L"))
                     .select("USUBJID", pl.col("USUBJID_L").alias("LINKED_USUBJID"), pl.lit("SUBJID").alias("LINK_SOURCE")))
    if suppdm is not None and {"USUBJID", "QNAM", "QVAL"} <= set(suppdm.columns):
        rows = suppdm.filter(compute_term(pl.col("QNAM")).is_in(RESCREEN_QNAMS)).select(
            pl.col("USUBJID").cast(pl.String), compute_term(pl.col("QNAM")).alias("QNAM"),
            pl.col("QVAL").cast(pl.String).str.strip_chars().alias("QVAL"))
        by_usubjid = rows.join(ids.select(pl.col("USUBJID").alias("QVAL"), pl.col("USUBJID").alias("LINKED_USUBJID")),
                               on="QVAL")
        by_subjid = rows.join(ids.select(pl.col("SUBJID").alias("QVAL"), pl.col("USUBJID").alias("LINKED_USUBJID")),
                              on="QVAL")
        parts.append(pl.concat([by_usubjid, by_subjid]).select(
            "USUBJID", "LINKED_USUBJID", pl.format("SUPPDM.{}", pl.col("QNAM")).alias("LINK_SOURCE")))
    if relsub is not None and {"USUBJID", "RSUBJID", "SREL"} <= set(relsub.columns):
        parts.append(relsub.filter(compute_term(pl.col("SREL")).str.contains("RESCREEN").fill_null(False)).select(
            pl.col("USUBJID").cast(pl.String), pl.col("RSUBJID").cast(pl.String).alias("LINKED_USUBJID"),
            pl.lit("RELSUB").alias("LINK_SOURCE")))
    if not parts:
        return pl.DataFrame(schema=schema)
    known = ids.select("USUBJID")
    return (pl.concat([p.cast(schema) for p in parts])
            .filter(pl.col("USUBJID") != pl.col("LINKED_USUBJID"))
            .join(known, on="USUBJID", how="semi")
            .join(known.rename({"USUBJID": "LINKED_USUBJID"}), on="LINKED_USUBJID", how="semi")
            .unique(maintain_order=True).sort("USUBJID", "LINKED_USUBJID"))


def derive_persons(attempts: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Group linked attempts into persons: adds ``PERSON, ATTEMPT, N_ATTEMPTS, COUNTED, LINK_SOURCE``.

    ``attempts`` needs ``USUBJID`` and ``SCRSTDT`` (the order of the attempts). Links are
    followed transitively (three attempts linked two by two are one person). ``PERSON`` is
    the USUBJID of the latest attempt, the one ``COUNTED`` "Y".

    Example:
        >>> import datetime as dt
        >>> att = pl.DataFrame({"USUBJID": ["a", "b", "c"],
        ...                     "SCRSTDT": [dt.date(2025, 9, 1), dt.date(2025, 11, 1), dt.date(2025, 9, 5)]})
        >>> links = pl.DataFrame({"USUBJID": ["b"], "LINKED_USUBJID": ["a"], "LINK_SOURCE": ["SUBJID"]})
        >>> derive_persons(att, links).select("USUBJID", "PERSON", "ATTEMPT", "COUNTED").rows()
        [('a', 'b', 1, 'N'), ('b', 'b', 2, 'Y'), ('c', 'c', 1, 'Y')]
    """
    if links.is_empty():  # nobody linked: each attempt is a person
        return attempts.drop([c for c in ("PERSON", "ATTEMPT", "N_ATTEMPTS", "COUNTED", "LINK_SOURCE")
                              if c in attempts.columns]).with_columns(
            pl.col("USUBJID").alias("PERSON"), pl.lit(1, pl.Int64).alias("ATTEMPT"),
            pl.lit(1, pl.Int64).alias("N_ATTEMPTS"), pl.lit("Y").alias("COUNTED"), pl.lit(None, pl.String).alias("LINK_SOURCE"))
    linked = pl.concat([links.select("USUBJID"), links.select(pl.col("LINKED_USUBJID").alias("USUBJID"))]).unique()
    label = linked.select("USUBJID", pl.col("USUBJID").alias("_LABEL"))
    edges = pl.concat([links.select("USUBJID", "LINKED_USUBJID"),
                       links.select(pl.col("LINKED_USUBJID").alias("USUBJID"), pl.col("USUBJID").alias("LINKED_USUBJID"))])
    for _ in range(64):  # each round spreads the smallest id one link further; chains are short
        spread = (edges.join(label.rename({"USUBJID": "LINKED_USUBJID"}), on="LINKED_USUBJID")
                  .group_by("USUBJID").agg(pl.col("_LABEL").min().alias("_NEW")))
        updated = label.join(spread, on="USUBJID", how="left").with_columns(
            pl.min_horizontal("_LABEL", "_NEW").alias("_LABEL")).drop("_NEW")
        if updated.join(label, on=["USUBJID", "_LABEL"], how="anti").is_empty():
            break
        label = updated
    ordered = (attempts.drop([c for c in ("PERSON", "ATTEMPT", "N_ATTEMPTS", "COUNTED", "LINK_SOURCE")
                              if c in attempts.columns])
               .join(label, on="USUBJID", how="left").with_columns(pl.coalesce("_LABEL", "USUBJID").alias("_LABEL"))
               .sort("_LABEL", pl.col("SCRSTDT").fill_null(dt.date.max), "USUBJID")
               .with_columns((pl.int_range(pl.len()).over("_LABEL") + 1).cast(pl.Int64).alias("ATTEMPT"),
                             pl.len().over("_LABEL").cast(pl.Int64).alias("N_ATTEMPTS")))
    person = ordered.filter(pl.col("ATTEMPT") == pl.col("N_ATTEMPTS")).select("_LABEL", pl.col("USUBJID").alias("PERSON"))
    group_sources = (links.join(label, on="USUBJID").group_by("_LABEL")
                     .agg(pl.col("LINK_SOURCE").unique().sort().str.join(", ").alias("_SRC")))
    return (ordered.join(person, on="_LABEL", how="left").join(group_sources, on="_LABEL", how="left")
            .with_columns(pl.when(pl.col("ATTEMPT") == pl.col("N_ATTEMPTS")).then(pl.lit("Y")).otherwise(pl.lit("N"))
                          .alias("COUNTED"),
                          pl.when(pl.col("N_ATTEMPTS") > 1).then(pl.col("_SRC")).alias("LINK_SOURCE"))
            .drop("_LABEL", "_SRC"))


def derive_screening_subjects(subjects: pl.DataFrame, *, disposition: pl.DataFrame | None = None,
                              failed: pl.DataFrame | None = None, links: pl.DataFrame | None = None,
                              window_days: int | None = None, events: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per screened USUBJID: the contract columns of ``screening_subjects.csv`` and more.

    Columns (see the module notes): ``USUBJID, SITEID, STATUS, N_FAILED_CRITERIA`` (DESIGN
    section 5), then ``SUBJID, SITE, OUTCOME, ARMCD, ARM, SCRSTDT`` (start of screening),
    ``SCRSTDT_SOURCE, SCRENDDT, RANDDT, SCREENING_DAYS, OVER_WINDOW`` (Y/N: longer than the
    protocol's screening window), ``DS_REASON, DS_TERM`` (the DS disposition ending the
    screening of a subject not randomized), ``FAILED_CRITERIA`` (list, catalog order),
    ``PERSON, ATTEMPT, N_ATTEMPTS, COUNTED, LINK_SOURCE`` (:func:`derive_persons`), ``TREATED``.

    Args:
        subjects: the data layer's subjects (``trialkit.study.ReportStudy.subjects``).
        disposition: DS, cut at the cutoff.
        failed: :func:`derive_failed_criteria` (none: nobody failed a criterion).
        links: :func:`derive_rescreen_links`.
        window_days: the protocol's screening window (None: not judged).
        events: ``filter_disposition_events(disposition)`` when already computed.
    """
    s = subjects
    status = pl.col("STATUS").cast(pl.String)
    armstat = col_or_null(s, "ARMSTAT")
    outcome = (pl.when(status == "RANDOMIZED").then(pl.lit("RANDOMIZED"))
               .when(armstat == "IN SCREENING AT CUTOFF").then(pl.lit("IN SCREENING AT CUTOFF"))
               .when(status == "SCREEN FAILURE").then(pl.lit("SCREEN FAILURE"))
               .otherwise(pl.lit("NOT ASSIGNED")))
    base = s.select(
        pl.col("USUBJID").cast(pl.String), col_or_null(s, "SITEID").alias("SITEID"), status.alias("STATUS"),
        col_or_null(s, "SUBJID").alias("SUBJID"),
        pl.coalesce(col_or_null(s, "SITE"), col_or_null(s, "SITEID")).alias("SITE"), outcome.alias("OUTCOME"),
        pl.when(status == "RANDOMIZED").then(col_or_null(s, "ARMCD")).alias("ARMCD"),
        pl.when(status == "RANDOMIZED").then(pl.coalesce(col_or_null(s, "ARM_LABEL"), col_or_null(s, "ARMCD")))
        .alias("ARM"),
        col_or_null(s, "RFICDT", pl.Date).alias("_RFICDT"),
        compute_date_of(s, ("DMDTC",)).alias("_DMDTC"),
        col_or_null(s, "SCRENDDT", pl.Date).alias("SCRENDDT"), col_or_null(s, "SCRENDDTF").alias("_ENDF"),
        col_or_null(s, "RANDDT", pl.Date).alias("RANDDT"), col_or_null(s, "TREATED").alias("TREATED"))
    # consent from DS only for whom DM gives none (it is a fallback: no need to read it otherwise)
    no_consent = base.filter(pl.col("_RFICDT").is_null()).select("USUBJID")
    from_ds = _consent_from_ds(disposition.join(no_consent, on="USUBJID", how="semi")
                               if disposition is not None and no_consent.height else None)
    base = base.join(from_ds, on="USUBJID", how="left").with_columns(
        pl.coalesce("_RFICDT", "_DSIC", "_DMDTC").alias("SCRSTDT"),
        pl.when(pl.col("_RFICDT").is_not_null()).then(pl.lit("RFICDTC"))
        .when(pl.col("_DSIC").is_not_null()).then(pl.lit("DS INFORMED CONSENT OBTAINED"))
        .when(pl.col("_DMDTC").is_not_null()).then(pl.lit("DMDTC")).alias("SCRSTDT_SOURCE"))
    # the disposition event that ended the screening of a subject not randomized
    events = ((filter_disposition_events(disposition) if events is None else events).sort("USUBJID", "DSDT", nulls_last=True)
              .unique("USUBJID", keep="first").select("USUBJID", pl.col("DSDECOD").alias("_DSDECOD"),
                                                      pl.col("DSTERM").alias("_DSTERM")))
    base = base.join(events, on="USUBJID", how="left").with_columns(
        pl.when(pl.col("OUTCOME").is_in(["SCREEN FAILURE", "NOT ASSIGNED"])).then(pl.col("_DSDECOD")).alias("DS_REASON"),
        pl.when(pl.col("OUTCOME").is_in(["SCREEN FAILURE", "NOT ASSIGNED"])).then(pl.col("_DSTERM")).alias("DS_TERM"),
        pl.when(pl.col("OUTCOME") != "IN SCREENING AT CUTOFF").then(pl.col("SCRENDDT")).alias("SCRENDDT"))
    # an imputed end (a partial DS date) is never before the start of screening (admiral's min_dates)
    base = base.with_columns(pl.when(pl.col("_ENDF").is_not_null() & (pl.col("SCRENDDT") < pl.col("SCRSTDT")))
                             .then(pl.col("SCRSTDT")).otherwise(pl.col("SCRENDDT")).alias("SCRENDDT"))
    days = (pl.col("SCRENDDT") - pl.col("SCRSTDT")).dt.total_days()
    base = base.with_columns(
        pl.when(pl.col("_ENDF").is_null() & (pl.col("OUTCOME") != "IN SCREENING AT CUTOFF")).then(days)
        .cast(pl.Int64).alias("SCREENING_DAYS"))
    base = base.with_columns(
        (pl.when(pl.col("SCREENING_DAYS").is_null()).then(None)
         .when(pl.col("SCREENING_DAYS") > window_days).then(pl.lit("Y")).otherwise(pl.lit("N"))
         if window_days is not None else pl.lit(None, pl.String)).alias("OVER_WINDOW"))
    if failed is None:
        failed = pl.DataFrame(schema={"USUBJID": pl.String, "IETESTCD": pl.String, "CATORDER": pl.Int64})
    per_subject = (failed.sort("CATORDER", "IETESTCD").group_by("USUBJID", maintain_order=True)
                   .agg(pl.col("IETESTCD").alias("FAILED_CRITERIA")))
    base = base.join(per_subject, on="USUBJID", how="left").with_columns(
        pl.col("FAILED_CRITERIA").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("FAILED_CRITERIA").list.len().fill_null(0).cast(pl.Int64).alias("N_FAILED_CRITERIA"))
    links = links if links is not None else pl.DataFrame(
        schema={"USUBJID": pl.String, "LINKED_USUBJID": pl.String, "LINK_SOURCE": pl.String})
    base = derive_persons(base, links)
    return base.select(list(SUBJECT_SCHEMA)).cast(SUBJECT_SCHEMA).sort("SITEID", "USUBJID")


def summarize_possible_rescreens(subjects: pl.DataFrame, screening: pl.DataFrame) -> pl.DataFrame:
    """Attempts that look like one person but carry no link: same site, sex and complete birth date.

    The earlier attempt was not randomized, the two started screening on different days and
    are not already one person. Listed for a data manager to confirm (then record the link,
    e.g. SUPPDM QNAM RSUBJID); never merged in the counts.

    Returns:
        ``USUBJID_1, START_1, OUTCOME_1, USUBJID_2, START_2, OUTCOME_2, SITE``.

    Example:
        >>> import datetime as dt
        >>> dm = pl.DataFrame({"USUBJID": ["a", "b"], "SEX": ["M", "M"], "BRTHDTC": ["1960-01-02"] * 2})
        >>> scr = pl.DataFrame({"USUBJID": ["a", "b"], "SITEID": ["01"] * 2, "SITE": ["01"] * 2,
        ...                     "PERSON": ["a", "b"], "OUTCOME": ["SCREEN FAILURE", "RANDOMIZED"],
        ...                     "SCRSTDT": [dt.date(2025, 9, 1), dt.date(2025, 10, 20)]})
        >>> summarize_possible_rescreens(dm, scr).select("USUBJID_1", "USUBJID_2").rows()
        [('a', 'b')]
    """
    schema = {"USUBJID_1": pl.String, "START_1": pl.Date, "OUTCOME_1": pl.String, "USUBJID_2": pl.String,
              "START_2": pl.Date, "OUTCOME_2": pl.String, "SITE": pl.String}
    if not {"SEX", "BRTHDTC"} <= set(subjects.columns):
        return pl.DataFrame(schema=schema)
    who = (subjects.select(pl.col("USUBJID").cast(pl.String), compute_term_of(subjects, "SEX").alias("SEX"),
                           pl.col("BRTHDTC").cast(pl.String).str.slice(0, 10).alias("BIRTH"))
           .filter(pl.col("BIRTH").str.len_chars() == 10, pl.col("SEX").is_not_null())
           .join(screening.select("USUBJID", "SITEID", "SITE", "PERSON", "OUTCOME", "SCRSTDT"), on="USUBJID"))
    pairs = (who.filter(pl.col("OUTCOME") != "RANDOMIZED").join(who, on=["SITEID", "SEX", "BIRTH"], suffix="_2")
             .filter(pl.col("PERSON") != pl.col("PERSON_2"), pl.col("SCRSTDT") < pl.col("SCRSTDT_2")))
    return (pairs.select(pl.col("USUBJID").alias("USUBJID_1"), pl.col("SCRSTDT").alias("START_1"),
                         pl.col("OUTCOME").alias("OUTCOME_1"), "USUBJID_2", pl.col("SCRSTDT_2").alias("START_2"),
                         pl.col("OUTCOME_2"), "SITE").cast(schema).sort("USUBJID_1", "USUBJID_2"))


def summarize_rescreened(screening: pl.DataFrame) -> pl.DataFrame:
    """Every attempt of each person screened more than once (linked in the data), in order.

    Example:
        >>> scr = pl.DataFrame({"PERSON": ["b", "b", "c"], "USUBJID": ["a", "b", "c"], "ATTEMPT": [1, 2, 1],
        ...                     "N_ATTEMPTS": [2, 2, 1], "SITE": ["01"] * 3, "SCRSTDT": [None] * 3,
        ...                     "SCRENDDT": [None] * 3, "OUTCOME": ["SCREEN FAILURE", "RANDOMIZED", "RANDOMIZED"],
        ...                     "FAILED_CRITERIA": [["INCL12"], [], []], "COUNTED": ["N", "Y", "Y"],
        ...                     "LINK_SOURCE": ["SUBJID", "SUBJID", None]})
        >>> summarize_rescreened(scr)["Subject"].to_list()
        ['a', 'b']
    """
    return (screening.filter(pl.col("N_ATTEMPTS") > 1).sort("PERSON", "ATTEMPT")
            .select(pl.col("PERSON").alias("Person"), pl.col("USUBJID").alias("Subject"),
                    pl.col("ATTEMPT").alias("Attempt"), pl.col("SITE").alias("Site"),
                    pl.col("SCRSTDT").alias("Screening start"), pl.col("SCRENDDT").alias("Screening end"),
                    pl.col("OUTCOME").alias("Outcome"),
                    pl.col("FAILED_CRITERIA").list.join(", ").alias("Criteria failed"),
                    pl.col("COUNTED").alias("Counted in the funnel"), pl.col("LINK_SOURCE").alias("Linked by")))


# --------------------------------------------------------------------------------------------
# the funnel and time
# --------------------------------------------------------------------------------------------
FUNNEL_STAGES = ["SCREENED", "SCREEN FAILURE", "NOT ASSIGNED", "IN SCREENING AT CUTOFF", "RANDOMIZED", "RESCREENED"]


def summarize_funnel(screening: pl.DataFrame) -> pl.DataFrame:
    """Persons per stage, per site and for all sites: ``SITEID, SITE, STAGE, N, PCT`` (% of screened).

    Persons: each rescreened person once (``COUNTED`` "Y"). RESCREENED counts persons with
    more than one attempt. Every site has every stage, zeros included; ``SITEID`` "ALL" is
    the all-sites row.

    Example:
        >>> scr = pl.DataFrame({"SITEID": ["01", "01", "02"], "SITE": ["01", "01", "02"], "COUNTED": ["Y"] * 3,
        ...                     "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE", "RANDOMIZED"], "N_ATTEMPTS": [1, 1, 2]})
        >>> summarize_funnel(scr).filter(pl.col("SITEID") == "ALL").select("STAGE", "N").rows()[:2]
        [('SCREENED', 3), ('SCREEN FAILURE', 1)]
    """
    persons = screening.filter(pl.col("COUNTED") == "Y")
    agg = [pl.len().cast(pl.Int64).alias("SCREENED")]
    agg += [(pl.col("OUTCOME") == stage).sum().cast(pl.Int64).alias(stage) for stage in OUTCOMES]
    agg += [(pl.col("N_ATTEMPTS") > 1).sum().cast(pl.Int64).alias("RESCREENED")]
    sites = persons.group_by("SITEID", "SITE").agg(agg).sort("SITEID")
    total = persons.select(pl.lit(ALL).alias("SITEID"), pl.lit(ALL_SITES).alias("SITE"), *agg)
    wide = pl.concat([sites, total]) if sites.height else total
    return (wide.with_row_index("_ORDER")
            .unpivot(index=["_ORDER", "SITEID", "SITE", "SCREENED"], on=FUNNEL_STAGES[1:], variable_name="STAGE",
                     value_name="N")
            .pipe(lambda f: pl.concat([wide.with_row_index("_ORDER").select(
                "_ORDER", "SITEID", "SITE", "SCREENED", pl.lit("SCREENED").alias("STAGE"), pl.col("SCREENED").alias("N")),
                f]))
            .with_columns(pl.col("STAGE").cast(pl.Enum(FUNNEL_STAGES)),
                          (100 * pl.col("N") / pl.when(pl.col("SCREENED") > 0).then(pl.col("SCREENED"))).alias("PCT"))
            .sort("_ORDER", "STAGE").with_columns(pl.col("STAGE").cast(pl.String))
            .select("SITEID", "SITE", "STAGE", "N", "PCT"))


def summarize_funnel_table(funnel: pl.DataFrame, *, screening: bool = True) -> pl.DataFrame:
    """The funnel as a report prints it: one row per site, "n (%)" of the screened.

    With ``screening=False`` (an ADSL of randomized subjects only) only the randomized
    column is kept: nobody else can be counted.

    Example:
        >>> f = summarize_funnel(pl.DataFrame({"SITEID": ["01", "01"], "SITE": ["01", "01"], "COUNTED": ["Y"] * 2,
        ...     "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE"], "N_ATTEMPTS": [1, 1]}))
        >>> summarize_funnel_table(f).row(0)
        ('01', '2', '1 (50.0%)', '0 (0.0%)', '0', '1 (50.0%)', '0')
        >>> summarize_funnel_table(f, screening=False).row(0)
        ('01', '1')
    """
    wide = funnel.pivot(on="STAGE", index=["SITEID", "SITE"], values="N", aggregate_function="first",
                        maintain_order=True)
    screened = pl.col("SCREENED")
    if not screening:  # nobody but the randomized is known: no percentages of the screened
        return wide.select(pl.col("SITE").alias("Site"), compute_count_text(pl.col("RANDOMIZED")).alias("Randomized"))
    return wide.select(
        pl.col("SITE").alias("Site"), compute_count_text(screened).alias("Screened"),
        compute_n_pct_text(pl.col("SCREEN FAILURE"), screened).alias("Screen failures"),
        compute_n_pct_text(pl.col("NOT ASSIGNED"), screened).alias("Not assigned (e.g. consent withdrawn)"),
        compute_count_text(pl.col("IN SCREENING AT CUTOFF")).alias("In screening at the cutoff"),
        compute_n_pct_text(pl.col("RANDOMIZED"), screened).alias("Randomized"),
        compute_count_text(pl.col("RESCREENED")).alias("Rescreened (counted once)"))


def summarize_screening_by_month(screening: pl.DataFrame) -> pl.DataFrame:
    """Screenings started and randomizations per calendar month and site, with running totals.

    Every screening attempt counts in the month it started (``SCRSTDT``); randomizations in
    the month of ``RANDDT``. Months without any are zeros, from the first month to the last.

    Returns:
        ``MONTH`` (first day), ``SITEID, SITE, STAGE`` (SCREENED | RANDOMIZED), ``N, CUMULATIVE``,
        ``USUBJIDS`` (the subjects counted).

    Example:
        >>> import datetime as dt
        >>> scr = pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"], "SITE": ["01", "01"],
        ...                     "OUTCOME": ["RANDOMIZED"] * 2, "SCRSTDT": [dt.date(2025, 9, 3), dt.date(2025, 11, 2)],
        ...                     "RANDDT": [dt.date(2025, 9, 20), dt.date(2025, 11, 20)]})
        >>> summarize_screening_by_month(scr).filter(pl.col("STAGE") == "SCREENED")["CUMULATIVE"].to_list()
        [1, 1, 2]
    """
    schema = {"MONTH": pl.Date, "SITEID": pl.String, "SITE": pl.String, "STAGE": pl.String, "N": pl.Int64,
              "CUMULATIVE": pl.Int64, "USUBJIDS": pl.List(pl.String)}
    events = pl.concat([
        screening.select("USUBJID", "SITEID", "SITE", pl.col("SCRSTDT").dt.truncate("1mo").alias("MONTH"),
                         pl.lit("SCREENED").alias("STAGE")),
        screening.filter(pl.col("OUTCOME") == "RANDOMIZED").select(
            "USUBJID", "SITEID", "SITE", pl.col("RANDDT").dt.truncate("1mo").alias("MONTH"),
            pl.lit("RANDOMIZED").alias("STAGE")),
    ]).filter(pl.col("MONTH").is_not_null())
    if events.is_empty():
        return pl.DataFrame(schema=schema)
    first, last = events["MONTH"].min(), events["MONTH"].max()
    months = pl.DataFrame({"MONTH": pl.date_range(first, last, "1mo", eager=True)})
    grid = (months.join(screening.select("SITEID", "SITE").unique(), how="cross")
            .join(pl.DataFrame({"STAGE": ["SCREENED", "RANDOMIZED"]}), how="cross"))
    counts = events.group_by("MONTH", "SITEID", "STAGE").agg(pl.len().cast(pl.Int64).alias("N"),
                                                              pl.col("USUBJID").sort().alias("USUBJIDS"))
    return (grid.join(counts, on=["MONTH", "SITEID", "STAGE"], how="left")
            .with_columns(pl.col("N").fill_null(0), pl.col("USUBJIDS").fill_null(pl.lit([], pl.List(pl.String))))
            .sort("SITEID", "STAGE", "MONTH")
            .with_columns(pl.col("N").cum_sum().over("SITEID", "STAGE").alias("CUMULATIVE"))
            .select(list(schema)).cast(schema).sort("MONTH", "SITEID", "STAGE"))


def summarize_screening_duration(screening: pl.DataFrame, *, window_days: int | None = None) -> pl.DataFrame:
    """Days from the start of screening to its outcome, per outcome: n, median, range, over the window.

    Example:
        >>> scr = pl.DataFrame({"OUTCOME": ["RANDOMIZED"] * 3, "SCREENING_DAYS": [10, 20, 30],
        ...                     "OVER_WINDOW": ["N", "N", "Y"]})
        >>> summarize_screening_duration(scr, window_days=28).row(0)
        ('Randomized', '3', '20', '10–30', '1 (33.3%)')
    """
    done = screening.filter(pl.col("OUTCOME").is_in(OUTCOMES[:3]))
    stats = (done.group_by("OUTCOME").agg(
        pl.col("SCREENING_DAYS").is_not_null().sum().alias("N"),
        pl.col("SCREENING_DAYS").median().alias("MEDIAN"), pl.col("SCREENING_DAYS").min().alias("MIN"),
        pl.col("SCREENING_DAYS").max().alias("MAX"), (pl.col("OVER_WINDOW") == "Y").sum().alias("OVER"))
        .with_columns(pl.col("OUTCOME").cast(pl.Enum(OUTCOMES))).sort("OUTCOME"))
    window = f"Longer than {window_days} days" if window_days is not None else "Longer than the window"
    labels = {"RANDOMIZED": "Randomized", "SCREEN FAILURE": "Screen failure", "NOT ASSIGNED": "Not assigned"}
    return stats.select(
        pl.col("OUTCOME").cast(pl.String).replace_strict(labels, default=pl.col("OUTCOME").cast(pl.String))
        .alias("Outcome"),
        compute_count_text(pl.col("N")).alias("Subjects with both dates"),
        pl.col("MEDIAN").round(0).cast(pl.Int64).cast(pl.String).fill_null("—").alias("Median days"),
        pl.format("{}–{}", pl.col("MIN"), pl.col("MAX")).fill_null("—").alias("Range"),
        (compute_n_pct_text(pl.col("OVER"), pl.col("N")) if window_days is not None else pl.lit("—")).alias(window))


# --------------------------------------------------------------------------------------------
# failures by criterion
# --------------------------------------------------------------------------------------------
def summarize_failures(screening: pl.DataFrame, failed: pl.DataFrame) -> pl.DataFrame:
    """``screening_failures.csv``: one row per failed criterion per subject (any outcome).

    Columns: ``USUBJID, SITEID, IECAT, IETESTCD, IETEST, CATEGORY`` (DESIGN section 5), then
    ``GROUP, STATUS, OUTCOME`` (a randomized subject with an IE record had a waiver, or an
    error) and ``CATORDER`` (the criterion's place in the catalog). Sorted by subject, then
    catalog order.
    """
    return (failed.join(screening.select("USUBJID", "SITEID", "STATUS", "OUTCOME"), on="USUBJID", how="inner")
            .sort("USUBJID", "CATORDER", "IETESTCD").select(list(FAILURE_SCHEMA)).cast(FAILURE_SCHEMA))


BY_CRITERION_SCHEMA = {"IECAT": pl.String, "IETESTCD": pl.String, "IETEST": pl.String, "CATEGORY": pl.String,
                       "N_SUBJECTS": pl.Int64, "PCT_OF_SCREEN_FAILURES": pl.Float64, "DENOMINATOR": pl.Int64,
                       "GROUP": pl.String, "SOURCE": pl.String, "RULE": pl.String, "CATORDER": pl.Int64}
OTHER_SF = "Other reasons (screen failures)"
NOT_ASSIGNED_GROUP = "Not assigned (not screen failures)"


def summarize_by_criterion(screening: pl.DataFrame, failures: pl.DataFrame, protocol, *,
                           include_zero: bool = True, by: str | None = None,
                           with_subjects: bool = False) -> pl.DataFrame:
    """``screening_by_criterion.csv``: every criterion of the catalog with its screen failures.

    Columns: ``IECAT, IETESTCD, IETEST, CATEGORY, N_SUBJECTS, PCT_OF_SCREEN_FAILURES``
    (DESIGN section 5), then ``DENOMINATOR`` (screen failures), ``GROUP``, ``SOURCE`` ("IE",
    or "DS" for the rows of reasons other than a criterion: see the module notes), ``RULE``
    (the machine check, if any). Sorted by group (protocol order), then by N (most first),
    then catalog order.

    Args:
        screening: :func:`derive_screening_subjects`.
        failures: :func:`summarize_failures`.
        protocol: the study's protocol (the catalog, its groups).
        include_zero: keep the criteria nobody failed.
        by: a column of ``screening`` (e.g. ``"SITEID"``) to count per value of; the
            result then has that column first, and the denominator is per value.
        with_subjects: add ``USUBJIDS``, the subjects counted in each row (a list).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> scr = pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"], "OUTCOME": ["SCREEN FAILURE"] * 2,
        ...                     "N_FAILED_CRITERIA": [1, 0], "DS_REASON": ["SCREEN FAILURE", "SCREEN FAILURE"]})
        >>> fail = pl.DataFrame({"USUBJID": ["1"], "IECAT": ["INCLUSION"], "IETESTCD": ["INCL13B"], "IETEST": ["PLAT"],
        ...                      "CATEGORY": ["Laboratory values"], "GROUP": ["Laboratory"]})
        >>> out = summarize_by_criterion(scr, fail, load_protocol("NCT07334483"), include_zero=False)
        >>> out.select("IETESTCD", "N_SUBJECTS", "PCT_OF_SCREEN_FAILURES").rows()
        [('INCL13B', 1, 50.0), ('SCREEN FAILURE, NO CRITERION RECORDED', 1, 50.0)]
    """
    keys = [by] if by else []
    row_columns = [c for c in BY_CRITERION_SCHEMA if c not in ("PCT_OF_SCREEN_FAILURES", "DENOMINATOR")]
    row_schema = {**{k: pl.String for k in keys}, **{c: BY_CRITERION_SCHEMA[c] for c in row_columns},
                  "USUBJIDS": pl.List(pl.String)}
    catalog = summarize_catalog(protocol)
    sf = screening.filter(pl.col("OUTCOME") == "SCREEN FAILURE")
    # the criteria: every one of the catalog, and any code IE holds that the catalog lacks
    counts = (failures.join(sf.select("USUBJID", *keys), on="USUBJID", how="inner")
              .group_by(*keys, "IETESTCD").agg(pl.col("USUBJID").n_unique().cast(pl.Int64).alias("N_SUBJECTS"),
                                               pl.col("USUBJID").unique().sort().alias("USUBJIDS")))
    unknown = (failures.filter(~pl.col("IETESTCD").is_in(catalog["IETESTCD"].to_list()))
               .unique("IETESTCD", keep="first")
               .select("IECAT", "IETESTCD", "IETEST", "CATEGORY", "GROUP", pl.lit(None, pl.String).alias("RULE"),
                       pl.lit(catalog.height, pl.Int64).alias("CATORDER")))
    criteria = pl.concat([catalog, unknown.cast(catalog.schema)])
    if keys:
        criteria = criteria.join(screening.select(keys).unique().sort(keys), how="cross")
    criteria = (criteria.join(counts, on=[*keys, "IETESTCD"], how="left")
                .with_columns(pl.col("N_SUBJECTS").fill_null(0), pl.lit("IE").alias("SOURCE"),
                              pl.col("USUBJIDS").fill_null(pl.lit([], pl.List(pl.String)))))
    if not include_zero:
        criteria = criteria.filter(pl.col("N_SUBJECTS") > 0)
    # reasons other than a criterion: screen failures without an IE record, subjects not assigned
    no_ie = screening.filter((pl.col("OUTCOME") == "NOT ASSIGNED")
                             | ((pl.col("OUTCOME") == "SCREEN FAILURE") & (pl.col("N_FAILED_CRITERIA") == 0)))
    is_sf = pl.col("OUTCOME") == "SCREEN FAILURE"
    ds = pl.col("DS_REASON")
    other = (no_ie.with_columns(compute_reason_label(pl.col("DS_REASON")).alias("IETESTCD"))
             .group_by(*keys, "OUTCOME", "IETESTCD").agg(pl.len().cast(pl.Int64).alias("N_SUBJECTS"),
                                                         pl.col("USUBJID").sort().alias("USUBJIDS"),
                                                         pl.col("DS_REASON").first())
             .with_columns(pl.when(is_sf).then(pl.lit(OTHER_SF)).otherwise(pl.lit(NOT_ASSIGNED_GROUP)).alias("GROUP"),
                           pl.lit("OTHER REASON").alias("IECAT"), pl.lit("DS").alias("SOURCE"),
                           pl.lit(None, pl.String).alias("RULE"), pl.lit(catalog.height + 1).alias("CATORDER"),
                           pl.when(ds.is_null()).then(pl.lit("No IE record and no DS reason"))
                           .otherwise(pl.format("No IE record; DS: {}", ds)).alias("IETEST"))
             .with_columns(pl.col("GROUP").alias("CATEGORY")))
    table = pl.concat([criteria.select(list(row_schema)).cast(row_schema),
                       other.select(list(row_schema)).cast(row_schema)])
    if keys:
        denominators = sf.group_by(keys).agg(pl.len().cast(pl.Int64).alias("DENOMINATOR"))
        table = table.join(denominators, on=keys, how="left").with_columns(pl.col("DENOMINATOR").fill_null(0))
    else:
        table = table.with_columns(pl.lit(sf.height, pl.Int64).alias("DENOMINATOR"))
    counted = pl.col("GROUP") != NOT_ASSIGNED_GROUP  # subjects not assigned are no screen failures: no percentage
    table = table.with_columns(
        pl.when(counted & (pl.col("DENOMINATOR") > 0)).then(100 * pl.col("N_SUBJECTS") / pl.col("DENOMINATOR"))
        .alias("PCT_OF_SCREEN_FAILURES"),
        pl.when(counted).then(pl.col("DENOMINATOR")).alias("DENOMINATOR"))
    groups = [*protocol.eligibility_group_order, OTHER_SF, NOT_ASSIGNED_GROUP]
    group_order = pl.col("GROUP").replace_strict({g: i for i, g in enumerate(groups)}, default=len(groups),
                                                 return_dtype=pl.Int64)
    return (table.sort([*keys, group_order, "N_SUBJECTS", "CATORDER", "IETESTCD"],
                       descending=[*([False] * len(keys)), False, True, False, False])
            .select(*keys, *[c for c in BY_CRITERION_SCHEMA if c != "CATORDER"],
                    *(["USUBJIDS"] if with_subjects else [])))


#: At most this many sites get a column of their own in the table of criteria (more: see the chart and CSV).
MAX_SITE_COLUMNS = 6


def summarize_by_criterion_table(by_criterion: pl.DataFrame, by_site: pl.DataFrame | None = None) -> pl.DataFrame:
    """The by-criterion table as a report prints it: group (once), code, the criterion's text, n (%), per site.

    Sites get a column each when there are at most :data:`MAX_SITE_COLUMNS`.

    Example:
        >>> t = pl.DataFrame({"GROUP": ["Laboratory"] * 2, "IETESTCD": ["INCL13B", "INCL13C"],
        ...                   "IETEST": ["Platelets >= 75", "HGB >= 90"], "N_SUBJECTS": [2, 0], "DENOMINATOR": [10, 10],
        ...                   "RULE": ["PLAT ≥ 75", None], "SOURCE": ["IE", "IE"]})
        >>> summarize_by_criterion_table(t).rows()
        [('Laboratory', 'INCL13B', 'Platelets >= 75', '2 (20.0%)', 'PLAT ≥ 75'), ('', 'INCL13C', 'HGB >= 90', '0', 'judgment only')]
    """
    def cell(n: pl.Expr, denominator: pl.Expr) -> pl.Expr:
        return (pl.when(n == 0).then(pl.lit("0")).when(denominator.is_null()).then(compute_count_text(n))
                .otherwise(compute_n_pct_text(n, denominator)))

    first = pl.col("GROUP") != pl.col("GROUP").shift(1)
    table = by_criterion.select(
        pl.when(first.fill_null(True)).then(pl.col("GROUP")).otherwise(pl.lit("")).alias("Group"),
        pl.col("IETESTCD").alias("Code"), pl.col("IETEST").alias("Criterion"),
        cell(pl.col("N_SUBJECTS"), pl.col("DENOMINATOR")).alias("Screen failures, n (%)"),
        pl.col("RULE").fill_null(pl.when(pl.col("SOURCE") == "IE").then(pl.lit("judgment only")))
        .alias("Re-checked from the data"))
    if by_site is None or by_site.is_empty() or by_site["SITE"].n_unique() > MAX_SITE_COLUMNS:
        return table
    site = (by_site.with_columns(cell(pl.col("N_SUBJECTS"), pl.col("DENOMINATOR")).alias("_CELL"))
            .pivot(on="SITE", index="IETESTCD", values="_CELL", aggregate_function="first"))
    sites = [c for c in site.columns if c != "IETESTCD"]
    return (table.join(site.rename({"IETESTCD": "Code"}), on="Code", how="left", maintain_order="left")
            .with_columns([pl.col(s).fill_null("0") for s in sites])
            .select("Group", "Code", "Criterion", "Screen failures, n (%)", *sites, "Re-checked from the data"))


def summarize_co_failures(screening: pl.DataFrame, failures: pl.DataFrame, *, max_sets: int = 20,
                          min_size: int = 2) -> pl.DataFrame:
    """Which criteria fail together: one row per set of criteria failed by the same screen failures.

    UpSet-style intersections: each screen failure with an IE record belongs to exactly one
    set (the criteria it failed, in catalog order). Sets of at least ``min_size`` criteria
    (co-failures) are kept, sorted by subjects (most first), then size, then label; the
    first ``max_sets`` are kept. On every row ``OTHER_SETS``/``OTHER_SUBJECTS`` say how many
    further sets and subjects were left out, and ``SINGLE_SUBJECTS`` how many screen
    failures failed fewer than ``min_size`` criteria.

    Returns:
        ``SET_ID`` (1 = largest), ``CRITERIA`` (list), ``LABEL`` ("INCL10 + INCL13H"),
        ``SIZE``, ``N``, ``USUBJIDS`` (list), ``OTHER_SETS``, ``OTHER_SUBJECTS``, ``SINGLE_SUBJECTS``.

    Example:
        >>> scr = pl.DataFrame({"USUBJID": ["1", "2", "3"], "OUTCOME": ["SCREEN FAILURE"] * 3})
        >>> fail = pl.DataFrame({"USUBJID": ["1", "1", "2", "3"], "IETESTCD": ["A", "B", "A", "B"],
        ...                      "CATORDER": [0, 1, 0, 1]})
        >>> summarize_co_failures(scr, fail).select("LABEL", "N", "SINGLE_SUBJECTS").rows()
        [('A + B', 1, 2)]
    """
    schema = {"SET_ID": pl.Int64, "CRITERIA": pl.List(pl.String), "LABEL": pl.String, "SIZE": pl.Int64, "N": pl.Int64,
              "USUBJIDS": pl.List(pl.String), "OTHER_SETS": pl.Int64, "OTHER_SUBJECTS": pl.Int64,
              "SINGLE_SUBJECTS": pl.Int64}
    sf = screening.filter(pl.col("OUTCOME") == "SCREEN FAILURE").select("USUBJID")
    per = (failures.join(sf, on="USUBJID", how="semi").sort("USUBJID", "CATORDER", "IETESTCD")
           .group_by("USUBJID", maintain_order=True).agg(pl.col("IETESTCD").alias("CRITERIA")))
    if per.is_empty():
        return pl.DataFrame(schema=schema)
    single = int((per["CRITERIA"].list.len() < min_size).sum())
    sets = (per.filter(pl.col("CRITERIA").list.len() >= min_size)
            .with_columns(pl.col("CRITERIA").list.join(" + ").alias("LABEL"))
            .group_by("LABEL").agg(pl.col("CRITERIA").first(), pl.len().cast(pl.Int64).alias("N"),
                                   pl.col("USUBJID").sort().alias("USUBJIDS"))
            .with_columns(pl.col("CRITERIA").list.len().cast(pl.Int64).alias("SIZE"))
            .sort(["N", "SIZE", "LABEL"], descending=[True, False, False])
            .with_row_index("SET_ID", offset=1).with_columns(pl.col("SET_ID").cast(pl.Int64)))
    kept, rest = sets.head(max_sets), sets.slice(max_sets)
    return kept.with_columns(pl.lit(rest.height, pl.Int64).alias("OTHER_SETS"),
                             pl.lit(int(rest["N"].sum()) if rest.height else 0, pl.Int64).alias("OTHER_SUBJECTS"),
                             pl.lit(single, pl.Int64).alias("SINGLE_SUBJECTS")).select(list(schema)).cast(schema)


# --------------------------------------------------------------------------------------------
# the eligibility re-check against IE
# --------------------------------------------------------------------------------------------
RANDOMIZED_FAILS = "RANDOMIZED, DATA FAIL THE CRITERION"
NOT_SUPPORTED = "SCREEN FAILURE, DATA MEET THE RECORDED CRITERION"
DISCREPANCY_SCHEMA = {"DIRECTION": pl.String, "USUBJID": pl.String, "SITEID": pl.String, "SITE": pl.String,
                      "IETESTCD": pl.String, "IETEST": pl.String, "RULE": pl.String, "VALUES": pl.String,
                      "IE_RECORD": pl.String}


def summarize_eligibility_discrepancies(recheck: pl.DataFrame, screening: pl.DataFrame, failures: pl.DataFrame,
                                        values: pl.DataFrame, protocol) -> pl.DataFrame:
    """The re-check against the IE records, both ways (see the module notes of :mod:`trialkit.derive.eligibility`).

    - ``RANDOMIZED, DATA FAIL THE CRITERION``: a randomized subject whose screening data fail
      a checkable criterion (an eligibility deviation); ``IE_RECORD`` "Y" when IE records it
      (a documented waiver), else "N".
    - ``SCREEN FAILURE, DATA MEET THE RECORDED CRITERION``: a screen failure whose IE record
      names a checkable criterion that the data meet.

    A criterion that cannot be told (an input missing) is no discrepancy; it is counted by
    :func:`summarize_recheck_coverage`.

    Args:
        recheck: :func:`trialkit.derive.eligibility.derive_eligibility_recheck` (wide).
        screening: :func:`derive_screening_subjects`.
        failures: :func:`summarize_failures`.
        values: :func:`trialkit.derive.eligibility.derive_screening_values` (for the VALUES text).
        protocol: the study's protocol.

    Returns:
        ``DIRECTION, USUBJID, SITEID, SITE, IETESTCD, IETEST, RULE, VALUES, IE_RECORD``.
    """
    codes = [c for c in recheck.columns if c != "USUBJID"]
    if not codes:
        return pl.DataFrame(schema=DISCREPANCY_SCHEMA)
    catalog = summarize_catalog(protocol).select("IETESTCD", "IETEST", "RULE", "CATORDER")
    recorded = failures.select("USUBJID", "IETESTCD", pl.lit("Y").alias("IE_RECORD"))
    who = screening.select("USUBJID", "SITEID", "SITE", "OUTCOME")
    # randomized subjects with a failing value: few rows, unpivoted only then
    failing = (recheck.filter(pl.any_horizontal([pl.col(c).not_() for c in codes]).fill_null(False))
               .join(who.filter(pl.col("OUTCOME") == "RANDOMIZED"), on="USUBJID", how="inner"))
    fails = (failing.unpivot(on=codes, index=["USUBJID", "SITEID", "SITE"], variable_name="IETESTCD",
                             value_name="ELIGIBLE")
             .filter(pl.col("ELIGIBLE").not_().fill_null(False))
             .join(recorded, on=["USUBJID", "IETESTCD"], how="left")
             .with_columns(pl.lit(RANDOMIZED_FAILS).alias("DIRECTION"), pl.col("IE_RECORD").fill_null("N")))
    # screen failures' recorded checkable criteria, each looked up in its subject's row
    recorded_sf = (recorded.filter(pl.col("IETESTCD").is_in(codes))
                   .join(who.filter(pl.col("OUTCOME") == "SCREEN FAILURE"), on="USUBJID", how="inner")
                   .join(recheck, on="USUBJID", how="left"))
    unsupported = (recorded_sf.with_columns(
        pl.coalesce([pl.when(pl.col("IETESTCD") == c).then(pl.col(c)) for c in codes]).alias("ELIGIBLE"))
        .filter(pl.col("ELIGIBLE").fill_null(False))
        .with_columns(pl.lit(NOT_SUPPORTED).alias("DIRECTION")))
    found = pl.concat([fails.select("DIRECTION", "USUBJID", "SITEID", "SITE", "IETESTCD", "IE_RECORD"),
                       unsupported.select("DIRECTION", "USUBJID", "SITEID", "SITE", "IETESTCD", "IE_RECORD")])
    texts = summarize_recheck_values(values, found, protocol)
    return (found.join(catalog, on="IETESTCD", how="left").join(texts, on=["USUBJID", "IETESTCD"], how="left")
            .sort("DIRECTION", "USUBJID", "CATORDER").select(list(DISCREPANCY_SCHEMA)).cast(DISCREPANCY_SCHEMA))


def describe_recheck(discrepancies: pl.DataFrame, coverage: pl.DataFrame) -> str:
    """The re-check in one sentence: how many criteria, and what it found both ways.

    Example:
        >>> cov = pl.DataFrame({"IETESTCD": ["INCL13B"], "N_CHECKED": [10], "N_NOT_EVALUABLE": [1]})
        >>> describe_recheck(pl.DataFrame({"DIRECTION": [RANDOMIZED_FAILS]}), cov)
        '1 machine-checkable criterion re-checked. Eligibility deviations (a randomized subject whose data fail a criterion): 1. Screen failures whose recorded criterion the data meet: 0. Not evaluable (a value missing): 1 subject-criterion pair.'
    """
    if coverage.is_empty():
        return ("No criterion of the protocol carries a machine check (or there is no eligibility catalog): "
                "nothing was re-checked.")
    d = discrepancies["DIRECTION"]
    fails, unsupported = int((d == RANDOMIZED_FAILS).sum()), int((d == NOT_SUPPORTED).sum())
    missing = int(coverage["N_NOT_EVALUABLE"].sum())
    n = coverage.height
    return (f"{n} machine-checkable criteri{'on' if n == 1 else 'a'} re-checked. Eligibility deviations (a randomized "
            f"subject whose data fail a criterion): {format_count(fails)}. Screen failures whose recorded criterion the "
            f"data meet: {format_count(unsupported)}. Not evaluable (a value missing): {format_count(missing)} "
            f"subject-criterion pair{'' if missing == 1 else 's'}.")


def summarize_recheck_table(coverage: pl.DataFrame) -> pl.DataFrame:
    """The re-checked criteria as a report prints them (readable headings; the CSV keeps the codes)."""
    return coverage.select(pl.col("IETESTCD").alias("Criterion"), pl.col("RULE").alias("Eligible when"),
                           pl.col("N_CHECKED").alias("Subjects re-checked"),
                           pl.col("N_NOT_EVALUABLE").alias("Not evaluable (a value missing)"),
                           pl.col("N_FAIL_RANDOMIZED").alias("Randomized, data fail it"),
                           pl.col("N_FAIL_SCREEN_FAILURES").alias("Screen failures, data fail it"))


def summarize_discrepancy_listing(discrepancies: pl.DataFrame) -> pl.DataFrame:
    """The discrepancies as a listing prints them (readable headings; the CSV keeps the codes)."""
    return discrepancies.select(
        (pl.col("DIRECTION").str.slice(0, 1) + pl.col("DIRECTION").str.slice(1).str.to_lowercase()).alias("Discrepancy"),
        pl.col("USUBJID").alias("Subject"), pl.col("SITE").alias("Site"), pl.col("IETESTCD").alias("Criterion"),
        pl.col("RULE").alias("Eligible when"), pl.col("VALUES").alias("Screening values"),
        pl.col("IE_RECORD").alias("In IE"), pl.col("IETEST").alias("Criterion text"))


def summarize_recheck_coverage(recheck: pl.DataFrame, screening: pl.DataFrame, protocol) -> pl.DataFrame:
    """Per checkable criterion: its rule, subjects re-checked, not evaluable, failing (randomized / screen failures).

    Subjects still in screening at the cutoff are not counted: their screening has no outcome yet.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> re = pl.DataFrame({"USUBJID": ["1", "2"], "INCL13B": [False, None]})
        >>> scr = pl.DataFrame({"USUBJID": ["1", "2"], "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE"]})
        >>> summarize_recheck_coverage(re, scr, load_protocol("NCT07334483")).filter(
        ...     pl.col("IETESTCD") == "INCL13B").row(0)[2:]
        (1, 1, 1, 0)
    """
    catalog = summarize_catalog(protocol).filter(pl.col("RULE").is_not_null()).select("IETESTCD", "RULE", "CATORDER")
    codes = [c for c in catalog["IETESTCD"].to_list() if c in recheck.columns]
    schema = {"IETESTCD": pl.String, "N_CHECKED": pl.Int64, "N_NOT_EVALUABLE": pl.Int64, "N_FAIL_RANDOMIZED": pl.Int64,
              "N_FAIL_SCREEN_FAILURES": pl.Int64}
    rows = []
    if codes:
        # subjects still in screening at the cutoff have no screening outcome to compare yet
        ended = screening.filter(pl.col("OUTCOME") != "IN SCREENING AT CUTOFF").select("USUBJID", "OUTCOME")
        joined = recheck.join(ended, on="USUBJID", how="inner")
        randomized, failed = pl.col("OUTCOME") == "RANDOMIZED", pl.col("OUTCOME") == "SCREEN FAILURE"
        sums = joined.select(*[expr for c in codes for expr in (
            pl.col(c).is_not_null().sum().alias(f"{c}|0"), pl.col(c).is_null().sum().alias(f"{c}|1"),
            (pl.col(c).not_() & randomized).sum().alias(f"{c}|2"), (pl.col(c).not_() & failed).sum().alias(f"{c}|3"))]
                             ).row(0, named=True)
        rows = [(c, *[int(sums[f"{c}|{i}"] or 0) for i in range(4)]) for c in codes]
    stats = pl.DataFrame(rows, schema=schema, orient="row")
    return (catalog.join(stats, on="IETESTCD", how="left").sort("CATORDER")
            .with_columns(pl.col(c).fill_null(0) for c in list(schema)[1:])
            .select("IETESTCD", "RULE", *list(schema)[1:]))


def summarize_screen_failure_listing(screening: pl.DataFrame, failures: pl.DataFrame, values: pl.DataFrame,
                                     protocol) -> pl.DataFrame:
    """Every screen failure (and subject not assigned): site, dates, criteria failed and their values.

    ``Values`` holds, for each failed criterion that a machine can check, the screening
    values it reads (``INCL13B: PLAT 60 10^9/L``).
    """
    out = screening.filter(pl.col("OUTCOME").is_in(["SCREEN FAILURE", "NOT ASSIGNED"]))
    pairs = failures.join(out.select("USUBJID"), on="USUBJID", how="semi").select("USUBJID", "IETESTCD", "CATORDER")
    texts = summarize_recheck_values(values, pairs, protocol) if values.width > 1 else pl.DataFrame(
        schema={"USUBJID": pl.String, "IETESTCD": pl.String, "VALUES": pl.String})
    per = (pairs.join(texts, on=["USUBJID", "IETESTCD"], how="left").sort("USUBJID", "CATORDER")
           .group_by("USUBJID", maintain_order=True)
           .agg(pl.format("{}: {}", pl.col("IETESTCD"), pl.col("VALUES")).drop_nulls().str.join("; ").alias("VALUES")))
    return (out.join(per, on="USUBJID", how="left").sort("SITEID", "USUBJID").select(
        pl.col("USUBJID").alias("Subject"), pl.col("SITE").alias("Site"), pl.col("OUTCOME").alias("Outcome"),
        pl.col("SCRSTDT").alias("Screening start"), pl.col("SCRENDDT").alias("Screening end"),
        pl.col("SCREENING_DAYS").alias("Days"), pl.col("FAILED_CRITERIA").list.join(", ").alias("Criteria failed"),
        pl.col("VALUES").fill_null("").alias("Screening values of the checkable criteria"),
        pl.col("DS_REASON").alias("DS reason"), pl.col("ATTEMPT").alias("Attempt")))


# --------------------------------------------------------------------------------------------
# recruitment
# --------------------------------------------------------------------------------------------
OUTLOOK_SCHEMA = {"REFERENCE_DATE": pl.Date, "TARGET": pl.Int64, "RANDOMIZED": pl.Int64, "REMAINING": pl.Int64,
                  "WINDOW_START": pl.Date, "WINDOW_DAYS": pl.Int64, "N_WINDOW": pl.Int64,
                  "RATE_PER_MONTH": pl.Float64, "RATE_LOWER": pl.Float64, "RATE_UPPER": pl.Float64,
                  "REACHED": pl.Boolean, "TARGET_DATE": pl.Date, "TARGET_DATE_EARLIEST": pl.Date,
                  "TARGET_DATE_LATEST": pl.Date, "METHOD": pl.String}


def compute_poisson_rate_ci(n: int, exposure_days: float, *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson rate per day: n events in ``exposure_days``.

    Example:
        >>> lo, hi = compute_poisson_rate_ci(10, 100)
        >>> round(lo, 4), round(hi, 4)
        (0.048, 0.1839)
    """
    from scipy.stats import chi2

    alpha = 1 - confidence
    lower = chi2.ppf(alpha / 2, 2 * n) / 2 if n > 0 else 0.0
    upper = chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2
    return float(lower) / exposure_days, float(upper) / exposure_days


def _add_days(day: dt.date, days: float) -> dt.date | None:
    if days is None or not math.isfinite(days):
        return None
    try:
        return day + dt.timedelta(days=math.ceil(days))
    except OverflowError:
        return None


def summarize_recruitment(screening: pl.DataFrame, *, target: int | None, reference_date: dt.date | None,
                          window_days: int = RATE_WINDOW_DAYS) -> pl.DataFrame:
    """Randomized against the target, the current pace and when the target is reached: one row.

    The pace is the number of subjects randomized in the ``window_days`` up to the
    reference date (the data cutoff), as a Poisson rate with its exact 95% interval
    (Garwood); the target date is the reference date + remaining ÷ rate, its range from the
    upper and the lower bound of the rate (no latest date when the lower bound is 0). Once
    the target is reached, ``TARGET_DATE`` is the date of the target-th randomization.

    Example:
        >>> import datetime as dt
        >>> scr = pl.DataFrame({"OUTCOME": ["RANDOMIZED"] * 3, "COUNTED": ["Y"] * 3,
        ...                     "RANDDT": [dt.date(2026, 1, 10), dt.date(2026, 2, 10), dt.date(2026, 3, 10)]})
        >>> out = summarize_recruitment(scr, target=4, reference_date=dt.date(2026, 3, 31), window_days=91)
        >>> out.select("RANDOMIZED", "REMAINING", "N_WINDOW", "TARGET_DATE").row(0)
        (3, 1, 3, datetime.date(2026, 5, 1))
    """
    randomized = (screening.filter((pl.col("OUTCOME") == "RANDOMIZED") & (pl.col("COUNTED") == "Y"))
                  .select(pl.col("RANDDT").drop_nulls().sort())["RANDDT"])
    if reference_date is None:
        candidates = [d for d in (randomized.max(), screening["SCRSTDT"].max() if "SCRSTDT" in screening.columns
                                  else None) if d is not None]
        reference_date = max(candidates) if candidates else None
    count = randomized.len()
    row: dict[str, Any] = {k: None for k in OUTLOOK_SCHEMA}
    row.update(REFERENCE_DATE=reference_date, TARGET=target, RANDOMIZED=count, WINDOW_DAYS=window_days)
    if reference_date is None:
        row["METHOD"] = "No randomization date in the data: no pace can be computed."
        return pl.DataFrame([row], schema=OUTLOOK_SCHEMA)
    start = reference_date - dt.timedelta(days=window_days - 1)
    n_window = int(((randomized >= start) & (randomized <= reference_date)).sum())
    rate = n_window / window_days
    lower, upper = compute_poisson_rate_ci(n_window, window_days)
    row.update(WINDOW_START=start, N_WINDOW=n_window, RATE_PER_MONTH=rate * DAYS_PER_MONTH,
               RATE_LOWER=lower * DAYS_PER_MONTH, RATE_UPPER=upper * DAYS_PER_MONTH)
    method = (f"Pace: subjects randomized in the {window_days} days from {start} to {reference_date} "
              f"({n_window}), a Poisson rate with its exact 95% interval (Garwood)")
    if target is None:
        row["METHOD"] = method + "; the protocol sets no recruitment target, so no date is projected."
        return pl.DataFrame([row], schema=OUTLOOK_SCHEMA)
    remaining = max(target - count, 0)
    row["REMAINING"] = remaining
    if remaining == 0:
        reached_on = randomized[target - 1] if target > 0 else None
        row.update(REACHED=True, TARGET_DATE=reached_on, TARGET_DATE_EARLIEST=reached_on, TARGET_DATE_LATEST=reached_on)
        row["METHOD"] = method + f"; the target of {target} was reached on {format_date(reached_on)}."
        return pl.DataFrame([row], schema=OUTLOOK_SCHEMA)
    row.update(REACHED=False,
               TARGET_DATE=_add_days(reference_date, remaining / rate) if rate > 0 else None,
               TARGET_DATE_EARLIEST=_add_days(reference_date, remaining / upper) if upper > 0 else None,
               TARGET_DATE_LATEST=_add_days(reference_date, remaining / lower) if lower > 0 else None)
    row["METHOD"] = (method + f"; projected date = {reference_date} + the {remaining} remaining ÷ that rate, "
                     "its range from the interval's upper and lower rates.")
    return pl.DataFrame([row], schema=OUTLOOK_SCHEMA)


def summarize_recruitment_by_site(screening: pl.DataFrame, outlook: pl.DataFrame) -> pl.DataFrame:
    """Per site: randomized, randomized in the pace window, the monthly rate and its 95% interval.

    Example:
        >>> import datetime as dt
        >>> scr = pl.DataFrame({"SITEID": ["01"], "SITE": ["01"], "OUTCOME": ["RANDOMIZED"], "COUNTED": ["Y"],
        ...                     "RANDDT": [dt.date(2026, 3, 1)]})
        >>> out = summarize_recruitment(scr, target=10, reference_date=dt.date(2026, 3, 31))
        >>> summarize_recruitment_by_site(scr, out).select("SITE", "RANDOMIZED", "N_WINDOW").row(0)
        ('01', 1, 1)
    """
    schema = {"SITEID": pl.String, "SITE": pl.String, "RANDOMIZED": pl.Int64, "N_WINDOW": pl.Int64,
              "RATE_PER_MONTH": pl.Float64, "RATE_LOWER": pl.Float64, "RATE_UPPER": pl.Float64}
    start, end, days = outlook.select("WINDOW_START", "REFERENCE_DATE", "WINDOW_DAYS").row(0)
    persons = screening.filter(pl.col("COUNTED") == "Y")
    in_window = pl.col("RANDDT").is_between(start, end) if start is not None else pl.lit(False)
    sites = (persons.group_by("SITEID", "SITE").agg(
        (pl.col("OUTCOME") == "RANDOMIZED").sum().cast(pl.Int64).alias("RANDOMIZED"),
        ((pl.col("OUTCOME") == "RANDOMIZED") & in_window).sum().cast(pl.Int64).alias("N_WINDOW")).sort("SITEID"))
    rows = []
    for site_id, site, n_rand, n_window in sites.iter_rows():
        lower, upper = compute_poisson_rate_ci(n_window, days) if days else (None, None)
        rows.append((site_id, site, n_rand, n_window, n_window / days * DAYS_PER_MONTH if days else None,
                     lower * DAYS_PER_MONTH if lower is not None else None,
                     upper * DAYS_PER_MONTH if upper is not None else None))
    return pl.DataFrame(rows, schema=schema, orient="row")


def summarize_recruitment_table(by_site: pl.DataFrame, outlook: pl.DataFrame) -> pl.DataFrame:
    """The pace per site and for all sites as a report prints it."""
    total = outlook.select(pl.lit(ALL).alias("SITEID"), pl.lit(ALL_SITES).alias("SITE"), "RANDOMIZED", "N_WINDOW",
                           "RATE_PER_MONTH", "RATE_LOWER", "RATE_UPPER")
    days = outlook["WINDOW_DAYS"][0]
    both = pl.concat([by_site, total.cast(by_site.schema)])
    return both.select(
        pl.col("SITE").alias("Site"), compute_count_text(pl.col("RANDOMIZED")).alias("Randomized"),
        compute_count_text(pl.col("N_WINDOW")).alias(f"Randomized in the last {days} days"),
        pl.format("{} ({}–{})", compute_fixed_text(pl.col("RATE_PER_MONTH")), compute_fixed_text(pl.col("RATE_LOWER")),
                  compute_fixed_text(pl.col("RATE_UPPER"))).alias("Per month (95% CI)"))


def describe_recruitment(outlook: pl.DataFrame) -> list[str]:
    """The outlook in words: where recruitment stands, the pace, the target date; then the method.

    Example:
        >>> import datetime as dt
        >>> scr = pl.DataFrame({"OUTCOME": ["RANDOMIZED"] * 2, "COUNTED": ["Y"] * 2,
        ...                     "RANDDT": [dt.date(2026, 2, 10), dt.date(2026, 3, 10)]})
        >>> describe_recruitment(summarize_recruitment(scr, target=2, reference_date=dt.date(2026, 3, 31)))[0]
        'The target of 2 randomized subjects was reached on 2026-03-10 (2 randomized by 2026-03-31).'
    """
    row = outlook.row(0, named=True)
    if row["REFERENCE_DATE"] is None:
        return [row["METHOD"]]
    pace = (f"the pace of the last {row['WINDOW_DAYS']} days, {row['RATE_PER_MONTH']:.1f} per month "
            f"(95% CI {row['RATE_LOWER']:.1f}–{row['RATE_UPPER']:.1f})")
    if row["TARGET"] is None:
        head = f"{format_count(row['RANDOMIZED'])} randomized by {row['REFERENCE_DATE']}, at {pace}."
    elif row["REACHED"]:
        head = (f"The target of {format_count(row['TARGET'])} randomized subjects was reached on "
                f"{format_date(row['TARGET_DATE'])} ({format_count(row['RANDOMIZED'])} randomized by "
                f"{row['REFERENCE_DATE']}).")
    else:
        latest = (format_date(row["TARGET_DATE_LATEST"]) if row["TARGET_DATE_LATEST"]
                  else "an unknown date: the lower bound of the pace is 0")
        when = (f"about {format_date(row['TARGET_DATE'])} (between {format_date(row['TARGET_DATE_EARLIEST'])} and "
                f"{latest})" if row["TARGET_DATE"] else "not at all: nobody was randomized lately")
        head = (f"{format_count(row['RANDOMIZED'])} of the {format_count(row['TARGET'])} subjects to randomize by "
                f"{row['REFERENCE_DATE']}; {format_count(row['REMAINING'])} to go. At {pace}, the target is reached "
                f"{when}.")
    return [head, "Method: " + row["METHOD"]]


def summarize_cumulative_randomized(screening: pl.DataFrame, outlook: pl.DataFrame) -> pl.DataFrame:
    """Cumulative randomized by date (observed), and the projection to the target.

    Returns:
        ``DATE, CUMULATIVE, KIND`` ("observed" | "projected" | "earliest" | "latest"),
        ``USUBJID`` (the subject randomized that day, observed rows only; one row per
        subject, so a chart can highlight a selection).
    """
    schema = {"DATE": pl.Date, "CUMULATIVE": pl.Int64, "KIND": pl.String, "USUBJID": pl.String}
    observed = (screening.filter((pl.col("OUTCOME") == "RANDOMIZED") & (pl.col("COUNTED") == "Y")
                                 & pl.col("RANDDT").is_not_null())
                .sort("RANDDT", "USUBJID")
                .select(pl.col("RANDDT").alias("DATE"), pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("CUMULATIVE"),
                        pl.lit("observed").alias("KIND"), "USUBJID"))
    ref, target, count, reached, central, early, late = outlook.select(
        "REFERENCE_DATE", "TARGET", "RANDOMIZED", "REACHED", "TARGET_DATE", "TARGET_DATE_EARLIEST",
        "TARGET_DATE_LATEST").row(0)
    rows = []
    if target is not None and reached is False and ref is not None:
        for kind, day in (("projected", central), ("earliest", early), ("latest", late)):
            if day is not None:
                rows += [(ref, count, kind, None), (day, target, kind, None)]
    projected = pl.DataFrame(rows, schema=schema, orient="row")
    return pl.concat([observed.cast(schema), projected])


# --------------------------------------------------------------------------------------------
# what cannot be shown
# --------------------------------------------------------------------------------------------
def describe_screening_limits(frames: Mapping[str, pl.DataFrame], protocol, *, source: str = "DM",
                              has_screening: bool = True, values: pl.DataFrame | None = None,
                              unit_notes: pl.DataFrame | None = None) -> list[str]:
    """What this study's data and protocol do not let the screening report show, one sentence each.

    Example:
        >>> from trialkit.protocol import generic_protocol
        >>> notes = describe_screening_limits({"dm": pl.DataFrame({"USUBJID": ["1"]})}, generic_protocol("X"))
        >>> any("no IE dataset" in n for n in notes)
        True
    """
    notes = []
    if source == "ADSL":
        notes.append("This folder holds ADaM only (ADSL, no DM): subjects, arms and dates come from ADSL.")
        if not has_screening:
            notes.append("ADSL lists only randomized subjects: nobody screened can be counted, so the funnel, "
                         "the screen failures, the criteria and the enrollment part of the CONSORT flow are not "
                         "shown. Add DM (and IE, DS) to show them.")
    if "ie" not in frames:
        notes.append("There is no IE dataset: the reasons of screen failure (the criteria each subject failed) are "
                     "not available, so failures by criterion, co-failures, the criteria box of the CONSORT flow "
                     "and the comparison of the re-check with IE cannot be shown; screen failures are counted by "
                     "their DS reason where DS gives one.")
    if not protocol.eligibility:
        notes.append("The protocol has no eligibility catalog (a generic protocol, or a file without one): criteria "
                     "cannot be listed with their zeros nor grouped, and the eligibility re-check is skipped.")
    elif not checkable_criteria(protocol):
        notes.append("No criterion of the protocol's catalog carries a machine check: the re-check is skipped.")
    else:
        inputs = summarize_check_inputs(protocol)
        absent = sorted({s.lower() for s in inputs["SOURCE"].to_list() if s != "DM"} - set(frames))
        if absent:
            notes.append(f"Screening findings missing ({', '.join(a.upper() for a in absent)}): the criteria read "
                         "from them cannot be re-checked (shown as not evaluable).")
        if values is not None and values.height:
            empty = [c for c in inputs["TESTCD"].to_list() if c in values.columns and values[c].null_count() == values.height]
            if empty:
                notes.append(f"Inputs of the re-check not collected for anyone: {', '.join(empty)}; the criteria "
                             "that need them are not evaluable.")
        if unit_notes is not None and unit_notes.height:
            notes.append("Some screening records carry a unit other than the one the protocol's rule uses and were "
                         "not re-checked: " + "; ".join(
                             f"{d} {t}: {n} record(s) in {f} (rule in {e})" for d, t, e, f, n in unit_notes.iter_rows()))
    if "ds" not in frames and source != "ADSL":
        notes.append("There is no DS dataset: reasons for not being randomized other than IE, consent dates from DS "
                     "and the discontinuations of the CONSORT flow are not available.")
    if not any(k in frames for k in ("ex", "pr")) and source != "ADSL":
        notes.append("There is no EX or PR dataset: who received the allocated intervention is taken from the "
                     "first-dose date of the subject data, if any.")
    if protocol.planned_randomized is None:
        notes.append("The protocol sets no recruitment target (study.planned_randomized): the pace is shown "
                     "without a projected date.")
    if protocol.screening_window_days is None:
        notes.append("The protocol sets no screening window (screening.window_days): durations are shown without "
                     "a limit.")
    return notes


# --------------------------------------------------------------------------------------------
# everything at once
# --------------------------------------------------------------------------------------------
@dataclass
class ScreeningAnalysis:
    """Every table of the screening report (:func:`create_screening`); see each function for its columns."""

    subjects: pl.DataFrame
    failures: pl.DataFrame
    by_criterion: pl.DataFrame
    by_criterion_site: pl.DataFrame
    co_failures: pl.DataFrame
    funnel: pl.DataFrame
    by_month: pl.DataFrame
    consort: pl.DataFrame
    consort_checks: pl.DataFrame
    values: pl.DataFrame
    recheck: pl.DataFrame
    discrepancies: pl.DataFrame
    recheck_coverage: pl.DataFrame
    outlook: pl.DataFrame
    recruitment_by_site: pl.DataFrame
    cumulative: pl.DataFrame
    possible_rescreens: pl.DataFrame
    unit_notes: pl.DataFrame
    window_days: int | None = None
    has_screening: bool = True
    notes: list[str] = field(default_factory=list)


def create_screening(subjects: pl.DataFrame, frames: Mapping[str, pl.DataFrame], protocol, *,
                     data_cutoff: dt.date | str | None = None, source: str = "DM", has_screening: bool = True,
                     include_zero: bool = True) -> ScreeningAnalysis:
    """Every screening table of a study, from its subjects and (cut, filtered) datasets.

    Args:
        subjects: the data layer's subjects who count (``ReportStudy.subjects``).
        frames: the datasets (``ReportStudy.frames``): dm or adsl; ie, ds, lb, vs, qs, fa, ex,
            pr, suppdm, relsub when present.
        protocol: the study's protocol.
        data_cutoff: the reference date of the recruitment pace (default: the last date).
        source: "DM" or "ADSL" (``ReportStudy.source``).
        has_screening: False when ADSL lists only randomized subjects.
        include_zero: keep the criteria nobody failed in ``by_criterion``.

    Example:
        >>> from trialkit.study import open_study
        >>> data = open_study("screening")                                       # doctest: +SKIP
        >>> scr = create_screening(data.subjects, data.frames, data.protocol)    # doctest: +SKIP
    """
    window = protocol.screening_window_days
    # the screening values (the widest step: every findings record) are read on a second thread
    # while the rest is derived; polars releases the GIL, so the two overlap on two cores
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(derive_screening_values, subjects, frames, protocol)
        analysis = _create_screening(subjects, frames, protocol, reading, window=window, data_cutoff=data_cutoff,
                                     source=source, has_screening=has_screening, include_zero=include_zero)
    return analysis


def _create_screening(subjects, frames, protocol, reading, *, window, data_cutoff, source, has_screening,
                      include_zero) -> ScreeningAnalysis:
    failed = derive_failed_criteria(frames.get("ie"), protocol)
    links = derive_rescreen_links(subjects, suppdm=frames.get("suppdm"), relsub=frames.get("relsub"))
    events = filter_disposition_events(frames.get("ds"))
    screening = derive_screening_subjects(subjects, disposition=frames.get("ds"), failed=failed, links=links,
                                          window_days=window, events=events)
    failures = summarize_failures(screening, failed)
    by_criterion = summarize_by_criterion(screening, failures, protocol, include_zero=include_zero)
    by_site = summarize_by_criterion(screening, failures, protocol, include_zero=include_zero, by="SITEID",
                                     with_subjects=True)
    by_site = by_site.join(screening.select("SITEID", "SITE").unique("SITEID"), on="SITEID", how="left")
    co_failures = summarize_co_failures(screening, failures)
    consort = derive_consort(screening, failures, protocol, exposure=frames.get("ex"), procedures=frames.get("pr"),
                             disposition=frames.get("ds"), adsl=frames.get("adsl") if source == "ADSL" else None,
                             events=events if "ds" in frames else None)
    outlook = summarize_recruitment(screening, target=protocol.planned_randomized, reference_date=as_date(data_cutoff))
    funnel, by_month = summarize_funnel(screening), summarize_screening_by_month(screening)
    possible = summarize_possible_rescreens(subjects, screening)
    values, unit_notes = reading.result()
    recheck = derive_eligibility_recheck(values, protocol)
    discrepancies = summarize_eligibility_discrepancies(recheck, screening, failures, values, protocol)
    coverage = summarize_recheck_coverage(recheck, screening, protocol)
    notes = describe_screening_limits(frames, protocol, source=source, has_screening=has_screening, values=values,
                                      unit_notes=unit_notes)
    return ScreeningAnalysis(
        subjects=screening, failures=failures, by_criterion=by_criterion, by_criterion_site=by_site,
        co_failures=co_failures, funnel=funnel, by_month=by_month,
        consort=consort, consort_checks=check_consort(consort), values=values, recheck=recheck,
        discrepancies=discrepancies, recheck_coverage=coverage, outlook=outlook,
        recruitment_by_site=summarize_recruitment_by_site(screening, outlook),
        cumulative=summarize_cumulative_randomized(screening, outlook),
        possible_rescreens=possible, unit_notes=unit_notes,
        window_days=window, has_screening=has_screening, notes=notes)


def summarize_screening_counts(analysis: ScreeningAnalysis) -> str:
    """One sentence: screened, screen failures, randomized, rescreened (for the report's lead)."""
    f = analysis.funnel.filter(pl.col("SITEID") == ALL)
    n = dict(zip(f["STAGE"].to_list(), f["N"].to_list(), strict=True))
    text = (f"{format_count(n.get('SCREENED'))} subjects screened, {format_count(n.get('SCREEN FAILURE'))} screen "
            f"failures, {format_count(n.get('NOT ASSIGNED'))} not assigned, {format_count(n.get('RANDOMIZED'))} "
            "randomized")
    if n.get("IN SCREENING AT CUTOFF"):
        text += f", {format_count(n['IN SCREENING AT CUTOFF'])} in screening at the cutoff"
    if n.get("RESCREENED"):
        text += f"; {format_count(n['RESCREENED'])} screened more than once (each counted once)"
    return text + "."
