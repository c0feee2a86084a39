"""One exception hierarchy for everything a user can get wrong.

Every message names what is wrong (file, dataset, column, a few rows), what is present and
what would fix it, so the CLI can print ``str(error)`` and exit without a traceback::

    trialkit: dataset 'rs' (data/rs.parquet) has no column 'RSEVAL'.
      Columns present: STUDYID, USUBJID, RSTESTCD, RSSTRESC, RSDTC
      RSEVAL tells BICR from investigator assessments; add it, or set assessor: INVESTIGATOR.
"""

from __future__ import annotations


class TrialkitError(Exception):
    """Base of every error trialkit raises on purpose. ``str()`` is the user-facing text."""

    exit_code = 1


class DataError(TrialkitError):
    """A study data folder or one of its datasets cannot be used as it is."""

    def __init__(self, message: str, *, dataset: str | None = None, column: str | None = None,
                 path: str | None = None):
        super().__init__(message)
        self.dataset = dataset
        self.column = column
        self.path = path


class MissingDatasetError(DataError):
    """A dataset a report needs is not in the data folder."""


class UnreadableFileError(DataError):
    """A file exists but cannot be read: empty, truncated, corrupt, wrong encoding, bad CSV."""


class MissingColumnError(DataError):
    """A dataset lacks a column a report needs."""


class ColumnTypeError(DataError):
    """A column has a type that cannot hold what it must (e.g. text in a numeric column)."""


class DateFormatError(DataError):
    """A date column holds values that are not ISO 8601 or not real dates (2025-02-30)."""


class DuplicateSubjectError(DataError):
    """A one-row-per-subject dataset (DM, ADSL) has a subject more than once."""


class OrphanRecordError(DataError):
    """Records of subjects that are not in DM."""


class UnknownArmError(DataError):
    """An arm code that the protocol file does not define."""


class ValidationFailed(DataError):
    """Several validation errors at once; ``findings`` holds them all."""

    def __init__(self, message: str, findings: list | None = None):
        super().__init__(message)
        self.findings = findings or []


class ParamsError(TrialkitError):
    """A params file is malformed, has an unknown key, or a value of the wrong type."""

    exit_code = 2


class ProtocolError(TrialkitError):
    """The protocol file is missing or malformed."""

    exit_code = 2


class RunLockedError(TrialkitError):
    """Another ``trialkit run`` is writing the same run folder and did not finish in time.

    Exit code 75 (EX_TEMPFAIL of sysexits.h): nothing is wrong with the data or the params;
    a scheduler may simply try again later.
    """

    exit_code = 75
