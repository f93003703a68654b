"""``mlops schedule ...``: the embedded scheduler that runs the pipeline on schedule.cron."""

from __future__ import annotations

import datetime as dt
import signal
import sys
from typing import Any

import click

from mlops import exit_codes
from mlops.cli_common import config_option, set_option
from mlops.cli_common import load as _load


def _checked(config: Any) -> None:
    from mlops.cron import CronError, normalize

    try:
        normalize(config.schedule.cron)
    except CronError as error:
        click.echo(f"Configuration error: schedule.cron: {error}", err=True)
        sys.exit(exit_codes.CONFIG_ERROR)


@click.group()
def schedule() -> None:
    """Scheduled retraining on this machine (Kubeflow: `mlops kubeflow schedule`)."""


@schedule.command("show")
@config_option
@set_option
@click.option("--count", default=5, show_default=True, help="How many upcoming firings.")
def schedule_show(config_path: str, overrides: tuple[str, ...], count: int) -> None:
    """The schedule, its next firings and its Kubeflow (6-field, UTC) form."""
    from mlops.cron import CronError
    from mlops.kfp_client import kubeflow_cron
    from mlops.scheduler import next_firings

    config = _load(config_path, overrides)
    _checked(config)
    section = config.schedule
    click.echo(f"cron '{section.cron}' in {section.time_zone}; catch-up: {section.catch_up}; "
               f"enabled: {section.enabled}")
    for moment in next_firings(config, dt.datetime.now(dt.UTC), count):
        click.echo(f"  next: {moment.isoformat()}")
    try:
        cron, warning = kubeflow_cron(config)
        click.echo(f"Kubeflow cron (UTC, seconds first): {cron}")
        if warning:
            click.echo(f"  note: {warning}")
    except CronError as error:
        click.echo(f"Kubeflow: {error}")


@schedule.command("history")
@config_option
@click.option("--limit", default=20, show_default=True, help="Show at most this many events.")
def schedule_history(config_path: str, limit: int) -> None:
    """Firings of the local scheduler and their outcomes, newest last."""
    from tabulate import tabulate

    from mlops.scheduler import firings_path, read_firings

    config = _load(config_path)
    events = read_firings(config.workspace)[-limit:]
    if not events:
        click.echo(f"No firings recorded in {firings_path(config.workspace)}.")
        return
    rows = [(e["scheduled"], e["event"], e.get("run_id", ""), e.get("outcome", ""),
             e.get("reason", e.get("error", ""))) for e in events]
    click.echo(tabulate(rows, headers=["scheduled", "event", "run", "outcome", "detail"]))


@schedule.command("pause")
@config_option
@set_option
@click.option("--reason", default="", help="Why (recorded and shown in history/dashboard).")
@click.option("--by", "user", default=None, help="Who pauses (default: $USER).")
def schedule_pause(config_path: str, overrides: tuple[str, ...], reason: str,
                   user: str | None) -> None:
    """Pause scheduled runs: due firings are recorded as skipped until resumed."""
    import getpass

    from mlops.scheduler import pause_schedule

    config = _load(config_path, overrides)
    changed = pause_schedule(config.workspace, user or getpass.getuser(), reason)
    click.echo("Schedule paused." if changed else "Schedule was already paused.")


@schedule.command("resume")
@config_option
@set_option
def schedule_resume(config_path: str, overrides: tuple[str, ...]) -> None:
    """Resume scheduled runs."""
    from mlops.scheduler import resume_schedule

    config = _load(config_path, overrides)
    changed = resume_schedule(config.workspace)
    click.echo("Schedule resumed." if changed else "Schedule was not paused.")


@schedule.command("run-local")
@config_option
@set_option
@click.option("--poll-seconds", default=30.0, show_default=True,
              help="How often to check a running run while waiting.")
def schedule_run_local(config_path: str, overrides: tuple[str, ...],
                       poll_seconds: float) -> None:
    """Run the scheduler in the foreground until interrupted (Ctrl-C or SIGTERM).

    Each firing starts `mlops run --reason "schedule ..."`; overlaps are skipped; firings and
    outcomes go to <workspace>/schedule/firings.jsonl (see `mlops schedule history`).
    """
    from mlops.scheduler import LocalScheduler, SchedulerAlreadyRunningError, next_firings

    config = _load(config_path, overrides)
    _checked(config)
    if not config.schedule.enabled:
        click.echo("schedule.enabled is false in the config; nothing to run.", err=True)
        sys.exit(exit_codes.CONFIG_ERROR)
    stopping = {"now": False}

    def _stop(signum: int, _frame: Any) -> None:
        stopping["now"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    upcoming = next_firings(config, dt.datetime.now(dt.UTC), 1)[0]
    click.echo(f"Scheduler for {config.pipeline.name}: '{config.schedule.cron}' "
               f"({config.schedule.time_zone}); next run {upcoming.isoformat()}. Ctrl-C stops.")
    try:
        LocalScheduler(config, poll_seconds=poll_seconds).run(lambda: stopping["now"])
    except SchedulerAlreadyRunningError as error:
        click.echo(str(error), err=True)
        sys.exit(exit_codes.RUN_IN_PROGRESS)
    except KeyboardInterrupt:
        click.echo("Scheduler stopped; a run in progress continues and is settled on restart.")
