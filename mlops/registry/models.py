"""The model registry: pushed models as MLflow versions, aliases, guarded promotion, rollback.

Aliases, not MLflow's deprecated stages: ``candidate`` (set on push), ``staging`` and
``production`` (set by people). Serving follows ``production``.

Promotion history is stored as registered-model tags, one tag per change
(``mlops.history.<nanoseconds>-<random>`` -> JSON). Why there and not in a workspace file:
the history then lives in the same store as the aliases it describes, so a team sharing one
``mlflow server`` shares one history, the dashboard reads it through the MLflow API like
everything else, and wiping a laptop's workspace does not lose who put what in production.
One tag per entry makes appends independent (no read-modify-write of a growing JSON value, no
tag-size limit) and the key sorts by time.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.registry.tracking import TAG_BLESSED, TAG_RUN_ID, TAG_STATUS

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from pipelines.config import PlatformConfig

CANDIDATE, STAGING, PRODUCTION = "candidate", "staging", "production"
ALIASES = (CANDIDATE, STAGING, PRODUCTION)
HISTORY_TAG_PREFIX = "mlops.history."
MODEL_ARTIFACT_PATH = "model"
TAG_PUSHED_ARTIFACT = "mlops.mlmd.artifact.pushed_model"
TAG_PUSHED_PATH = "mlops.pushed_path"


class RegistryError(RuntimeError):
    """A registry request that cannot be carried out; the message says what to do."""


class PromotionRefused(RegistryError):
    """A guard refused a promotion (not blessed, halted in validation, ...)."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    created_ms: int
    aliases: tuple[str, ...]
    tags: dict[str, str]
    mlflow_run_id: str | None
    source: str

    @property
    def run_id(self) -> str:
        """The pipeline run (ML Metadata ``pipeline_run`` context) this version came from."""
        return self.tags.get(TAG_RUN_ID, "")

    @property
    def blessed(self) -> bool:
        return self.tags.get(TAG_BLESSED) == "true"


@dataclass(frozen=True)
class HistoryEntry:
    """One alias change: who moved which alias from which version to which, when and why."""

    alias: str
    action: str  # "push" (automatic candidate), "promote" or "rollback"
    from_version: str | None
    to_version: str
    by: str
    at: str  # ISO 8601, UTC
    reason: str
    key: str = field(default="", compare=False)


@dataclass(frozen=True)
class AliasChange:
    """Result of promote/rollback: ``entry`` is None when nothing changed (a no-op)."""

    alias: str
    version: str
    previous: str | None
    entry: HistoryEntry | None

    @property
    def changed(self) -> bool:
        return self.entry is not None


class ModelRegistry:
    """One registered model in MLflow, with the platform's rules around its aliases."""

    def __init__(self, client: MlflowClient, name: str) -> None:
        self.client = client
        self.name = name

    @classmethod
    def for_config(cls, config: PlatformConfig) -> ModelRegistry:
        from mlops.registry import settings

        return cls(settings.client_for(config), settings.model_name(config))

    # ----- reading ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return _registered_model(self.client, self.name) is not None

    def versions(self) -> list[RegisteredVersion]:
        """All versions, newest first."""
        if not self.exists():
            return []
        found = self.client.search_model_versions(f"name = '{self.name}'")
        holders: dict[str, list[str]] = {}
        for alias, version in self.aliases().items():
            holders.setdefault(version, []).append(alias)
        versions = [self._version(mv, holders.get(str(mv.version))) for mv in found]
        return sorted(versions, key=lambda v: int(v.version), reverse=True)

    def version(self, version: str | int) -> RegisteredVersion:
        from mlflow.exceptions import MlflowException

        try:
            return self._version(self.client.get_model_version(self.name, str(version)))
        except MlflowException as error:
            raise RegistryError(
                f"model '{self.name}' has no version {version} in the registry; see "
                "`mlops models list`"
            ) from error

    def aliases(self) -> dict[str, str]:
        model = _registered_model(self.client, self.name)
        return {a: str(v) for a, v in model.aliases.items()} if model is not None else {}

    def alias_version(self, alias: str) -> str | None:
        return self.aliases().get(alias)

    def history(self) -> list[HistoryEntry]:
        """Every recorded alias change, oldest first."""
        model = _registered_model(self.client, self.name)
        if model is None:
            return []
        entries = []
        for key, value in sorted(model.tags.items()):
            if key.startswith(HISTORY_TAG_PREFIX):
                entries.append(HistoryEntry(**json.loads(value), key=key))
        return entries

    # ----- guards ----------------------------------------------------------------------------
    def check_promotable(self, version: RegisteredVersion) -> None:
        """Raise PromotionRefused unless the version's run passed validation and was blessed."""
        status = version.tags.get(TAG_STATUS)
        run = version.run_id or "(unknown run)"
        if status == "halted":
            raise PromotionRefused(
                f"version {version.version} cannot be promoted: its pipeline run {run} halted in "
                "data validation (see `mlops runs show " + run + "`); fix the data and run again"
            )
        blessing = version.tags.get(TAG_BLESSED)
        if blessing != "true":
            why = version.tags.get("mlops.validation_failures") or (
                "no blessing recorded" if blessing is None else "the Evaluator did not bless it"
            )
            raise PromotionRefused(
                f"version {version.version} cannot be promoted: it was not blessed by the "
                f"Evaluator in pipeline run {run} ({why})"
            )

    # ----- changing aliases ------------------------------------------------------------------
    def promote(self, version: str | int, alias: str, by: str, reason: str = "") -> AliasChange:
        """Point ``alias`` at ``version`` after the guards pass; a no-op if it already does."""
        _check_alias(alias)
        target = self.version(version)
        previous = self.alias_version(alias)
        if previous == target.version:
            return AliasChange(alias, target.version, previous, None)
        self.check_promotable(target)
        entry = self._move(alias, target.version, previous, "promote", by, reason)
        return AliasChange(alias, target.version, previous, entry)

    def rollback(self, by: str, reason: str = "", alias: str = PRODUCTION) -> AliasChange:
        """Move ``alias`` back to the version that held it before the current one."""
        _check_alias(alias)
        current = self.alias_version(alias)
        if current is None:
            raise RegistryError(
                f"model '{self.name}' has no '{alias}' version to roll back; promote one with "
                f"`mlops models promote VERSION --to {alias}`"
            )
        earlier = [v for v in self.alias_timeline(alias) if v != current]
        if not earlier:
            raise RegistryError(
                f"no earlier '{alias}' version of model '{self.name}' is recorded in the "
                f"promotion history (current: version {current}); nothing to roll back to"
            )
        target = earlier[-1]
        self.version(target)  # still registered?
        entry = self._move(alias, target, current, "rollback", by, reason)
        return AliasChange(alias, target, current, entry)

    def alias_timeline(self, alias: str) -> list[str]:
        """Versions that held ``alias``, oldest first, with rolled-back versions removed."""
        stack: list[str] = []
        for entry in self.history():
            if entry.alias != alias:
                continue
            if entry.action == "rollback":
                while stack and stack[-1] != entry.to_version:
                    stack.pop()
                if not stack:
                    stack.append(entry.to_version)
            elif not stack or stack[-1] != entry.to_version:
                stack.append(entry.to_version)
        current = self.alias_version(alias)
        while stack and stack[-1] == current:
            stack.pop()
        return [*stack, current] if current else stack

    def mark_candidate(self, version: str, by: str, reason: str) -> AliasChange:
        """Set ``candidate`` on a freshly pushed version (no guard: push implies blessed)."""
        previous = self.alias_version(CANDIDATE)
        if previous == version:
            return AliasChange(CANDIDATE, version, previous, None)
        entry = self._move(CANDIDATE, version, previous, "push", by, reason)
        return AliasChange(CANDIDATE, version, previous, entry)

    def _move(self, alias: str, version: str, previous: str | None, action: str, by: str,
              reason: str) -> HistoryEntry:
        self.client.set_registered_model_alias(self.name, alias, version)
        entry = HistoryEntry(
            alias=alias, action=action, from_version=previous, to_version=version,
            by=by or "unknown", at=datetime.now(UTC).isoformat(timespec="seconds"),
            reason=reason,
        )
        key = f"{HISTORY_TAG_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:6]}"
        record = {k: v for k, v in asdict(entry).items() if k != "key"}
        self.client.set_registered_model_tag(self.name, key, json.dumps(record))
        return HistoryEntry(**record, key=key)

    def _version(self, mv: Any, aliases: list[str] | None = None) -> RegisteredVersion:
        return RegisteredVersion(
            name=mv.name,
            version=str(mv.version),
            created_ms=int(mv.creation_timestamp or 0),
            aliases=tuple(sorted(aliases if aliases is not None else mv.aliases or [])),
            tags=dict(mv.tags or {}),
            mlflow_run_id=mv.run_id or None,
            source=mv.source,
        )


# ----- registration -------------------------------------------------------------------------
def register_model_version(
    client: MlflowClient, name: str, mlflow_run_id: str, model_dir: Path, tags: dict[str, str],
    artifact_path: str = MODEL_ARTIFACT_PATH,
) -> RegisteredVersion:
    """Upload a SavedModel into the MLflow run's artifacts and register it as a new version.

    The model is copied into the run's artifact store (not referenced at the push destination)
    so that a version can be downloaded wherever the tracking server is reachable; the push
    destination stays TF Serving's to read.
    """
    from mlflow.exceptions import MlflowException

    if not (Path(model_dir) / "saved_model.pb").exists():
        raise RegistryError(f"{model_dir} is not a SavedModel (no saved_model.pb)")
    client.log_artifacts(mlflow_run_id, str(model_dir), artifact_path)
    if _registered_model(client, name) is None:
        try:
            client.create_registered_model(
                name, description="Registered by the MLOps platform from pushed TFX models.")
        except MlflowException as error:  # created concurrently
            if "RESOURCE_ALREADY_EXISTS" not in str(error.error_code):
                raise
    mv = client.create_model_version(
        name, source=f"runs:/{mlflow_run_id}/{artifact_path}", run_id=mlflow_run_id, tags=tags,
    )
    return ModelRegistry(client, name).version(mv.version)


def register_pushed_model(
    client: MlflowClient, name: str, mlflow_run_id: str, model_dir: Path, tags: dict[str, str],
) -> RegisteredVersion:
    """Register a pushed model once as ``candidate``: keyed by its ML Metadata PushedModel id,
    and by its serving directory (a re-push of an identical model points at the version already
    serving, see components/pusher.py, and must not become a second registry version)."""
    registry = ModelRegistry(client, name)
    pushed_id = tags.get(TAG_PUSHED_ARTIFACT)
    pushed_path = tags.get(TAG_PUSHED_PATH)
    if registry.exists():
        for existing in registry.versions():
            if (pushed_id and existing.tags.get(TAG_PUSHED_ARTIFACT) == pushed_id) or (
                    pushed_path and existing.tags.get(TAG_PUSHED_PATH) == pushed_path):
                return existing
    version = register_model_version(client, name, mlflow_run_id, model_dir, tags)
    registry.mark_candidate(
        version.version, by="pipeline", reason=f"pushed by pipeline run {version.run_id}"
    )
    return registry.version(version.version)


def _registered_model(client: MlflowClient, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error.error_code) or "not found" in str(error):
            return None
        raise


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise RegistryError(f"unknown alias '{alias}'; use one of {', '.join(ALIASES)}")
