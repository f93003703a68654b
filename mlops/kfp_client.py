"""Runs and recurring runs on Kubeflow Pipelines through ``kfp.Client``.

The compiled spec (``mlops kubeflow compile``) is a TFX PipelineJob; KFP's API takes its
PipelineSpec, so :func:`kfp_package` writes that part as the YAML package ``kfp.Client``
uploads, and the runtime parameters (data root, train args) travel as run parameters.
Schedules reuse the ``schedule`` section the local scheduler reads: the 5-field cron becomes
Kubeflow's 6-field form, ``max_concurrency=1`` (never two retraining runs at once) and
``no_catchup`` follows ``schedule.catch_up``. Credentials come only from the environment or
kube config, which ``kfp.Client`` reads itself (KF_PIPELINES_* variables, ~/.config/kfp).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from mlops.cron import CronError, normalize, to_kubeflow
from pipelines.config import PlatformConfig

ENDPOINT_VARIABLE = "KF_PIPELINES_ENDPOINT"
HEALTHZ_PATH = "/apis/v2beta1/healthz"


class KubeflowError(RuntimeError):
    """A Kubeflow request cannot be made; the message says which setting to check."""


class KubeflowUnreachableError(KubeflowError):
    """The Kubeflow Pipelines API did not answer."""


def resolve_host(config: PlatformConfig, host: str | None = None) -> str:
    """--host, then kubeflow.host, then KF_PIPELINES_ENDPOINT (read now, not at import)."""
    chosen = host or config.kubeflow.host or os.environ.get(ENDPOINT_VARIABLE)
    if not chosen:
        raise KubeflowError(
            "kubeflow.host is not set: put the Kubeflow Pipelines API address in "
            "pipeline_config.yaml (e.g. http://localhost:8080 after `kubectl port-forward -n "
            f"kubeflow svc/ml-pipeline-ui 8080:80`), or export {ENDPOINT_VARIABLE}."
        )
    return chosen.rstrip("/")


def check_reachable(host: str, timeout: float = 5.0) -> None:
    """Fail fast with a clear message instead of kfp.Client's retry loop and stack trace."""
    import httpx

    url = host if host.startswith("http") else f"https://{host}"
    try:
        httpx.get(f"{url}{HEALTHZ_PATH}", timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as error:
        raise KubeflowUnreachableError(
            f"Kubeflow Pipelines at {host} (kubeflow.host) is not reachable: "
            f"{type(error).__name__}: {error}. Check kubeflow.host or {ENDPOINT_VARIABLE}, that "
            "the API is exposed (e.g. kubectl port-forward -n kubeflow svc/ml-pipeline-ui "
            "8080:80) and that your credentials (KF_PIPELINES_* variables or kube config) work."
        ) from None


def connect(config: PlatformConfig, host: str | None = None) -> Any:
    """A ``kfp.Client`` for kubeflow.host / kubeflow.namespace, after a reachability check."""
    import kfp

    address = resolve_host(config, host)
    check_reachable(address)
    if config.kubeflow.namespace:
        return kfp.Client(host=address, namespace=config.kubeflow.namespace)
    return kfp.Client(host=address)


def kfp_package(spec_path: Path, target_dir: Path) -> Path:
    """Write the PipelineSpec of a compiled TFX PipelineJob as the YAML package KFP takes."""
    if not spec_path.is_file():
        raise KubeflowError(f"{spec_path}: no compiled pipeline spec; run `mlops kubeflow "
                            "compile` first (or pass --spec).")
    job = json.loads(spec_path.read_text())
    target_dir.mkdir(parents=True, exist_ok=True)
    package = target_dir / f"{spec_path.stem}.kfp.yaml"
    package.write_text(yaml.safe_dump(job.get("pipelineSpec", job), sort_keys=True))
    return package


def run_parameters(spec_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compiled defaults of the runtime parameters, with any overrides applied."""
    job = json.loads(spec_path.read_text())
    runtime = job.get("runtimeConfig", {})
    values = dict(runtime.get("parameterValues") or {})
    for name, value in (runtime.get("parameters") or {}).items():
        values.setdefault(name, next(iter(value.values())) if isinstance(value, dict) else value)
    values.update(overrides or {})
    return values


def kubeflow_cron(config: PlatformConfig, at: dt.datetime | None = None) -> tuple[str, str | None]:
    """(6-field cron in UTC, warning or None). Kubeflow reads cron in the controller's zone
    (UTC on standard installs), so schedule.time_zone is applied here by shifting the hours."""
    schedule = config.schedule
    fields = normalize(schedule.cron).split(" ")
    zone = ZoneInfo(schedule.time_zone)
    moment = (at or dt.datetime.now(dt.UTC)).astimezone(zone)
    offset = moment.utcoffset() or dt.timedelta(0)
    if offset == dt.timedelta(0) and schedule.time_zone in ("UTC", "Etc/UTC"):
        return to_kubeflow(schedule.cron), None
    hours_text = fields[1]
    if hours_text == "*" and not offset.total_seconds() % 3600:
        return to_kubeflow(schedule.cron), None  # every hour: a whole-hour shift changes nothing
    if offset.total_seconds() % 3600 or not all(h.isdigit() for h in hours_text.split(",")):
        raise CronError(
            f"schedule.cron '{schedule.cron}' in schedule.time_zone {schedule.time_zone}: "
            "Kubeflow runs cron in UTC and only a fixed list of hours can be shifted; write the "
            "cron in UTC and set schedule.time_zone: UTC"
        )
    shift = int(offset.total_seconds() // 3600)
    shifted = [int(h) - shift for h in hours_text.split(",")]
    crosses_midnight = any(not 0 <= h <= 23 for h in shifted)
    if crosses_midnight and (fields[2] != "*" or fields[4] not in ("*", "?")):
        raise CronError(
            f"schedule.cron '{schedule.cron}' in {schedule.time_zone}: in UTC the run moves to "
            "another day, which a cron with day fields cannot express; write it in UTC"
        )
    fields[1] = ",".join(str(h % 24) for h in sorted({h % 24 for h in shifted}))
    january = dt.datetime(moment.year, 1, 1, tzinfo=zone).utcoffset()
    july = dt.datetime(moment.year, 7, 1, tzinfo=zone).utcoffset()
    warning = None
    if january != july:
        warning = (f"{schedule.time_zone} changes its UTC offset during the year; the recurring "
                   f"run uses today's offset ({offset}), so it moves by an hour when daylight "
                   "saving changes. Recreate the schedule then, or write the cron in UTC.")
    return to_kubeflow(" ".join(fields)), warning


def schedule_name(config: PlatformConfig) -> str:
    return f"{config.pipeline.name}-retraining"


def experiment_id(client: Any, config: PlatformConfig) -> str:
    """Get or create kubeflow.experiment in kubeflow.namespace."""
    experiment = client.create_experiment(name=config.kubeflow.experiment,
                                          namespace=config.kubeflow.namespace)
    return str(experiment.experiment_id)


@dataclass(frozen=True)
class Submitted:
    id: str
    name: str
    experiment_id: str


def submit_run(client: Any, config: PlatformConfig, spec_path: Path, work_dir: Path,
               parameters: dict[str, Any] | None = None, name: str | None = None) -> Submitted:
    """One run of the compiled pipeline in kubeflow.experiment."""
    package = kfp_package(spec_path, work_dir)
    exp_id = experiment_id(client, config)
    job_name = name or f"{config.pipeline.name} {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S}"
    run = client.run_pipeline(
        experiment_id=exp_id, job_name=job_name, pipeline_package_path=str(package),
        params=run_parameters(spec_path, parameters),
        pipeline_root=config.kubeflow.pipeline_root,
    )
    return Submitted(str(run.run_id), job_name, exp_id)


def create_schedule(client: Any, config: PlatformConfig, spec_path: Path, work_dir: Path,
                    parameters: dict[str, Any] | None = None) -> tuple[Submitted, str | None]:
    """The recurring run for schedule.cron (converted), one run at a time, catch-up per config."""
    cron, warning = kubeflow_cron(config)
    package = kfp_package(spec_path, work_dir)
    exp_id = experiment_id(client, config)
    recurring = client.create_recurring_run(
        experiment_id=exp_id, job_name=schedule_name(config),
        description=f"{config.schedule.cron} ({config.schedule.time_zone}) from "
                    f"{Path(config.source_file).name}",
        cron_expression=cron, max_concurrency=1, no_catchup=not config.schedule.catch_up,
        params=run_parameters(spec_path, parameters), pipeline_package_path=str(package),
        enabled=config.schedule.enabled, pipeline_root=config.kubeflow.pipeline_root,
    )
    return Submitted(str(recurring.recurring_run_id), schedule_name(config), exp_id), warning


def list_schedules(client: Any, config: PlatformConfig) -> list[Any]:
    """Recurring runs in kubeflow.experiment (V2beta1RecurringRun objects)."""
    exp_id = experiment_id(client, config)
    found: list[Any] = []
    token = ""
    while True:
        page = client.list_recurring_runs(experiment_id=exp_id, page_token=token,
                                          page_size=100, namespace=config.kubeflow.namespace)
        found.extend(page.recurring_runs or [])
        token = page.next_page_token or ""
        if not token:
            return found


def find_schedule(client: Any, config: PlatformConfig, recurring_run_id: str | None) -> str:
    """The id to act on: the given one, or the single recurring run named for this pipeline."""
    if recurring_run_id:
        return recurring_run_id
    mine = [r for r in list_schedules(client, config) if r.display_name == schedule_name(config)]
    if len(mine) != 1:
        raise KubeflowError(
            f"{len(mine)} recurring runs named '{schedule_name(config)}' in experiment "
            f"'{config.kubeflow.experiment}'; pass the id (see `mlops kubeflow schedule list`)."
        )
    return str(mine[0].recurring_run_id)
