"""Starting and stopping the zygote around a run (see the package docstring for why)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker client imports this module: keep it light
    from pipelines.config import BeamSection

log = logging.getLogger("mlops.beam_pool")

# Workers find the zygote through this environment variable (Beam passes the runner's
# environment on to the worker command).
ZYGOTE_ADDRESS_ENV = "MLOPS_BEAM_ZYGOTE"
# Beam creates runners by dotted class name: ``--runner=<this>``.
RUNNER_NAME = "mlops.beam_pool.runner.PrewarmedDirectRunner"


def uses_prewarmed_workers(beam: BeamSection) -> bool:
    return beam.direct_running_mode == "multi_processing" and beam.prewarmed_workers


def worker_pool(beam: BeamSection) -> AbstractContextManager[str | None]:
    """A zygote for the block when the Beam settings use one; otherwise nothing."""
    return prewarmed_workers() if uses_prewarmed_workers(beam) else nullcontext()


@contextmanager
def prewarmed_workers() -> Iterator[str]:
    """Run a zygote for the duration of the block; yields its socket path.

    The zygote imports in the background while the caller goes on; workers requested before
    it is ready wait in its listen queue (still sooner than a cold start). When the zygote is
    gone or broken, each worker falls back to Beam's normal start, so this never makes a run
    fail that would otherwise have worked. Nested use shares the outer zygote (the CLI starts
    one before its own imports; the runner inside it then finds it running).
    """
    running = os.environ.get(ZYGOTE_ADDRESS_ENV)
    if running and Path(running).exists():
        yield running
        return
    directory = tempfile.mkdtemp(prefix="mlops-beam-")
    address = str(Path(directory) / "zygote.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops.beam_pool.zygote", address],
        stdin=subprocess.DEVNULL,
    )
    previous = os.environ.get(ZYGOTE_ADDRESS_ENV)
    os.environ[ZYGOTE_ADDRESS_ENV] = address
    try:
        yield address
    finally:
        if previous is None:
            os.environ.pop(ZYGOTE_ADDRESS_ENV, None)
        else:
            os.environ[ZYGOTE_ADDRESS_ENV] = previous
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)
