"""The one settings file, ``pipeline_config.yaml``, loaded once into a typed, frozen config.

Every other module receives a :class:`PlatformConfig`; nothing reads YAML or environment
variables on its own. Unknown keys, wrong types and bad values stop before any work with a
:class:`ConfigError` naming the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_FILE = "pipeline_config.yaml"
PACKAGE_SCHEME = "pkg://"
METRIC_NAMES = ("auc", "binary_accuracy", "precision", "recall", "auc_precision_recall")


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message says where and how."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSection(_Section):
    """Identity of the pipeline and where its local state lives."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Pipeline name.")
    workspace: str = Field(
        default="workspace",
        description="Directory for pipeline root, ML Metadata, serving and reports; "
        "relative paths are relative to the config file.",
    )


class SplitRatios(_Section):
    """Hash-bucket split of the ingested data into train and eval."""

    train: float = Field(0.8, gt=0, lt=1)
    eval: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitRatios:
        if abs(self.train + self.eval - 1.0) > 1e-6:
            raise ValueError(f"train + eval must be 1.0, got {self.train + self.eval:g}")
        return self

    def hash_buckets(self) -> dict[str, int]:
        """Ratios as ExampleGen hash buckets (out of 100)."""
        train = round(self.train * 100)
        return {"train": train, "eval": 100 - train}


class SpanSection(_Section):
    """Data that lands in spans (one folder per day or per numbered span) under data.source.

    ``pattern`` uses TFX's placeholders, relative to data.source: ``{SPAN}`` (a span number) or
    ``{YYYY}``/``{MM}``/``{DD}`` (dated folders). ``window`` picks what one run reads: the
    latest span, the last ``count`` spans, or all of them. Scheduled runs re-select each time,
    so a new span changes what the next run reads.
    """

    pattern: str = Field(
        description="e.g. '{YYYY}-{MM}-{DD}/*.csv' or 'span-{SPAN}/*.csv', under data.source."
    )
    window: Literal["latest", "last_n", "all"] = "latest"
    count: int = Field(2, ge=1, description="How many spans window 'last_n' reads.")

    @field_validator("pattern")
    @classmethod
    def _has_span_placeholder(cls, pattern: str) -> str:
        has_span = "{SPAN}" in pattern
        has_date = all(token in pattern for token in ("{YYYY}", "{MM}", "{DD}"))
        if has_span == has_date:
            raise ValueError(
                "pattern needs either {SPAN} or all of {YYYY}, {MM}, {DD} (not both), e.g. "
                "'{YYYY}-{MM}-{DD}/*.csv'"
            )
        return pattern


class DataSection(_Section):
    """Where the training data comes from."""

    source: str = Field(
        description="A file, a directory or a glob; 'pkg://<module>/<path>' names data shipped "
        "inside an installed Python package (the default Chicago-taxi sample)."
    )
    format: Literal["csv", "tfrecord", "parquet"] = "csv"
    split_ratios: SplitRatios = SplitRatios()
    spans: SpanSection | None = Field(
        default=None, description="Read data.source as spans (see SpanSection); off when unset."
    )


class LabelSection(_Section):
    """How the binary label is derived from raw columns.

    ``as_is``: the source column already holds 0/1. ``above``: source > threshold.
    ``ratio_above``: source > threshold * denominator (the taxi "big tipper": tips > 20% of fare).
    """

    name: str
    source: str
    rule: Literal["as_is", "above", "ratio_above"] = "as_is"
    threshold: float | None = None
    denominator: str | None = None

    @model_validator(mode="after")
    def _rule_arguments(self) -> LabelSection:
        if self.rule in ("above", "ratio_above") and self.threshold is None:
            raise ValueError(f"rule '{self.rule}' needs 'threshold'")
        if self.rule == "ratio_above" and not self.denominator:
            raise ValueError("rule 'ratio_above' needs 'denominator' (a raw column name)")
        if self.rule != "ratio_above" and self.denominator:
            raise ValueError(f"'denominator' is only used by rule 'ratio_above', not '{self.rule}'")
        return self


class NumericFeature(_Section):
    """A number, scaled for the model (z-score by default)."""

    name: str
    kind: Literal["numeric"]
    transform: Literal["zscore", "scale_0_1", "log_zscore", "none"] = "zscore"
    fill: float = Field(0.0, description="Value used where the feature is missing.")


class BucketizedFeature(_Section):
    """A number cut into quantile buckets, fed to the model as a category."""

    name: str
    kind: Literal["bucketized"]
    buckets: int = Field(10, ge=2, le=1000)
    fill: float = 0.0


class CategoricalFeature(_Section):
    """Strings or integer codes mapped through a vocabulary, with OOV buckets for the unseen."""

    name: str
    kind: Literal["categorical"]
    vocab_size: int = Field(1000, ge=1, description="Keep the most frequent values.")
    oov_buckets: int = Field(10, ge=1, description="Hash buckets for values not in the vocabulary.")
    fill: str | int = ""


Feature = Annotated[
    NumericFeature | BucketizedFeature | CategoricalFeature, Field(discriminator="kind")
]


class SchemaSection(_Section):
    """The reviewed schema that validation checks against."""

    curated: str | None = Field(
        default=None,
        description="Path of a curated schema.pbtxt. When the file exists the pipeline imports "
        "it (ImportSchemaGen); otherwise SchemaGen infers one (freeze it with "
        "`mlops schema freeze`).",
    )


class ValidationSection(_Section):
    on_anomalies: Literal["halt", "warn"] = "halt"


class TrainerSection(_Section):
    model: Literal["wide_and_deep", "dnn"] = "wide_and_deep"
    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(default=[64, 32], min_length=1)
    embedding_dim: int = Field(8, ge=1)
    train_steps: int = Field(1000, ge=1)
    eval_steps: int = Field(100, ge=1)
    epochs: int = Field(5, ge=1, description="train_steps are spread evenly over the epochs.")
    batch_size: int = Field(256, ge=1, description="Per-replica batch size.")
    learning_rate: float = Field(1e-3, gt=0)
    seed: int = 42
    distribution: Literal["auto", "one_device", "mirrored", "multi_worker"] = Field(
        "auto",
        description="auto: all GPUs mirrored, one GPU, or CPU; multi_worker reads TF_CONFIG.",
    )
    mixed_precision: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: mixed_float16 when training on GPUs, float32 on CPU."
    )
    learning_rate_scaling: Literal["linear", "sqrt", "none"] = Field(
        "linear",
        description="How learning_rate follows the global batch (batch_size x replicas): "
        "linear multiplies it by global_batch / reference_batch_size, sqrt by the square root "
        "of that ratio, none keeps it.",
    )
    reference_batch_size: int | None = Field(
        None,
        ge=1,
        description="The global batch learning_rate was tuned for; default batch_size (one "
        "replica), so the configured rate is exact on one device.",
    )
    cache_dataset: bool = Field(
        False,
        description="Parse the train and eval splits once into memory and gather shuffled "
        "batches from there (for splits that fit in RAM; keeps the CPU for training); false "
        "streams them from the TFRecords every epoch.",
    )

    @model_validator(mode="after")
    def _steps_cover_epochs(self) -> TrainerSection:
        if self.train_steps < self.epochs:
            raise ValueError(
                f"train_steps ({self.train_steps}) must be >= epochs ({self.epochs})"
            )
        return self


class MetricThreshold(_Section):
    """Absolute bounds and the allowed change against the last blessed model."""

    lower_bound: float | None = None
    upper_bound: float | None = None
    max_drop: float | None = Field(
        default=None,
        ge=0,
        description="Largest allowed decrease vs. the baseline (0 = must not get worse).",
    )


class EvaluatorSection(_Section):
    metrics: list[Literal[METRIC_NAMES]] = ["auc", "binary_accuracy"]  # type: ignore[valid-type]
    thresholds: dict[Literal[METRIC_NAMES], MetricThreshold] = {}  # type: ignore[valid-type]
    slices: list[list[str]] = Field(
        default=[], description="Each entry is a list of raw feature names to slice by."
    )


class PushSection(_Section):
    destination: str = Field(
        "serving",
        description="Base directory for versioned SavedModels; relative to the workspace.",
    )


class BeamSection(_Section):
    direct_running_mode: Literal["in_memory", "multi_processing", "multi_threading"] = (
        "multi_processing"
    )
    direct_num_workers: int = Field(0, ge=0, description="0 = one worker per CPU core.")
    prewarmed_workers: bool = Field(
        True,
        description="multi_processing only: fork each component's worker processes from one "
        "process that imported TensorFlow/TFX once per run (mlops/beam_pool) instead of "
        "starting every worker cold; false uses Beam's own worker start.",
    )


class ScheduleSection(_Section):
    """When retraining runs: the local scheduler and Kubeflow's recurring run read this."""

    cron: str = Field("0 3 * * *", description="Standard 5-field cron: minute hour day "
                      "month weekday (or @hourly/@daily/@weekly/@monthly/@yearly).")
    time_zone: str = Field("UTC", description="IANA time zone the cron is read in.")
    catch_up: bool = Field(
        False,
        description="After downtime, run every missed firing (true) or only the latest (false).",
    )
    enabled: bool = True

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{zone}'; use an IANA name such as "
                             "'UTC' or 'Europe/Berlin'") from None
        return zone


class TrainerResources(_Section):
    """What the Trainer pod asks Kubernetes for on Kubeflow."""

    gpu_count: int = Field(0, ge=0)
    gpu_type: str = Field("nvidia.com/gpu", description="Accelerator resource name.")
    cpu: float = Field(4.0, gt=0, description="vCPU limit.")
    memory_gib: float = Field(16.0, gt=0, description="Memory limit in GiB.")


class KubeflowSection(_Section):
    """Kubeflow Pipelines v2 target. Credentials come from the environment or kube config
    (KF_PIPELINES_* variables, ~/.config/kfp/context.json), never from this file."""

    host: str | None = Field(None, description="KFP API endpoint, e.g. "
                             "http://ml-pipeline-ui.kubeflow:80 (or KF_PIPELINES_ENDPOINT).")
    namespace: str | None = Field(None, description="Profile namespace on a multi-user "
                                  "Kubeflow; leave unset for single-user installs.")
    experiment: str = "retraining"
    image: str | None = Field(None, description="Pipeline image built from infra/Dockerfile.")
    pipeline_root: str | None = Field(None, description="Object store or volume path, e.g. "
                                      "gs://bucket/tfx or /mnt/pipeline-root.")
    data_root: str | None = Field(None, description="Data location the cluster reads; default: "
                                  "data.source if it is a URL, the copy in the image for pkg://.")
    push_destination: str | None = Field(None, description="Where Pusher writes models for TF "
                                         "Serving; default <pipeline_root>/serving/<name>.")
    project_dir: str = Field("/pipeline", description="Where infra/Dockerfile puts the project.")
    output_spec: str = Field("infra/kubeflow/pipeline.json",
                             description="Compiled spec path, relative to the config file.")
    trainer_resources: TrainerResources = TrainerResources()
class DashboardSection(_Section):
    """The operator dashboard (``mlops dashboard serve``). Secrets never live in this file:
    it names the environment variables that hold them."""

    host: str = Field("127.0.0.1", description="Interface to bind; loopback unless you mean it.")
    port: int = Field(8080, ge=1, le=65535)
    users_env: str = Field(
        "MLOPS_DASHBOARD_USERS",
        description="Env var holding 'name:role:hash;...' (hashes from "
        "`mlops dashboard hash-password`).",
    )
    session_secret_env: str = Field(
        "MLOPS_DASHBOARD_SECRET",
        description="Env var holding the cookie-signing secret (random per start when unset).",
    )
    refresh_seconds: int = Field(5, ge=1, le=3600, description="Auto-refresh while a run runs.")


class RegistrySection(_Section):
    """MLflow tracking and model registry (see docs/registry.md)."""

    enabled: bool = Field(
        True, description="Log every `mlops run` to MLflow and register pushed models."
    )
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI, e.g. http://127.0.0.1:5000 for a real "
        "`mlflow server`. Default: embedded SQLite at <workspace>/mlflow/mlflow.db.",
    )
    artifact_location: str | None = Field(
        default=None,
        description="Artifact store for the pipeline's experiment when it is created. Default: "
        "<workspace>/mlflow/artifacts with the embedded store; the server's own with a server.",
    )
    model_name: str | None = Field(
        default=None, description="Registered model name. Default: the pipeline name."
    )


class ServingSection(_Section):
    """`mlops serve`: a TF Serving-compatible REST endpoint following a registry alias."""

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=0, le=65535, description="0 picks a free port.")
    alias: str = Field("production", description="Registry alias whose version is served.")
    poll_seconds: float = Field(
        5.0, gt=0, description="How often the registry alias is checked for a new version."
    )


class DriftComparator(_Section):
    """Which TFDV comparator measures a kind of feature, and its default threshold."""

    comparator: Literal["infinity_norm", "jensen_shannon_divergence"]
    threshold: float = Field(gt=0, le=1)


class DriftSection(_Section):
    """Drift monitoring of newly landed data against the serving model's training data."""

    categorical: DriftComparator = DriftComparator(comparator="infinity_norm", threshold=0.1)
    numeric: DriftComparator = DriftComparator(
        comparator="jensen_shannon_divergence", threshold=0.01
    )
    thresholds: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default={}, description="Per-feature thresholds overriding the kind's default."
    )
    on_drift: Literal["retrain", "report"] = "report"
    cooldown_minutes: float = Field(
        360, ge=0, description="After a triggered run, drift triggers nothing for this long."
    )
    landing: str = Field("landing", description="Folder `mlops drift watch` checks for new "
                         "files; relative paths are relative to the config file.")
    watch_interval_seconds: float = Field(300, gt=0)
    skew_against_serving: bool = Field(
        False, description="Also record TFDV skew (training vs the new data as serving data)."
    )


class PlatformConfig(_Section):
    """Everything a pipeline run needs, validated once. Paths resolve against ``base_dir``."""

    pipeline: PipelineSection
    data: DataSection
    label: LabelSection
    features: list[Feature] = Field(min_length=1)
    schema_: SchemaSection = Field(SchemaSection(), alias="schema")
    validation: ValidationSection = ValidationSection()
    trainer: TrainerSection = TrainerSection()
    evaluator: EvaluatorSection = EvaluatorSection()
    push: PushSection = PushSection()
    beam: BeamSection = BeamSection()
    schedule: ScheduleSection = ScheduleSection()
    kubeflow: KubeflowSection = KubeflowSection()
    dashboard: DashboardSection = DashboardSection()
    registry: RegistrySection = RegistrySection()
    serving: ServingSection = ServingSection()
    drift: DriftSection = DriftSection()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source_file: str = PrivateAttr(default="<dict>")
    _overrides: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("features")
    @classmethod
    def _unique_features(cls, features: list[Any]) -> list[Any]:
        names = [f.name for f in features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature names: {', '.join(duplicates)}")
        return features

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformConfig:
        names = {f.name for f in self.features}
        if self.label.source in names:
            raise ValueError(
                f"label.source '{self.label.source}' is also listed in features: the model "
                "would see its own label; remove it from features"
            )
        for position, slice_keys in enumerate(self.evaluator.slices):
            unknown = [k for k in slice_keys if k not in names]
            if unknown:
                raise ValueError(
                    f"evaluator.slices[{position}] names unknown features {unknown}; "
                    f"known: {sorted(names)}"
                )
        return self

    # ----- derived locations -------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source_file(self) -> str:
        return self._source_file

    @property
    def overrides(self) -> dict[str, Any]:
        """Dotted-key overrides applied on top of the file (to reproduce this config elsewhere)."""
        return dict(self._overrides)

    def resolve(self, path: str) -> Path:
        """A config path made absolute against the config file's directory."""
        return (self._base_dir / os.path.expanduser(path)).resolve()

    @property
    def workspace(self) -> Path:
        return self.resolve(self.pipeline.workspace)

    @property
    def pipeline_root(self) -> Path:
        return self.workspace / "pipelines" / self.pipeline.name

    @property
    def metadata_path(self) -> Path:
        return self.workspace / "metadata" / f"{self.pipeline.name}.sqlite"

    @property
    def serving_dir(self) -> Path:
        return self.workspace / self.push.destination / self.pipeline.name

    @property
    def curated_schema_path(self) -> Path | None:
        return self.resolve(self.schema_.curated) if self.schema_.curated else None

    @property
    def data_source(self) -> str:
        """The data source with ``pkg://`` resolved to a real filesystem path."""
        return resolve_data_source(self.data.source, self._base_dir)

    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def raw_columns(self) -> list[str]:
        """Columns the raw data must have: features, the label source and its denominator."""
        columns = [*self.feature_names(), self.label.source]
        if self.label.denominator and self.label.denominator not in columns:
            columns.append(self.label.denominator)
        return columns

    def with_overrides(self, overrides: Mapping[str, Any]) -> PlatformConfig:
        """A new validated config with dotted-key overrides applied (e.g. trainer.train_steps)."""
        raw = self.model_dump(by_alias=True)
        for key, value in overrides.items():
            _set_dotted(raw, key, value)
        return _validate(raw, self._source_file, self._base_dir,
                         {**self._overrides, **overrides})


def resolve_data_source(source: str, base_dir: Path) -> str:
    """Turn ``pkg://module/rel/path`` into a path inside the installed package; else resolve."""
    if source.startswith(PACKAGE_SCHEME):
        module, _, relative = source[len(PACKAGE_SCHEME) :].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"data.source: package '{module}' is not installed; run `make setup` or point "
                "data.source at a file, directory or glob"
            )
        return str(Path(next(iter(spec.submodule_search_locations))) / relative)
    return str((base_dir / os.path.expanduser(source)).resolve())


def load_config(
    path: str | os.PathLike[str] = DEFAULT_CONFIG_FILE,
    overrides: Mapping[str, Any] | None = None,
) -> PlatformConfig:
    """Read, override and validate the settings file. Raises ConfigError with every problem."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(
            f"{config_path}: config file not found. Pass --config PATH or run from the "
            f"directory holding {DEFAULT_CONFIG_FILE}."
        )
    try:
        raw = yaml.safe_load(config_path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{config_path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be a mapping of sections")
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    return _validate(raw, str(config_path.resolve()), config_path.resolve().parent,
                     dict(overrides or {}))


def parse_override(text: str) -> tuple[str, Any]:
    """``trainer.train_steps=50`` -> ("trainer.train_steps", 50); values are parsed as YAML."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise ConfigError(f"override '{text}': expected KEY=VALUE, e.g. trainer.train_steps=50")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        # Not YAML on its own (e.g. a cron like */5 * * * *): take the text as a string.
        return key.strip(), value


def _set_dotted(raw: dict[str, Any], dotted_key: str, value: Any) -> None:
    node: Any = raw
    parts = dotted_key.split(".")
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit():
            node = node[int(part)]
            continue
        node = node.setdefault(part, {})
        if not isinstance(node, dict | list):
            raise ConfigError(f"override '{dotted_key}': '{part}' is not a section")
    last = parts[-1]
    if isinstance(node, list) and last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


def _validate(
    raw: dict[str, Any], source: str, base_dir: Path, overrides: dict[str, Any]
) -> PlatformConfig:
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(source, error)) from None
    config._base_dir = base_dir
    config._source_file = source
    config._overrides = overrides
    return config


def _format_errors(source: str, error: ValidationError) -> str:
    lines = [f"{source}: {error.error_count()} problem(s) in the configuration:"]
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            allowed = _allowed_keys(problem["loc"][:-1])
            message = f"unknown key; allowed here: {', '.join(allowed)}"
        elif problem["type"] == "missing":
            message = "required key is missing"
        elif "input" in problem and problem["type"] not in ("value_error", "model_type"):
            message += f" (got {problem['input']!r})"
        lines.append(f"  - {location}: {message}")
    return "\n".join(lines)


def _allowed_keys(location: Iterable[Any]) -> list[str]:
    """Field names of the model found at ``location`` (used to list allowed keys)."""
    model: Any = PlatformConfig
    for part in location:
        if isinstance(part, int):
            continue
        if part in ("numeric", "bucketized", "categorical"):
            model = {"numeric": NumericFeature, "bucketized": BucketizedFeature,
                     "categorical": CategoricalFeature}[part]
            continue
        field = _field_by_key(model, str(part))
        if field is None:
            return []
        model = _first_model(field.annotation)
        if model is None:
            return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _first_model(argument)
        if found is not None:
            return found
    return None


def data_files(source_path: str) -> list[str]:
    """The files a data source (file, directory or glob) expands to, sorted."""
    if os.path.isdir(source_path):
        return sorted(
            p for p in glob.glob(os.path.join(source_path, "*"))
            if os.path.isfile(p) and not os.path.basename(p).startswith(".")
        )
    if any(ch in source_path for ch in "*?["):
        return sorted(p for p in glob.glob(source_path) if os.path.isfile(p))
    return [source_path] if os.path.isfile(source_path) else []
