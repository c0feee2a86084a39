"""The checks at the edge: what each report needs, types, and the checks that matter.

Each report declares the datasets it needs (with alternatives: ``dm|adsl``; groups:
``tu+tr+rs|adtr+adrs``), the datasets it uses when present, and the columns it needs in
each (:data:`REPORT_NEEDS`, from DESIGN.md section 2). :func:`conform_frames` casts the
numeric and date columns every format must agree on; :func:`check_frames` returns
:class:`~trialkit.io.findings.Finding` s:

errors (a report cannot be trusted; ``read_study`` raises, ``trialkit validate`` exits 1)
    missing dataset, missing column, wrong type (text in ``AGE``/``--STRESN``; numbers
    where text is expected are fine and become text), dates that are not ISO 8601 or not
    real (``2025-02-30``, ``31/12/2025``, ``2025-13``, a time ``T25:99``; partial dates are
    fine), duplicate USUBJID in DM/ADSL, records of subjects absent from DM (orphans), arm
    codes the protocol does not define (screen-failure and not-assigned conventions
    excepted), negative lesion diameters, and files that cannot be read.
warnings (shown in every report, never stop a run)
    odd controlled terms (an overall response "CHECK"), criteria or assessor values the
    protocol does not name, sites or a STUDYID the protocol does not know, blank arms
    without ARMNRS, optional datasets with no rows, DS RANDOMIZED milestones without a
    complete date, a lesion measured 0 mm at baseline, dates before the subject's birth or
    after today (the data cannot have been extracted before they happened), files in the
    folder that are not read.

The protocol (:class:`trialkit.protocol.Protocol`) gives the arm codes, sites, study ids and
the assessor and criteria names; a generic protocol (no file) takes them from the data.

Example:
    >>> from trialkit.io import validate_study, format_findings
    >>> print(format_findings(validate_study("data/", report="swimmer")))   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from trialkit.errors import DataError
from trialkit.io.dates import compute_date, compute_dtc_is_valid
from trialkit.io.findings import MAX_ROWS_SHOWN, Finding, describe_dataset, example_rows, join_limited, rows_text
from trialkit.io.terms import (
    LESION_ROLES,
    NON_ARM_CODES,
    RESPONSE_TERMS,
    RESPONSE_TESTS,
    compute_normalized_name,
    compute_term,
)
from trialkit.protocol import Protocol


@dataclass(frozen=True)
class ReportNeeds:
    """What one report reads.

    Attributes:
        needs: required datasets; each entry is alternatives separated by ``|``, each
            alternative datasets joined by ``+`` (``"tu+tr+rs|adtr+adrs"``).
        uses: datasets read when present (``"*"``: every dataset found).
        columns: dataset -> columns the report needs in it when the dataset is read; a
            ``A|B`` entry is satisfied by either column.
    """

    needs: tuple[str, ...]
    uses: tuple[str, ...] = ()
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# Columns a report needs in each dataset it reads (DESIGN.md sections 2 and 7).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "dm": ("USUBJID", "SITEID", "ARMCD"),
    "adsl": ("USUBJID", "ARMCD|ARM|TRT01P"),
    "ds": ("USUBJID", "DSDECOD", "DSSTDTC|DSDTC"),
    "ie": ("USUBJID", "IECAT", "IETESTCD"),
    "lb": ("USUBJID", "LBTESTCD", "LBSTRESN"),
    "vs": ("USUBJID", "VSTESTCD", "VSSTRESN"),
    "qs": ("USUBJID", "QSTESTCD"),
    "fa": ("USUBJID", "FATESTCD"),
    "ex": ("USUBJID", "EXTRT", "EXSTDTC"),
    "adex": ("USUBJID", "PARAMCD"),
    "pr": ("USUBJID", "PRTRT", "PRSTDTC"),
    "rs": ("USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC"),
    "adrs": ("USUBJID", "PARAMCD", "AVALC", "ADT"),
    "tu": ("USUBJID", "TULNKID", "TUSTRESC"),
    "tr": ("USUBJID", "TRLNKID", "TRTESTCD", "TRSTRESN", "TRDTC"),
    "adtr": ("USUBJID", "PARAMCD", "AVAL", "ADT"),
    "adtte": ("USUBJID", "PARAMCD", "AVAL", "CNSR"),
    "ae": ("USUBJID", "AESTDTC"),
    "cm": ("USUBJID", "CMTRT", "CMSTDTC"),
}


def _columns(*datasets: str) -> dict[str, tuple[str, ...]]:
    return {d: _COLUMNS[d] for d in datasets}


#: Per report: required datasets (with alternatives), datasets used when present, columns.
REPORT_NEEDS: dict[str, ReportNeeds] = {
    "study_overview": ReportNeeds(needs=("dm|adsl",), uses=("*",), columns=_columns("dm", "ds", "adsl")),
    # IE gives the reasons of screen failures; without it (pharmaverse) or without DM (an
    # ADaM folder) the screening report says what it cannot show instead of stopping.
    # SUPPDM/RELSUB may link the two subject numbers of a rescreened person.
    "screening": ReportNeeds(needs=("dm|adsl",), uses=("ie", "ds", "lb", "vs", "qs", "fa", "ex", "pr", "suppdm", "relsub"),
                             columns=_columns("dm", "adsl", "ie", "ds", "lb", "vs", "qs", "fa", "ex", "pr")),
    "swimmer": ReportNeeds(needs=("dm|adsl", "ex|adex"), uses=("pr", "ds", "rs", "adrs", "ae", "cm"),
                           columns=_columns("dm", "adsl", "ex", "adex", "pr", "ds", "rs", "adrs", "ae", "cm")),
    "waterfall": ReportNeeds(needs=("tu+tr+rs|adtr+adrs",), uses=("dm", "adsl", "ds", "cm"),
                             columns=_columns("tu", "tr", "rs", "adtr", "adrs", "dm", "adsl", "ds", "cm")),
    "efficacy": ReportNeeds(needs=("rs|adrs", "dm|adsl"), uses=("adtte", "ds", "cm", "tu", "tr"),
                            columns=_columns("rs", "adrs", "dm", "adsl", "adtte", "ds", "cm", "tu", "tr")),
}

# Why a dataset or column matters, for the "what would fix it" line.
_DATASET_WHY = {
    "dm": "DM lists every screened subject with site and arm",
    "adsl": "ADSL lists every subject with arm and randomization date",
    "ie": "IE holds the eligibility criteria each screen failure did not meet",
    "ex": "EX holds the study drug doses",
    "adex": "ADEX holds the exposure records",
    "rs": "RS holds the tumour responses per assessment",
    "adrs": "ADRS holds the derived responses",
    "tu": "TU identifies the tumour lesions (TARGET / NON-TARGET / NEW)",
    "tr": "TR holds the lesion measurements",
    "adtr": "ADTR holds the derived lesion sums",
    "ae": "AE holds the adverse events (behind dose holds and stops)",
    "cm": "CM holds concomitant and subsequent anticancer therapy",
}
_COLUMN_WHY = {
    "USUBJID": "USUBJID links every record to its subject",
    "SITEID": "SITEID gives each subject's site (subjects per site, site filters)",
    "ARMCD": "ARMCD gives each subject's arm (SCRNFAIL, or blank with ARMNRS, for screen failures)",
    "DSDECOD": "DSDECOD holds the disposition term (RANDOMIZED, SCREEN FAILURE, ...)",
    "RSSTRESC": "RSSTRESC holds the response (CR, PR, SD, PD, NE)",
    "RSDTC": "RSDTC dates each assessment",
    "TRSTRESN": "TRSTRESN holds the lesion measurement in mm",
    "EXSTDTC": "EXSTDTC dates each dose",
}

# Columns that must be numbers whatever the file format (CSV reads everything as text);
# they are all cast to Float64 so parquet, CSV, XPT and sas7bdat give identical frames.
_NUMERIC_NAMES = {"AGE", "VISITNUM", "VISITDY", "AVISITN", "AVAL", "BASE", "CHG", "PCHG", "NADIR",
                  "CHGNAD", "PCHGNAD", "CNSR", "TRTDURD", "EXDURD"}
_NUMERIC_SUFFIXES = ("STRESN", "STNRLO", "STNRHI", "SEQ", "DOSE", "DY")
# Columns that must be text; numbers there (SITEID 1 in a parquet file) are turned into text.
_TEXT_NAMES = {"STUDYID", "USUBJID", "SUBJID", "SITEID", "ARMCD", "ACTARMCD", "ARM", "ACTARM", "ARMNRS"}
# ADaM date variables (RANDDT, TRTSDT, ADT, ...): Date, whatever the file format.
_ADAM_DATE = re.compile(r"^[A-Z][A-Z0-9]*DT$")

_ADRS_RESPONSE_PARAMS = ("OVR", "OVRB", "BOR", "CBOR", "LSTA")
# Lesion measurements (TR.TRTESTCD; ADTR PARAMCD prefixes) that are diameters in mm.
_DIAMETER_TESTS = ("LDIAM", "LPERP", "DIAMETER", "SUMDIAM")
_ADTR_DIAMETER_PARAMS = r"^(LDIAM|NLDIAM|SDIAM|SUMDIAM|SLD)"


# --------------------------------------------------------------------------------------------
# Which datasets a report reads
# --------------------------------------------------------------------------------------------
def _needs(report: str | None) -> ReportNeeds:
    if report is None:
        # every dataset, the overview's needs, every report's columns
        merged: dict[str, tuple[str, ...]] = {}
        for needs in REPORT_NEEDS.values():
            for ds, cols in needs.columns.items():
                merged[ds] = tuple(dict.fromkeys(merged.get(ds, ()) + cols))
        return ReportNeeds(needs=REPORT_NEEDS["study_overview"].needs, uses=("*",), columns=merged)
    key = report.strip().lower()
    if key not in REPORT_NEEDS:
        raise DataError(
            f"trialkit: there is no report '{report}' to validate for.\n"
            f"  Reports: {', '.join(REPORT_NEEDS)}; or leave --report out to check everything.")
    return REPORT_NEEDS[key]


def _alternatives(spec: str) -> list[list[str]]:
    return [alt.split("+") for alt in spec.split("|")]


def datasets_read_for(report: str | None, files: Mapping[str, Path]) -> set[str]:
    """The datasets of ``files`` that ``report`` reads (needs, uses, and DM/ADSL)."""
    needs = _needs(report)
    if "*" in needs.uses:
        return set(files)
    wanted = {"dm", "adsl"} | set(needs.uses)
    for spec in needs.needs:
        wanted |= {d for alt in _alternatives(spec) for d in alt}
    return wanted & set(files)


# --------------------------------------------------------------------------------------------
# Type conformance (casting by the spec) and per-dataset checks
# --------------------------------------------------------------------------------------------
def _is_numeric_column(column: str) -> bool:
    return column in _NUMERIC_NAMES or (column.endswith(_NUMERIC_SUFFIXES) and column not in _TEXT_NAMES
                                         and not column.endswith("DTC"))


def _conform(frame: pl.DataFrame, dataset: str, path: Path | None, required_text: Iterable[str]
             ) -> tuple[pl.DataFrame, list[Finding]]:
    """Cast the columns the spec types; report values that cannot be cast."""
    findings: list[Finding] = []
    numbered = frame.with_row_index("_ROW", offset=1)
    casts: list[pl.Expr] = []
    is_sas = path is not None and path.suffix.lower() in (".xpt", ".sas7bdat")
    for column, dtype in frame.schema.items():
        if column.endswith("DTC"):
            if dtype == pl.Date:
                casts.append(pl.col(column).dt.strftime("%Y-%m-%d"))
            elif isinstance(dtype, pl.Datetime):
                casts.append(pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%S"))
            elif dtype != pl.String and dtype != pl.Null:
                findings.append(_type_finding(dataset, path, column, dtype, "ISO 8601 text",
                                              "write --DTC columns as text (YYYY-MM-DD)", frame))
        elif _is_numeric_column(column):
            if dtype == pl.String:
                cast = pl.col(column).cast(pl.Float64, strict=False)
                findings += _uncastable(
                    numbered, cast, dataset, path, column, "must hold numbers but {n} value(s) are text",
                    "Correct the values in the source (leave a missing value empty; put explanations "
                    "such as 'not done' in the --STAT/--REASND columns).", "ColumnTypeError")
                casts.append(cast)
            elif dtype.is_numeric():
                if dtype != pl.Float64:
                    # one numeric type whatever the format: SAS and CSV know only one kind of
                    # number, so Int32 from parquet would otherwise differ from the same XPT
                    casts.append(pl.col(column).cast(pl.Float64))
            elif dtype != pl.Null:
                findings.append(_type_finding(dataset, path, column, dtype, "numbers",
                                              "export the column as numbers", frame))
        elif dataset.startswith("ad") and _ADAM_DATE.match(column):
            if dtype == pl.String:
                cast = compute_date(pl.col(column)).alias(column)
                findings += _uncastable(
                    numbered, cast, dataset, path, column,
                    "must hold complete dates but {n} value(s) are not ISO 8601 dates (YYYY-MM-DD)",
                    "ADaM --DT variables hold complete (imputed) dates; fix the values, or derive "
                    "them again.", "DateFormatError")
                casts.append(cast)
            elif dtype.is_numeric() and is_sas:
                # an unformatted SAS date: days since 1960-01-01
                casts.append((pl.lit(-3653) + pl.col(column).cast(pl.Int32)).cast(pl.Date).alias(column))
            elif isinstance(dtype, pl.Datetime):
                casts.append(pl.col(column).dt.date())
            elif dtype != pl.Date and dtype != pl.Null:
                findings.append(_type_finding(dataset, path, column, dtype, "dates",
                                              "export the column as a date (or YYYY-MM-DD text)", frame))
        elif column in _TEXT_NAMES or column in required_text:
            if dtype != pl.String and dtype != pl.Null and (dtype.is_numeric() or dtype == pl.Boolean):
                # numbers where text is expected are fine: 1001 is the subject "1001"
                casts.append(pl.col(column).cast(pl.String))
    if casts:
        frame = frame.with_columns(casts)
    return frame, findings


def _uncastable(numbered: pl.DataFrame, cast: pl.Expr, dataset: str, path: Path | None, column: str,
                problem: str, fix: str, kind: str) -> list[Finding]:
    """An error finding for the values of ``column`` that ``cast`` turns into null, if any."""
    bad = numbered.filter(pl.col(column).is_not_null() & cast.is_null())
    if not bad.height:
        return []
    rows = example_rows(bad, column)
    return [Finding(
        "error", dataset, column,
        f"trialkit: {describe_dataset(dataset, path)}, column '{column}' {problem.format(n=bad.height)}.\n"
        f"  Rows: {rows_text(rows, bad.height)}\n  {fix}", rows, str(path) if path else None, kind)]


def _type_finding(dataset: str, path: Path | None, column: str, dtype: Any, expected: str, fix: str,
                  frame: pl.DataFrame) -> Finding:
    return Finding(
        "error", dataset, column,
        f"trialkit: {describe_dataset(dataset, path)}, column '{column}' is of type {dtype}, expected "
        f"{expected}.\n  First values: {frame[column].head(3).to_list()}\n  {fix.capitalize()}.",
        (), str(path) if path else None, "ColumnTypeError")


def _check_columns(frame: pl.DataFrame, dataset: str, path: Path | None, columns: Iterable[str],
                   report: str | None) -> list[Finding]:
    findings = []
    for spec in columns:
        options = spec.split("|")
        if any(o in frame.columns for o in options):
            continue
        name = options[0]
        either = f"'{name}'" if len(options) == 1 else " or ".join(f"'{o}'" for o in options)
        why = _COLUMN_WHY.get(name, f"the {report} report needs it" if report else "a report needs it")
        findings.append(Finding(
            "error", dataset, name,
            f"trialkit: {describe_dataset(dataset, path)} has no column {either}.\n"
            f"  Columns present: {join_limited(frame.columns)}\n"
            f"  {why}; add it to the dataset (column names are case-insensitive).",
            (), str(path) if path else None, "MissingColumnError"))
    return findings


def _check_dates(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    findings = []
    dtc = [c for c, t in frame.schema.items() if c.endswith("DTC") and t == pl.String]
    if not dtc:
        return findings
    numbered = frame.with_row_index("_ROW", offset=1)
    for column in dtc:
        bad = numbered.filter(compute_dtc_is_valid(pl.col(column)).not_())
        if bad.height:
            rows = example_rows(bad, column)
            findings.append(Finding(
                "error", dataset, column,
                f"trialkit: {describe_dataset(dataset, path)}, column '{column}': {bad.height} value(s) are "
                f"not ISO 8601 dates or are impossible dates.\n"
                f"  Rows: {rows_text(rows, bad.height)}\n"
                f"  Write dates as YYYY-MM-DD (partial YYYY-MM or YYYY are fine; times as "
                f"YYYY-MM-DDThh:mm); correct these values in the source.",
                rows, str(path) if path else None, "DateFormatError"))
    return findings


def _check_subject_ids(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    if "USUBJID" not in frame.columns:
        return []
    blank = frame.with_row_index("_ROW", offset=1).filter(pl.col("USUBJID").is_null())
    if not blank.height:
        return []
    rows = tuple(f"row {i}" for i in blank["_ROW"].head(MAX_ROWS_SHOWN).to_list())
    return [Finding(
        "error", dataset, "USUBJID",
        f"trialkit: {describe_dataset(dataset, path)}, column 'USUBJID' is empty on {blank.height} record(s) "
        f"(rows counted from 1 after the header).\n  Rows: {rows_text(rows, blank.height)}\n"
        f"  A record without a subject cannot be placed; fill USUBJID or remove the records.",
        rows, str(path) if path else None, "DataError")]


def _check_duplicates(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    if "USUBJID" not in frame.columns:
        return []
    dup = (frame.filter(pl.col("USUBJID").is_not_null())
           .group_by("USUBJID").len().filter(pl.col("len") > 1).sort("USUBJID"))
    if not dup.height:
        return []
    rows = tuple(f"USUBJID {u}: {n} rows" for u, n in dup.head(MAX_ROWS_SHOWN).iter_rows())
    return [Finding(
        "error", dataset, "USUBJID",
        f"trialkit: {describe_dataset(dataset, path)} has {dup.height} subject(s) on more than one row; "
        f"{dataset.upper()} must have one row per subject.\n"
        f"  Rows: {rows_text(rows, dup.height)}\n"
        f"  Keep one row per USUBJID (a subject re-screened gets a new USUBJID; older records "
        f"belong in another dataset).", rows, str(path) if path else None, "DuplicateSubjectError")]


def _check_orphans(frames: Mapping[str, pl.DataFrame], files: Mapping[str, Path]) -> list[Finding]:
    findings = []
    refs = {name: frames[name] for name in ("dm", "adsl")
            if name in frames and "USUBJID" in frames[name].columns and frames[name].height}
    if not refs:
        return findings
    for dataset, frame in frames.items():
        if dataset in refs or "USUBJID" not in frame.columns:
            continue
        ref_name = ("adsl" if "adsl" in refs else "dm") if dataset.startswith("ad") else (
            "dm" if "dm" in refs else "adsl")
        ref = refs[ref_name]
        orphans = (frame.filter(pl.col("USUBJID").is_not_null())
                   .join(ref.select("USUBJID").unique(), on="USUBJID", how="anti"))
        if not orphans.height:
            continue
        subjects = orphans["USUBJID"].unique(maintain_order=True)
        rows = tuple(f"USUBJID {u}" for u in subjects.head(MAX_ROWS_SHOWN).to_list())
        findings.append(Finding(
            "error", dataset, "USUBJID",
            f"trialkit: {describe_dataset(dataset, files.get(dataset))} has {orphans.height} record(s) of "
            f"{subjects.len()} subject(s) that are not in {ref_name.upper()} "
            f"({files.get(ref_name)}).\n"
            f"  Subjects: {rows_text(rows, subjects.len())}\n"
            f"  Every record must belong to a subject of {ref_name.upper()}: add the subjects "
            f"to {ref_name.upper()}, correct the USUBJIDs (same study prefix, same separator), "
            f"or remove the records.", rows, str(files.get(dataset)) if files.get(dataset) else None,
            "OrphanRecordError"))
    return findings


def _check_arms(frame: pl.DataFrame, dataset: str, path: Path | None, protocol: Any) -> list[Finding]:
    findings = []
    known = {str(c).upper() for c in protocol.arm_codes} | set(NON_ARM_CODES)
    for column in ("ARMCD", "ACTARMCD"):
        if column not in frame.columns:
            continue
        counts = (frame.filter(pl.col(column).is_not_null()
                               & ~pl.col(column).cast(pl.String).str.to_uppercase().is_in(list(known)))
                  .group_by(column).len().sort(column))
        if not counts.height:
            continue
        rows = tuple(f"{v!r}: {n} subject(s)" for v, n in counts.iter_rows())
        findings.append(Finding(
            "error", dataset, column,
            f"trialkit: {describe_dataset(dataset, path)}, column '{column}': {counts.height} arm code(s) are "
            f"not defined by the protocol ({protocol.source}).\n"
            f"  Unknown: {rows_text(rows[:MAX_ROWS_SHOWN], counts.height)}\n"
            f"  Arms defined: {', '.join(protocol.arm_codes)}; screen failures as SCRNFAIL (any "
            f"case) or a blank arm with ARMNRS, also NOTASSGN, NOTTRT, UNPLAN.\n"
            f"  Map the codes to the protocol's arms, or give this study's protocol file "
            f"(--protocol FILE).", rows[:MAX_ROWS_SHOWN], str(path) if path else None,
            "UnknownArmError"))
    if "ARMCD" in frame.columns and "USUBJID" in frame.columns:
        reason = pl.col("ARMNRS") if "ARMNRS" in frame.columns else pl.lit(None, pl.String)
        actual = pl.col("ACTARMCD") if "ACTARMCD" in frame.columns else pl.lit(None, pl.String)
        planned = compute_term(pl.col("ARMCD").cast(pl.String))
        says_failed = (compute_term(reason) == "SCREEN FAILURE") | (compute_term(actual.cast(pl.String)) == "SCRNFAIL")
        both = (frame.filter(planned.is_not_null() & ~planned.is_in(list(NON_ARM_CODES))
                             & says_failed.fill_null(False))
                .with_columns(pl.concat_str([pl.col("ARMCD").cast(pl.String), actual.cast(pl.String),
                                             reason], separator=" / ", ignore_nulls=True).alias("_ARMS")))
        if both.height:
            rows = example_rows(both, "_ARMS")
            findings.append(Finding(
                "warning", dataset, "ARMCD",
                f"trialkit: {describe_dataset(dataset, path)}: {both.height} subject(s) have an arm in "
                f"ARMCD but ACTARMCD SCRNFAIL or ARMNRS SCREEN FAILURE; they are counted as "
                f"screen failures (not randomized).\n"
                f"  Rows (ARMCD / ACTARMCD / ARMNRS): {rows_text(rows, both.height)}\n"
                f"  A screen failure has no arm (SDTMIG: ARMCD SCRNFAIL, or blank with ARMNRS); "
                f"correct ARMCD or the screen-failure mark.", rows, str(path) if path else None,
                "UnknownArmError"))
        blank = frame.filter(pl.col("ARMCD").is_null() & reason.is_null())
        if blank.height:
            rows = tuple(f"USUBJID {u}" for u in blank["USUBJID"].head(MAX_ROWS_SHOWN).to_list())
            findings.append(Finding(
                "warning", dataset, "ARMCD",
                f"trialkit: {describe_dataset(dataset, path)}: {blank.height} subject(s) have a blank ARMCD "
                f"and no ARMNRS saying why; they are counted as not assigned (not randomized).\n"
                f"  Subjects: {rows_text(rows, blank.height)}\n"
                f"  Set ARMNRS (SCREEN FAILURE, NOT ASSIGNED, ...) or ARMCD SCRNFAIL.",
                rows, str(path) if path else None, "UnknownArmError"))
    return findings


def _check_sites_and_study(frame: pl.DataFrame, dataset: str, path: Path | None, protocol: Any
                           ) -> list[Finding]:
    findings = []
    if "SITEID" in frame.columns:
        sites = set(protocol.site_ids)
        unknown = (frame.filter(pl.col("SITEID").is_not_null() & ~pl.col("SITEID").is_in(list(sites)))
                   .group_by("SITEID").len().sort("SITEID"))
        if unknown.height:
            rows = tuple(f"{v!r}: {n} subject(s)" for v, n in unknown.head(MAX_ROWS_SHOWN).iter_rows())
            findings.append(Finding(
                "warning", dataset, "SITEID",
                f"trialkit: {describe_dataset(dataset, path)}, column 'SITEID': {unknown.height} site(s) are "
                f"not among the protocol's sites ({', '.join(sorted(sites))}).\n"
                f"  Unknown: {rows_text(rows, unknown.height)}\n"
                f"  Site names and filters will show the raw SITEID; check the site numbering "
                f"(leading zeros) or the protocol file.", rows, str(path) if path else None,
                "DataError"))
    if "STUDYID" in frame.columns:
        studies = [s for s in frame["STUDYID"].drop_nulls().unique().sort().to_list()
                   if not protocol.matches(s)]
        if studies:
            findings.append(Finding(
                "warning", dataset, "STUDYID",
                f"trialkit: {describe_dataset(dataset, path)} is from study {join_limited(map(repr, studies), 5)}, "
                f"not the protocol's {protocol.study_id} ({protocol.source}).\n"
                f"  Arms, sites and rules come from the protocol file; pass this study's "
                f"protocol (--protocol FILE) if there is one.", tuple(map(str, studies[:5])),
                str(path) if path else None, "DataError"))
    return findings


def _value_warning(frame: pl.DataFrame, dataset: str, path: Path | None, column: str,
                   mask: pl.Expr, allowed: Iterable[str], what: str, fix: str) -> list[Finding]:
    bad = frame.filter(mask & pl.col(column).is_not_null())
    if not bad.height:
        return []
    counts = bad.group_by(column).len().sort("len", descending=True)
    values = ", ".join(f"{v!r} ({n})" for v, n in counts.head(MAX_ROWS_SHOWN).iter_rows())
    rows = example_rows(bad, column)
    return [Finding(
        "warning", dataset, column,
        f"trialkit: {describe_dataset(dataset, path)}, column '{column}': {bad.height} {what} outside "
        f"the expected terms: {values}.\n"
        f"  Rows: {rows_text(rows, bad.height)}\n"
        f"  Expected: {', '.join(allowed)}. {fix}", rows, str(path) if path else None, "DataError")]


def _check_terms(frame: pl.DataFrame, dataset: str, path: Path | None, protocol: Protocol) -> list[Finding]:
    findings: list[Finding] = []
    cols = set(frame.columns)
    resp_fix = ("These records are never counted as a response; correct them in the source "
                "(NE when the assessment could not be evaluated).")
    if dataset == "rs" and {"RSTESTCD", "RSSTRESC"} <= cols:
        findings += _value_warning(
            frame, dataset, path, "RSSTRESC",
            pl.col("RSTESTCD").is_in(RESPONSE_TESTS) & ~pl.col("RSSTRESC").str.to_uppercase()
            .is_in(RESPONSE_TERMS), RESPONSE_TERMS, "response value(s)", resp_fix)
    if dataset == "adrs" and {"PARAMCD", "AVALC"} <= cols:
        findings += _value_warning(
            frame, dataset, path, "AVALC",
            pl.col("PARAMCD").is_in(_ADRS_RESPONSE_PARAMS)
            & ~pl.col("AVALC").str.to_uppercase().is_in([*RESPONSE_TERMS, "MISSING"]),
            [*RESPONSE_TERMS, "MISSING"], "response value(s)", resp_fix)
    for cat in ("RSCAT", "TRCAT", "TUCAT"):
        if cat in cols and dataset in ("rs", "tr", "tu"):
            findings += _value_warning(
                frame, dataset, path, cat,
                ~compute_normalized_name(pl.col(cat)).is_in(list(protocol.vocabulary("criteria"))),
                protocol.spellings("criteria"), "criteria value(s)",
                "Records under other criteria are left out of the reports.")
    for ev in ("RSEVAL", "TREVAL", "TUEVAL"):
        if ev in cols and dataset in ("rs", "tr", "tu"):
            findings += _value_warning(
                frame, dataset, path, ev,
                ~compute_normalized_name(pl.col(ev)).is_in(list(protocol.vocabulary("assessor"))),
                list(protocol.assessors.values()), "assessor value(s)",
                "Records of other assessors are left out of the BICR and investigator views.")
    if dataset == "tu" and "TUSTRESC" in cols:
        mask = ~pl.col("TUSTRESC").str.to_uppercase().is_in(LESION_ROLES)
        if "TUTESTCD" in cols:
            mask = mask & (pl.col("TUTESTCD") == "TUMIDENT")
        findings += _value_warning(frame, dataset, path, "TUSTRESC", mask, LESION_ROLES,
                                   "lesion role(s)", "Such lesions are left out of the sums.")
    return findings


def _check_randomization_dates(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    """Warn about RANDOMIZED milestones without a complete date: they give no RANDDT."""
    if not {"USUBJID", "DSDECOD"} <= set(frame.columns):
        return []
    dtc = [pl.col(c) for c in ("DSSTDTC", "DSDTC") if c in frame.columns]
    when = pl.coalesce(dtc) if dtc else pl.lit(None, pl.String)
    bad = (frame.filter(compute_term(pl.col("DSDECOD")) == "RANDOMIZED")
           .with_columns(when.alias("_RANDDTC"))
           .filter(compute_date(pl.col("_RANDDTC")).is_null()
                   & compute_dtc_is_valid(pl.col("_RANDDTC")).fill_null(True)))
    if not bad.height:
        return []
    rows = example_rows(bad, "_RANDDTC")
    return [Finding(
        "warning", dataset, "DSSTDTC",
        f"trialkit: {describe_dataset(dataset, path)}: {bad.height} RANDOMIZED milestone(s) have no "
        f"complete date in DSSTDTC (or DSDTC); those subjects get no randomization date from "
        f"DS (a partial date is not imputed), so they have no study days unless ADSL.RANDDT "
        f"gives one.\n  Rows: {rows_text(rows, bad.height)}\n"
        f"  Complete the dates in the source, or provide ADSL with RANDDT.",
        rows, str(path) if path else None, "DataError")]


# --------------------------------------------------------------------------------------------
# Values out of range
# --------------------------------------------------------------------------------------------
def _check_diameters(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    """Negative lesion diameters are errors; a lesion measured 0 mm at baseline is a warning.

    0 mm is RECIST's value for a lesion that has disappeared, so it is valid after baseline;
    at baseline (TRBLFL "Y", or the lesion's first measurement) a lesion cannot be 0 mm.
    """
    if dataset == "tr" and {"TRTESTCD", "TRSTRESN"} <= set(frame.columns):
        diam = frame.with_row_index("_ROW", offset=1).filter(pl.col("TRTESTCD").is_in(_DIAMETER_TESTS))
        value = "TRSTRESN"
    elif dataset == "adtr" and {"PARAMCD", "AVAL"} <= set(frame.columns):
        diam = frame.with_row_index("_ROW", offset=1).filter(
            pl.col("PARAMCD").str.contains(_ADTR_DIAMETER_PARAMS) & pl.col("DTYPE").is_null()
            if "DTYPE" in frame.columns else pl.col("PARAMCD").str.contains(_ADTR_DIAMETER_PARAMS))
        value = "AVAL"
    else:
        return []
    findings = []
    negative = diam.filter(pl.col(value) < 0)
    if negative.height:
        rows = example_rows(negative, value)
        findings.append(Finding(
            "error", dataset, value,
            f"trialkit: {describe_dataset(dataset, path)}, column '{value}': {negative.height} lesion "
            f"diameter(s) are negative.\n  Rows: {rows_text(rows, negative.height)}\n"
            f"  A diameter is 0 mm or more (0 for a lesion that disappeared); correct the values "
            f"in the source.", rows, str(path) if path else None, "ColumnTypeError"))
    if dataset == "tr":
        lesion = [c for c in ("USUBJID", "TRLNKID", "TRTESTCD") if c in diam.columns]
        dates = compute_date(pl.col("TRDTC"), impute="start") if "TRDTC" in diam.columns else pl.lit(None, pl.Date)
        first = (dates == dates.min().over(lesion)) if "TRDTC" in diam.columns else pl.lit(False)
        baseline = (pl.col("TRBLFL") == "Y").fill_null(False) if "TRBLFL" in diam.columns else first.fill_null(False)
        zero = diam.filter((pl.col(value) == 0) & baseline)
        if zero.height:
            rows = example_rows(zero, value)
            findings.append(Finding(
                "warning", dataset, value,
                f"trialkit: {describe_dataset(dataset, path)}, column '{value}': {zero.height} lesion(s) "
                f"measure 0 mm at baseline.\n  Rows: {rows_text(rows, zero.height)}\n"
                f"  A baseline target lesion is measurable (>= 10 mm); such a lesion makes the "
                f"baseline sum and every % change wrong. Check the value or the baseline flag.",
                rows, str(path) if path else None, "DataError"))
    return findings


def _check_dates_in_life(frames: Mapping[str, pl.DataFrame], files: Mapping[str, Path],
                         today: dt.date) -> list[Finding]:
    """Dates before the subject's birth (DM.BRTHDTC, full dates) or after today: warnings.

    Partial dates are compared by the earliest day they can mean (before birth) and the
    latest (after today), so a partial date is flagged only when every day it can mean is
    impossible.
    """
    findings = []
    births = None
    subject_level = frames.get("dm") if "dm" in frames else frames.get("adsl")
    if subject_level is not None and {"USUBJID", "BRTHDTC"} <= set(subject_level.columns):
        births = (subject_level.select("USUBJID", compute_date(pl.col("BRTHDTC")).alias("_BIRTH"))
                  .filter(pl.col("_BIRTH").is_not_null()).unique("USUBJID"))
    for dataset, frame in frames.items():
        path = files.get(dataset)
        columns = [c for c, t in frame.schema.items() if c.endswith("DTC") and t == pl.String and c != "BRTHDTC"]
        for column in columns:
            late = frame.filter(compute_date(pl.col(column), impute="start") > today)
            if late.height:
                rows = example_rows(late, column)
                findings.append(Finding(
                    "warning", dataset, column,
                    f"trialkit: {describe_dataset(dataset, path)}, column '{column}': {late.height} date(s) "
                    f"are after today ({today}).\n  Rows: {rows_text(rows, late.height)}\n"
                    f"  The data cannot hold what has not happened yet; check the year (a typo) "
                    f"or the system clock of the export.", rows, str(path) if path else None, "DataError"))
            if births is None or "USUBJID" not in frame.columns:
                continue
            early = (frame.select("USUBJID", column)
                     .join(births, on="USUBJID", how="inner")
                     .filter(compute_date(pl.col(column), impute="end") < pl.col("_BIRTH")))
            if early.height:
                rows = example_rows(early, column)
                findings.append(Finding(
                    "warning", dataset, column,
                    f"trialkit: {describe_dataset(dataset, path)}, column '{column}': {early.height} date(s) "
                    f"are before the subject's birth date (DM.BRTHDTC).\n"
                    f"  Rows: {rows_text(rows, early.height)}\n"
                    f"  Check the year of these dates, or the birth date.", rows,
                    str(path) if path else None, "DataError"))
    return findings


# --------------------------------------------------------------------------------------------
# The whole folder
# --------------------------------------------------------------------------------------------
def missing_dataset_findings(present: Iterable[str], files: Mapping[str, Path], *, data_dir: Path,
                             report: str | None) -> list[Finding]:
    """An error for each need of ``report`` that none of its alternatives in ``present`` meets."""
    needs = _needs(report)
    present = set(present)
    findings = []
    for spec in needs.needs:
        alternatives = _alternatives(spec)
        if any(all(d in present for d in alt) for alt in alternatives):
            continue
        options = " or ".join(repr("+".join(alt)) for alt in alternatives)
        missing = list(dict.fromkeys(d for alt in alternatives for d in alt if d not in present))
        first = missing[0] if missing else spec
        why = _DATASET_WHY.get(first, f"the {report or 'study_overview'} report reads it")
        absent = (f"{missing[0]!r} is not" if len(missing) == 1 else
                  f"none of {', '.join(repr(m) for m in missing)} is")
        findings.append(Finding(
            "error", first, None,
            f"trialkit: the {report or 'study_overview'} report needs dataset "
            f"{options}, and {absent} in {data_dir}.\n"
            f"  Datasets found: {join_limited(sorted(files)) or '(none)'}\n"
            f"  {why}; add {first}.parquet (or {first.upper()}.xpt, {first}.csv, "
            f"{first}.sas7bdat) to the folder.", (), str(data_dir), "MissingDatasetError"))
    return findings


def conform_frames(frames: Mapping[str, pl.DataFrame], files: Mapping[str, Path], *,
                   report: str | None = None) -> tuple[dict[str, pl.DataFrame], list[Finding]]:
    """Cast every frame by the spec (numbers Float64, ADaM dates Date, ids text).

    Returns:
        The cast frames and the findings of values that cannot be cast.
    """
    needs = _needs(report)
    out: dict[str, pl.DataFrame] = {}
    findings: list[Finding] = []
    for dataset, frame in frames.items():
        path = files.get(dataset)
        columns = needs.columns.get(dataset, ())
        required_text = {o for spec in columns for o in spec.split("|")}
        try:
            frame, found = _conform(frame, dataset, path, required_text)
        except Exception as exc:  # a check must never turn into a traceback for the user
            found = [_check_failed(dataset, path, exc)]
        out[dataset] = frame
        findings += found
    return out, findings


def check_frames(frames: Mapping[str, pl.DataFrame], files: Mapping[str, Path], *,
                 data_dir: Path | str, protocol: Protocol, report: str | None = None,
                 unreadable: Iterable[str] = (), today: dt.date | None = None) -> list[Finding]:
    """Run every check on conformed frames (see :func:`conform_frames`); never raises for data.

    Args:
        frames: dataset -> frame, conformed.
        files: dataset -> file for every dataset found (also those not read).
        data_dir: the folder, for messages.
        protocol: the study's protocol (arms, sites, study ids, assessor and criteria names).
        report: the report whose needs apply, or None for everything.
        unreadable: datasets whose file could not be read (they count as present).
        today: the date after which nothing can have happened (default: today).

    Returns:
        The findings (errors and warnings).
    """
    needs = _needs(report)
    data_dir = Path(data_dir)
    findings = missing_dataset_findings(set(frames) | set(unreadable), files, data_dir=data_dir, report=report)
    required_datasets = {d for spec in needs.needs for alt in _alternatives(spec) for d in alt}
    for dataset, frame in frames.items():
        path = files.get(dataset)
        try:
            found = _check_columns(frame, dataset, path, needs.columns.get(dataset, ()), report)
            if frame.height == 0:
                level = "error" if dataset in required_datasets else "warning"
                found.append(Finding(
                    level, dataset, None,
                    f"trialkit: {describe_dataset(dataset, path)} has a header but no rows.\n"
                    f"  Columns present: {join_limited(frame.columns)}\n"
                    f"  The export probably stopped early; export it again"
                    f"{'' if level == 'error' else ', or remove the file if nothing was collected'}.",
                    (), str(path) if path else None, "MissingDatasetError"))
            found += _check_dates(frame, dataset, path)
            found += _check_subject_ids(frame, dataset, path)
            if dataset in ("dm", "adsl"):
                found += _check_duplicates(frame, dataset, path)
                found += _check_arms(frame, dataset, path, protocol)
                if dataset == "dm" or "dm" not in frames:
                    found += _check_sites_and_study(frame, dataset, path, protocol)
            found += _check_terms(frame, dataset, path, protocol)
            found += _check_diameters(frame, dataset, path)
            if dataset == "ds":
                found += _check_randomization_dates(frame, dataset, path)
        except Exception as exc:  # a check must never turn into a traceback for the user
            found = [_check_failed(dataset, path, exc)]
        findings += found
    for check in (lambda: _check_orphans(frames, files),
                  lambda: _check_dates_in_life(frames, files, today or dt.date.today())):
        try:
            findings += check()
        except Exception as exc:  # pragma: no cover - defensive, as above
            findings.append(_check_failed("", data_dir, exc))
    return findings


def _check_failed(dataset: str, path: Path | None, exc: Exception) -> Finding:
    return Finding(
        "error", dataset, None,
        f"trialkit: {describe_dataset(dataset, path) if dataset else str(path)} could not be checked: "
        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n"
        f"  This is a trialkit bug or a very unusual file; please report it with the "
        f"file's column types.", (), str(path) if path else None, "DataError")


def unread_files_finding(unread: Iterable[Path], data_dir: Path) -> list[Finding]:
    """One warning naming the files of the folder that are not read as datasets."""
    unread = list(unread)
    if not unread:
        return []
    rows = tuple(p.name for p in unread[:MAX_ROWS_SHOWN])
    return [Finding(
        "warning", "", None,
        f"trialkit: {len(unread)} file(s) in {data_dir} are not read as datasets: "
        f"{rows_text(rows, len(unread))}.\n"
        f"  trialkit reads one file per dataset named by its CDISC name (dm.parquet, IE.xpt, "
        f"rs.csv, ae.sas7bdat); export spreadsheets and other formats to one of those, rename "
        f"copies such as 'dm (1).csv', or move the files out of the folder.",
        rows, str(data_dir), "DataError")]


def summarize_readiness(files: Mapping[str, Path], findings: Iterable[Finding] = ()) -> list[tuple[str, str]]:
    """Per report: "ready", what it lacks, or which of the datasets it reads have errors.

    A report reads its needed datasets, the ones it uses when present and DM/ADSL
    (:func:`datasets_read_for`); an error in any of them stops it (``read_study`` raises),
    so it is never called "ready" then. An error of the folder itself (no dataset named)
    stops every report.

    Example:
        >>> summarize_readiness({"dm": Path("dm.parquet")})[0]
        ('study_overview', 'ready')
        >>> broken = Finding("error", "dm", None, "DM has no rows", (), None, "DataError")
        >>> summarize_readiness({"dm": Path("dm.parquet"), "tu": Path("tu.csv")}, [broken])[0]
        ('study_overview', 'cannot run: errors in dm')
    """
    broken = {f.dataset or "" for f in findings if f.level == "error"}
    out = []
    for name, needs in REPORT_NEEDS.items():
        lacking = [spec for spec in needs.needs
                   if not any(all(d in files for d in alt) for alt in _alternatives(spec))]
        bad = sorted(datasets_read_for(name, files) & broken) + (["the folder"] if "" in broken else [])
        if lacking:
            out.append((name, "cannot run: needs " + ", ".join(lacking)))
        elif bad:
            out.append((name, "cannot run: errors in " + ", ".join(bad)))
        else:
            out.append((name, "ready"))
    return out
