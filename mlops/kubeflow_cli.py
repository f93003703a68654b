"""``mlops kubeflow ...``: compile the pipeline for Kubeflow Pipelines v2, submit it, schedule it.

Heavy libraries (TFX, kfp) are imported inside the commands so ``mlops --help`` stays fast.
Exit codes: 0 done, 2 bad configuration (names the key), 8 Kubeflow unreachable or refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mlops.cli_common import EXIT_CONFIG_ERROR, config_option, load, set_option

EXIT_KUBEFLOW_ERROR = 8

spec_option = click.option(
    "--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Compiled pipeline spec (default: kubeflow.output_spec from the config).",
)
host_option = click.option("--host", default=None,
                           help="Kubeflow Pipelines API (default: kubeflow.host, then "
                           "KF_PIPELINES_ENDPOINT).")
param_option = click.option(
    "--param", "params", multiple=True, metavar="NAME=VALUE",
    help="Runtime parameter for this run, e.g. --param data_root=gs://bucket/taxi or "
    '--param train_args=\'{"num_steps": 500}\' (repeatable).',
)


@click.group()
def kubeflow() -> None:
    """Kubeflow Pipelines v2: compile, submit one run, manage the recurring run."""


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _spec(config: Any, spec_path: Path | None) -> Path:
    from pipelines.runners.kubeflow import default_output

    return spec_path or default_output(config)


def _params(params: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for text in params:
        name, separator, value = text.partition("=")
        if not separator:
            _fail(f"--param '{text}': expected NAME=VALUE (names: data_root, train_args)",
                  EXIT_CONFIG_ERROR)
        parsed[name.strip()] = value
    return parsed


def _client(config: Any, host: str | None) -> Any:
    from mlops.kfp_client import KubeflowError, connect

    try:
        return connect(config, host)
    except KubeflowError as error:
        _fail(str(error), EXIT_KUBEFLOW_ERROR)


@kubeflow.command("compile")
@config_option
@set_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the spec (default: kubeflow.output_spec).")
@click.option("--image", default=None, help="Pipeline image (default: kubeflow.image).")
def compile_command(config_path: str, overrides: tuple[str, ...], output: Path | None,
                    image: str | None) -> None:
    """Compile the pipeline (the same factory as local runs) with TFX's KubeflowV2DagRunner."""
    config = load(config_path, overrides)
    if not (image or config.kubeflow.image):  # before importing TFX: answer at once
        _fail("Configuration error: kubeflow.image is not set in pipeline_config.yaml: build "
              "infra/Dockerfile, push it to a registry the cluster can pull from, and set "
              "kubeflow.image (or pass --image)", EXIT_CONFIG_ERROR)
    from mlops.console import configure_logging

    configure_logging(None)
    from pipelines.runners.kubeflow import KubeflowConfigError, compile_pipeline

    try:
        compiled = compile_pipeline(config, output, image)
    except KubeflowConfigError as error:
        _fail(f"Configuration error: {error}", EXIT_CONFIG_ERROR)
    resources = config.kubeflow.trainer_resources
    click.echo(f"Wrote {compiled.path}\n  image: {compiled.image}\n  pipeline root: "
               f"{compiled.pipeline_root}\n  Trainer: {resources.gpu_count} x "
               f"{resources.gpu_type}, {resources.cpu:g} CPU, {resources.memory_gib:g} GiB")
    for name, value in compiled.parameters.items():
        click.echo(f"  runtime parameter {name} = {value}")


@kubeflow.command("submit")
@config_option
@set_option
@spec_option
@host_option
@param_option
@click.option("--name", default=None, help="Run name (default: pipeline name + time).")
def submit_command(config_path: str, overrides: tuple[str, ...], spec_path: Path | None,
                   host: str | None, params: tuple[str, ...], name: str | None) -> None:
    """Start one run of the compiled spec in kubeflow.experiment."""
    config = load(config_path, overrides)
    from mlops.kfp_client import KubeflowError, submit_run

    spec = _spec(config, spec_path)
    client = _client(config, host)
    try:
        run = submit_run(client, config, spec, config.workspace / "kubeflow", _params(params),
                         name)
    except KubeflowError as error:
        _fail(str(error), EXIT_KUBEFLOW_ERROR)
    click.echo(f"Submitted run {run.id} ('{run.name}') in experiment "
               f"{config.kubeflow.experiment} ({run.experiment_id})")


@kubeflow.group("schedule")
def kubeflow_schedule() -> None:
    """The recurring run on Kubeflow, from the config's schedule section."""


@kubeflow_schedule.command("create")
@config_option
@set_option
@spec_option
@host_option
@param_option
def schedule_create(config_path: str, overrides: tuple[str, ...], spec_path: Path | None,
                    host: str | None, params: tuple[str, ...]) -> None:
    """Create the recurring run: schedule.cron (as 6 fields), max_concurrency=1, catch-up."""
    config = load(config_path, overrides)
    from mlops.cron import CronError
    from mlops.kfp_client import KubeflowError, create_schedule, kubeflow_cron

    try:
        kubeflow_cron(config)  # a bad cron fails before any connection
    except CronError as error:
        _fail(f"Configuration error: {error}", EXIT_CONFIG_ERROR)
    spec = _spec(config, spec_path)
    client = _client(config, host)
    try:
        created, warning = create_schedule(client, config, spec, config.workspace / "kubeflow",
                                           _params(params))
    except KubeflowError as error:
        _fail(str(error), EXIT_KUBEFLOW_ERROR)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Created recurring run {created.id} ('{created.name}', "
               f"{config.schedule.cron} {config.schedule.time_zone}) in experiment "
               f"{config.kubeflow.experiment}")


@kubeflow_schedule.command("list")
@config_option
@host_option
def schedule_list(config_path: str, host: str | None) -> None:
    """List recurring runs in kubeflow.experiment."""
    from tabulate import tabulate

    from mlops.kfp_client import list_schedules

    config = load(config_path)
    rows = []
    for recurring in list_schedules(_client(config, host), config):
        cron = recurring.trigger.cron_schedule.cron if recurring.trigger and \
            recurring.trigger.cron_schedule else ""
        rows.append((recurring.recurring_run_id, recurring.display_name, recurring.mode,
                     cron, recurring.max_concurrency, recurring.no_catchup))
    if not rows:
        click.echo(f"No recurring runs in experiment {config.kubeflow.experiment}.")
        return
    click.echo(tabulate(rows, headers=["id", "name", "mode", "cron (UTC)", "max concurrency",
                                       "no catch-up"]))


def _act(config_path: str, host: str | None, recurring_run_id: str | None, action: str) -> None:
    from mlops.kfp_client import KubeflowError, find_schedule

    config = load(config_path)
    client = _client(config, host)
    try:
        target = find_schedule(client, config, recurring_run_id)
    except KubeflowError as error:
        _fail(str(error), EXIT_KUBEFLOW_ERROR)
    method = {"pause": client.disable_recurring_run, "resume": client.enable_recurring_run,
              "delete": client.delete_recurring_run}[action]
    method(target)
    done = {"pause": "Paused", "resume": "Resumed", "delete": "Deleted"}[action]
    click.echo(f"{done} recurring run {target}")


recurring_id_argument = click.argument("recurring_run_id", required=False)


@kubeflow_schedule.command("pause")
@config_option
@host_option
@recurring_id_argument
def schedule_pause(config_path: str, host: str | None, recurring_run_id: str | None) -> None:
    """Pause (disable) the recurring run (default: the one named for this pipeline)."""
    _act(config_path, host, recurring_run_id, "pause")


@kubeflow_schedule.command("resume")
@config_option
@host_option
@recurring_id_argument
def schedule_resume(config_path: str, host: str | None, recurring_run_id: str | None) -> None:
    """Resume (enable) the recurring run."""
    _act(config_path, host, recurring_run_id, "resume")


@kubeflow_schedule.command("delete")
@config_option
@host_option
@recurring_id_argument
def schedule_delete(config_path: str, host: str | None, recurring_run_id: str | None) -> None:
    """Delete the recurring run."""
    _act(config_path, host, recurring_run_id, "delete")
