"""The zygote: imports what Beam workers need once, then forks one SDK worker per request.

Run as ``python -m mlops.beam_pool.zygote <socket path>`` by :func:`prewarmed_workers`. It stays
single-threaded (forking a multi-threaded process can copy a lock another thread held), binds
before importing so early requests queue instead of failing, and exits when its parent does.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import traceback
from typing import Any, NoReturn

from mlops.beam_pool.protocol import receive_request, send_exit_code
from mlops.runtime import silence_library_warnings

# What the workers of this project's pipelines unpickle their DoFns against, in the order the
# components run: ExampleGen (tfx_bsl), StatisticsGen (TFDV), Transform (TFT), Evaluator (TFMA).
PRELOAD = (
    "apache_beam.runners.worker.sdk_worker_main",
    "tensorflow",
    "tfx_bsl.public.tfxio",
    "tfx.components.example_gen.csv_example_gen.executor",
    "tensorflow_data_validation",
    "tensorflow_transform.beam",
    "tensorflow_model_analysis",
)
_POLL_SECONDS = 1.0


def main(argv: list[str]) -> None:
    address = argv[1]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    parent = os.getppid()
    children: set[int] = set()

    def stop(*_: Any) -> NoReturn:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        os._exit(0)

    def serve(timeout: float) -> None:
        _reap(children)
        ready, _, _ = select.select([listener], [], [], timeout)
        if ready:
            conn, _ = listener.accept()
            pid = _fork_worker(listener, conn)
            if pid:
                children.add(pid)

    signal.signal(signal.SIGTERM, stop)
    silence_library_warnings()
    for module in PRELOAD:
        # All before serving: workers forked half-way would import the rest themselves while
        # the zygote goes on importing, and on a small machine both then compete for the
        # same cores (measured: ExampleGen 21 s instead of 15 s on 2 cores).
        with contextlib.suppress(ImportError):  # a missing extra only costs start-up time
            importlib.import_module(module)
    while os.getppid() == parent:
        serve(timeout=_POLL_SECONDS)
    stop()


def _reap(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
        children.discard(pid)


def _fork_worker(listener: socket.socket, conn: socket.socket) -> int | None:
    """Fork a worker for one client; the parent's pid of it, or None when the request failed."""
    try:
        fds, request = receive_request(conn)
    except (OSError, ValueError):
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:
        listener.close()
        _run_worker(conn, fds, request)
    conn.close()
    for fd in fds:
        os.close(fd)
    return pid


def _run_worker(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> NoReturn:
    """In the forked child: become the client's worker process, then report its exit code."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in zip((0, 1, 2), fds, strict=False):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = list(request["argv"])
    _reseed_numpy()
    _drop_log_handlers()
    threading.Thread(target=_exit_when_client_leaves, args=(conn,), daemon=True).start()
    code = 1
    try:
        from apache_beam.runners.worker import sdk_worker_main

        sdk_worker_main.main(sys.argv)
        code = 0
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else int(stopped.code is not None)
    except BaseException:  # reported to the client as a failed worker
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            send_exit_code(conn, code)
        os._exit(code)


def _drop_log_handlers() -> None:
    """Console handlers the preloaded libraries attached at import (TensorFlow's, absl's) would
    print every worker's INFO lines on the run's console; without them records propagate to
    the handler the worker installs, which ships them to the runner's log like a cold
    worker's."""
    loggers = [logging.getLogger(), *(
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger))]
    for logger in loggers:
        logger.handlers.clear()
        logger.propagate = True


def _exit_when_client_leaves(conn: socket.socket) -> None:
    """Beam stops a worker by killing the command it started (the client): follow it."""
    with contextlib.suppress(OSError):
        conn.recv(1)
    os._exit(1)


def _reseed_numpy() -> None:
    """Forked workers would otherwise share numpy's global random state (``random`` reseeds
    itself after fork; numpy does not)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


if __name__ == "__main__":
    main(sys.argv)
