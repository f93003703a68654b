"""Starting a pipeline run from another program (scheduler, drift monitor, dashboard).

Every trigger runs the same ``mlops run`` command a person would type, in a child process, so
there is one code path for runs, one lock (``mlops.runlock``), one log per run and one exit-code
contract. The child's output goes to a file in the workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops.runlock import RunInProgressError, current_holder
from pipelines.config import PlatformConfig
from pipelines.runners.local import new_run_id


@dataclass
class TriggeredRun:
    run_id: str
    process: subprocess.Popen[bytes]
    output_file: Path

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout=timeout)


def run_command(config: PlatformConfig, run_id: str, reason: str,
                data_source: str | None = None,
                overrides: dict[str, object] | None = None) -> list[str]:
    command = [sys.executable, "-m", "mlops.cli", "run", "--config", config.source_file,
               "--run-id", run_id, "--reason", reason]
    for key, value in {**config.overrides, **(overrides or {})}.items():
        command += ["--set", f"{key}={json.dumps(value)}"]
    if data_source:
        command += ["--data", data_source]
    return command


def start_pipeline_run(
    config: PlatformConfig,
    *,
    reason: str,
    data_source: str | None = None,
    overrides: dict[str, object] | None = None,
) -> TriggeredRun:
    """Start ``mlops run`` in the background; refuse at once if a run is in progress."""
    holder = current_holder(config.workspace)
    if holder is not None:
        raise RunInProgressError(
            f"a pipeline run is in progress (run {holder.run_id}, {holder.reason}); try later"
        )
    run_id = new_run_id()
    output = config.workspace / "logs" / f"trigger-{run_id}.out"
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            run_command(config, run_id, reason, data_source, overrides),
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=str(config.base_dir), env=dict(os.environ),
        )
    return TriggeredRun(run_id, process, output)
