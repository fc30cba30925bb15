"""Recommend over HTTP: production servers under concurrent load, side by side in one run.

    apt-get install -y wrk             # the C load generator (Debian); without it a Python client is used
    .venv/bin/python -m benchmarks.http_load --sizes 100k,1M

For each catalog size the same demo bundle is served with its ANN index and exact (the same
files without the index), by each server in turn:
- `default`:  `python -m serving` (granian, one worker process),
- `waitress`: `python -m serving --server waitress` (threads in one process, the default before
  benchmarks/serving_attacks.py),
- `granian`:  `python -m serving --workers 2` (one process per core),
- `gunicorn`: 2 gthread worker processes (`pip install -e ".[bench]"`), for comparison.
With `--publish-during S`, each server gets its own data folder and a new model is published
(LATEST replaced, as the pipeline does) S seconds into the saturated run: the hot reload under
load, whose failed requests show in the errors column; the run checks the server then serves it.
Two runs per server, each with every request a different random catalog song in the model's
default mode (`--mode` to choose one):
- saturated: `--connections` (32) closed-loop keep-alive connections send `--requests` (10,000)
  requests as fast as answers come back. By Little's law the mean latency is then
  connections / throughput: it measures the queue, i.e. how many requests the 2 cores serve.
- paced: a fixed offered rate (`--paced-rate`, below capacity) over the same connections, so
  requests rarely queue and latency shows the service time of one request.
wrk (C, with benchmarks/wrk/recommend.lua) leaves the cores to the server; the fallback Python
client costs about as much CPU per request as the server and only runs saturated.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import resource
import shutil
import signal
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
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "recommend.lua"
SERVERS = ("default", "waitress", "granian", "gunicorn")
BEFORE = "waitress, before"  # `python -m serving` of another source tree (--before-src), for before/after


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exact_copy(models: Path, into: Path) -> Path:
    """A data folder with the same bundle minus its ANN index (symlinks, no copies)."""
    version = (models / "LATEST").read_text().strip()
    dst = into / "models" / version
    dst.mkdir(parents=True)
    for f in (models / version).iterdir():
        if not f.name.startswith("ann_"):
            (dst / f.name).symlink_to(f.resolve())
    (into / "models" / "LATEST").write_text(version + "\n")
    return into


def server_command(server: str, data_dir: Path, port: int, threads: int, workers: int,
                   check_interval: float = 60) -> list[str]:
    serving = [sys.executable, "-m", "serving", "--data-dir", str(data_dir), "--port", str(port),
               "--check-interval", str(check_interval)]
    if server == "default":
        return [*serving, "--threads", str(threads)]
    if server == BEFORE:
        return [*serving, "--threads", str(threads)]
    if server == "waitress":
        return [*serving, "--server", "waitress", "--threads", str(threads)]
    if server == "granian":
        return [*serving, "--workers", str(workers), "--threads", str(threads)]
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
                "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "serving.wsgi:app_from_env()"]
    raise ValueError(f"unknown server {server!r}")


class Server:
    """A server in a child process on a free port, stopped on exit."""

    def __init__(self, server: str, data_dir: Path, threads: int, workers: int, src: Path = ROOT,
                 check_interval: float = 60) -> None:
        self.port = free_port()
        # Rate limits off: the load comes from one address, and the server is what is measured.
        env = {**os.environ, "MUSIC_ADVISER_DATA_DIR": str(data_dir), "MUSIC_ADVISER_CHECK_INTERVAL": str(check_interval),
               "OMP_NUM_THREADS": "1", "MUSIC_ADVISER_RATE_LIMIT": "off", "PYTHONPATH": str(src)}
        self.proc = subprocess.Popen(server_command(server, data_dir, self.port, threads, workers, check_interval),
                                     cwd=src, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 600.0) -> float:
        """Seconds until /healthz answers with a model, several times in a row (every worker up)."""
        started, answered = time.perf_counter(), 0
        while time.perf_counter() - started < timeout and answered < 8:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                ok = response.status == 200 and json.loads(response.read() or b"{}").get("model_version")
                answered = answered + 1 if ok else 0
                conn.close()
            except (OSError, ValueError):
                answered = 0
                time.sleep(0.2)
        if answered < 8:
            raise TimeoutError("the server did not become ready")
        return time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process `root` and every live descendant, from
    /proc (Linux): what the server spends per request, whatever else the shared machine runs."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(pid, 0.0) for pid in tree)


def python_load(port: int, paths: list[str], connections: int) -> dict[str, float]:
    """Send every path once over `connections` keep-alive connections from Python threads."""
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
    wall = time.perf_counter() - started
    return {"requests": len(paths), "seconds": wall, "client_cpu": float("nan"), "p50_ms": float(np.percentile(latencies, 50) * 1e3),
            "p99_ms": float(np.percentile(latencies, 99) * 1e3), "errors": errors[0]}


def wrk_load(port: int, paths_file: Path, requests: int, connections: int, rate: float | None) -> dict[str, float]:
    """Run wrk with the Lua script: `requests` in all, closed loop or paced at `rate` req/s."""
    threads = 2 if connections >= 2 else 1
    env = {**os.environ, "WRK_PATHS": str(paths_file), "WRK_REQUESTS": str(requests), "WRK_THREADS": str(threads),
           "WRK_RATE": str(rate or 0)}
    # wrk runs for a duration (-d, here a generous bound); each thread prints a line when it has
    # sent its share, and once all have, SIGINT makes wrk stop and print its summary.
    duration = max(60, int(requests / (rate or 50)) + 60)
    proc = subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
                             "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, finished = [], 0
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        finished += line.strip() == "thread done"
        if finished == threads:
            proc.send_signal(signal.SIGINT)
            break
    out = "".join(lines) + proc.stdout.read()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.wait(timeout=60) not in (0, -signal.SIGINT):
        raise RuntimeError(f"wrk failed: {out}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    stats = json.loads(out.strip().splitlines()[-1])
    return {"requests": stats["requests"], "seconds": stats["seconds"], "p50_ms": stats["p50_us"] / 1e3,
            "p99_ms": stats["p99_us"] / 1e3, "errors": stats["non_200"] + stats["socket_errors"],
            "client_cpu": client_cpu}


def healthz_version(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz")
    version = json.loads(conn.getresponse().read() or b"{}").get("model_version", "")
    conn.close()
    return version


def publish_later(data_dir: Path, models: Path, delay: float) -> threading.Thread:
    """After `delay` seconds, publish a new bundle into `data_dir` (LATEST replaced), on a thread."""
    from benchmarks.serving_cold_start import next_bundle, publish

    bundle = next_bundle(models)  # made now, so the publish itself is only links and a rename
    thread = threading.Timer(delay, publish, args=(data_dir, bundle))
    thread.start()
    return thread


def request_paths(models: Path, n: int, seed: int = 0, mode: str | None = None) -> list[str]:
    version = (models / "LATEST").read_text().strip()
    path = models / version / "tracks.parquet"
    flagged = "in_model" in pq.read_schema(path).names  # bundles cached before issue 13: every track
    table = pq.read_table(path, columns=["title", "artist", *(["in_model"] if flagged else [])])
    rng = np.random.default_rng(seed)
    placed = np.flatnonzero(table["in_model"].to_numpy()) if flagged else np.arange(table.num_rows)  # songs the model answers for
    rows = placed[rng.integers(0, len(placed), n)]
    titles, artists = table["title"].to_pylist(), table["artist"].to_pylist()
    extra = {"mode": mode} if mode else {}
    return ["/api/recommend?" + urllib.parse.urlencode({"song": titles[i], "artist": artists[i], "k": 10, **extra})
            for i in rows]


def available_servers(names: list[str]) -> list[str]:
    """The requested servers that are installed (gunicorn comes with the bench extra)."""
    return [s for s in names if s != "gunicorn" or importlib.util.find_spec("gunicorn")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of {','.join(SERVERS)}")
    parser.add_argument("--server-threads", type=int, default=8, help="waitress threads; per worker for the others: 4")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for granian and gunicorn")
    parser.add_argument("--paced-rate", type=float, default=200.0, help="requests/s of the paced run (0: none)")
    parser.add_argument("--paced-requests", type=int, default=3_000)
    parser.add_argument("--mode", default=None, help="recommendation mode of every request (default: the model's)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--before-src", type=Path, default=None,
                        help="also serve with `python -m serving` (waitress) of this source tree, e.g. an "
                             "export of main, as the 'before' of a before/after comparison")
    parser.add_argument("--search", default="ann,exact", help="serve the bundle with its ANN index (ann), without (exact), or both")
    parser.add_argument("--publish-during", type=float, default=0.0,
                        help="publish a new model this many seconds into the saturated run (0: none)")
    args = parser.parse_args(argv)
    client = ("wrk" if shutil.which("wrk") else "python") if args.client == "auto" else args.client
    servers = available_servers([s for s in args.servers.split(",") if s])
    if args.before_src:
        servers.insert(0, BEFORE)
    print(f"# client: {client}; servers: {', '.join(servers)}; load average {os.getloadavg()[0]:.1f}", flush=True)

    rows = []
    for n in args.sizes:
        models = demo_models_dir(n)
        searches = [x for x in args.search.split(",") if x]
        if "ann" in searches:
            ensure_ann(models)
        paths = request_paths(models, args.requests, mode=args.mode)
        with tempfile.TemporaryDirectory() as tmp:
            paths_file = Path(tmp) / "paths.txt"
            paths_file.write_text("\n".join(paths) + "\n")
            variants = {}
            if "ann" in searches:
                variants["ANN index"] = models.parent
            if "exact" in searches:
                variants["exact"] = exact_copy(models, Path(tmp) / "exact")
            for label, data_dir in variants.items():
                for server in servers:
                    threads = args.server_threads if server in ("waitress", BEFORE, "default") else 4
                    served_dir, publisher = data_dir, None
                    if args.publish_during:
                        from benchmarks.serving_cold_start import data_copy

                        served_dir, _ = data_copy(data_dir / "models", Path(tempfile.mkdtemp(dir=tmp)))
                    proc = Server(server, served_dir, threads, args.workers,
                                  args.before_src.resolve() if server == BEFORE else ROOT,
                                  check_interval=1 if args.publish_during else 60)
                    runs = {}
                    try:
                        ready_s = proc.wait_ready()
                        first_version = healthz_version(proc.port)
                        warm = paths[: min(500, len(paths))]
                        if client == "wrk":
                            wrk_load(proc.port, paths_file, len(warm), args.connections, None)  # warm-up
                            plan = [(f"saturated, {args.connections} conn", len(paths), None)]
                            if args.paced_rate:
                                plan.append((f"paced {args.paced_rate:g} req/s", args.paced_requests, args.paced_rate))
                            for run, count, rate in plan:
                                if args.publish_during and rate is None:
                                    publisher = publish_later(served_dir, data_dir / "models", args.publish_during)
                                cpu0 = tree_cpu_seconds(proc.proc.pid)
                                runs[run] = wrk_load(proc.port, paths_file, count, args.connections, rate)
                                runs[run]["server_cpu"] = tree_cpu_seconds(proc.proc.pid) - cpu0
                        else:
                            python_load(proc.port, warm, args.connections)  # warm-up
                            if args.publish_during:
                                publisher = publish_later(served_dir, data_dir / "models", args.publish_during)
                            cpu0 = tree_cpu_seconds(proc.proc.pid)
                            run = f"saturated, {args.connections} conn"
                            runs[run] = python_load(proc.port, paths, args.connections)
                            runs[run]["server_cpu"] = tree_cpu_seconds(proc.proc.pid) - cpu0
                        if publisher is not None:
                            publisher.join()
                            deadline = time.monotonic() + 30  # the check interval (1 s) and a load at this size
                            while healthz_version(proc.port) == first_version and time.monotonic() < deadline:
                                time.sleep(0.2)
                            for r in runs.values():
                                r["reloaded"] = "yes" if healthz_version(proc.port) != first_version else "NO"
                    finally:
                        proc.stop()
                    for run, r in runs.items():
                        rate = r["requests"] / r["seconds"]
                        rows.append({
                            "tracks": f"{n:,}", "search": label, "server": server, "run": run,
                            "requests": r["requests"], "p50 ms": f"{r['p50_ms']:.1f}", "p99 ms": f"{r['p99_ms']:.1f}",
                            "req/s": f"{rate:,.0f}", "errors": r["errors"],
                            # Little's law: mean time in the system = connections / throughput
                            "connections / req/s ms": f"{args.connections / rate * 1e3:.1f}" if "saturated" in run else "",
                            # CPU per request: the service time, whatever else shares the cores
                            "server CPU ms/req": f"{r['server_cpu'] / r['requests'] * 1e3:.2f}",
                            "client CPU ms/req": f"{r['client_cpu'] / r['requests'] * 1e3:.2f}",
                            "ready s": f"{ready_s:.1f}",
                            **({"published mid-load, served": r.get("reloaded", "")} if args.publish_during else {}),
                        })
                        print(rows[-1], flush=True)
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    print_table(rows, f"Recommend over HTTP ({client} client on the same 2 cores)")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
