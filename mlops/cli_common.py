"""Options and the config loader shared by every ``mlops`` command module.

They live apart from ``mlops.cli`` because that module registers the other command groups at
its end: importing it from them would be circular under ``python -m mlops.cli``.
"""

from __future__ import annotations

import sys

import click

from mlops import exit_codes
from pipelines.config import (
    DEFAULT_CONFIG_FILE,
    ConfigError,
    PlatformConfig,
    load_config,
    parse_override,
)

EXIT_CONFIG_ERROR = exit_codes.CONFIG_ERROR

config_option = click.option(
    "--config", "config_path", default=DEFAULT_CONFIG_FILE, show_default=True,
    type=click.Path(dir_okay=False), help="The platform's settings file.",
)
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config key for this command, e.g. --set trainer.train_steps=200 "
    "(repeatable; values are parsed as YAML, else taken as text).",
)


def load(config_path: str, overrides: tuple[str, ...] = ()) -> PlatformConfig:
    """Load the config or exit with code 2 and the error naming the key."""
    try:
        return load_config(config_path, dict(parse_override(o) for o in overrides))
    except ConfigError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(EXIT_CONFIG_ERROR)
