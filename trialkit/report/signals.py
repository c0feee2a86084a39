"""Signals during ``trialkit run``: SIGTERM, SIGINT and SIGHUP stop a run the same way, promptly.

``timeout``, systemd and docker stop a process with SIGTERM; a person with Ctrl-C (SIGINT);
a closed terminal with SIGHUP. Each one, while a run is going:

1. stops the notebooks at once: every kernel of the run is killed (its process group), so
   no report waits for a long cell to end, and reports not started yet are not started;
2. keeps what is finished: reports that ran to the end keep their HTML, stopped ones
   their executed notebook up to the cell that was running; the run folder is written
   with ``index.html`` and ``manifest.json`` saying the run is partial (status
   ``interrupted``, the signal's name), then swapped into place whole;
3. leaves nothing behind: the staging and scratch folders are removed;
4. exits with 128 + the signal number, the shell's convention: 130 for SIGINT, 143 for
   SIGTERM, 129 for SIGHUP.

A second signal during that clean-up does not cut it short (it takes a second or two);
SIGKILL cannot be caught at all: the next run into the same ``--out`` removes what such a
run left (:func:`trialkit.report.swap.remove_leftovers`).

Handlers are installed only in the main thread (Python delivers signals there); a run
started from another thread keeps the process's own handlers.

Example:
    >>> with interruptible() as stop:
    ...     stop.received is None
    True
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: The signals that stop a run (SIGKILL and SIGSTOP cannot be handled).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunInterrupted(BaseException):
    """A stop signal arrived during a run (a BaseException, like KeyboardInterrupt, so that
    no ``except Exception`` in between swallows it).

    Attributes:
        signum: the signal number; ``exit_code`` is 128 + it.
    """

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    """'SIGTERM' for 15."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass
class StopState:
    """What :func:`interruptible` saw: the first stop signal (None: none yet)."""

    received: int | None = None
    raised: bool = False
    deferring: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block a signal must not cut in half (writing the index, the swap): a signal that
        arrives inside it is raised when the block ends."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1
        if not self.deferring and self.received is not None and not self.raised:
            self.raised = True
            raise RunInterrupted(self.received)


@contextlib.contextmanager
def interruptible(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[StopState]:
    """While inside, the first stop signal raises :class:`RunInterrupted` in the main thread.

    Later signals are only noted, so the clean-up that follows the first one is not cut
    short. The previous handlers come back at the end.
    """
    state = StopState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        if state.received is not None:
            return
        state.received = signum
        if not state.deferring:
            state.raised = True
            raise RunInterrupted(signum)

    previous = {}
    for signum in signals:
        with contextlib.suppress(OSError, ValueError):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield state
    finally:
        for signum, old in previous.items():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, old)


class KernelRegistry:
    """The kernels a run has started, so that a stop signal can kill them all at once.

    The runner's kernel manager class (:func:`tracked_kernel_manager`) adds each kernel
    when it has started and removes it when it is cleaned up; :meth:`stop_all` kills the
    process group of every live one and makes kernels that start afterwards die at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._managers: set[Any] = set()
        self.stopping = False
        self.reason = ""  # the signal's name, for the reports it stops

    def add(self, manager: Any) -> None:
        with self._lock:
            self._managers.add(manager)
            stopping = self.stopping
        if stopping:
            _kill(manager)

    def discard(self, manager: Any) -> None:
        with self._lock:
            self._managers.discard(manager)

    def stop_all(self, *, reason: str = "a signal") -> int:
        """Kill every live kernel; return how many."""
        with self._lock:
            self.stopping, self.reason = True, reason
            managers = list(self._managers)
        return sum(_kill(m) for m in managers)


def _kill(manager: Any) -> bool:
    """SIGKILL a kernel's process group, only while its process is not reaped (so the group
    id cannot belong to another process by then)."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    if process is None or process.poll() is not None:
        return False
    try:
        os.killpg(os.getpgid(process.pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            process.kill()
    return True


#: The registry of the run in progress (one run at a time per process: the run lock).
KERNELS = KernelRegistry()


@contextlib.contextmanager
def fresh_registry() -> Iterator[KernelRegistry]:
    """A new :data:`KERNELS` for one run (a previous run's ``stopping`` must not carry over)."""
    global KERNELS
    previous, KERNELS = KERNELS, KernelRegistry()
    try:
        yield KERNELS
    finally:
        KERNELS = previous


@functools.lru_cache(maxsize=1)
def tracked_kernel_manager() -> type:
    """jupyter_client's AsyncKernelManager that registers its kernel in :data:`KERNELS`.

    Passed to nbclient (through papermill) as ``kernel_manager_class``.
    """
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
            registry = KERNELS
            self._trialkit_registry = registry
            await super().start_kernel(**kwargs)
            registry.add(self)

        async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
            getattr(self, "_trialkit_registry", KERNELS).discard(self)
            await super().cleanup_resources(restart=restart)

    return TrackedKernelManager
