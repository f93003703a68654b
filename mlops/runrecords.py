"""Why and how each run was started, and how it ended: the facts ML Metadata does not hold.

ML Metadata records what ran; this records who asked (manual, schedule, drift, dashboard), with
which data override, and the outcome the CLI reported. One small JSON file per run, keyed by
the same run id as the ML Metadata ``pipeline_run`` context.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORDS_DIR = "runs"


@dataclass
class RunRecord:
    run_id: str
    reason: str
    data_source: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    outcome: str | None = None
    exit_code: int | None = None


def records_dir(workspace: Path) -> Path:
    return workspace / RECORDS_DIR


def save_record(workspace: Path, record: RunRecord) -> Path:
    directory = records_dir(workspace)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record.run_id}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2))
    temporary.replace(path)  # never a half-written record
    return path


def load_record(workspace: Path, run_id: str) -> RunRecord | None:
    path = records_dir(workspace) / f"{run_id}.json"
    if not path.exists():
        return None
    return RunRecord(**json.loads(path.read_text()))


def list_records(workspace: Path) -> list[RunRecord]:
    """All records, newest first."""
    directory = records_dir(workspace)
    if not directory.exists():
        return []
    records = [RunRecord(**json.loads(p.read_text())) for p in directory.glob("*.json")]
    return sorted(records, key=lambda r: r.started, reverse=True)
