"""Recommend over HTTP: the production server (waitress, `python -m serving`) under concurrent load.

    .venv/bin/python -m benchmarks.http_load --sizes 100k,1M --connections 32 --requests 10000

For each catalog size the same demo bundle is served twice, side by side in one run: with its
ANN index and exact (the same files without the index). A pool of client threads, each with its
own keep-alive connection, sends `--requests` GET /api/recommend calls for songs drawn from the
catalog in the model's default mode. Prints p50/p99 latency seen by the client, requests/s and
the error count. The client runs on the same machine as the server, so both share its cores:
the figures are an upper bound of what the server alone would show.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import demo_models_dir, ensure_ann, print_table, sizes_arg

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exact_copy(models: Path, into: Path) -> Path:
    """A models folder with the same bundle minus its ANN index (symlinks, no copies)."""
    version = (models / "LATEST").read_text().strip()
    dst = into / "models" / version
    dst.mkdir(parents=True)
    for f in (models / version).iterdir():
        if not f.name.startswith("ann_"):
            (dst / f.name).symlink_to(f.resolve())
    (into / "models" / "LATEST").write_text(version + "\n")
    return into


class Server:
    """`python -m serving` in a child process on a free port, stopped on exit."""

    def __init__(self, data_dir: Path, threads: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving", "--data-dir", str(data_dir), "--port", str(self.port),
             "--threads", str(threads), "--check-interval", "60"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 300.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = json.loads(response.read() or b"{}")
                if response.status == 200 and body.get("model_version"):
                    return time.perf_counter() - started
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError("the server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def load(port: int, paths: list[str], connections: int) -> tuple[np.ndarray, int, float]:
    """Send every path once over `connections` keep-alive connections; latencies, errors, wall time."""
    latencies = np.zeros(len(paths))
    errors = [0]
    next_index = iter(range(len(paths)))
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            t0 = time.perf_counter()
            try:
                conn.request("GET", paths[i])
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[0] += 1
            except OSError:
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies[i] = time.perf_counter() - t0
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - started


def request_paths(models: Path, n: int, seed: int = 0) -> list[str]:
    version = (models / "LATEST").read_text().strip()
    table = pq.read_table(models / version / "tracks.parquet", columns=["title", "artist"])
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, table.num_rows, n)
    titles, artists = table["title"].to_pylist(), table["artist"].to_pylist()
    return ["/api/recommend?" + urllib.parse.urlencode({"song": titles[i], "artist": artists[i], "k": 10}) for i in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--server-threads", type=int, default=8)
    args = parser.parse_args(argv)

    rows = []
    for n in args.sizes:
        models = demo_models_dir(n)
        ensure_ann(models)
        paths = request_paths(models, args.requests)
        with tempfile.TemporaryDirectory() as tmp:
            variants = {"ANN index": models.parent, "exact": exact_copy(models, Path(tmp))}
            for label, data_dir in variants.items():
                server = Server(data_dir, args.server_threads)
                try:
                    ready_s = server.wait_ready()
                    load(server.port, paths[: min(200, len(paths))], args.connections)  # warm-up
                    latencies, errors, wall = load(server.port, paths, args.connections)
                finally:
                    server.stop()
                rows.append({
                    "tracks": f"{n:,}", "search": label, "requests": len(paths), "connections": args.connections,
                    "p50 ms": f"{np.percentile(latencies, 50) * 1e3:.1f}", "p99 ms": f"{np.percentile(latencies, 99) * 1e3:.1f}",
                    "req/s": f"{len(paths) / wall:,.0f}", "errors": errors, "server ready s": f"{ready_s:.1f}",
                })
                print(rows[-1], flush=True)
    print_table(rows, "Recommend over HTTP (waitress, client on the same 2 cores)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
