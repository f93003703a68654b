"""``mlops serve``: the registry's production version over TF Serving's REST API, locally.

In production TF Serving itself reads the push destination (see docs/registry.md); this server
is the local stand-in and the thing the tests and the benchmark measure. It follows a registry
alias (``serving.alias``, default ``production``) and swaps versions without failing requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.serving.follower import AliasFollower, ModelHolder
    from mlops.serving.servers import RunningServer
    from pipelines.config import PlatformConfig

CACHE_DIR = "serving-cache"


@dataclass
class ServingHandle:
    holder: ModelHolder
    follower: AliasFollower
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.follower.stop()
        self.server.stop()


def start_serving(config: PlatformConfig, *, host: str | None = None, port: int | None = None,
                  alias: str | None = None, poll_seconds: float | None = None,
                  server: str = "threaded") -> ServingHandle:
    """Load the alias's current version (if any), start the HTTP server and the follower."""
    from mlops.registry import settings
    from mlops.registry.models import ModelRegistry
    from mlops.serving.follower import AliasFollower, ModelHolder
    from mlops.serving.servers import start_server

    registry = ModelRegistry.for_config(config)
    holder = ModelHolder(registry.name)
    follower = AliasFollower(
        registry, alias or config.serving.alias, settings.mlflow_dir(config) / CACHE_DIR,
        holder, poll_seconds or config.serving.poll_seconds,
    )
    follower.check_once()
    running = start_server(server, holder, host or config.serving.host,
                           config.serving.port if port is None else port)
    follower.start()
    return ServingHandle(holder, follower, running)
