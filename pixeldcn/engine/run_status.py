"""``status.json`` in every run directory: running while a run works, then how it ended.

Reports (:mod:`pixeldcn.report.runs`) skip runs whose status is not ``finished``, so a failed or
interrupted run never looks like a finished one, and a user can tell at a glance which runs of
an ``outputs/`` tree are still going.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pixeldcn.engine.outputs import write_status
from pixeldcn.engine.signals import Interrupted

KEYBOARD_INTERRUPT_EXIT_CODE = 130  # what a shell reports for a process ended by Ctrl-C (128 + SIGINT)


def _now(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def recorded_status(
    run_dir: str | os.PathLike[str], *, user_errors: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Write ``status.json`` in ``run_dir``: ``running`` now, and on leaving how the block ended.

    ``finished`` (exit code 0); ``interrupted`` for :class:`~pixeldcn.engine.signals.Interrupted`
    (its exit code) and ``KeyboardInterrupt`` (130); ``failed`` for anything else (exit code 1;
    ``error`` is the message of ``user_errors``, the type and message of a bug). Exceptions propagate.
    """
    run_dir = Path(run_dir)
    started = time.time()
    details = {"started": _now(started), "pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv}
    write_status(run_dir, "running", **details)

    def end(status: str, exit_code: int, error: str = "") -> None:
        ended = time.time()
        write_status(
            run_dir,
            status,
            **details,
            ended=_now(ended),
            duration_s=round(ended - started, 3),
            exit_code=exit_code,
            error=error,
        )

    try:
        yield
    except Interrupted as interrupted:
        end("interrupted", interrupted.exit_code, _one_line(interrupted))
        raise
    except KeyboardInterrupt:
        end("interrupted", KEYBOARD_INTERRUPT_EXIT_CODE, "KeyboardInterrupt")
        raise
    except user_errors as error:
        end("failed", 1, _one_line(error))
        raise
    except BaseException as error:
        end("failed", 1, f"{type(error).__name__}: {_one_line(error)}")
        raise
    end("finished", 0)
