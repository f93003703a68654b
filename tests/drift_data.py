"""Data for the drift tests and benchmark: resamples and shifted copies of the taxi sample.

A resample draws rows (with replacement) from the training rows, so it has the training
distribution; the edits below move exactly the features they name.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

Row = dict[str, str]
SHIFTED_FEATURES = ("fare", "trip_start_hour", "payment_type")


def read_rows(path: Path) -> tuple[list[str], list[Row]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_resample(source: Path, target: Path, rows: int, seed: int = 0,
                   edit: Callable[[Row, random.Random], Row] | None = None) -> Path:
    """``rows`` rows drawn with replacement from ``source``, optionally edited."""
    columns, pool = read_rows(source)
    rng = random.Random(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for _ in range(rows):
            row = dict(rng.choice(pool))
            writer.writerow(edit(row, rng) if edit else row)
    return target


def shift_row(row: Row, rng: random.Random) -> Row:
    """Fares 30% higher, trip start hours 3 hours later (cyclic, still 0-23), and 60% of card
    payments turned into cash: exactly SHIFTED_FEATURES move."""
    if row["fare"]:
        row["fare"] = f"{float(row['fare']) * 1.3:.2f}"
    if row["trip_start_hour"]:
        row["trip_start_hour"] = str((int(row["trip_start_hour"]) + 3) % 24)
    if row["payment_type"] == "Credit Card" and rng.random() < 0.6:
        row["payment_type"] = "Cash"
    return row
