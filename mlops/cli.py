"""The ``mlops`` command line: every operator action, each option with help text.

Exit codes of ``mlops run`` tell outcomes apart for schedulers and scripts:
0 pushed, 3 not blessed (nothing pushed), 4 halted by validation (nothing pushed),
1 failed, 2 bad configuration, 5 bad input data, 7 another run in progress.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from mlops import exit_codes
from mlops.cli_common import config_option, load, set_option
from mlops.runtime import silence_library_warnings
from pipelines.config import PlatformConfig

EXIT_INPUT_ERROR = exit_codes.INPUT_ERROR
EXIT_RUN_IN_PROGRESS = exit_codes.RUN_IN_PROGRESS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """MLOps platform for TensorFlow teams: TFX pipelines, validation, registry, serving."""
    silence_library_warnings()


@main.command()
@config_option
@set_option
@click.option("--data", "data_source", default=None,
              help="Read this file, directory or glob instead of data.source for this run.")
@click.option("--run-id", default=None, help="Use this run id (default: a new timestamped id).")
@click.option("--reason", default="manual", show_default=True,
              help="Why the run was started (recorded; e.g. schedule, drift, dashboard).")
@click.option("--verbose", is_flag=True, help="Also show TFX, Beam and TensorFlow logs.")
def run(config_path: str, overrides: tuple[str, ...], data_source: str | None,
        run_id: str | None, reason: str, verbose: bool) -> None:
    """Run the whole pipeline locally (LocalDagRunner, Beam on all cores, SQLite ML Metadata).

    Prints one line per component and a summary; exits 0 pushed, 3 not blessed, 4 halted by
    validation, 1 failed, 2 bad config, 5 bad input, 7 another run in progress.
    """
    config = load(config_path, overrides)
    from mlops.beam_pool import worker_pool
    from mlops.runlock import current_holder, in_progress_error

    holder = current_holder(config.workspace)
    if holder is not None:  # refuse before the heavy imports (run_lock below closes the race)
        _refuse(in_progress_error(config.workspace, holder))
    # First: Beam's pre-warmed workers import TensorFlow/TFX while this process does too.
    with worker_pool(config.beam):
        _run_pipeline(config, data_source, run_id, reason, verbose)


def _refuse(error: Exception) -> NoReturn:
    click.echo(f"Not started: {error}", err=True)
    sys.exit(EXIT_RUN_IN_PROGRESS)


def _run_pipeline(config: PlatformConfig, data_source: str | None, run_id: str | None,
                  reason: str, verbose: bool) -> None:
    from mlops.console import configure_logging, progress_printer, render_summary
    from mlops.metadata import MetadataReader
    from mlops.runlock import RunInProgressError, run_lock
    from mlops.runrecords import RunRecord, save_record
    from mlops.summary import summarize_run
    from pipelines.preflight import InputDataError
    from pipelines.runners.local import new_run_id, run_local

    run_id = run_id or new_run_id()
    log_file = config.workspace / "logs" / f"run-{run_id}.log"
    configure_logging(log_file, verbose)
    record = RunRecord(run_id=run_id, reason=reason, data_source=data_source)
    try:
        with run_lock(config.workspace, run_id, reason):
            save_record(config.workspace, record)
            click.echo(f"Pipeline {config.pipeline.name}: run {run_id} ({reason}; workspace "
                       f"{config.workspace}, log {log_file})")
            try:
                result = run_local(config, data_source=data_source,
                                   progress=progress_printer(), run_id=run_id)
            except InputDataError as error:
                _finish(config, record, "bad input data", EXIT_INPUT_ERROR)
                click.echo(f"Input data error: {error}", err=True)
                sys.exit(EXIT_INPUT_ERROR)
            summary = summarize_run(MetadataReader.for_sqlite(config.metadata_path), config,
                                    result.run_id, result.error)
            _record_in_registry(config, summary)
            _finish(config, record, summary.status.label, summary.status.exit_code)
    except RunInProgressError as error:
        _refuse(error)
    click.echo(render_summary(summary, log_file))
    sys.exit(summary.status.exit_code)


def _record_in_registry(config: PlatformConfig, summary: Any) -> None:
    """Log the run to MLflow and register a push. A registry failure is reported but never
    changes the run's outcome: the model is pushed and ML Metadata has the run either way."""
    try:
        from mlops.registry.tracking import record_pipeline_run
        from mlops.registry_cli import describe_record

        result = record_pipeline_run(config, summary)
        if result is not None:
            click.echo(describe_record(result))
    except Exception as error:
        click.echo(f"Warning: could not record run {summary.run_id} in MLflow "
                   f"({type(error).__name__}: {error}); the run's outcome is unchanged. Retry "
                   f"with `mlops models record {summary.run_id}`.", err=True)


def _finish(config: PlatformConfig, record: Any, outcome: str, exit_code: int) -> None:
    import time

    from mlops.runrecords import save_record

    record.finished, record.outcome, record.exit_code = time.time(), outcome, exit_code
    save_record(config.workspace, record)


@main.group()
def runs() -> None:
    """Inspect past pipeline runs recorded in ML Metadata."""


@runs.command("list")
@config_option
@set_option
@click.option("--limit", default=20, show_default=True, help="Show at most this many runs.")
def runs_list(config_path: str, overrides: tuple[str, ...], limit: int) -> None:
    """List runs, newest first, with their outcome."""
    from tabulate import tabulate

    from mlops.metadata import open_reader
    from mlops.summary import summarize_run

    config = load(config_path, overrides)
    with open_reader(config.metadata_path) as reader:
        if reader is None:
            click.echo("No runs yet: start one with `mlops run`.")
            return
        rows: list[Any] = []
        for run_id in reader.run_ids(config.pipeline.name)[:limit]:
            summary = summarize_run(reader, config, run_id)
            cached = sum(1 for c in summary.components if c.cached)
            rows.append((run_id, summary.status.label, f"{cached}/{len(summary.components)}",
                         summary.pushed_version or ""))
    click.echo(tabulate(rows, headers=["run", "outcome", "cached", "pushed version"]))


@runs.command("show")
@config_option
@set_option
@click.argument("run_id")
def runs_show(config_path: str, overrides: tuple[str, ...], run_id: str) -> None:
    """Show the summary of one run (components, rows, anomalies, metrics, push)."""
    from mlops.console import render_summary
    from mlops.metadata import open_reader
    from mlops.summary import summarize_run

    config = load(config_path, overrides)
    with open_reader(config.metadata_path) as reader:
        if reader is None or reader.pipeline_run(config.pipeline.name, run_id) is None:
            click.echo(f"No run '{run_id}' in {config.metadata_path}; see `mlops runs list`.",
                       err=True)
            sys.exit(1)
        click.echo(render_summary(summarize_run(reader, config, run_id)))


@main.group()
def schema() -> None:
    """The curated schema that validation checks data against."""


@schema.command("freeze")
@config_option
@set_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: schema.curated from the config).")
@click.option("--force", is_flag=True, help="Replace an existing curated schema.")
def schema_freeze(config_path: str, overrides: tuple[str, ...], output: Path | None,
                  force: bool) -> None:
    """Infer a schema with TFDV (from the latest run's statistics, else from the data) and
    write it for review. Curate it (domains, presence, environments), then commit it."""
    from mlops.console import configure_logging
    from mlops.schema import SchemaExistsError, freeze_schema
    from pipelines.preflight import InputDataError

    config = load(config_path, overrides)
    configure_logging(None)
    try:
        path = freeze_schema(config, output, force=force)
    except (SchemaExistsError, InputDataError) as error:
        click.echo(str(error), err=True)
        sys.exit(1)
    click.echo(f"Wrote {path}. Review and curate it, then commit it; runs will validate "
               "against it (ImportSchemaGen).")


# Command groups of the other areas (each module keeps its heavy imports inside commands).
from mlops.dashboard_cli import dashboard  # noqa: E402
from mlops.drift_cli import drift  # noqa: E402
from mlops.kubeflow_cli import kubeflow  # noqa: E402
from mlops.registry_cli import models, serve  # noqa: E402
from mlops.schedule_cli import schedule  # noqa: E402

for group in (kubeflow, schedule, drift, models, serve, dashboard):
    main.add_command(group)


if __name__ == "__main__":
    main()
