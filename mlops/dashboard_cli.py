"""``mlops dashboard``: serve the operator dashboard, and make password hashes for its users."""

from __future__ import annotations

import ipaddress
import os
import sys

import click

from mlops import exit_codes

LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group()
def dashboard() -> None:
    """The web dashboard: runs, trigger, validation reports, drift, evaluation, models."""


@dashboard.command("serve")
@click.option("--config", "config_path", default="pipeline_config.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="The platform's settings file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set dashboard.port=8090 (repeatable).")
@click.option("--host", default=None, help="Bind address (default: dashboard.host, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: dashboard.port).")
def serve(config_path: str, overrides: tuple[str, ...], host: str | None,
          port: int | None) -> None:
    """Serve the dashboard. Users come from the env var named by dashboard.users_env; with no
    users configured it refuses to start (there is no default account)."""
    from mlops.cli import load

    config = load(config_path, overrides)
    from mlops.dashboard.auth import UsersError, parse_users

    settings = config.dashboard
    try:
        users = parse_users(os.environ.get(settings.users_env), settings.users_env)
    except UsersError as error:
        click.echo(f"Dashboard not started: {error}", err=True)
        sys.exit(exit_codes.CONFIG_ERROR)
    secret = os.environ.get(settings.session_secret_env)
    if not secret:
        click.echo(f"{settings.session_secret_env} is not set: using a random session secret; "
                   "everyone signs in again after a restart.", err=True)
    bind_host, bind_port = host or settings.host, port or settings.port
    if not _is_loopback(bind_host):
        click.echo(f"Warning: binding {bind_host}, reachable from other machines. Put TLS in "
                   "front of it (sessions are cookies).", err=True)
    import logging

    import uvicorn

    import mlops.summary
    import mlops.trigger  # noqa: F401 - heavy imports before serving, not in a first request
    from mlops.dashboard.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(config, users, secret)
    click.echo("Preparing the component graph (imports every TFX component once)...")
    app.state.dashboard.topology.wait()
    click.echo(f"Dashboard for {config.pipeline.name} on http://{bind_host}:{bind_port} "
               f"({len(users)} user(s); workspace {config.workspace})")
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="info", server_header=False)


@dashboard.command("hash-password")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
def hash_password_command(password_stdin: bool) -> None:
    """Print a PBKDF2 hash for a dashboard user, for MLOPS_DASHBOARD_USERS
    ('name:role:hash;...')."""
    from mlops.dashboard.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        click.echo("The password must not be empty.", err=True)
        sys.exit(2)
    click.echo(hash_password(password))
