"""``mlops drift``: check new data for drift, list and show reports, watch a landing folder.

Exit codes of ``mlops drift check``: 0 no drift, 3 drift found (see the decision), 5 bad input
(nothing triggered, the file left where it is), 6 no serving model to compare with, 2 bad
configuration.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from mlops import exit_codes
from mlops.cli_common import config_option, load, set_option

EXIT_DRIFT = 3
EXIT_INPUT_ERROR = exit_codes.INPUT_ERROR  # as for `mlops run`
EXIT_NO_BASELINE = 6

@click.group()
def drift() -> None:
    """Data drift of new data against the serving model's training data."""


def _print_result(result) -> None:  # type: ignore[no-untyped-def]
    from tabulate import tabulate

    rows = [(f.name, f.kind, f.comparator, f"{f.distance:.4f}", f"{f.threshold:g}",
             "DRIFT" if f.drifted else "ok") for f in result.features]
    click.echo(tabulate(rows, headers=["feature", "kind", "comparator", "distance",
                                       "threshold", "verdict"]))
    verdict = ("drift in " + ", ".join(result.drifted_features)) if result.drifted_features \
        else "no drift"
    click.echo(f"\nCheck {result.check_id}: {verdict} ({result.rows:,} rows)")
    decision = result.decision
    click.echo(f"Decision: {decision.decision}: {decision.reason}"
               + (f" (run {decision.run_id})" if decision.run_id else ""))
    click.echo(f"Report: {result.html_path}")


@drift.command("check")
@config_option
@set_option
@click.argument("location", type=click.Path(path_type=Path))
@click.option("--wait", is_flag=True,
              help="When a retraining run is triggered, wait for it and exit with its code.")
def drift_check(config_path: str, overrides: tuple[str, ...], location: Path,
                wait: bool) -> None:
    """Compare LOCATION (a CSV file or a folder of them) with the serving model's training
    data, save a report, and act on `drift.on_drift` (report, or retrain)."""
    config = load(config_path, overrides)
    from mlops.console import configure_logging
    from mlops.monitoring.baseline import NoBaselineError
    from mlops.monitoring.check import run_check
    from mlops.monitoring.statistics import DriftInputError
    from pipelines.config import ConfigError

    configure_logging(None)
    started: list[object] = []

    def trigger(cfg, **kwargs):  # type: ignore[no-untyped-def]
        from mlops.trigger import start_pipeline_run

        run = start_pipeline_run(cfg, **kwargs)
        started.append(run)
        return run

    try:
        result = run_check(config, location, trigger=trigger,
                           progress=lambda message: click.echo(message, err=True))
    except DriftInputError as error:
        click.echo(f"Input data error (nothing triggered, file left in place): {error}",
                   err=True)
        sys.exit(EXIT_INPUT_ERROR)
    except NoBaselineError as error:
        click.echo(f"No baseline: {error}", err=True)
        sys.exit(EXIT_NO_BASELINE)
    except ConfigError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(exit_codes.CONFIG_ERROR)
    _print_result(result)
    if wait and started:
        run = started[0]
        click.echo(f"Waiting for run {run.run_id} (log {run.output_file}) ...")  # type: ignore[attr-defined]
        sys.exit(run.wait())  # type: ignore[attr-defined]
    sys.exit(EXIT_DRIFT if result.drifted_features else 0)


@drift.group("reports")
def drift_reports() -> None:
    """Drift reports saved in the workspace."""


@drift_reports.command("list")
@config_option
@set_option
@click.option("--limit", default=20, show_default=True, help="Show at most this many.")
def reports_list(config_path: str, overrides: tuple[str, ...], limit: int) -> None:
    """List reports, newest first."""
    from tabulate import tabulate

    from mlops.monitoring.report import list_reports

    config = load(config_path, overrides)
    reports = list_reports(config.workspace)
    if not reports:
        click.echo("No drift reports yet: run `mlops drift check PATH`.")
        return
    rows = [(r.check_id, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created)),
             ", ".join(r.drifted_features) or "-", r.decision or "-", r.html_path)
            for r in reports[:limit]]
    click.echo(tabulate(rows, headers=["check", "created", "drifted", "decision", "report"]))


@drift_reports.command("show")
@config_option
@set_option
@click.argument("check_id")
def reports_show(config_path: str, overrides: tuple[str, ...], check_id: str) -> None:
    """Show one report's per-feature distances and its decision."""
    from tabulate import tabulate

    from mlops.monitoring.report import list_reports, load_report

    config = load(config_path, overrides)
    match = [r for r in list_reports(config.workspace) if r.check_id.startswith(check_id)]
    if len(match) != 1:
        click.echo(f"{'No' if not match else 'More than one'} report matches '{check_id}'; "
                   "see `mlops drift reports list`.", err=True)
        sys.exit(1)
    report = load_report(match[0].json_path)
    rows = [(f["name"], f["comparator"], f"{f['distance']:.4f}", f"{f['threshold']:g}",
             "DRIFT" if f["drifted"] else "ok") for f in report["features"]]
    click.echo(f"Check {report['check_id']} on {', '.join(report['source'])}")
    click.echo(tabulate(rows, headers=["feature", "comparator", "distance", "threshold",
                                       "verdict"]))
    decision = report.get("decision") or {}
    click.echo(f"Decision: {decision.get('decision')}: {decision.get('reason')}")
    click.echo(f"HTML: {match[0].html_path}")


@drift.command("decisions")
@config_option
@set_option
@click.option("--limit", default=20, show_default=True, help="Show at most this many.")
def decisions_list(config_path: str, overrides: tuple[str, ...], limit: int) -> None:
    """The decision log (no drift / reported / cooling down / triggered / run in progress /
    bad input), newest first."""
    from tabulate import tabulate

    from mlops.monitoring.decisions import load_decisions

    config = load(config_path, overrides)
    rows = [(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.time)), d.decision,
             d.run_id or "", d.reason[:100]) for d in reversed(load_decisions(config))][:limit]
    click.echo(tabulate(rows, headers=["time", "decision", "run", "reason"]))


@drift.command("watch")
@config_option
@set_option
@click.option("--interval", type=float, default=None,
              help="Seconds between checks (default: drift.watch_interval_seconds).")
@click.option("--once", is_flag=True, help="Check the pending files once and exit.")
def drift_watch(config_path: str, overrides: tuple[str, ...], interval: float | None,
                once: bool) -> None:
    """Check each new file in the landing folder (drift.landing) on a schedule. Files stay
    where they are; each is checked once (again only if it changes)."""
    config = load(config_path, overrides)
    from mlops.console import configure_logging
    from mlops.monitoring.watch import landing_dir, watch

    configure_logging(None)

    def show(path: Path, outcome: object) -> None:
        if isinstance(outcome, Exception):
            click.echo(f"{path}: bad input, nothing triggered: {outcome}", err=True)
        else:
            decision = outcome.decision  # type: ignore[attr-defined]
            click.echo(f"{path}: {decision.decision}: {decision.reason} "
                       f"(report {outcome.html_path})")  # type: ignore[attr-defined]

    click.echo(f"Watching {landing_dir(config)} every "
               f"{interval or config.drift.watch_interval_seconds:g}s (Ctrl-C stops)")
    try:
        watch(config, interval=interval, cycles=1 if once else None, report=show)
    except KeyboardInterrupt:
        click.echo("Stopped.")
