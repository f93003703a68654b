"""``mlops models ...`` (registry: list, promote, rollback, history, record) and ``mlops serve``.

MLflow and TensorFlow are imported inside the commands so that ``mlops --help`` stays fast.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from mlops.cli_common import config_option, load, set_option

EXIT_REFUSED = 3

def _who(by: str | None) -> str:
    """--by, else the login name (USER), so the history says who changed an alias."""
    if by:
        return by
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _registry(config_path: str, overrides: tuple[str, ...]) -> Any:
    from mlops.registry.models import ModelRegistry

    return ModelRegistry.for_config(load(config_path, overrides))


def _fail(error: Exception, code: int = 1) -> None:
    click.echo(f"Error: {error}", err=True)
    sys.exit(code)


@click.group()
def models() -> None:
    """The model registry (MLflow): versions, aliases candidate/staging/production, history."""


@models.command("list")
@config_option
@set_option
def models_list(config_path: str, overrides: tuple[str, ...]) -> None:
    """List registered versions, newest first, with aliases, run, blessing and metrics."""
    from tabulate import tabulate

    registry = _registry(config_path, overrides)
    versions = registry.versions()
    if not versions:
        click.echo(f"No versions of '{registry.name}' yet: a pushed `mlops run` registers one.")
        return
    rows = []
    for v in versions:
        metrics = ", ".join(f"{k.removeprefix('metric.')}={val}" for k, val in
                            sorted(v.tags.items()) if k.startswith("metric."))
        created = datetime.fromtimestamp(v.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        rows.append((v.version, ",".join(v.aliases), v.run_id, "yes" if v.blessed else "NO",
                     metrics, created))
    click.echo(f"Model {registry.name}")
    click.echo(tabulate(rows, headers=["version", "aliases", "pipeline run", "blessed",
                                       "metrics (overall)", "registered (UTC)"]))


@models.command("promote")
@config_option
@set_option
@click.argument("version")
@click.option("--to", "alias", type=click.Choice(["staging", "production", "candidate"]),
              default="production", show_default=True, help="Alias to point at VERSION.")
@click.option("--by", default=None, help="Who promotes (recorded; default: $USER).")
@click.option("--reason", default="", help="Why (recorded in the promotion history).")
def models_promote(config_path: str, overrides: tuple[str, ...], version: str, alias: str,
                   by: str | None, reason: str) -> None:
    """Point an alias at VERSION. Refused (exit 3) unless its run was blessed and passed
    validation; a no-op when the alias already points there."""
    from mlops.registry.models import PromotionRefused, RegistryError

    registry = _registry(config_path, overrides)
    try:
        change = registry.promote(version, alias, _who(by), reason)
    except PromotionRefused as error:
        _fail(error, EXIT_REFUSED)
    except RegistryError as error:
        _fail(error)
    if not change.changed:
        click.echo(f"Version {change.version} is already {alias}; nothing changed.")
        return
    click.echo(f"{registry.name}@{alias}: version {change.previous or '(none)'} -> "
               f"{change.version} (by {change.entry.by})")


@models.command("rollback")
@config_option
@set_option
@click.option("--by", default=None, help="Who rolls back (recorded; default: $USER).")
@click.option("--reason", default="", help="Why (recorded in the promotion history).")
def models_rollback(config_path: str, overrides: tuple[str, ...], by: str | None,
                    reason: str) -> None:
    """Move production back to the version that was production before the current one."""
    from mlops.registry.models import RegistryError

    registry = _registry(config_path, overrides)
    try:
        change = registry.rollback(_who(by), reason)
    except RegistryError as error:
        _fail(error)
    click.echo(f"{registry.name}@production rolled back: version {change.previous} -> "
               f"{change.version} (by {change.entry.by})")


@models.command("history")
@config_option
@set_option
def models_history(config_path: str, overrides: tuple[str, ...]) -> None:
    """Every alias change, oldest first: when, alias, from -> to, who, why."""
    from tabulate import tabulate

    registry = _registry(config_path, overrides)
    entries = registry.history()
    if not entries:
        click.echo(f"No alias changes recorded for '{registry.name}' yet.")
        return
    click.echo(tabulate(
        [(e.at, e.alias, e.action, e.from_version or "-", e.to_version, e.by, e.reason)
         for e in entries],
        headers=["when (UTC)", "alias", "action", "from", "to", "by", "why"]))


@models.command("record")
@config_option
@set_option
@click.argument("run_id")
def models_record(config_path: str, overrides: tuple[str, ...], run_id: str) -> None:
    """Log a past pipeline run to MLflow (and register its push) - e.g. after MLflow was down."""
    from mlops.console import configure_logging
    from mlops.metadata import open_reader
    from mlops.registry.tracking import record_pipeline_run
    from mlops.summary import summarize_run

    config = load(config_path, overrides)
    configure_logging(None)
    with open_reader(config.metadata_path) as reader:
        if reader is None or reader.pipeline_run(config.pipeline.name, run_id) is None:
            _fail(RuntimeError(f"no run '{run_id}' in {config.metadata_path}; see "
                               "`mlops runs list`"))
        summary = summarize_run(reader, config, run_id)
    result = record_pipeline_run(config.with_overrides({"registry.enabled": True}), summary)
    assert result is not None
    click.echo(describe_record(result))


def describe_record(result: Any) -> str:
    """One line for the console after a run was logged to MLflow."""
    text = f"MLflow: run {result.mlflow_run_id} in experiment {result.experiment_id} " \
           f"({result.tracking_uri})"
    if result.version is not None:
        text += f"; registered version {result.version.version} " \
                f"[{', '.join(result.version.aliases) or 'no alias'}]"
    return text


@click.command()
@config_option
@set_option
@click.option("--host", default=None, help="Bind address (default: serving.host).")
@click.option("--port", type=int, default=None, help="Port (default: serving.port; 0 = free).")
@click.option("--alias", default=None, help="Registry alias to follow (default: serving.alias).")
@click.option("--server", "server_kind", type=click.Choice(["threaded", "uvicorn"]),
              default="threaded", show_default=True,
              help="HTTP server: threaded has the lowest latency, uvicorn more throughput "
              "with many clients (bench/RESULTS.md).")
def serve(config_path: str, overrides: tuple[str, ...], host: str | None, port: int | None,
          alias: str | None, server_kind: str) -> None:
    """Serve the registry's production version over TF Serving's REST API; follows the alias
    and switches versions only after the new one is loaded and warmed up."""
    import logging

    from mlops.console import configure_logging
    from mlops.serving import start_serving

    config = load(config_path, overrides)
    configure_logging(None)
    logging.getLogger("mlops.serving").setLevel(logging.INFO)
    handle = start_serving(config, host=host, port=port, alias=alias, server=server_kind)
    loaded = handle.holder.current
    name = handle.holder.name
    click.echo(f"Serving {name} at {handle.url}/v1/models/{name} "
               f"({'version ' + loaded.version if loaded else 'no version yet'}; following "
               f"@{handle.follower.alias} every {handle.follower.poll_seconds:g}s). Ctrl-C stops.")
    try:
        handle.server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
