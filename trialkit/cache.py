"""Where trialkit keeps what it can rebuild: the generated demo study, the vega bundle.

``$TRIALKIT_CACHE_DIR`` when set, else ``~/.cache/trialkit``; when that folder cannot be
created (a cron job under a service account without a writable home), a per-user folder in
the system's temp directory, so scheduled runs still work. Nothing here is precious: any of
it may be deleted at any time.

Example:
    >>> cache_dir().is_dir()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from trialkit.errors import TrialkitError


def cache_dir() -> Path:
    """The first usable cache folder (created if needed).

    Raises:
        TrialkitError: neither the configured folder nor the temp fallback can be created.
    """
    configured = os.environ.get("TRIALKIT_CACHE_DIR")
    candidates = [Path(configured)] if configured else [Path.home() / ".cache" / "trialkit"]
    candidates.append(Path(tempfile.gettempdir()) / f"trialkit-cache-{_user()}")
    tried = []
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
            tried.append(f"{folder} (not writable)")
        except OSError as exc:
            tried.append(f"{folder} ({exc.strerror or exc})")
    raise TrialkitError(
        "trialkit: no writable cache folder for the built-in demo study.\n"
        f"  Tried: {'; '.join(tried)}\n"
        "  Set TRIALKIT_CACHE_DIR to a folder this user can write, or give data_dir in the params file.")


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # not POSIX
        return os.environ.get("USERNAME", "user")
