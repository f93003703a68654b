"""The local scheduler on a controllable clock: right firing times, no overlaps, crash recovery.

Runs are real child processes that hold the real workspace run lock (mlops.runlock) for as
long as the test wants, so "a run is in progress" is what the kernel says, not a flag.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlops.runlock import current_holder, lock_path, run_lock
from mlops.runrecords import RunRecord, save_record
from mlops.scheduler import (
    LocalScheduler,
    SchedulerAlreadyRunningError,
    firings_path,
    next_firings,
    read_firings,
    scheduler_lock,
)
from pipelines.config import PlatformConfig, load_config
from tests.conftest import CONFIG_FILE

UTC = dt.UTC
REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> dt.datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += dt.timedelta(seconds=seconds)

    def advance_to(self, hour: int, minute: int) -> None:
        self.current = self.current.replace(hour=hour, minute=minute)


_HOLDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from mlops.runlock import run_lock
    workspace, run_id, release = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    with run_lock(workspace, run_id, "schedule"):
        Path(str(release) + ".started").write_text("1")
        while not release.exists():
            time.sleep(0.05)
    sys.exit(int(release.read_text() or 0))
""")


@dataclass
class LockHoldingLauncher:
    """Starts a child that takes the run lock and exits with a code the test chooses."""

    workspace: Path
    started: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __call__(self, config: PlatformConfig, reason: str) -> _Handle:
        holder = current_holder(self.workspace)
        if holder is not None:
            from mlops.runlock import RunInProgressError

            raise RunInProgressError(f"run {holder.run_id} in progress")
        run_id = f"run-{len(self.started) + 1}"
        release = self.workspace / f"{run_id}.release"
        process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(self.workspace), run_id,
                                    str(release)], cwd=REPO, env=dict(os.environ))
        self.started.append(run_id)
        self.processes.append(process)
        while not Path(str(release) + ".started").exists():
            assert process.poll() is None, "lock holder died"
        return _Handle(run_id, process)

    def finish(self, run_id: str, code: int = 0) -> None:
        (self.workspace / f"{run_id}.release").write_text(str(code))
        self.processes[self.started.index(run_id)].wait(timeout=30)


@dataclass
class _Handle:
    run_id: str
    process: subprocess.Popen[bytes]

    def poll(self) -> int | None:
        return self.process.poll()


def _config(tmp_path: Path, cron: str = "0 * * * *", catch_up: bool = False,
            zone: str = "UTC") -> PlatformConfig:
    return load_config(CONFIG_FILE, {"pipeline.workspace": str(tmp_path / "ws"),
                                     "schedule.cron": cron, "schedule.catch_up": catch_up,
                                     "schedule.time_zone": zone})


def _events(config: PlatformConfig) -> list[tuple[str, str]]:
    return [(e["event"], e["scheduled"][11:16]) for e in read_firings(config.workspace)]


def test_fires_on_the_cron_times_and_skips_overlaps(tmp_path: Path) -> None:
    config = _config(tmp_path)
    clock = FakeClock(dt.datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    launcher = LockHoldingLauncher(config.workspace)
    scheduler = LocalScheduler(config, clock, launcher)
    scheduler.recover()

    scheduler.step()  # 09:30: nothing due yet
    assert launcher.started == []
    assert scheduler.seconds_until_next() == 30 * 60  # sleeps exactly until 10:00

    clock.advance_to(10, 0)
    scheduler.step()  # 10:00 fires
    assert launcher.started == ["run-1"]

    clock.advance_to(11, 0)
    scheduler.step()  # 11:00 while run-1 still holds the lock: skipped, no second run
    assert launcher.started == ["run-1"]

    launcher.finish("run-1", code=0)
    clock.advance_to(11, 5)
    scheduler.step()  # settles run-1
    clock.advance_to(12, 0)
    scheduler.step()  # 12:00 fires again
    assert launcher.started == ["run-1", "run-2"]
    launcher.finish("run-2", code=3)
    clock.advance_to(12, 1)
    scheduler.step()

    assert _events(config) == [
        ("fired", "10:00"), ("skipped", "11:00"), ("finished", "10:00"),
        ("fired", "12:00"), ("finished", "12:00"),
    ]
    events = read_firings(config.workspace)
    assert "overlap: scheduled run run-1 is still running" in events[1]["reason"]
    assert (events[2]["run_id"], events[2]["exit_code"], events[2]["outcome"]) == (
        "run-1", 0, "pushed")
    assert (events[4]["exit_code"], events[4]["outcome"]) == (3, "not blessed")


def test_a_manual_run_holding_the_lock_blocks_a_firing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    clock = FakeClock(dt.datetime(2026, 11, 22, 9, 59, tzinfo=UTC))
    launcher = LockHoldingLauncher(config.workspace)
    scheduler = LocalScheduler(config, clock, launcher)
    scheduler.recover()
    with run_lock(config.workspace, "manual-1", "manual"):
        clock.advance_to(10, 0)
        scheduler.step()
    assert launcher.started == []
    event = read_firings(config.workspace)[0]
    assert event["event"] == "skipped" and "run manual-1 (manual)" in event["reason"]


def test_time_zone_and_the_run_loop_on_the_clock(tmp_path: Path) -> None:
    config = _config(tmp_path, cron="30 3 * * *", zone="Europe/Berlin")
    # 03:30 in Berlin is 02:30 UTC in winter
    clock = FakeClock(dt.datetime(2026, 11, 22, 0, 0, tzinfo=UTC))
    finished: list[str] = []

    @dataclass
    class Instant:
        run_id: str

        def poll(self) -> int:
            return 0

    def launcher(_config: PlatformConfig, reason: str) -> Instant:
        finished.append(reason)
        return Instant(f"r{len(finished)}")

    LocalScheduler(config, clock, launcher).run(max_steps=4)
    assert finished == ["schedule 2026-11-22T03:30:00+01:00", "schedule 2026-11-23T03:30:00+01:00"]
    assert clock.slept[0] == 2.5 * 3600
    assert [t.isoformat() for t in next_firings(config, clock.now(), 2)] == [
        "2026-11-24T03:30:00+01:00", "2026-11-25T03:30:00+01:00"]


@pytest.mark.parametrize(("catch_up", "expected_runs"), [(False, 1), (True, 3)])
def test_downtime_follows_the_catch_up_policy(tmp_path: Path, catch_up: bool,
                                              expected_runs: int) -> None:
    config = _config(tmp_path, catch_up=catch_up)
    firings_path(config.workspace).parent.mkdir(parents=True)
    firings_path(config.workspace).write_text(json.dumps(
        {"event": "finished", "scheduled": "2026-11-22T09:00:00+00:00", "run_id": "old",
         "exit_code": 0, "outcome": "pushed", "at": "2026-11-22T09:20:00+00:00"}) + "\n")
    clock = FakeClock(dt.datetime(2026, 11, 22, 12, 10, tzinfo=UTC))  # down 10:00-12:00
    launcher = LockHoldingLauncher(config.workspace)
    scheduler = LocalScheduler(config, clock, launcher)
    scheduler.recover()
    for _ in range(expected_runs):
        scheduler.step()
        launcher.finish(launcher.started[-1])
    scheduler.step()
    assert len(launcher.started) == expected_runs
    fired = [e["scheduled"][11:16] for e in read_firings(config.workspace)
             if e["event"] == "fired"]
    assert fired == (["10:00", "11:00", "12:00"] if catch_up else ["12:00"])
    if not catch_up:
        assert [e["event"] for e in read_firings(config.workspace)][1:3] == ["skipped"] * 2


def test_recovers_after_a_crash_with_a_stale_lock_and_an_unsettled_run(tmp_path: Path) -> None:
    config = _config(tmp_path)
    workspace = config.workspace
    # The previous scheduler fired run "crashed-1" at 10:00 and died; the run itself finished
    # and wrote its record. A killed run left its lock file behind with a dead pid in it.
    firings_path(workspace).parent.mkdir(parents=True)
    firings_path(workspace).write_text(json.dumps(
        {"event": "fired", "scheduled": "2026-11-22T10:00:00+00:00", "run_id": "crashed-1",
         "at": "2026-11-22T10:00:00+00:00"}) + "\n" + '{"event": "fin')  # torn last line
    save_record(workspace, RunRecord(run_id="crashed-1", reason="schedule", finished=1.0,
                                     outcome="pushed", exit_code=0))
    lock_path(workspace).write_text(json.dumps(
        {"pid": 999999, "run_id": "killed", "reason": "schedule", "started": 0.0}))
    (workspace / "schedule" / "scheduler.lock").write_text("")

    clock = FakeClock(dt.datetime(2026, 11, 22, 10, 30, tzinfo=UTC))
    launcher = LockHoldingLauncher(workspace)
    scheduler = LocalScheduler(config, clock, launcher)
    with scheduler_lock(workspace):  # the dead scheduler's lock file does not block
        scheduler.recover()
        clock.advance_to(11, 0)
        scheduler.step()
        with pytest.raises(SchedulerAlreadyRunningError), scheduler_lock(workspace):
            pass
    assert launcher.started == ["run-1"]  # the stale run lock did not block the firing
    launcher.finish("run-1")
    events = read_firings(workspace)
    assert events[1] == {**events[1], "event": "finished", "run_id": "crashed-1",
                         "outcome": "pushed", "recovered": True}
    assert (events[2]["event"], events[2]["scheduled"][11:16]) == ("fired", "11:00")


def test_recovery_waits_for_an_orphaned_run_still_holding_the_lock(tmp_path: Path) -> None:
    config = _config(tmp_path)
    launcher = LockHoldingLauncher(config.workspace)
    orphan = launcher(config, "schedule")  # started by a scheduler that then crashed
    firings_path(config.workspace).parent.mkdir(parents=True)
    firings_path(config.workspace).write_text(json.dumps(
        {"event": "fired", "scheduled": "2026-11-22T10:00:00+00:00", "run_id": orphan.run_id,
         "at": "2026-11-22T10:00:00+00:00"}) + "\n")
    clock = FakeClock(dt.datetime(2026, 11, 22, 10, 59, tzinfo=UTC))
    scheduler = LocalScheduler(config, clock, launcher)
    scheduler.recover()
    clock.advance_to(11, 0)
    scheduler.step()  # the orphan still runs: the 11:00 firing is an overlap
    assert launcher.started == ["run-1"]
    launcher.finish("run-1", code=4)
    clock.advance_to(11, 1)
    scheduler.step()
    assert [e["event"] for e in read_firings(config.workspace)] == [
        "fired", "skipped", "finished"]
    settled = read_firings(config.workspace)[2]
    # The orphan was not our child, so its exit code is unknown; it wrote no run record.
    assert (settled["run_id"], settled["exit_code"], settled["outcome"], settled["recovered"]) \
        == ("run-1", -1, "interrupted", True)
