"""Validation at the edge: what each report needs, and the checks that matter.

Each report declares the datasets it needs (with alternatives: ``dm|adsl``; groups:
``tu+tr+rs|adtr+adrs``), the datasets it uses when present, and the columns it needs in
each (:data:`REPORT_NEEDS`, from DESIGN.md section 2). :func:`check_frames` casts the
numeric and date columns every format must agree on and returns :class:`Finding` s:

errors (a report cannot be trusted; ``read_study`` raises, ``trialkit validate`` exits 1)
    missing dataset, missing column, wrong type (text in ``AGE``/``--STRESN``; numbers
    where text is expected are fine and become text), dates that are not ISO 8601 or not
    real (``2025-02-30``, ``31/12/2025``, ``2025-13``; partial dates are fine), duplicate
    USUBJID in DM/ADSL, records of subjects absent from DM (orphans), arm codes the
    protocol does not define (screen-failure and not-assigned conventions excepted), and
    files that cannot be read.
warnings (shown in every report, never stop a run)
    odd controlled terms (an overall response "CHECK"), criteria or assessor values outside
    DESIGN section 2, sites or a STUDYID the protocol does not know, blank arms without
    ARMNRS, optional datasets with no rows, DS RANDOMIZED milestones without a complete date.

Every message follows STYLE.md section 4: it starts with ``trialkit:``, names the file,
dataset and column, shows a few offending rows (USUBJID and value) and what is present, and
says what would fix it. ``Finding.kind`` is the :mod:`trialkit.errors` class the problem
raises as when it is the only error.

Example:
    >>> from trialkit.validate import validate_study, format_findings
    >>> print(format_findings(validate_study("data/", report="swimmer")))   # doctest: +SKIP
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from trialkit import errors as _errors
from trialkit.errors import DataError, ValidationFailed
from trialkit.io import (
    NON_ARM_CODES,
    Study,
    _norm,
    compute_date,
    compute_dtc_is_valid,
    find_datasets,
    read_datasets,
)

MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One problem found in a study data folder.

    Attributes:
        level: "error" (the report cannot be trusted) or "warning" (shown, never stops a run).
        dataset: lower-case dataset name ("" for the folder itself).
        column: the column concerned, if any.
        message: the full user-facing text (starts with "trialkit:").
        rows: a few offending rows, e.g. ``("USUBJID 01-001: '2025-02-30'",)``.
        path: the file concerned, if any.
        kind: the :mod:`trialkit.errors` class name this finding raises as.

    Example:
        >>> Finding("warning", "rs", "RSSTRESC", "trialkit: ...").level
        'warning'
    """

    level: Literal["error", "warning"]
    dataset: str
    column: str | None
    message: str
    rows: tuple[str, ...] = ()
    path: str | None = None
    kind: str = "DataError"


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
}


def _columns(*datasets: str) -> dict[str, tuple[str, ...]]:
    return {d: _COLUMNS[d] for d in datasets}


#: Per report: required datasets (with alternatives), datasets used when present, columns.
REPORT_NEEDS: dict[str, ReportNeeds] = {
    "study_overview": ReportNeeds(needs=("dm",), uses=("*",), columns=_columns("dm", "ds", "adsl")),
    "screening": ReportNeeds(needs=("dm", "ie"), uses=("ds", "lb", "vs", "qs", "fa"),
                             columns=_columns("dm", "ie", "ds", "lb", "vs", "qs", "fa")),
    "swimmer": ReportNeeds(needs=("dm|adsl", "ex|adex"), uses=("pr", "ds", "rs", "adrs"),
                           columns=_columns("dm", "adsl", "ex", "adex", "pr", "ds", "rs", "adrs")),
    "waterfall": ReportNeeds(needs=("tu+tr+rs|adtr+adrs",), uses=("dm", "adsl", "ds"),
                             columns=_columns("tu", "tr", "rs", "adtr", "adrs", "dm", "adsl", "ds")),
    "efficacy": ReportNeeds(needs=("rs|adrs", "dm|adsl"), uses=("adtte", "ds"),
                            columns=_columns("rs", "adrs", "dm", "adsl", "adtte", "ds")),
}

# Why a dataset or column matters, for the "what would fix it" line.
_DATASET_WHY = {
    "dm": "DM lists every screened subject with site and arm",
    "adsl": "ADSL lists every subject with arm and randomization date",
    "ie": "IE holds the eligibility criteria each screen failure did not meet",
    "ex": "EX holds the study drug doses (camrelizumab, apatinib)",
    "adex": "ADEX holds the exposure records",
    "rs": "RS holds the tumour responses per assessment",
    "adrs": "ADRS holds the derived responses",
    "tu": "TU identifies the tumour lesions (TARGET / NON-TARGET / NEW)",
    "tr": "TR holds the lesion measurements",
    "adtr": "ADTR holds the derived lesion sums",
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

RESPONSE_TERMS = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")
_RESPONSE_TESTS = ("OVRLRESP", "TRGRESP", "NTRGRESP")
_ADRS_RESPONSE_PARAMS = ("OVR", "OVRB", "BOR", "CBOR", "LSTA")
_CRITERIA = {"MRECIST", "RECIST1.1"}           # compared without spaces, upper case
_ASSESSORS = ("INVESTIGATOR", "INDEPENDENT ASSESSOR")
_LESION_ROLES = ("TARGET", "NON-TARGET", "NEW")


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
# Message helpers
# --------------------------------------------------------------------------------------------
def _where(dataset: str, path: Path | str | None) -> str:
    return f"dataset '{dataset}' ({path})" if path else f"dataset '{dataset}'"


def _list(values: Iterable[str], limit: int = 25) -> str:
    values = list(values)
    text = ", ".join(values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _example_rows(frame: pl.DataFrame, column: str) -> tuple[str, ...]:
    """A few offending rows as 'USUBJID x: value' (or 'row n: value')."""
    shown = frame.head(MAX_ROWS_SHOWN)
    values = shown[column].cast(pl.String).to_list()
    ids = (shown["USUBJID"].cast(pl.String).to_list() if "USUBJID" in shown.columns
           else [f"row {i}" for i in shown["_ROW"].to_list()] if "_ROW" in shown.columns
           else ["?"] * shown.height)
    prefix = "USUBJID " if "USUBJID" in shown.columns else ""
    return tuple(f"{prefix}{i}: {v!r}" for i, v in zip(ids, values))


def _rows_text(rows: tuple[str, ...], total: int) -> str:
    more = f" ... ({total} in all)" if total > len(rows) else ""
    return "; ".join(rows) + more


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
    rows = _example_rows(bad, column)
    return [Finding(
        "error", dataset, column,
        f"trialkit: {_where(dataset, path)}, column '{column}' {problem.format(n=bad.height)}.\n"
        f"  Rows: {_rows_text(rows, bad.height)}\n  {fix}", rows, str(path) if path else None, kind)]


def _type_finding(dataset: str, path: Path | None, column: str, dtype: Any, expected: str, fix: str,
                  frame: pl.DataFrame) -> Finding:
    return Finding(
        "error", dataset, column,
        f"trialkit: {_where(dataset, path)}, column '{column}' is of type {dtype}, expected "
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
            f"trialkit: {_where(dataset, path)} has no column {either}.\n"
            f"  Columns present: {_list(frame.columns)}\n"
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
            rows = _example_rows(bad, column)
            findings.append(Finding(
                "error", dataset, column,
                f"trialkit: {_where(dataset, path)}, column '{column}': {bad.height} value(s) are "
                f"not ISO 8601 dates or are impossible dates.\n"
                f"  Rows: {_rows_text(rows, bad.height)}\n"
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
        f"trialkit: {_where(dataset, path)}, column 'USUBJID' is empty on {blank.height} record(s) "
        f"(rows counted from 1 after the header).\n  Rows: {_rows_text(rows, blank.height)}\n"
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
        f"trialkit: {_where(dataset, path)} has {dup.height} subject(s) on more than one row; "
        f"{dataset.upper()} must have one row per subject.\n"
        f"  Rows: {_rows_text(rows, dup.height)}\n"
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
            f"trialkit: {_where(dataset, files.get(dataset))} has {orphans.height} record(s) of "
            f"{subjects.len()} subject(s) that are not in {ref_name.upper()} "
            f"({files.get(ref_name)}).\n"
            f"  Subjects: {_rows_text(rows, subjects.len())}\n"
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
            f"trialkit: {_where(dataset, path)}, column '{column}': {counts.height} arm code(s) are "
            f"not defined by the protocol ({protocol.source}).\n"
            f"  Unknown: {_rows_text(rows[:MAX_ROWS_SHOWN], counts.height)}\n"
            f"  Arms defined: {', '.join(protocol.arm_codes)}; screen failures as SCRNFAIL (any "
            f"case) or a blank arm with ARMNRS, also NOTASSGN, NOTTRT, UNPLAN.\n"
            f"  Map the codes to the protocol's arms, or give this study's protocol file "
            f"(--protocol FILE).", rows[:MAX_ROWS_SHOWN], str(path) if path else None,
            "UnknownArmError"))
    if "ARMCD" in frame.columns and "USUBJID" in frame.columns:
        reason = pl.col("ARMNRS") if "ARMNRS" in frame.columns else pl.lit(None, pl.String)
        actual = pl.col("ACTARMCD") if "ACTARMCD" in frame.columns else pl.lit(None, pl.String)
        planned = _norm(pl.col("ARMCD").cast(pl.String))
        says_failed = (_norm(reason) == "SCREEN FAILURE") | (_norm(actual.cast(pl.String)) == "SCRNFAIL")
        both = (frame.filter(planned.is_not_null() & ~planned.is_in(list(NON_ARM_CODES))
                             & says_failed.fill_null(False))
                .with_columns(pl.concat_str([pl.col("ARMCD").cast(pl.String), actual.cast(pl.String),
                                             reason], separator=" / ", ignore_nulls=True).alias("_ARMS")))
        if both.height:
            rows = _example_rows(both, "_ARMS")
            findings.append(Finding(
                "warning", dataset, "ARMCD",
                f"trialkit: {_where(dataset, path)}: {both.height} subject(s) have an arm in "
                f"ARMCD but ACTARMCD SCRNFAIL or ARMNRS SCREEN FAILURE; they are counted as "
                f"screen failures (not randomized).\n"
                f"  Rows (ARMCD / ACTARMCD / ARMNRS): {_rows_text(rows, both.height)}\n"
                f"  A screen failure has no arm (SDTMIG: ARMCD SCRNFAIL, or blank with ARMNRS); "
                f"correct ARMCD or the screen-failure mark.", rows, str(path) if path else None,
                "UnknownArmError"))
        blank = frame.filter(pl.col("ARMCD").is_null() & reason.is_null())
        if blank.height:
            rows = tuple(f"USUBJID {u}" for u in blank["USUBJID"].head(MAX_ROWS_SHOWN).to_list())
            findings.append(Finding(
                "warning", dataset, "ARMCD",
                f"trialkit: {_where(dataset, path)}: {blank.height} subject(s) have a blank ARMCD "
                f"and no ARMNRS saying why; they are counted as not assigned (not randomized).\n"
                f"  Subjects: {_rows_text(rows, blank.height)}\n"
                f"  Set ARMNRS (SCREEN FAILURE, NOT ASSIGNED, ...) or ARMCD SCRNFAIL.",
                rows, str(path) if path else None, "UnknownArmError"))
    return findings


def _check_sites_and_study(frame: pl.DataFrame, dataset: str, path: Path | None, protocol: Any
                           ) -> list[Finding]:
    findings = []
    if "SITEID" in frame.columns:
        sites = {str(s["siteid"]) for s in protocol.sites}
        unknown = (frame.filter(pl.col("SITEID").is_not_null() & ~pl.col("SITEID").is_in(list(sites)))
                   .group_by("SITEID").len().sort("SITEID"))
        if unknown.height:
            rows = tuple(f"{v!r}: {n} subject(s)" for v, n in unknown.head(MAX_ROWS_SHOWN).iter_rows())
            findings.append(Finding(
                "warning", dataset, "SITEID",
                f"trialkit: {_where(dataset, path)}, column 'SITEID': {unknown.height} site(s) are "
                f"not among the protocol's sites ({', '.join(sorted(sites))}).\n"
                f"  Unknown: {_rows_text(rows, unknown.height)}\n"
                f"  Site names and filters will show the raw SITEID; check the site numbering "
                f"(leading zeros) or the protocol file.", rows, str(path) if path else None,
                "DataError"))
    if "STUDYID" in frame.columns:
        expected = {protocol.study_id.upper(), str(protocol.study.get("sponsor_code", "")).upper()}
        studies = [s for s in frame["STUDYID"].drop_nulls().unique().sort().to_list()
                   if str(s).upper() not in expected]
        if studies:
            findings.append(Finding(
                "warning", dataset, "STUDYID",
                f"trialkit: {_where(dataset, path)} is from study {_list(map(repr, studies), 5)}, "
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
    rows = _example_rows(bad, column)
    return [Finding(
        "warning", dataset, column,
        f"trialkit: {_where(dataset, path)}, column '{column}': {bad.height} {what} outside "
        f"the expected terms: {values}.\n"
        f"  Rows: {_rows_text(rows, bad.height)}\n"
        f"  Expected: {', '.join(allowed)}. {fix}", rows, str(path) if path else None, "DataError")]


def _check_terms(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    findings: list[Finding] = []
    cols = set(frame.columns)
    resp_fix = ("These records are never counted as a response; correct them in the source "
                "(NE when the assessment could not be evaluated).")
    if dataset == "rs" and {"RSTESTCD", "RSSTRESC"} <= cols:
        findings += _value_warning(
            frame, dataset, path, "RSSTRESC",
            pl.col("RSTESTCD").is_in(_RESPONSE_TESTS) & ~pl.col("RSSTRESC").str.to_uppercase()
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
                ~pl.col(cat).str.to_uppercase().str.replace_all(r"\s+", "").is_in(list(_CRITERIA)),
                ("MRECIST", "RECIST 1.1"), "criteria value(s)",
                "Records under other criteria are left out of the reports.")
    for ev in ("RSEVAL", "TREVAL", "TUEVAL"):
        if ev in cols and dataset in ("rs", "tr", "tu"):
            findings += _value_warning(
                frame, dataset, path, ev, ~pl.col(ev).str.to_uppercase().is_in(_ASSESSORS),
                _ASSESSORS, "assessor value(s)",
                "Records of other assessors are left out of the BICR and investigator views.")
    if dataset == "tu" and "TUSTRESC" in cols:
        mask = ~pl.col("TUSTRESC").str.to_uppercase().is_in(_LESION_ROLES)
        if "TUTESTCD" in cols:
            mask = mask & (pl.col("TUTESTCD") == "TUMIDENT")
        findings += _value_warning(frame, dataset, path, "TUSTRESC", mask, _LESION_ROLES,
                                   "lesion role(s)", "Such lesions are left out of the sums.")
    return findings


def _check_randomization_dates(frame: pl.DataFrame, dataset: str, path: Path | None) -> list[Finding]:
    """Warn about RANDOMIZED milestones without a complete date: they give no RANDDT."""
    if not {"USUBJID", "DSDECOD"} <= set(frame.columns):
        return []
    dtc = [pl.col(c) for c in ("DSSTDTC", "DSDTC") if c in frame.columns]
    when = pl.coalesce(dtc) if dtc else pl.lit(None, pl.String)
    bad = (frame.filter(_norm(pl.col("DSDECOD")) == "RANDOMIZED")
           .with_columns(when.alias("_RANDDTC"))
           .filter(compute_date(pl.col("_RANDDTC")).is_null()
                   & compute_dtc_is_valid(pl.col("_RANDDTC")).fill_null(True)))
    if not bad.height:
        return []
    rows = _example_rows(bad, "_RANDDTC")
    return [Finding(
        "warning", dataset, "DSSTDTC",
        f"trialkit: {_where(dataset, path)}: {bad.height} RANDOMIZED milestone(s) have no "
        f"complete date in DSSTDTC (or DSDTC); those subjects get no randomization date from "
        f"DS (a partial date is not imputed), so they have no study days unless ADSL.RANDDT "
        f"gives one.\n  Rows: {_rows_text(rows, bad.height)}\n"
        f"  Complete the dates in the source, or provide ADSL with RANDDT.",
        rows, str(path) if path else None, "DataError")]


# --------------------------------------------------------------------------------------------
# The whole folder
# --------------------------------------------------------------------------------------------
def _load_protocol(protocol: Any):
    from trialkit.protocol import Protocol, load_protocol

    return protocol if isinstance(protocol, Protocol) else load_protocol(protocol)


def check_frames(frames: Mapping[str, pl.DataFrame], files: Mapping[str, Path], *,
                 data_dir: Path | str, report: str | None = None, protocol: Any = None,
                 read_findings: Iterable[Finding] = ()) -> tuple[dict[str, pl.DataFrame], list[Finding]]:
    """Cast frames by the spec and run every check; never raises for a data problem.

    Args:
        frames: dataset -> frame as read (``trialkit.io.read_dataset``).
        files: dataset -> file for every dataset found (also those not read).
        data_dir: the folder, for messages.
        report: the report whose needs apply, or None for everything.
        protocol: study id, YAML path or ``Protocol``.
        read_findings: errors from reading (unreadable files), kept first.

    Returns:
        The cast frames and the findings (errors and warnings).
    """
    needs = _needs(report)
    proto = _load_protocol(protocol)
    findings: list[Finding] = list(read_findings)
    unreadable = {f.dataset for f in findings}
    present = set(frames) | unreadable
    data_dir = Path(data_dir)

    for spec in needs.needs:
        alternatives = _alternatives(spec)
        if any(all(d in present for d in alt) for alt in alternatives):
            continue
        options = " or ".join("+".join(alt) for alt in alternatives)
        missing = sorted({d for alt in alternatives for d in alt if d not in present})
        first = missing[0] if missing else spec
        why = _DATASET_WHY.get(first, f"the {report or 'study_overview'} report reads it")
        findings.append(Finding(
            "error", first, None,
            f"trialkit: the {report or 'study_overview'} report needs dataset "
            f"{options!r}, and {', '.join(repr(m) for m in missing)} is not in {data_dir}.\n"
            f"  Datasets found: {_list(sorted(files)) or '(none)'}\n"
            f"  {why}; add {first}.parquet (or {first.upper()}.xpt, {first}.csv, "
            f"{first}.sas7bdat) to the folder.", (), str(data_dir), "MissingDatasetError"))

    out: dict[str, pl.DataFrame] = {}
    required_datasets = {d for spec in needs.needs for alt in _alternatives(spec) for d in alt}
    for dataset, frame in frames.items():
        path = files.get(dataset)
        try:
            columns = needs.columns.get(dataset, ())
            required_text = {o for spec in columns for o in spec.split("|")}
            frame, found = _conform(frame, dataset, path, required_text)
            found += _check_columns(frame, dataset, path, columns, report)
            if frame.height == 0:
                level = "error" if dataset in required_datasets else "warning"
                found.append(Finding(
                    level, dataset, None,
                    f"trialkit: {_where(dataset, path)} has a header but no rows.\n"
                    f"  Columns present: {_list(frame.columns)}\n"
                    f"  The export probably stopped early; export it again"
                    f"{'' if level == 'error' else ', or remove the file if nothing was collected'}.",
                    (), str(path) if path else None, "MissingDatasetError"))
            found += _check_dates(frame, dataset, path)
            found += _check_subject_ids(frame, dataset, path)
            if dataset in ("dm", "adsl"):
                found += _check_duplicates(frame, dataset, path)
                found += _check_arms(frame, dataset, path, proto)
                if dataset == "dm" or "dm" not in frames:
                    found += _check_sites_and_study(frame, dataset, path, proto)
            found += _check_terms(frame, dataset, path)
            if dataset == "ds":
                found += _check_randomization_dates(frame, dataset, path)
        except Exception as exc:  # a check must never turn into a traceback for the user
            found = [Finding(
                "error", dataset, None,
                f"trialkit: {_where(dataset, path)} could not be checked: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n"
                f"  This is a trialkit bug or a very unusual file; please report it with the "
                f"file's column types.", (), str(path) if path else None, "DataError")]
        findings += found
        out[dataset] = frame
    try:
        findings += _check_orphans(out, files)
    except Exception as exc:  # pragma: no cover - defensive, as above
        findings.append(Finding("error", "", "USUBJID",
                                f"trialkit: the orphan-record check failed: {exc}", (), str(data_dir)))
    return out, findings


def downgrade(findings: Iterable[Finding], kinds: Iterable[str]) -> list[Finding]:
    """Turn error findings of the given kinds (e.g. ``"UnknownArmError"``) into warnings."""
    kinds = set(kinds)
    return [replace(f, level="warning") if f.level == "error" and f.kind in kinds else f
            for f in findings]


def raise_on_errors(findings: Iterable[Finding], *, data_dir: Path | str | None = None) -> None:
    """Raise when there are error findings: one error as its own class, several as ValidationFailed.

    Either way the exception's ``findings`` holds every finding (warnings included).
    """
    findings = list(findings)
    errors = [f for f in findings if f.level == "error"]
    if not errors:
        return
    if len(errors) == 1:
        only = errors[0]
        cls = getattr(_errors, only.kind, DataError)
        if not (isinstance(cls, type) and issubclass(cls, DataError)) or cls is ValidationFailed:
            cls = DataError
        exc = cls(only.message, dataset=only.dataset or None, column=only.column, path=only.path)
        exc.findings = findings
        raise exc
    warnings = len(findings) - len(errors)
    where = f" in {data_dir}" if data_dir else ""
    tail = (f"\n\n({warnings} warning(s) not shown: run `trialkit validate {data_dir}` to see them)"
            if warnings else "")
    raise ValidationFailed(
        f"trialkit: {len(errors)} errors in the study data{where}; fix them and run again.\n\n"
        + format_findings(errors) + tail, findings)


def validate_study(study_or_dir: Study | str | Path, *, report: str | None = None,
                   protocol: Any = None, encoding: str | None = None) -> list[Finding]:
    """Every finding (errors and warnings) for a study folder or an already read Study.

    Unlike :func:`trialkit.io.read_study` this never raises for a data problem: unreadable
    files become error findings and every other dataset is still checked.

    Args:
        study_or_dir: a data folder or a :class:`trialkit.io.Study`.
        report: check what this report needs (None: everything).
        protocol: study id, YAML path or ``Protocol`` (default: the package's protocol).
        encoding: the CSV/SAS text encoding when known not to be UTF-8, as for ``read_study``.

    Raises:
        MissingDatasetError: the folder does not exist.
        DataError: two files hold the same dataset; an unknown report name.

    Example:
        >>> [f.level for f in validate_study("data/")]   # doctest: +SKIP
        ['warning']
    """
    if isinstance(study_or_dir, Study):
        frames, files, folder, read_findings = (study_or_dir.frames, study_or_dir.files,
                                                study_or_dir.data_dir, [])
    else:
        folder = Path(study_or_dir)
        files, frames, read_findings = _read_folder(folder, report=report, encoding=encoding)
    _, findings = check_frames(frames, files, data_dir=folder, report=report, protocol=protocol,
                               read_findings=read_findings)
    return findings


def _read_folder(folder: Path, *, report: str | None, encoding: str | None):
    """The files of a folder, the frames a report needs read from them, and read failures."""
    files = find_datasets(folder)
    wanted = datasets_read_for(report, files)
    frames, read_findings = read_datasets({k: v for k, v in files.items() if k in wanted}, encoding=encoding)
    return files, frames, read_findings


def format_findings(findings: Iterable[Finding]) -> str:
    """A readable report of findings, grouped by dataset, errors before warnings.

    Example:
        >>> print(format_findings([Finding("warning", "rs", "RSSTRESC", "trialkit: odd value")]))
        rs
          WARNING  trialkit: odd value
    """
    findings = list(findings)
    if not findings:
        return "No problems found."
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.dataset or "(folder)", []).append(f)
    lines: list[str] = []
    for dataset, items in groups.items():
        paths = {f.path for f in items if f.path and not Path(f.path).is_dir()}
        lines.append(dataset + (f"  ({sorted(paths)[0]})" if len(paths) == 1 else ""))
        for f in sorted(items, key=lambda f: f.level != "error"):
            label = "ERROR   " if f.level == "error" else "WARNING "
            body = f.message.splitlines() or [""]
            lines.append(f"  {label} {body[0]}")
            lines += [f"           {line}" for line in body[1:]]
        lines.append("")
    return "\n".join(lines).rstrip()


def summarize_readiness(files: Mapping[str, Path]) -> list[tuple[str, str]]:
    """Per report: "ready" or what it lacks, from the datasets found."""
    out = []
    for name, needs in REPORT_NEEDS.items():
        lacking = [spec for spec in needs.needs
                   if not any(all(d in files for d in alt) for alt in _alternatives(spec))]
        out.append((name, "ready" if not lacking else "cannot run: needs " + ", ".join(lacking)))
    return out


def main_validate(data_dir: str | Path, *, report: str | None = None, protocol: Any = None,
                  encoding: str | None = None) -> int:
    """``trialkit validate``: print the datasets found and the findings; 1 on errors, else 0.

    Example:
        >>> main_validate("data/")   # doctest: +SKIP
        0
    """
    folder = Path(data_dir)
    proto = _load_protocol(protocol)
    files, frames, read_findings = _read_folder(folder, report=report, encoding=encoding)
    frames, findings = check_frames(frames, files, data_dir=folder, report=report, protocol=proto,
                                    read_findings=read_findings)
    out = sys.stdout
    print(f"trialkit validate: {folder} (protocol {proto.study_id}"
          f"{', report ' + report if report else ''})", file=out)
    print(f"\nDatasets found: {len(files)}", file=out)
    unreadable = {f.dataset for f in read_findings}
    width = max([len(n) for n in files] + [7])
    print(f"  {'dataset':<{width}} {'rows':>8} {'cols':>5}  file", file=out)
    for name, path in files.items():
        if name in frames:
            print(f"  {name:<{width}} {frames[name].height:>8} {frames[name].width:>5}  {path.name}", file=out)
        else:
            state = "unreadable" if name in unreadable else "not read"
            print(f"  {name:<{width}} {state:>14}  {path.name}", file=out)
    if not report:
        print("\nReports:", file=out)
        for name, state in summarize_readiness(files):
            print(f"  {name:<15} {state}", file=out)
    n_err = sum(f.level == "error" for f in findings)
    n_warn = len(findings) - n_err
    print(f"\nFindings: {n_err} error(s), {n_warn} warning(s)\n", file=out)
    print(format_findings(findings), file=out)
    print(f"\nResult: {'FAILED' if n_err else 'OK'} ({n_err} error(s), {n_warn} warning(s))", file=out)
    return 1 if n_err else 0
