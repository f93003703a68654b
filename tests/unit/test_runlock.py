"""One run at a time per workspace; a crashed holder never leaves a stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.runlock import RunInProgressError, current_holder, run_lock
from mlops.runrecords import RunRecord, list_records, load_record, save_record

HOLDER = """
import sys, time
from pathlib import Path
from mlops.runlock import run_lock
with run_lock(Path(sys.argv[1]), "run-held", "schedule"):
    print("held", flush=True)
    time.sleep(120)
"""


def _start_holder(workspace: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace)],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_second_run_is_refused_while_first_holds_lock(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    try:
        holder = current_holder(tmp_path)
        assert holder is not None and holder.run_id == "run-held" and holder.pid == child.pid
        with pytest.raises(RunInProgressError, match="run-held") as error, \
                run_lock(tmp_path, "second"):
            pass
        assert "schedule" in str(error.value)
    finally:
        child.kill()
        child.wait()


def test_crashed_holder_releases_the_lock(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert current_holder(tmp_path) is None  # the stale record in the file is ignored
    with run_lock(tmp_path, "after-crash") as holder:
        assert holder.run_id == "after-crash"
        assert current_holder(tmp_path).run_id == "after-crash"  # type: ignore[union-attr]
    assert current_holder(tmp_path) is None


def test_run_records_round_trip_newest_first(tmp_path: Path) -> None:
    save_record(tmp_path, RunRecord("a", "manual", started=1.0))
    save_record(tmp_path, RunRecord("b", "drift: fare", data_source="/x", started=2.0))
    assert [r.run_id for r in list_records(tmp_path)] == ["b", "a"]
    record = load_record(tmp_path, "b")
    assert record is not None and record.reason == "drift: fare" and record.data_source == "/x"
    assert load_record(tmp_path, "missing") is None
