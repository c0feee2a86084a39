"""Who the subjects are: status, randomization date, first dose, treated (DESIGN sections 2 and 5).

One row per subject (DM, or ADSL when a folder holds ADaM only) in, the same rows with new
columns out. The arm conventions of both SDTMIG versions are decided here, once:

- a screen failure is ARMCD/ACTARMCD ``SCRNFAIL`` in any case (SDTMIG <= 3.2) or a blank arm
  with ARMNRS ``SCREEN FAILURE`` (SDTMIG >= 3.3);
- the randomization date comes from ADSL.RANDDT, else the DS milestone ``RANDOMIZED``, and
  the source is recorded; first dose is never used as randomization;
- a subject is treated when any study-treatment record (EX dose, PR procedure) exists.

Example:
    >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "01", "02"],
    ...                    "ARMCD": ["A", "SCRNFAIL", None]})
    >>> derive_subject_status(dm)["STATUS"].to_list()
    ['RANDOMIZED', 'SCREEN FAILURE', 'OTHER']
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from trialkit.io.dates import compute_date, compute_date_imputation_flag, compute_date_of
from trialkit.io.terms import NON_ARM_CODES, col_or_null, compute_term, compute_term_of

#: STATUS values (DESIGN section 5, screening_subjects.csv), in this order.
STATUSES = ["RANDOMIZED", "SCREEN FAILURE", "OTHER"]
_NOT_RANDOMIZED = ["SCREEN FAILURE", "NOT ASSIGNED", "IN SCREENING AT CUTOFF"]


def derive_randomization_date(subjects: pl.DataFrame, *, disposition: pl.DataFrame | None = None,
                              adsl: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``RANDDT`` and ``RANDDT_SOURCE`` (which source gave it) to one row per subject.

    ADSL.RANDDT first (``adsl``, or ``subjects`` itself when it has a ``RANDDT`` column),
    else the earliest DS milestone with DSDECOD "RANDOMIZED" (any case), dated by DSSTDTC
    (DSDTC when DSSTDTC is empty). A partial DS date is not imputed: such a subject gets no
    randomization date rather than a guessed one. First dose is never used: a subject with
    neither source has RANDDT null and RANDDT_SOURCE null.

    Args:
        subjects: one row per subject with ``USUBJID`` (DM or ADSL).
        disposition: the DS dataset, if any.
        adsl: ADSL, if any (with ``RANDDT`` as a date or ISO text).

    Returns:
        ``subjects`` with ``RANDDT`` (Date) and ``RANDDT_SOURCE`` ("ADSL.RANDDT" |
        "DS RANDOMIZED") replacing any earlier such columns.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["S1", "S2"]})
        >>> ds = pl.DataFrame({"USUBJID": ["S1"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": ["2025-09-03"]})
        >>> derive_randomization_date(dm, disposition=ds)["RANDDT_SOURCE"].to_list()
        ['DS RANDOMIZED', None]
    """
    base = subjects.drop([c for c in ("RANDDT", "RANDDT_SOURCE") if c in subjects.columns])
    if adsl is None and "RANDDT" in subjects.columns:
        adsl = subjects
    parts = []
    if adsl is not None and "RANDDT" in adsl.columns:
        randdt = pl.col("RANDDT")
        dtype = adsl.schema["RANDDT"]
        if isinstance(dtype, pl.Datetime):
            randdt = randdt.dt.date()  # a datetime cast to text ("2025-09-01 00:00:00") is no ISO date
        elif dtype != pl.Date:
            randdt = compute_date(randdt.cast(pl.String))
        parts.append(adsl.select("USUBJID", randdt.alias("_ADSL_RANDDT"))
                     .filter(pl.col("_ADSL_RANDDT").is_not_null())
                     .group_by("USUBJID").agg(pl.col("_ADSL_RANDDT").min()))
    if disposition is not None and {"USUBJID", "DSDECOD"} <= set(disposition.columns):
        when = pl.coalesce(col_or_null(disposition, "DSSTDTC"), col_or_null(disposition, "DSDTC"))
        parts.append(disposition
                     .filter(compute_term(pl.col("DSDECOD")) == "RANDOMIZED")
                     .select("USUBJID", compute_date(when).alias("_DS_RANDDT"))
                     .filter(pl.col("_DS_RANDDT").is_not_null())
                     .group_by("USUBJID").agg(pl.col("_DS_RANDDT").min()))
    result = base
    for part in parts:
        result = result.join(part, on="USUBJID", how="left")
    adsl_dt = pl.col("_ADSL_RANDDT") if "_ADSL_RANDDT" in result.columns else pl.lit(None, pl.Date)
    ds_dt = pl.col("_DS_RANDDT") if "_DS_RANDDT" in result.columns else pl.lit(None, pl.Date)
    return result.with_columns(
        pl.coalesce(adsl_dt, ds_dt).cast(pl.Date).alias("RANDDT"),
        pl.when(adsl_dt.is_not_null()).then(pl.lit("ADSL.RANDDT"))
        .when(ds_dt.is_not_null()).then(pl.lit("DS RANDOMIZED"))
        .otherwise(None).cast(pl.String).alias("RANDDT_SOURCE"),
    ).drop([c for c in ("_ADSL_RANDDT", "_DS_RANDDT") if c in result.columns])


def compute_arm_status(armcd: pl.Expr, actarmcd: pl.Expr, armnrs: pl.Expr) -> pl.Expr:
    """Why a subject has no (or an unusual) arm, in ARMNRS terms, else ``"ASSIGNED"``.

    SDTMIG <= 3.2 codes (``SCRNFAIL``, ``NOTASSGN``, ``NOTTRT``, ``UNPLAN`` in ARMCD or
    ACTARMCD, any case) and SDTMIG >= 3.3 ARMNRS text (``"SCREEN FAILURE"``, ``"NOT
    ASSIGNED"``, ...) give the same answer; a blank ARMCD without ARMNRS is
    ``"NOT ASSIGNED"``.
    """
    code = compute_term(armcd)
    actual = compute_term(actarmcd)
    reason = compute_term(armnrs)
    expr = pl.when(code == "SCRNFAIL").then(pl.lit("SCREEN FAILURE"))
    expr = expr.when(reason == "SCREEN FAILURE").then(pl.lit("SCREEN FAILURE"))
    expr = expr.when(actual == "SCRNFAIL").then(pl.lit("SCREEN FAILURE"))
    for key, label in NON_ARM_CODES.items():
        if key != "SCRNFAIL":
            expr = expr.when(code == key).then(pl.lit(label))
    expr = expr.when(code.is_null() & reason.is_not_null()).then(reason)
    expr = expr.when(code.is_null()).then(pl.lit("NOT ASSIGNED"))
    # assigned to an arm, but the actual arm says otherwise (SDTMIG <= 3.2 codes in ACTARMCD,
    # >= 3.3 a reason in ARMNRS next to a filled ARMCD)
    for key in ("NOTTRT", "UNPLAN"):
        expr = expr.when(actual == key).then(pl.lit(NON_ARM_CODES[key]))
    expr = expr.when(reason.is_not_null()).then(reason)
    return expr.otherwise(pl.lit("ASSIGNED"))


def derive_screen_failure(subjects: pl.DataFrame) -> pl.DataFrame:
    """Add ``SCRNFAIL`` ("Y"/"N") and ``ARMSTAT`` to DM (or ADSL).

    A screen failure is ARMCD or ACTARMCD ``SCRNFAIL`` in any case (SDTMIG <= 3.2, e.g.
    pharmaverse's ``Scrnfail``) or blank arms with ARMNRS ``"SCREEN FAILURE"`` (SDTMIG
    >= 3.3). ``NOTASSGN`` / ARMNRS ``"NOT ASSIGNED"`` (consented, never assigned, e.g. the
    study closed) is *not* a screen failure and not randomized: ``SCRNFAIL`` "N",
    ``ARMSTAT`` "NOT ASSIGNED". ``ARMSTAT`` is one of ASSIGNED, SCREEN FAILURE, NOT
    ASSIGNED, ASSIGNED, NOT TREATED, UNPLANNED TREATMENT (or another ARMNRS text as given);
    subjects with SCREEN FAILURE or NOT ASSIGNED were not randomized, the others were.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "ARMCD": ["A", "Scrnfail", None, "NOTASSGN"],
        ...                    "ARMNRS": [None, None, "SCREEN FAILURE", None]})
        >>> derive_screen_failure(dm)["SCRNFAIL"].to_list()
        ['N', 'Y', 'Y', 'N']
    """
    status = compute_arm_status(col_or_null(subjects, "ARMCD"), col_or_null(subjects, "ACTARMCD"),
                                col_or_null(subjects, "ARMNRS"))
    return subjects.with_columns(status.alias("ARMSTAT")).with_columns(
        pl.when(pl.col("ARMSTAT") == "SCREEN FAILURE").then(pl.lit("Y")).otherwise(pl.lit("N"))
        .alias("SCRNFAIL"))


def derive_subject_status(subjects: pl.DataFrame, *, site_labels: Mapping[str, str] | None = None,
                          arm_labels: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Add ``STATUS`` (RANDOMIZED | SCREEN FAILURE | OTHER, DESIGN section 5), ``SITE`` and ``ARM_LABEL``.

    The arm conventions are decided by :func:`derive_screen_failure` (both SDTMIG
    conventions): a screen failure is SCREEN FAILURE; a subject never assigned an arm
    (NOTASSGN, or a blank arm without reason, e.g. withdrawn during screening) is OTHER;
    every other subject was randomized, including those assigned but never treated.
    ``SITEID`` is cast to text so site codes such as "01" keep their zeros; ``SITE`` is the
    label reports show: ``site_labels[SITEID]`` (the protocol's "01 Beijing ..."), or the
    SITEID itself; ``ARM_LABEL`` likewise from ``arm_labels`` (null for non-randomized).

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2", "3"], "SITEID": ["01", "02", "02"],
        ...                    "ARMCD": ["A", None, "Scrnfail"]})
        >>> derive_subject_status(dm, arm_labels={"A": "A: SIRT"})["ARM_LABEL"].to_list()
        ['A: SIRT', None, None]
    """
    with_status = derive_screen_failure(subjects)
    status = (pl.when(pl.col("SCRNFAIL") == "Y").then(pl.lit("SCREEN FAILURE"))
              .when(pl.col("ARMSTAT").is_in(_NOT_RANDOMIZED).not_()).then(pl.lit("RANDOMIZED"))
              .otherwise(pl.lit("OTHER")))
    site = col_or_null(subjects, "SITEID").alias("SITEID")
    arm = col_or_null(subjects, "ARMCD")
    return with_status.with_columns(
        site,
        site.replace_strict(dict(site_labels or {}), default=site, return_dtype=pl.String).alias("SITE"),
        status.cast(pl.Enum(STATUSES)).alias("STATUS"),
    ).with_columns(
        pl.when(pl.col("STATUS") == "RANDOMIZED")
        .then(arm.replace_strict(dict(arm_labels or {}), default=arm, return_dtype=pl.String))
        .alias("ARM_LABEL"))


def compute_is_dose(exposure: pl.DataFrame) -> pl.Expr:
    """True for an EX record of a dose given: not EXOCCUR "N", and a dose above 0 or of a placebo.

    SDTMIG records a missed dose with EXOCCUR "N", never as dose 0, so a dose of 0 is not a
    dose; a placebo is, whatever its dose (CDISC pilot: PLACEBO 0 mg).

    Example:
        >>> ex = pl.DataFrame({"EXTRT": ["DRUG", "DRUG", "PLACEBO"], "EXDOSE": [200.0, 0.0, 0.0]})
        >>> ex.select(compute_is_dose(ex).alias("DOSE"))["DOSE"].to_list()
        [True, False, True]
    """
    placebo = compute_term_of(exposure, "EXTRT").str.contains("PLACEBO").fill_null(False)
    dosed = (pl.col("EXDOSE").fill_null(1) > 0) | placebo if "EXDOSE" in exposure.columns else pl.lit(True)
    occurred = (compute_term_of(exposure, "EXOCCUR") != "N").fill_null(True)
    return dosed & occurred


def derive_first_dose(subjects: pl.DataFrame, *, exposure: pl.DataFrame | None = None,
                      procedures: pl.DataFrame | None = None, treatment_procedures: tuple[str, ...] = ()
                      ) -> pl.DataFrame:
    """Add ``TRTSDT`` (first study treatment) and ``TREATED`` ("Y"/"N").

    The first dose is the earliest complete start date of an EX record (``EXSTDTC``; a dose
    of 0 is not a dose, as SDTMIG records a missed dose with EXOCCUR/ECOCCUR, never as 0,
    except a placebo's: :func:`compute_is_dose`) or
    of a PR record whose ``PRTRT`` is one of ``treatment_procedures`` (the protocol's
    treatments given as procedures, e.g. SIRT and cTACE, but not a planning procedure such
    as the MAA mapping). ADSL's ``TRTSDT`` is used when ``subjects`` has it and no record
    gives a date. Partial dates are not imputed: the first dose is a fact, not an estimate.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2"]})
        >>> ex = pl.DataFrame({"USUBJID": ["1", "1"], "EXSTDTC": ["2025-09-05", "2025-09-26"], "EXDOSE": [200.0, 200.0]})
        >>> derive_first_dose(dm, exposure=ex).select("TRTSDT", "TREATED").rows()
        [(datetime.date(2025, 9, 5), 'Y'), (None, 'N')]
    """
    parts = []
    if exposure is not None and {"USUBJID", "EXSTDTC"} <= set(exposure.columns):
        parts.append(exposure.filter(compute_is_dose(exposure))
                     .select("USUBJID", compute_date(pl.col("EXSTDTC")).alias("_FIRST")))
    if procedures is not None and treatment_procedures and {"USUBJID", "PRTRT", "PRSTDTC"} <= set(procedures.columns):
        parts.append(procedures.filter(compute_term(pl.col("PRTRT")).is_in([t.upper() for t in treatment_procedures]))
                     .select("USUBJID", compute_date(pl.col("PRSTDTC")).alias("_FIRST")))
    base = subjects.drop([c for c in ("TREATED",) if c in subjects.columns])
    adsl_first = pl.col("TRTSDT") if "TRTSDT" in base.columns and base.schema["TRTSDT"] == pl.Date \
        else pl.lit(None, pl.Date)
    if parts:
        first = (pl.concat(parts).filter(pl.col("_FIRST").is_not_null())
                 .group_by("USUBJID").agg(pl.col("_FIRST").min()))
        base = base.join(first, on="USUBJID", how="left")
        trtsdt = pl.coalesce(pl.col("_FIRST"), adsl_first)
    else:
        trtsdt = adsl_first
    return (base.with_columns(trtsdt.cast(pl.Date).alias("TRTSDT"))
            .with_columns(pl.when(pl.col("TRTSDT").is_not_null()).then(pl.lit("Y")).otherwise(pl.lit("N"))
                          .alias("TREATED"))
            .drop([c for c in ("_FIRST",) if c in base.columns]))


#: DS terms that are milestones, never disposition events.
_MILESTONES = ("INFORMED CONSENT OBTAINED", "RANDOMIZED")
DISPOSITION_SCHEMA = {"USUBJID": pl.String, "DSDECOD": pl.String, "DSTERM": pl.String, "EPOCH": pl.String,
                      "DSDT": pl.Date, "DSDTF": pl.String}


def filter_disposition_events(disposition: pl.DataFrame | None) -> pl.DataFrame:
    """The DS disposition events (not the milestones), terms compared as terms, dates parsed.

    A disposition event is a record with DSCAT "DISPOSITION EVENT"; without DSCAT, any
    record but the milestones INFORMED CONSENT OBTAINED and RANDOMIZED. Its date is DSSTDTC
    (DSDTC when empty), a partial one imputed to the first day of its period and flagged in
    ``DSDTF`` (admiral's convention for a start).

    Returns:
        ``USUBJID, DSDECOD, DSTERM, EPOCH, DSDT, DSDTF`` (DSDECOD and EPOCH upper case).

    Example:
        >>> ds = pl.DataFrame({"USUBJID": ["1", "1"], "DSCAT": ["PROTOCOL MILESTONE", "DISPOSITION EVENT"],
        ...                    "DSDECOD": ["RANDOMIZED", "Adverse Event"], "DSSTDTC": ["2025-09-01", "2025-11"]})
        >>> filter_disposition_events(ds).select("DSDECOD", "DSDT", "DSDTF").rows()
        [('ADVERSE EVENT', datetime.date(2025, 11, 1), 'D')]
    """
    if disposition is None or not {"USUBJID", "DSDECOD"} <= set(disposition.columns):
        return pl.DataFrame(schema=DISPOSITION_SCHEMA)
    event = (compute_term_of(disposition, "DSCAT") == "DISPOSITION EVENT") if "DSCAT" in disposition.columns \
        else compute_term_of(disposition, "DSDECOD").is_in(_MILESTONES).not_()
    events = disposition.filter(event.fill_null(False))
    when = pl.coalesce(col_or_null(events, "DSSTDTC"), col_or_null(events, "DSDTC"))
    # the imputation flag once per distinct date text, as compute_date_of does for the date
    texts = events.select(when.unique().drop_nulls().alias("_DTC")).to_series()
    flags = texts.to_frame().select(compute_date_imputation_flag(pl.col("_DTC"))).to_series()
    return events.select(
        pl.col("USUBJID").cast(pl.String), compute_term_of(events, "DSDECOD").alias("DSDECOD"),
        col_or_null(events, "DSTERM").alias("DSTERM"), compute_term_of(events, "EPOCH").alias("EPOCH"),
        compute_date_of(events, ("DSSTDTC", "DSDTC"), impute="start").alias("DSDT"),
        when.replace_strict(texts, flags, default=None, return_dtype=pl.String).alias("DSDTF")).cast(DISPOSITION_SCHEMA)


def derive_screening_end(subjects: pl.DataFrame, *, disposition: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``SCRENDDT``, the end of screening, and ``SCRENDDTF``, its imputation flag.

    A randomized subject's screening ends at randomization (``RANDDT``, so run
    :func:`derive_randomization_date` first). Any other subject's ends at the earliest DS
    disposition event (:func:`filter_disposition_events`), else ADSL's screen-failure date
    ``SCRFDT``, else DM's end of participation ``RFPENDTC``; null when none is given. A
    partial date is imputed to the first day of its period (the data cutoff keeps such a
    record for the same reason) and flagged in ``SCRENDDTF`` ("D", "M"), so that a duration
    is never computed from it.

    Example:
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [None, None]}, schema_overrides={"RANDDT": pl.Date})
        >>> ds = pl.DataFrame({"USUBJID": ["1", "2"], "DSCAT": ["DISPOSITION EVENT"] * 2,
        ...                    "DSDECOD": ["SCREEN FAILURE", "WITHDRAWAL BY SUBJECT"], "DSSTDTC": ["2025-09-20", "2025-10"]})
        >>> derive_screening_end(dm, disposition=ds).select("SCRENDDT", "SCRENDDTF").rows()
        [(datetime.date(2025, 9, 20), None), (datetime.date(2025, 10, 1), 'D')]
    """
    base = subjects.drop([c for c in ("SCRENDDT", "SCRENDDTF") if c in subjects.columns])
    randomized = ((pl.col("STATUS").cast(pl.String) == "RANDOMIZED") if "STATUS" in base.columns
                  else col_or_null(base, "RANDDT", pl.Date).is_not_null())
    first = (filter_disposition_events(disposition).filter(pl.col("DSDT").is_not_null())
             .sort("USUBJID", "DSDT").unique("USUBJID", keep="first")
             .select("USUBJID", pl.col("DSDT").alias("_END"), pl.col("DSDTF").alias("_ENDF")))
    result = base.join(first, on="USUBJID", how="left", maintain_order="left")
    ds_end, ds_flag = pl.col("_END"), pl.col("_ENDF")
    adsl_end = pl.col("SCRFDT").cast(pl.Date, strict=False) if "SCRFDT" in base.columns else pl.lit(None, pl.Date)
    if "RFPENDTC" in base.columns:
        dm_end = compute_date(pl.col("RFPENDTC").cast(pl.String), impute="start")
        dm_flag = compute_date_imputation_flag(pl.col("RFPENDTC").cast(pl.String))
    else:
        dm_end, dm_flag = pl.lit(None, pl.Date), pl.lit(None, pl.String)
    randdt = pl.col("RANDDT") if "RANDDT" in base.columns else pl.lit(None, pl.Date)
    return result.with_columns(
        pl.when(randomized).then(randdt).otherwise(pl.coalesce(ds_end, adsl_end, dm_end)).cast(pl.Date)
        .alias("SCRENDDT"),
        pl.when(randomized).then(None)
        .when(ds_end.is_not_null()).then(ds_flag)
        .when(adsl_end.is_not_null()).then(None)
        .otherwise(dm_flag).cast(pl.String).alias("SCRENDDTF"),
    ).drop("_END", "_ENDF")


def derive_subjects(frames: Mapping[str, pl.DataFrame], protocol) -> pl.DataFrame:
    """One row per subject, from DM (or ADSL when the folder holds ADaM only), with everything reports share.

    Columns added to the subject-level dataset's own: ``SOURCE`` ("DM" | "ADSL"), ``ARMSTAT``,
    ``SCRNFAIL``, ``STATUS``, ``SITE`` and ``ARM_LABEL`` (the protocol's labels),
    ``RANDDT`` and ``RANDDT_SOURCE``, ``TRTSDT`` and ``TREATED``, ``SCRENDDT`` and
    ``SCRENDDTF`` (end of screening, :func:`derive_screening_end`), ``RFICDT`` (consent, a
    complete date) and ``DTHDT``. From ADSL without ``ARMCD``, the arm code is ``ARM`` or
    ``TRT01P``.

    Args:
        frames: dataset -> frame (``dm`` or ``adsl`` required; ``ds``, ``ex``, ``pr`` used).
        protocol: the study's :class:`trialkit.protocol.Protocol` (labels; which
            procedures are treatments).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> dm = pl.DataFrame({"USUBJID": ["1", "2"], "SITEID": ["01", "01"], "ARMCD": ["A", "SCRNFAIL"]})
        >>> ds = pl.DataFrame({"USUBJID": ["1"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": ["2025-09-03"]})
        >>> derive_subjects({"dm": dm, "ds": ds}, load_protocol("NCT07334483")).select("STATUS", "RANDDT").rows()
        [('RANDOMIZED', datetime.date(2025, 9, 3)), ('SCREEN FAILURE', None)]
    """
    source = "dm" if frames.get("dm") is not None else "adsl"
    subjects = frames.get(source)
    if subjects is None:
        # a folder of tumour datasets alone (TU/TR/RS): nobody is known to be screened or
        # randomized; the study layer says so and keeps the records (see open_study)
        subjects = pl.DataFrame(schema={"USUBJID": pl.String, "SITEID": pl.String, "ARMCD": pl.String})
        source = "none"
    adsl = frames.get("adsl")
    if "ARMCD" not in subjects.columns:
        code = next((c for c in ("ARM", "TRT01P") if c in subjects.columns), None)
        subjects = subjects.with_columns((pl.col(code) if code else pl.lit(None, pl.String)).alias("ARMCD"))
    subjects = derive_subject_status(subjects, site_labels=protocol.site_labels, arm_labels=protocol.arm_labels)
    subjects = derive_randomization_date(subjects, disposition=frames.get("ds"),
                                         adsl=adsl if adsl is not None and "RANDDT" in adsl.columns else None)
    procedures = tuple(str(t.get("name") or key) for key, t in protocol.treatments.items()
                       if str(t.get("domain", "")).upper() == "PR" and not t.get("planning"))
    subjects = derive_first_dose(subjects, exposure=frames.get("ex"), procedures=frames.get("pr"),
                                 treatment_procedures=procedures)
    subjects = derive_screening_end(subjects, disposition=frames.get("ds"))
    dates = [compute_date(col_or_null(subjects, "RFICDTC")).alias("RFICDT")]
    if "DTHDT" not in subjects.columns:
        dates.append(compute_date(col_or_null(subjects, "DTHDTC")).alias("DTHDT"))
    return subjects.with_columns(*dates, pl.lit(source.upper()).alias("SOURCE"))
