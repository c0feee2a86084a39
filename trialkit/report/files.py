"""The one way trialkit writes a file: atomically, with the permissions of a normal file.

A reader (a browser, a mail job, the next run) never sees a half-written file: data go to a
temporary file in the same folder, which then replaces the target with ``os.replace``.
``mkstemp`` creates 0600 files; reports are meant to be shared, so the file gets the mode
the user's umask gives any new file (usually 0644).

Example:
    >>> from pathlib import Path; import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "tables" / "orr.csv"
    >>> write_text("ARM,N\\nA,30\\n", target)
    'orr.csv'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once at import, before any thread
    os.umask(mask)
    return mask


UMASK = _read_umask()


def make_shareable(path: str | Path, *, folder: bool = False) -> None:
    """Give a temp file (0600) or folder (0700) the mode a new one would normally get."""
    os.chmod(path, (0o777 if folder else 0o666) & ~UMASK)


def write_bytes(data: bytes, path: Path) -> str:
    """Write ``data`` to ``path`` atomically (parents created); returns the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        make_shareable(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path.name


def write_text(text: str, path: Path) -> str:
    """Write UTF-8 text to ``path`` atomically; returns the file name."""
    return write_bytes(text.encode("utf-8"), path)
