"""Read a study data folder into polars frames, checked once at the edge (DESIGN section 2).

The bottom layer of the flow (io -> derive -> charts -> report): it reads files and checks
them; it derives nothing (randomization dates, subject status and study days are
:mod:`trialkit.derive`'s).

Modules:
    files     find the dataset files of a folder, read one file (parquet, csv, xpt, sas7bdat)
    dates     ISO 8601 (partial) text -> dates, admiral's imputation
    terms     the CDISC terms checks and derivations share
    findings  Finding, and how findings are shown and raised
    checks    what each report needs; type conformance; the checks
    study     read_study / inspect_study: a folder read, checked, with its protocol

Example:
    >>> from trialkit.io import read_study
    >>> study = read_study("data/", report="swimmer")     # doctest: +SKIP
    >>> study.protocol.arm_codes, study["ex"].height       # doctest: +SKIP
"""

from trialkit.io.checks import REPORT_NEEDS, ReportNeeds, summarize_readiness
from trialkit.io.dates import compute_date, compute_date_imputation_flag, compute_dtc_is_valid, derive_dates
from trialkit.io.files import FORMATS, find_datasets, find_unread_files, read_dataset, read_datasets
from trialkit.io.findings import Finding, format_findings
from trialkit.io.study import Study, inspect_study, read_study, resolve_protocol, study_ids, validate_study

__all__ = [
    "FORMATS", "REPORT_NEEDS", "Finding", "ReportNeeds", "Study", "compute_date",
    "compute_date_imputation_flag", "compute_dtc_is_valid", "derive_dates", "find_datasets",
    "find_unread_files", "format_findings", "inspect_study", "read_dataset", "read_datasets",
    "read_study", "resolve_protocol", "study_ids", "summarize_readiness", "validate_study",
]
