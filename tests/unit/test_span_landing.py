"""New data landing as the next span (what a drift-triggered retraining run reads)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipelines.config import SpanSection
from pipelines.spans import SpanError, next_span_files, select_spans


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a,b\n1,2\n")


def test_numbered_spans_continue_after_the_last(tmp_path: Path) -> None:
    touch(tmp_path / "span-1" / "a.csv")
    touch(tmp_path / "span-3" / "b.csv")
    name, paths = next_span_files(str(tmp_path), "span-{SPAN}/*.csv", 2, "drift-c1")
    assert name == "4"
    assert paths == [str(tmp_path / "span-4" / "drift-c1-0000.csv"),
                     str(tmp_path / "span-4" / "drift-c1-0001.csv")]
    for path in paths:
        touch(Path(path))
    latest = select_spans(str(tmp_path), SpanSection(pattern="span-{SPAN}/*.csv"))
    assert latest.names == ["4"] and set(latest.spans[0].files) == set(paths)


def test_first_span_of_an_empty_root_is_zero(tmp_path: Path) -> None:
    name, paths = next_span_files(str(tmp_path), "span-{SPAN}/*.csv", 1, "x")
    assert name == "0" and paths == [str(tmp_path / "span-0" / "x-0000.csv")]


@pytest.mark.parametrize(("today", "expected"), [
    (dt.date(2026, 11, 25), "2026-11-25"),  # today's folder
    (dt.date(2026, 11, 21), "2026-11-22"),  # today already has a span: never merge into it
    (dt.date(2026, 11, 1), "2026-11-22"),   # a clock behind the data: still after the last
])
def test_dated_spans_land_in_today_or_after_the_last(tmp_path: Path, today: dt.date,
                                                     expected: str) -> None:
    touch(tmp_path / "2026-11-20" / "a.csv")
    touch(tmp_path / "2026-11-21" / "a.csv")
    name, paths = next_span_files(str(tmp_path), "{YYYY}-{MM}-{DD}/*.csv", 1, "drift-c2",
                                  today=today)
    assert name == expected
    assert paths == [str(tmp_path / expected / "drift-c2-0000.csv")]


def test_a_pattern_without_a_wildcard_file_name_cannot_take_several_files(
        tmp_path: Path) -> None:
    touch(tmp_path / "span-1" / "data.csv")
    assert next_span_files(str(tmp_path), "span-{SPAN}/data.csv", 1, "x")[1] == [
        str(tmp_path / "span-2" / "data.csv")]
    with pytest.raises(SpanError, match=r"span-\{SPAN\}/data\.csv"):
        next_span_files(str(tmp_path), "span-{SPAN}/data.csv", 2, "x")
