"""Span selection on real ExampleGen runs: dated folders, the last-N window, a new span landing.

Small CSVs (30/40/50/60 rows, one size per span so counts tell spans apart), in-memory Beam,
and only ExampleGen + StatisticsGen run, so the test stays fast while TFX does the reading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops.metadata import MetadataReader
from mlops.scheduler import LocalScheduler, read_firings
from mlops.summary import rows_per_split
from pipelines.config import PlatformConfig
from pipelines.runners.local import run_local
from pipelines.spans import SpanError, list_spans, select_spans, span_number_of_date, spans_of_run
from tests.conftest import make_config, write_sample
from tests.unit.test_scheduler import FakeClock

pytestmark = pytest.mark.slow

PATTERN = "{YYYY}-{MM}-{DD}/*.csv"
ROWS = {"2026-11-20": 30, "2026-11-21": 40, "2026-11-22": 50}


def _land(root: Path, day: str, rows: int) -> None:
    write_sample(root / day / "part-0.csv", rows=rows)


def _config(tmp_path: Path, root: Path, window: str, count: int = 2) -> PlatformConfig:
    return make_config(
        tmp_path / "workspace", root,
        **{"data.spans": {"pattern": PATTERN, "window": window, "count": count},
           "beam.direct_running_mode": "in_memory"},
    )


def _ingested(config: PlatformConfig, run_id: str) -> tuple[int, list[str], dict]:
    reader = MetadataReader.for_sqlite(config.metadata_path)
    run = reader.pipeline_run(config.pipeline.name, run_id)
    assert run is not None and run.nodes["StatisticsGen"].state == "COMPLETE"
    statistics = run.nodes["StatisticsGen"].output("statistics")
    examples = run.nodes["ExampleGen"].output("examples")
    rows = sum(rows_per_split(statistics).values())
    return rows, spans_of_run(reader, config.pipeline.name, run_id, PATTERN), examples.properties


@dataclass
class _Done:
    run_id: str
    code: int

    def poll(self) -> int:
        return self.code


def _ingest_only(config: PlatformConfig, reason: str) -> _Done:
    """A scheduler launcher that runs ExampleGen + StatisticsGen in this process."""
    result = run_local(config, up_to="StatisticsGen")
    assert result.error is None, result.error
    return _Done(result.run_id, 0)


def test_last_two_spans_then_a_new_span_changes_the_next_scheduled_run(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    for day, rows in ROWS.items():
        _land(root, day, rows)
    config = _config(tmp_path, root, "last_n", 2)
    clock = FakeClock(dt.datetime(2026, 11, 23, 2, 59, tzinfo=dt.UTC))
    scheduler = LocalScheduler(config, clock, _ingest_only)  # schedule.cron: 0 3 * * *
    scheduler.recover()

    clock.advance_to(3, 0)
    scheduler.step()
    first = read_firings(config.workspace)[-1]["run_id"]
    rows, spans, _ = _ingested(config, first)
    assert spans == ["2026-11-21", "2026-11-22"]
    assert rows == 40 + 50  # exactly those two spans, not 2026-11-20

    _land(root, "2026-11-23", 60)  # a new span lands before the next scheduled run
    clock.current += dt.timedelta(days=1)
    scheduler.step()  # settles the first run, fires the next day's run
    clock.current += dt.timedelta(minutes=1)
    scheduler.step()  # settles the second
    second = read_firings(config.workspace)[-1]["run_id"]
    rows, spans, _ = _ingested(config, second)
    assert spans == ["2026-11-22", "2026-11-23"]
    assert rows == 50 + 60
    finished = [e for e in read_firings(config.workspace) if e["event"] == "finished"]
    assert [e["spans"] for e in finished] == [["2026-11-21", "2026-11-22"],
                                             ["2026-11-22", "2026-11-23"]]


def test_latest_window_lets_example_gen_record_the_span(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    for day, rows in ROWS.items():
        _land(root, day, rows)
    config = _config(tmp_path, root, "latest")
    result = run_local(config, up_to="StatisticsGen")
    assert result.error is None, result.error
    rows, spans, properties = _ingested(config, result.run_id)
    assert rows == 50 and spans == ["2026-11-22"]
    assert properties["span"] == span_number_of_date(2026, 11, 22)  # TFX's own span property


def test_span_listing_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    for day in ("2026-10-31", "2026-11-01", "2026-11-02", "2026-10-01"):
        _land(root, day, 3)
    (root / "notes").mkdir()
    (root / "notes" / "readme.csv").write_text("x\n1\n")
    assert [s.name for s in list_spans(str(root), PATTERN)] == [
        "2026-10-01", "2026-10-31", "2026-11-01", "2026-11-02"]
    spans = _config(tmp_path, root, "last_n", 2).data.spans
    assert spans is not None
    selection = select_spans(str(root), spans)
    assert selection.names == ["2026-11-01", "2026-11-02"]
    assert selection.input_pattern == "2026-11-0[12]/*.csv"
    three = spans.model_copy(update={"count": 3})
    with pytest.raises(SpanError, match="cannot be read through one file pattern"):
        select_spans(str(root), three)  # 10-31 + 11-0x would also match 10-01
    with pytest.raises(SpanError, match="no span found"):
        select_spans(str(tmp_path / "empty"), spans)
