"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (a cluster's time limit, ``kill``).

Inside :func:`stop_on_signals` the first SIGINT or SIGTERM only records a request; the training
loop checks :func:`stop_requested` after every optimizer step and epoch, saves ``last.pt`` at that
consistent point and raises :class:`Interrupted`. A second signal interrupts at once with
``KeyboardInterrupt``, for a run that hangs elsewhere.

Work that saves nothing (the final evaluation) runs inside :func:`interrupt_on_signals` instead:
the signal raises :class:`Interrupted` at once, with a message saying what was stopped and what is
on disk.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: list[int] = []
_owner_pid: list[int] = []  # the process that installed the handlers


class Interrupted(Exception):
    """Training stopped on a signal after saving ``last.pt``; ``exit_code`` is the shell's 128 + signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def stop_requested() -> int | None:
    """The signal that asked the run to stop, or ``None``."""
    return _requested[0] if _requested else None


def _request_stop(signum: int, frame: FrameType | None) -> None:
    # DataLoader workers forked inside the block inherit this handler and get the terminal's Ctrl-C
    # too; they keep serving batches until the main process has saved and shuts them down.
    if _owner_pid and os.getpid() != _owner_pid[0]:
        return
    if _requested:
        raise KeyboardInterrupt
    _requested.append(signum)
    name = signal.Signals(signum).name
    log.warning("%s received: stopping after the current step (send it again to stop at once)", name)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a stop request for the duration; previous handlers come back after.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _owner_pid[:] = [os.getpid()]
    previous = {signum: signal.signal(signum, _request_stop) for signum in STOP_SIGNALS}
    _requested.clear()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested.clear()
        _owner_pid.clear()


@contextmanager
def interrupt_on_signals(describe: Callable[[int], str]) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` (message ``describe(signum)``) raised at once.

    For work with nothing to save: the files it writes are atomic, so stopping anywhere leaves them
    complete or absent. Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a DataLoader worker forked inside the block
            return
        raise Interrupted(signum, describe(signum))

    previous = {signum: signal.signal(signum, interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
