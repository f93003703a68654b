"""The embedded scheduler: runs the pipeline on ``schedule.cron`` when there is no Kubeflow.

It reads the same ``schedule`` section as the Kubeflow recurring run and starts each run the
way every trigger does (``mlops.trigger`` -> ``mlops run`` in a child process, which takes the
workspace run lock). Rules:

* Fires at the cron's times in ``schedule.time_zone`` (croniter), never two runs at once: a
  firing that comes due while any run holds the workspace lock (scheduled, manual, dashboard,
  drift) is skipped and recorded as such.
* After downtime, ``schedule.catch_up`` decides: run every missed firing, one after another
  (true), or only the latest one (false, like Kubeflow's ``no_catchup``).
* Every firing and its outcome is appended to ``<workspace>/schedule/firings.jsonl``; on start
  it reads that log back, so a crashed scheduler resumes where it stopped and settles runs it
  had started (from their run records) instead of forgetting them.
* One scheduler per workspace (a crash-safe flock, like the run lock).
* Pausing (``mlops schedule pause``, or the dashboard) writes ``schedule/paused.json``; while
  it exists, due firings are recorded as skipped ("paused by ...") instead of started.

Time comes from an injectable :class:`Clock`, and runs from an injectable launcher, so tests
drive a whole day of firings in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

from mlops.cron import normalize
from mlops.exit_codes import run_outcome
from mlops.runlock import RunInProgressError, current_holder
from mlops.runrecords import load_record
from pipelines.config import PlatformConfig

SCHEDULE_DIR = "schedule"
FIRINGS_FILE = "firings.jsonl"
SCHEDULER_LOCK = "scheduler.lock"
PAUSE_FILE = "paused.json"


class Clock(Protocol):
    def now(self) -> dt.datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time (UTC, time zone aware)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class RunHandle(Protocol):
    run_id: str

    def poll(self) -> int | None:
        """The run's exit code, or None while it runs."""
        ...


Launcher = Callable[[PlatformConfig, str], RunHandle]


class SchedulerAlreadyRunningError(RuntimeError):
    """Another scheduler process serves this workspace."""


@dataclass
class _ProcessHandle:
    run_id: str
    process: Any

    def poll(self) -> int | None:
        return self.process.poll()


def trigger_launcher(config: PlatformConfig, reason: str) -> RunHandle:
    """Start ``mlops run`` in the background (the default launcher)."""
    from mlops.trigger import start_pipeline_run

    started = start_pipeline_run(config, reason=reason)
    return _ProcessHandle(started.run_id, started.process)


@dataclass
class _OrphanHandle:
    """A run started by a scheduler that crashed: followed through the lock and its record."""

    run_id: str
    workspace: Path

    def poll(self) -> int | None:
        holder = current_holder(self.workspace)
        if holder is not None and holder.run_id == self.run_id:
            return None
        record = load_record(self.workspace, self.run_id)
        return record.exit_code if record and record.exit_code is not None else -1


def firings_path(workspace: Path) -> Path:
    return workspace / SCHEDULE_DIR / FIRINGS_FILE


def read_firings(workspace: Path) -> list[dict[str, Any]]:
    """Every recorded event, oldest first (a torn last line from a crash is ignored)."""
    path = firings_path(workspace)
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def pause_state(workspace: Path) -> dict[str, Any] | None:
    """Who paused the schedule, when and why; None while it is active."""
    path = workspace / SCHEDULE_DIR / PAUSE_FILE
    if not path.exists():
        return None
    try:
        return dict(json.loads(path.read_text()))
    except ValueError:
        return {"by": "unknown", "at": None, "reason": "unreadable pause record"}


def pause_schedule(workspace: Path, by: str, reason: str = "") -> bool:
    """Pause firing (the scheduler process keeps running); False if it was already paused."""
    if pause_state(workspace) is not None:
        return False
    path = workspace / SCHEDULE_DIR / PAUSE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"by": by, "at": dt.datetime.now(dt.UTC).isoformat(), "reason": reason}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)
    return True


def resume_schedule(workspace: Path) -> bool:
    """Resume firing; False if it was not paused."""
    path = workspace / SCHEDULE_DIR / PAUSE_FILE
    if not path.exists():
        return False
    path.unlink()
    return True


def next_firings(config: PlatformConfig, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next ``count`` firing times after ``after``, in schedule.time_zone."""
    zone = ZoneInfo(config.schedule.time_zone)
    iterator = croniter(normalize(config.schedule.cron), after.astimezone(zone))
    return [iterator.get_next(dt.datetime) for _ in range(count)]


@contextmanager
def scheduler_lock(workspace: Path) -> Iterator[None]:
    directory = workspace / SCHEDULE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(directory / SCHEDULER_LOCK, "a+")  # noqa: SIM115 - held open
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SchedulerAlreadyRunningError(
                f"a scheduler is already running for {workspace} "
                f"({directory / SCHEDULER_LOCK}); stop it first"
            ) from None
        yield
    finally:
        handle.close()


class LocalScheduler:
    """Fires pipeline runs on the configured cron; see the module docstring for the rules."""

    def __init__(self, config: PlatformConfig, clock: Clock | None = None,
                 launcher: Launcher = trigger_launcher, poll_seconds: float = 30.0) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.launcher = launcher
        self.poll_seconds = poll_seconds
        self.workspace = config.workspace
        self._zone = ZoneInfo(config.schedule.time_zone)
        self._cron = normalize(config.schedule.cron)
        self._running: tuple[dt.datetime, RunHandle] | None = None
        self._backlog: list[dt.datetime] = []
        self._last: dt.datetime | None = None

    # ----- records -----------------------------------------------------------------------
    def _record(self, event: str, scheduled: dt.datetime, **details: Any) -> None:
        path = firings_path(self.workspace)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"event": event, "scheduled": scheduled.isoformat(),
                 "at": self.clock.now().isoformat(), **details}
        with open(path, "a") as sink:
            sink.write(json.dumps(entry) + "\n")
            sink.flush()

    # ----- recovery ----------------------------------------------------------------------
    def recover(self) -> None:
        """Resume from the log: the last handled firing, and any run left without an outcome."""
        path = firings_path(self.workspace)
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "a") as sink:  # end a line torn by a crash before appending
                sink.write("\n")
        events = read_firings(self.workspace)
        if events:
            self._last = max(dt.datetime.fromisoformat(e["scheduled"]) for e in events)
        else:
            self._last = self.clock.now()  # a new schedule starts now; it does not backfill
        finished = {e.get("run_id") for e in events if e["event"] == "finished"}
        for event in events:
            if event["event"] == "fired" and event["run_id"] not in finished:
                handle = _OrphanHandle(event["run_id"], self.workspace)
                self._running = (dt.datetime.fromisoformat(event["scheduled"]), handle)
                self._reap()

    # ----- one step ----------------------------------------------------------------------
    def _busy(self) -> str | None:
        if self._running is not None:
            return f"scheduled run {self._running[1].run_id} is still running"
        holder = current_holder(self.workspace)
        if holder is not None:
            return f"run {holder.run_id} ({holder.reason}) is in progress"
        return None

    def _reap(self) -> None:
        if self._running is None:
            return
        scheduled, handle = self._running
        code = handle.poll()
        if code is None:
            return
        self._running = None
        record = load_record(self.workspace, handle.run_id)
        outcome = (record.outcome if record and record.outcome
                   else run_outcome(code))
        details: dict[str, Any] = {"run_id": handle.run_id, "exit_code": code,
                                   "outcome": outcome}
        if isinstance(handle, _OrphanHandle):
            details["recovered"] = True  # settled after a scheduler restart
        spans = self._spans(handle.run_id)
        if spans:
            details["spans"] = spans
        self._record("finished", scheduled, **details)

    def _spans(self, run_id: str) -> list[str]:
        """The data spans the run read, from ML Metadata (when data.spans is configured)."""
        spans = self.config.data.spans
        if spans is None or not self.config.metadata_path.exists():
            return []
        from mlops.metadata import MetadataReader
        from pipelines.spans import spans_of_run

        reader = MetadataReader.for_sqlite(self.config.metadata_path)
        return spans_of_run(reader, self.config.pipeline.name, run_id, spans.pattern)

    def _fire(self, scheduled: dt.datetime) -> None:
        reason = f"schedule {scheduled.isoformat()}"
        try:
            handle = self.launcher(self.config, reason)
        except RunInProgressError as error:
            self._record("skipped", scheduled, reason=str(error))
            return
        except Exception as error:  # a launch failure must not stop the schedule
            self._record("failed_to_start", scheduled, error=f"{type(error).__name__}: {error}")
            return
        self._running = (scheduled, handle)
        self._record("fired", scheduled, run_id=handle.run_id)

    def due(self, now: dt.datetime) -> list[dt.datetime]:
        """Firing times in (last handled, now]."""
        assert self._last is not None, "call recover() first"
        times = []
        iterator = croniter(self._cron, self._last.astimezone(self._zone))
        while True:
            moment = iterator.get_next(dt.datetime)
            if moment > now:
                return times
            times.append(moment)

    def step(self) -> None:
        """Settle a finished run, then handle every firing that has come due."""
        now = self.clock.now()
        self._reap()
        due = self.due(now)
        if due:
            self._last = due[-1]
            missed, current = due[:-1], due[-1]
            if missed and self.config.schedule.catch_up:
                self._backlog.extend(missed)
            for moment in missed if not self.config.schedule.catch_up else []:
                self._record("skipped", moment, reason="missed while the scheduler was not "
                             "running (schedule.catch_up: false runs only the latest)")
            paused = pause_state(self.workspace)
            if paused is not None:
                self._backlog.clear()
                self._record("skipped", current, reason=f"paused by {paused.get('by')}"
                             + (f": {paused['reason']}" if paused.get("reason") else ""))
            elif self._backlog:
                self._backlog.append(current)  # behind the missed ones, in order
            else:
                busy = self._busy()
                if busy:
                    self._record("skipped", current, reason=f"overlap: {busy}")
                else:
                    self._fire(current)
        if self._backlog and self._busy() is None:
            self._fire(self._backlog.pop(0))

    def seconds_until_next(self) -> float:
        now = self.clock.now()
        upcoming = croniter(self._cron, now.astimezone(self._zone)).get_next(dt.datetime)
        wait = (upcoming - now).total_seconds()
        if self._running is not None or self._backlog:
            wait = min(wait, self.poll_seconds)
        return max(0.0, wait)

    def run(self, should_stop: Callable[[], bool] = lambda: False,
            max_steps: int | None = None) -> None:
        """The long-running loop (``mlops schedule run-local``)."""
        with scheduler_lock(self.workspace):
            self.recover()
            steps = 0
            while not should_stop() and (max_steps is None or steps < max_steps):
                self.step()
                steps += 1
                self.clock.sleep(self.seconds_until_next())
