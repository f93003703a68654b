"""The few bytes the worker client and the zygote exchange over a Unix socket.

Request: the client's standard fds (as SCM_RIGHTS ancillary data) and a JSON document with its
environment, working directory and arguments. Reply: the worker's exit code as 4 bytes, sent by
the forked worker when it finishes; end-of-file without a code means the worker died.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_LENGTH = struct.Struct("!I")
_EXIT_CODE = struct.Struct("!i")
_MAX_FDS = 3


def send_request(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    payload = json.dumps(request).encode()
    socket.send_fds(conn, [_LENGTH.pack(len(payload))], fds)
    conn.sendall(payload)


def receive_request(conn: socket.socket) -> tuple[list[int], dict[str, Any]]:
    header, fds, _, _ = socket.recv_fds(conn, _LENGTH.size, _MAX_FDS)
    if len(header) != _LENGTH.size:
        raise ConnectionError("worker client hung up before its request")
    (length,) = _LENGTH.unpack(header)
    payload = _receive_exactly(conn, length)
    return list(fds), json.loads(payload)


def send_exit_code(conn: socket.socket, code: int) -> None:
    conn.sendall(_EXIT_CODE.pack(code))


def receive_exit_code(conn: socket.socket) -> int | None:
    """The worker's exit code, or None when the connection closed without one."""
    try:
        data = _receive_exactly(conn, _EXIT_CODE.size)
    except ConnectionError:
        return None
    return _EXIT_CODE.unpack(data)[0]


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(remaining)
        if not chunk:
            raise ConnectionError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
