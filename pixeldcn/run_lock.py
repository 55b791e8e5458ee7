"""One run per run directory: a lock held while a run owns it, taken before Hydra writes anything.

Hydra saves a run's ``.hydra/`` before ``train.py``'s function runs, so :class:`RunDirectoryLock`,
a Hydra callback (``configs/hydra/default.yaml``), takes the lock at ``on_run_start`` (the run
directory; ``resume=`` runs lock the directory they continue) and ``on_multirun_start`` (the sweep
directory). A second run into a directory a live run owns stops at once with one line and
leaves the first one's files alone.

The lock is an ``flock`` on ``<dir>/.run.lock``, a file holding the owner's pid and host. The
kernel releases it when the owner dies, so a lock file left behind by a killed run is taken over,
with a warning naming the run that left it. Under ``torchrun`` only rank 0 locks (every rank
writes into its directory).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pixeldcn.run_files import LOCK_FILE

log = logging.getLogger(__name__)

_held: dict[Path, int] = {}  # lock files this process holds, and their descriptors


class RunDirectoryBusy(RuntimeError):
    """Another live process owns the run directory."""


def acquire(run_dir: str | os.PathLike[str]) -> str | None:
    """Lock ``run_dir`` for this process (creating it); return a warning when a stale lock was taken over.

    Raises :class:`RunDirectoryBusy` naming the owner when another live process holds it. A
    directory this process already holds is not locked twice (runs one after another in one
    process, as in tests).
    """
    run_dir = Path(run_dir).resolve()
    path = run_dir / LOCK_FILE
    if path in _held:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd) or "a process that is starting"
            os.close(fd)
            raise RunDirectoryBusy(
                f"{run_dir} is in use by another run ({owner}): wait until it ends, or pass another hydra.run.dir"
            ) from None
        if _same_file(fd, path):  # not unlinked by its owner's release between the open and the lock
            break
        os.close(fd)
    stale = _owner(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _held[path] = fd
    if not stale:
        return None
    return f"{path} was left by a run that ended without releasing it ({stale}); this run takes it over"


def release(run_dir: str | os.PathLike[str]) -> None:
    """Give up this process's lock of ``run_dir`` (removing the lock file); nothing when it holds none."""
    path = Path(run_dir).resolve() / LOCK_FILE
    fd = _held.pop(path, None)
    if fd is None:
        return
    path.unlink(missing_ok=True)
    os.close(fd)


def _release_all() -> None:
    for path in list(_held):
        release(path.parent)


atexit.register(_release_all)


def _owner(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


class RunDirectoryLock(Callback):
    """Hydra callback (``hydra.callbacks.run_dir_lock``) locking the run or sweep directory (see the module doc)."""

    def __init__(self) -> None:
        self._locked: Path | None = None
        self._warning: str | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._lock(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._lock(config, "hydra.sweep.dir")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self._warning:  # logging is configured by now
            log.warning("%s", self._warning)
            self._warning = None

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._unlock()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._unlock()

    def _lock(self, config: DictConfig, key: str) -> None:
        if int(os.environ.get("RANK", "0")) != 0:
            return
        hydra_config = HydraConfig.instance()
        before = hydra_config.cfg
        hydra_config.set_config(config)  # ${hydra:...} in the directory's name
        try:
            run_dir = Path(str(OmegaConf.select(config, key)))
        finally:
            hydra_config.cfg = before  # as Hydra had it: run_job restores what it finds
        try:
            self._warning = acquire(run_dir)
        except RunDirectoryBusy as error:
            raise SystemExit(str(error)) from None  # one line, exit code 1, before Hydra writes a file
        self._locked = run_dir

    def _unlock(self) -> None:
        if self._locked is not None:
            release(self._locked)
            self._locked = None
