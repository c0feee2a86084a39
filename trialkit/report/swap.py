"""The output folder of ``trialkit run``: made once, swapped into place atomically, cleaned up after a kill.

A run builds its run folder as a hidden sibling (``.<run-name>.<random>.partial``) and puts
it in place at the end (:func:`swap_folder`). Three things make that safe when nobody is
watching:

- **the swap is atomic under races**: swaps into one output folder take turns (an OS lock,
  ``flock``, on that folder), and each swap retries when another process (a second run, a
  person with ``mv``) changed the run folder under it, so no run is lost. On Linux the old
  and new folders are exchanged in one step (``renameat2(RENAME_EXCHANGE)``), so a reader
  never finds the run folder missing; elsewhere two renames leave it missing for an instant;
- **leftovers of a killed run** (SIGKILL, a power cut: the staging folder, an old run
  folder half removed, the kernels' scratch folder in the temp folder) are found and
  removed by the next run into the same ``--out`` (:func:`remove_leftovers`), with a log
  line. A folder is only removed when the run that made it is provably gone: its run-folder
  lock (or, for a scratch folder, the lock inside it) can be taken;
- **operating-system errors** on the output folder (a file in the way, no permission, a
  full disk) are :class:`~trialkit.errors.OutputError` s naming the path and the fix
  (:func:`make_out_root`).

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> staging = Path(tempfile.mkdtemp(dir=out, prefix=".weekly.", suffix=".partial"))
    >>> _ = (staging / "index.html").write_text("new run")
    >>> swap_folder(staging, out / "weekly")
    >>> sorted(p.name for p in out.iterdir()), (out / "weekly" / "index.html").read_text()
    (['weekly'], 'new run')
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from trialkit.errors import OutputError, describe_os_error

#: A run's staging folder (:func:`trialkit.report.runner.make_staging`) and an old run
#: folder moved aside by a swap: ``.<run-name>.<8 random characters>.partial`` and
#: ``.<run-name>.<anything>.old``.
STAGING = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.partial$")
OLD = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_-]+\.old$")
#: The kernels' scratch folder of a run (:func:`trialkit.report.runner.pinned_jupyter_env`),
#: in the temp folder, with the lock file its run holds while it lives.
SCRATCH_PREFIX = "trialkit-run-"
SCRATCH_LOCK = ".alive"
SWAP_ATTEMPTS = 100


def make_out_root(out_root: Path) -> Path:
    """Create the parent of the run folders (``--out``); an OS error becomes an :class:`OutputError`.

    Returns the folder as an absolute path: the notebooks write into it from their own
    working folder, where a relative ``--out`` would name another place (and their tables
    and figures would be lost).

    Example:
        >>> import tempfile
        >>> file = Path(tempfile.mkdtemp()) / "out"
        >>> _ = file.write_text("not a folder")
        >>> make_out_root(file)
        Traceback (most recent call last):
        trialkit.errors.OutputError: trialkit: --out .../out is a file, not a folder; remove it or give another --out.
    """
    try:
        if out_root.exists() and not out_root.is_dir():
            raise OutputError(f"trialkit: --out {out_root} is a file, not a folder; remove it or give another --out.")
        out_root.mkdir(parents=True, exist_ok=True)
        if not os.access(out_root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(out_root))
    except OutputError:
        raise
    except FileExistsError as exc:  # a file where a parent folder should be
        raise OutputError(f"trialkit: cannot create the output folder {out_root}: {exc.filename or 'a parent'} "
                          f"is a file, not a folder; move it or give another --out.") from None
    except OSError as exc:
        raise OutputError(describe_os_error(exc, doing="write the output folder", path=out_root)) from None
    return Path(os.path.abspath(out_root))


# ---------------------------------------------------------------------------------------
# the swap
# ---------------------------------------------------------------------------------------

def swap_folder(staging: Path, final: Path) -> None:
    """Put the complete folder ``staging`` at ``final``, replacing what is there, atomically.

    Swaps into one folder take turns (``flock`` on the folder); each attempt exchanges the
    two folders in one step where the system can (Linux), else moves the old one aside and
    renames the new one in. When someone else changed ``final`` meanwhile (it vanished, or
    a new one appeared between the two renames), the attempt is repeated, so the swap
    fails only for a real error (then ``staging`` is still there, whole). The old run
    folder is removed afterwards.

    Raises:
        OSError: the swap itself is impossible (permissions, a full disk, a file at ``final``).
    """
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise NotADirectoryError(errno.ENOTDIR, "a file (or a link) stands where the run folder goes", str(final))
    with _folder_lock(final.parent):
        for _ in range(SWAP_ATTEMPTS):
            aside = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.old")
            try:
                if _exchange(staging, final):
                    os.rename(staging, aside)   # staging's path now holds the old run
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(final, aside)   # nothing there: a first run
                    os.rename(staging, final)
            except FileNotFoundError:
                if not staging.exists():
                    raise
                continue  # final vanished under us: try again
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and staging.exists():
                    continue  # a new final appeared between the renames: move it aside too
                raise
            shutil.rmtree(aside, ignore_errors=True)
            return
    raise OSError(errno.EBUSY, f"the run folder kept changing during {SWAP_ATTEMPTS} attempts to replace it",
                  str(final))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2


def _exchange(staging: Path, final: Path) -> bool:
    """Exchange two existing folders in one step (True); False when ``final`` does not exist
    or the system cannot (not Linux, an old C library, a file system without it)."""
    global _renameat2
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(final), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        _renameat2 = None  # this system cannot: two renames from now on
        return False
    if err == errno.ENOENT:
        if not staging.exists():
            raise FileNotFoundError(err, os.strerror(err), str(staging))
        return False  # no final yet
    raise OSError(err, os.strerror(err), str(final))


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on a folder; without one where the system has none (some
    network file systems), the retries of :func:`swap_folder` still keep swaps whole."""
    import fcntl  # POSIX only: imported where used

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# ---------------------------------------------------------------------------------------
# leftovers of a killed run
# ---------------------------------------------------------------------------------------

def remove_leftovers(out_root: Path, *, held: Iterable[str] = (),
                     try_lock: Callable[[str], contextlib.AbstractContextManager[object]] | None = None,
                     log: Callable[[str], None] | None = None) -> list[Path]:
    """Remove what killed runs left in ``out_root`` and in the temp folder; return what was removed.

    Staging and old folders of the run names in ``held`` (whose run-folder locks the caller
    holds) are removed; those of other run names only when their lock can be taken (that
    run is gone). Scratch folders in the temp folder are removed when their run no longer
    holds the lock file in them. Each removal is logged, one line per folder.

    Args:
        out_root: the parent of the run folders (``--out``).
        held: run names whose locks the caller holds.
        try_lock: run name -> a context manager that holds that run folder's lock, raising
            :class:`~trialkit.errors.RunLockedError` at once when a live run holds it
            (the runner's ``run_folder_lock(out_root, name, timeout=0)``); None: only the
            ``held`` names are cleaned.
        log: where the log lines go (default: stderr).
    """
    from trialkit.errors import RunLockedError

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    held = set(held)
    by_name: dict[str, list[Path]] = {}
    with contextlib.suppress(OSError):
        for entry in out_root.iterdir():
            match = STAGING.match(entry.name) or OLD.match(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                by_name.setdefault(match.group("name"), []).append(entry)
    removed: list[Path] = []
    for name, folders in sorted(by_name.items()):
        if name in held:
            removed += _remove(folders, say)
            continue
        if try_lock is None:
            continue
        try:
            with try_lock(name):
                removed += _remove(folders, say)
        except RunLockedError:
            continue  # that run is alive: its folders are its own
    removed += remove_dead_scratch(log=say)
    return removed


def remove_dead_scratch(*, log: Callable[[str], None]) -> list[Path]:
    """Scratch folders of runs that are gone: this user's, whose lock file nobody holds."""
    import fcntl

    removed = []
    temp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in sorted(temp.glob(f"{SCRATCH_PREFIX}*")):
            with contextlib.suppress(OSError):
                if not entry.is_dir() or entry.is_symlink() or entry.stat().st_uid != os.getuid():
                    continue
                lock = entry / SCRATCH_LOCK
                if not lock.is_file():
                    continue  # not one of ours, or just being created
                with open(lock, "a") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its run is alive
                    removed += _remove([entry], log, what="scratch folder")
    return removed


def hold_scratch_lock(scratch: Path) -> Callable[[], None]:
    """Mark a scratch folder as alive for as long as this process holds the returned lock;
    call the returned function to let go (also done by the OS when the process dies)."""
    import fcntl

    handle = open(scratch / SCRATCH_LOCK, "a")  # noqa: SIM115 - held for the run
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle.close


def _remove(folders: Iterable[Path], log: Callable[[str], None], *, what: str | None = None) -> list[Path]:
    removed = []
    for folder in folders:
        kind = what or ("staging folder" if folder.name.endswith(".partial") else "old run folder")
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            log(f"trialkit: removed the {kind} {folder} left by an interrupted run")
            removed.append(folder)
    return removed
