"""The worker command Beam runs: ``python -m mlops.beam_pool.client``.

Asks the zygote (found through ``MLOPS_BEAM_ZYGOTE``) for a forked SDK worker that uses this
process's stdin/stdout/stderr, environment and working directory, and exits with its exit
code. Without a reachable zygote it becomes Beam's normal worker (exec), so a worker is never
lost to the pool being absent. Kept import-light: it starts once per worker.
"""

from __future__ import annotations

import os
import socket
import sys

from mlops.beam_pool.pool import ZYGOTE_ADDRESS_ENV
from mlops.beam_pool.protocol import receive_exit_code, send_request

SDK_WORKER_MODULE = "apache_beam.runners.worker.sdk_worker_main"


def main() -> None:
    conn = _connect(os.environ.get(ZYGOTE_ADDRESS_ENV))
    if conn is None:
        os.execv(sys.executable, [sys.executable, "-m", SDK_WORKER_MODULE, *sys.argv[1:]])
    send_request(conn, [0, 1, 2], {
        "env": dict(os.environ), "cwd": os.getcwd(), "argv": [SDK_WORKER_MODULE, *sys.argv[1:]],
    })
    code = receive_exit_code(conn)
    sys.exit(1 if code is None else code)


def _connect(address: str | None) -> socket.socket | None:
    if not address:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
    except OSError:
        conn.close()
        return None
    return conn


if __name__ == "__main__":
    main()
