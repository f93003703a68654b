"""Serving latency and throughput vs. the in-process model call (the floor), same run.

Measures, on one pushed model:
- in-process: ``LoadedModel.predict_columns`` (the ``serving_raw`` call on a batch of 1) and
  ``LoadedModel.predict_request`` (the same plus payload validation) - the floor;
- over HTTP on loopback, for each server (threaded http.server, uvicorn), run in a child
  process so the client does not share the server's GIL: p50/p99 at batch 1 from one
  keep-alive client, and throughput with several concurrent clients.

Prints a table and the ratio serving p50 / in-process p50 (target: within 2x).

    .venv/bin/python bench/serving_latency.py --config pipeline_config.yaml [--set KEY=VALUE]
    .venv/bin/python bench/serving_latency.py --model workspace/serving/taxi-big-tipper/<v>
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mlops  # noqa: E402,F401 - configures TensorFlow before it is imported

INSTANCE = {
    "fare": 12.45, "trip_miles": 2.1, "trip_seconds": 600, "pickup_latitude": 41.88,
    "pickup_longitude": -87.63, "dropoff_latitude": 41.9, "dropoff_longitude": -87.62,
    "payment_type": "Credit Card", "company": "Flash Cab", "trip_start_hour": 19,
    "trip_start_day": 6, "trip_start_month": 5, "pickup_community_area": 8,
    "dropoff_community_area": 32, "dropoff_census_tract": 17031081500,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def timed(call: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def throughput(make_call: Any, clients: int, per_client: int) -> float:
    """Requests per second with ``clients`` threads, each doing ``per_client`` calls."""
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        call = make_call()
        barrier.wait()
        for _ in range(per_client):
            call()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return clients * per_client / (time.perf_counter() - start)


def serve_only(kind: str, model_dir: str, port_file: str) -> None:
    """Child process: serve one model with the chosen server until killed."""
    from mlops.serving.follower import ModelHolder
    from mlops.serving.model import LoadedModel
    from mlops.serving.servers import start_server

    model = LoadedModel.load("bench", "1", model_dir)
    model.warm_up()
    holder = ModelHolder("bench")
    holder.swap(model)
    server = start_server(kind, holder, "127.0.0.1", 0)
    Path(port_file).write_text(str(server.port))
    server.wait()


def http_caller(port: int, body: bytes) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call() -> None:
        connection.request("POST", "/v1/models/bench:predict", body,
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(payload.decode())

    return call


def start_child(kind: str, model_dir: str, scratch: Path) -> tuple[subprocess.Popen, int]:
    port_file = scratch / f"{kind}.port"
    port_file.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, __file__, "--serve-only", kind, "--model",
                              model_dir, "--port-file", str(port_file)],
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 300
    while not port_file.exists() or not port_file.read_text():
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{kind} server did not start")
        time.sleep(0.2)
    port = int(port_file.read_text())
    with socket.create_connection(("127.0.0.1", port), timeout=30):
        pass
    return child, port


def latest_pushed_model(args: argparse.Namespace) -> str:
    from pipelines.config import load_config, parse_override

    config = load_config(args.config, dict(parse_override(o) for o in args.set))
    versions = sorted(p for p in config.serving_dir.glob("*") if (p / "saved_model.pb").exists())
    if not versions:
        raise SystemExit(f"no pushed model under {config.serving_dir}; run `mlops run` first "
                         "or pass --model DIR")
    return str(versions[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "pipeline_config.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model", help="A SavedModel directory (default: latest pushed).")
    parser.add_argument("--requests", type=int, default=1000, help="Sequential requests.")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent clients.")
    parser.add_argument("--per-client", type=int, default=300)
    parser.add_argument("--servers", default="threaded,uvicorn")
    parser.add_argument("--serve-only", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_only:
        serve_only(args.serve_only, args.model, args.port_file)
        return

    import tempfile

    from mlops.serving.model import LoadedModel

    model_dir = args.model or latest_pushed_model(args)
    model = LoadedModel.load("bench", "1", model_dir)
    model.warm_up()
    request = {"instances": [INSTANCE]}
    body = json.dumps(request).encode()
    columns = model.columns_from_instances([INSTANCE])
    rows: list[tuple[str, float, float, float]] = []

    timed(lambda: model.predict_columns(columns), 100)
    floor = timed(lambda: model.predict_columns(columns), args.requests)
    floor_rps = throughput(lambda: (lambda: model.predict_columns(columns)), args.clients,
                           args.per_client)
    rows.append(("in-process model call (floor)", statistics.median(floor),
                 percentile(floor, 99), floor_rps))
    parsed = timed(lambda: model.predict_request(body), args.requests)
    parsed_rps = throughput(lambda: (lambda: model.predict_request(body)), args.clients,
                            args.per_client)
    rows.append(("in-process incl. JSON + validation", statistics.median(parsed),
                 percentile(parsed, 99), parsed_rps))

    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.servers.split(","):
            child, port = start_child(kind, model_dir, Path(scratch))
            try:
                call = http_caller(port, body)
                timed(call, 100)
                samples = timed(call, args.requests)
                rps = throughput(lambda port=port: http_caller(port, body), args.clients,
                                 args.per_client)
                rows.append((f"HTTP {kind}", statistics.median(samples),
                             percentile(samples, 99), rps))
            finally:
                child.terminate()
                child.wait(timeout=30)

    floor_p50 = rows[0][1]
    print(f"model: {model_dir}")
    print(f"machine: {os.cpu_count()} cores; batch 1; {args.requests} sequential requests; "
          f"throughput with {args.clients} clients x {args.per_client} requests")
    print(f"{'path':<38}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'p50 / floor':>13}")
    for name, p50, p99, rps in rows:
        print(f"{name:<38}{p50:>9.2f}{p99:>9.2f}{rps:>9.0f}{p50 / floor_p50:>12.2f}x")


if __name__ == "__main__":
    main()
