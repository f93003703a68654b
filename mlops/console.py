"""How runs look in a terminal: one line per component, and a summary of tables at the end."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tabulate import tabulate

from mlops.runtime import silence_library_warnings
from mlops.summary import OVERALL_SLICE, RunSummary

if TYPE_CHECKING:
    from pipelines.runners.local import ComponentEvent

MAX_SLICE_ROWS = 40


def configure_logging(log_file: Path | None, verbose: bool = False) -> None:
    """Console: the platform's own INFO lines and everyone's errors. File: everything at INFO.

    TFX, Beam and TensorFlow log thousands of INFO lines per run; they go to the run's log file
    so the console stays readable.
    """
    silence_library_warnings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    tensorflow_logger = logging.getLogger("tensorflow")  # has its own stderr handler
    tensorflow_logger.handlers.clear()
    tensorflow_logger.propagate = True
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(
        lambda record: verbose
        or record.name.startswith("mlops")
        or (record.levelno >= logging.ERROR and record.name != "absl")
    )
    console.setLevel(logging.INFO)
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(to_file)


def progress_printer(out: TextIO = sys.stdout):  # type: ignore[no-untyped-def]
    """A ComponentEvent callback printing one line per component start and finish."""
    width = 28

    def show(event: ComponentEvent) -> None:
        prefix = f"[{event.index:>2}/{event.total}] {event.node_id:<{width}}"
        if event.phase == "start":
            print(f"{prefix} started", file=out, flush=True)
        elif event.phase == "failed":
            print(f"{prefix} FAILED after {event.seconds:.1f}s", file=out, flush=True)
        else:
            outcome = "cached (reused from an earlier run)" if event.cached else "done"
            print(f"{prefix} {outcome} in {event.seconds:.1f}s", file=out, flush=True)

    return show


def _fmt(value: float | None) -> str:
    """Blank when absent; "n/a" when undefined (NaN, e.g. AUC of a slice without positives)."""
    if value is None:
        return ""
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def render_summary(summary: RunSummary, log_file: Path | None = None) -> str:
    lines = [f"\nRun {summary.run_id}: {summary.status.label}"]
    if summary.components:
        cached = sum(1 for c in summary.components if c.cached)
        rows = [(c.node_id, c.state.lower(), f"{c.seconds:.1f}") for c in summary.components]
        lines += ["", f"Components ({cached} of {len(rows)} served from cache):",
                  tabulate(rows, headers=["component", "state", "seconds"])]
    if summary.rows_per_split:
        lines += ["", "Rows per split: " + ", ".join(
            f"{split} {count:,}" for split, count in summary.rows_per_split.items())]
    lines.append("")
    if summary.anomalies:
        lines += [f"Anomalies ({len(summary.anomalies)}):", tabulate(
            [(a.split, a.feature, a.kind, a.description) for a in summary.anomalies],
            headers=["split", "feature", "anomaly", "description"], maxcolwidths=[None, None,
                                                                                   None, 70])]
    elif summary.rows_per_split:
        lines.append("Anomalies: none")
    overall = [m for m in summary.metrics if m.slice == OVERALL_SLICE]
    if overall:
        lines += ["", "Evaluation (overall, candidate vs. last blessed baseline):", tabulate(
            [(m.metric, _fmt(m.value), _fmt(m.baseline), _fmt(m.lower_bound), _fmt(m.max_drop),
              {True: "pass", False: "FAIL", None: ""}[m.passed]) for m in overall],
            headers=["metric", "candidate", "baseline", "lower bound", "max drop", "threshold"])]
        slices = _slice_table(summary)
        if slices:
            lines += ["", "Per slice:", slices]
    if summary.validation_failures:
        lines += ["", "Failed thresholds:"] + [f"  - {f}" for f in summary.validation_failures]
    if summary.blessed is not None:
        lines += ["", f"Blessed: {'yes' if summary.blessed else 'no'}"]
    if summary.pushed_version:
        lines.append(f"Pushed: version {summary.pushed_version} -> {summary.pushed_path}"
                     + (" (identical to the version already serving: not copied again)"
                        if summary.already_serving else ""))
    if summary.error and summary.status.exit_code not in (0, 3):
        lines += ["", f"Error: {summary.error}"]
    if log_file is not None:
        lines += ["", f"Full log: {log_file}"]
    return "\n".join(lines)


def _slice_table(summary: RunSummary) -> str:
    per_slice: dict[str, dict[str, float | None]] = {}
    for row in summary.metrics:
        if row.slice != OVERALL_SLICE:
            per_slice.setdefault(row.slice, {})[row.metric] = row.value
    if not per_slice:
        return ""
    metrics = sorted({m for values in per_slice.values() for m in values})
    rows = [[name, *(_fmt(values.get(m)) for m in metrics)]
            for name, values in sorted(per_slice.items())[:MAX_SLICE_ROWS]]
    more = len(per_slice) - MAX_SLICE_ROWS
    table = tabulate(rows, headers=["slice", *metrics])
    return table + (f"\n  ... and {more} more slices" if more > 0 else "")
