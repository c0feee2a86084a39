"""One exception hierarchy for everything a user can get wrong.

Every message names what is wrong (file, dataset, column, a few rows), what is present and
what would fix it, so the CLI can print ``str(error)`` and exit without a traceback::

    trialkit: dataset 'rs' (data/rs.parquet) has no column 'RSEVAL'.
      Columns present: STUDYID, USUBJID, RSTESTCD, RSSTRESC, RSDTC
      RSEVAL tells BICR from investigator assessments; add it, or set assessor: INVESTIGATOR.
"""

from __future__ import annotations

import errno
import reprlib
from typing import Any

#: At most this many characters of a value a user gave are quoted in a message: a params
#: file is untrusted input, and a message (a cron mail) must stay short whatever it holds.
QUOTE_LIMIT = 200

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 12, 12, 8, 8
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = QUOTE_LIMIT, QUOTE_LIMIT, 40


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, never longer than ``limit`` characters.

    Bounded in time too: only the first items and levels of a container are looked at (a
    YAML alias bomb is a small object that prints as gigabytes).

    Example:
        >>> quote("x" * 1000)[:5], len(quote("x" * 1000)) <= QUOTE_LIMIT
        ("'xxxx", True)
        >>> quote(["01", 3])
        "['01', 3]"
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: Any, limit: int = QUOTE_LIMIT) -> str:
    """``str(text)`` cut to ``limit`` characters (for paths and names inside a message)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# The fix that goes with an operating-system error, by errno.
_OS_FIXES = {
    errno.EACCES: "give the user running trialkit access to it (chmod/chown), or use another path",
    errno.EPERM: "give the user running trialkit access to it (chmod/chown), or use another path",
    errno.ENOSPC: "the disk is full: free some space, or write to another disk",
    errno.EDQUOT: "the disk quota is used up: free some space, or write to another disk",
    errno.EROFS: "the file system is read-only: use a writable folder",
    errno.ENOTDIR: "a file stands where a folder is needed: move the file, or use another path",
    errno.EEXIST: "a file stands where a folder is needed: move the file, or use another path",
    errno.EISDIR: "a folder stands where a file is needed: give the file's path",
    errno.ENOENT: "check the path (a relative path is read from the working folder)",
    errno.ENAMETOOLONG: "the path is too long: use a shorter one",
    errno.ELOOP: "a symbolic link points to itself: fix or remove the link",
}


def describe_os_error(exc: OSError, *, doing: str = "use", path: Any = None) -> str:
    """One line for an operating-system error: what could not be done to which path, and the fix.

    Example:
        >>> describe_os_error(PermissionError(13, "Permission denied", "/srv/out"), doing="write to")
        'trialkit: cannot write to /srv/out: Permission denied; give the user running trialkit access to it (chmod/chown), or use another path.'
    """
    where = path if path is not None else (exc.filename if exc.filename is not None else "a file")
    reason = exc.strerror or type(exc).__name__
    fix = _OS_FIXES.get(exc.errno or -1)
    return f"trialkit: cannot {doing} {clip(where)}: {reason}" + (f"; {fix}." if fix else ".")


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


class OutputError(TrialkitError):
    """The output folder cannot be written: a file in its way, no permission, a full disk.

    Exit code 2, as for a wrong params file or command line: the run's setting, not the
    data, needs fixing (``--out``, permissions, disk space).
    """

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
