"""Pre-warmed Beam worker processes for the local DirectRunner in multi-processing mode.

Why: in ``multi_processing`` mode Beam starts fresh ``python -m sdk_worker_main`` processes for
every component's pipeline, and each one imports Beam, TensorFlow, tfx_bsl and TFDV/TFT/TFMA
before it handles a record: about 15 CPU-seconds per worker on the machines this project is
built on, so on small data a component spends most of its time starting workers (the default
run started 8 of them, about 45 s of its 109 s). Here a *zygote* process imports those
libraries once per ``mlops run`` and forks each worker from that state; the workers are still
separate processes using every core, exactly as Beam's multi-processing mode has them, but
they start in milliseconds.

Pieces: :mod:`.zygote` (the process that forks workers), :mod:`.client` (the worker command
Beam runs: asks the zygote for a worker, or execs the normal one when there is no zygote),
:mod:`.runner` (the Beam runner that uses the client as its worker command) and
:func:`prewarmed_workers` (starts and stops the zygote around a run).
"""

from mlops.beam_pool.pool import (
    RUNNER_NAME,
    ZYGOTE_ADDRESS_ENV,
    prewarmed_workers,
    uses_prewarmed_workers,
    worker_pool,
)

__all__ = ["RUNNER_NAME", "ZYGOTE_ADDRESS_ENV", "prewarmed_workers", "uses_prewarmed_workers",
           "worker_pool"]
