"""HTTP servers carrying :mod:`mlops.serving.api`: a threaded ``http.server`` and uvicorn.

Both are real servers with keep-alive; ``bench/serving_latency.py`` measures them side by side
(see bench/RESULTS.md for which is faster here and why it is the default).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops.serving.api import handle
from mlops.serving.follower import ModelHolder

SERVERS = ("threaded", "uvicorn")


class RunningServer:
    """A server running in a background thread; ``port`` is the bound port."""

    def __init__(self, host: str, port: int, stop: Callable[[], None],
                 thread: threading.Thread) -> None:
        self.host, self.port = host, port
        self._stop, self._thread = stop, thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._stop()
        self._thread.join(timeout=30)

    def wait(self) -> None:
        while self._thread.is_alive():
            self._thread.join(timeout=1)


def _threaded_handler(holder: ModelHolder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their connection
        # Headers and body go out as two writes; with Nagle on, the second waits for the
        # client's delayed ACK (~40 ms per request on Linux).
        disable_nagle_algorithm = True

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = handle(holder, method, self.path, body)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return  # one line per request would dominate the console and the latency

    return Handler


def start_threaded(holder: ModelHolder, host: str, port: int) -> RunningServer:
    server = ThreadingHTTPServer((host, port), _threaded_handler(holder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return RunningServer(host, server.server_address[1], stop, thread)


def asgi_app(holder: ModelHolder) -> Callable[..., Any]:
    """A bare ASGI app (no framework routing: :func:`handle` already routes)."""
    import anyio.to_thread

    async def app(scope: dict[str, Any], receive: Callable[..., Any],
                  send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        response = await anyio.to_thread.run_sync(
            handle, holder, scope["method"], scope["path"], body)
        headers = [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    return app


def start_uvicorn(holder: ModelHolder, host: str, port: int) -> RunningServer:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(asgi_app(holder), log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn",
                              daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.05)

    def stop() -> None:
        server.should_exit = True

    return RunningServer(host, sock.getsockname()[1], stop, thread)


def start_server(kind: str, holder: ModelHolder, host: str, port: int) -> RunningServer:
    if kind == "threaded":
        return start_threaded(holder, host, port)
    if kind == "uvicorn":
        return start_uvicorn(holder, host, port)
    raise ValueError(f"unknown server '{kind}'; use one of {', '.join(SERVERS)}")
