"""One pipeline run at a time per workspace, with a lock that survives crashes.

The CLI's ``run`` takes this lock, so every way of starting a run (command line, scheduler,
drift trigger, dashboard) is covered. It is an ``fcntl`` lock on a file in the workspace: the
kernel releases it when the holding process dies, so a crash never leaves a stale lock. The
file also records who holds it (pid, run id, reason, start time) for people and the dashboard.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

LOCK_FILE = "run.lock"


class RunInProgressError(RuntimeError):
    """Another pipeline run holds the workspace lock."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    run_id: str
    reason: str
    started: float


def lock_path(workspace: Path) -> Path:
    return workspace / LOCK_FILE


def in_progress_error(workspace: Path, holder: LockHolder | None) -> RunInProgressError:
    detail = f" (run {holder.run_id}, pid {holder.pid}, {holder.reason})" if holder else ""
    return RunInProgressError(
        f"another pipeline run is in progress in {workspace}{detail}; wait for it to finish")


@contextmanager
def run_lock(workspace: Path, run_id: str, reason: str = "manual") -> Iterator[LockHolder]:
    """Hold the workspace's run lock for the duration of the block, or raise at once."""
    workspace.mkdir(parents=True, exist_ok=True)
    path = lock_path(workspace)
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise in_progress_error(workspace, current_holder(workspace)) from None
        holder = LockHolder(os.getpid(), run_id, reason, time.time())
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(holder)))
        handle.flush()
        try:
            yield holder
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def current_holder(workspace: Path) -> LockHolder | None:
    """Who holds the lock right now, or None (a crashed holder's record is ignored)."""
    path = lock_path(workspace)
    if not path.exists():
        return None
    with open(path, "a+") as probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            probe.seek(0)
            text = probe.read()
            try:
                return LockHolder(**json.loads(text))
            except (ValueError, TypeError):
                return LockHolder(-1, "unknown", "unknown", 0.0)
        fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
        return None
