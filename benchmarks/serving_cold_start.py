"""Serving cold start: what a new serving process, or a newly published model, costs before it
answers, in time and memory, for this code and (with --before) an older checkout, side by side.

    .venv/bin/python -m benchmarks.serving_cold_start --sizes 100k,1M --runs 3 --before /tmp/before
    (make /tmp/before with: git archive <commit> music_assets serving | tar -x -C /tmp/before)

Two tables, subjects interleaved run by run so a busy machine slows them alike:
- `load_model` in a fresh process, by phase (load_bundle, search index, warm-up: the bundle's
  indexes and recommend index), with the process's RSS and peak RSS, and the first search,
  autocomplete and did-you-mean on the loaded model;
- the production server (`python -m serving --server waitress`; `--workers 2`: granian), from process
  start to the first answered request and to every worker's model loaded, RSS / PSS / private
  memory per process (from /proc/<pid>/smaps_rollup: PSS splits shared pages between the
  processes sharing them, private is what the process alone holds), then a newly published
  model: seconds until every answer names it, failed requests meanwhile, peak RSS per process.

The page cache is warm (every file read once before timing). Demo bundles are cached like the
other benchmarks' (common.py); `--ann` gives them their ANN index first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from benchmarks.common import demo_models_dir, ensure_ann, print_table, sizes_arg
from benchmarks.http_load import free_port

ROOT = Path(__file__).resolve().parents[1]

PHASES = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
import serving.model_store as ms
import_s = time.perf_counter() - t0
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
import_mb = rss()
phases = {}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter(); out = fn(*args, **kwargs)
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return out
    return wrapper
ms.load_bundle = timed("load_bundle", ms.load_bundle)
for name in ("from_tracks", "from_bundle"):  # older code builds it from the frame
    if name in vars(ms.SearchIndex):
        setattr(ms.SearchIndex, name, classmethod(timed("search index", vars(ms.SearchIndex)[name].__func__)))
ms._warm_up = timed("warm-up", ms._warm_up)
t = time.perf_counter(); model = ms.load_model(sys.argv[1]); total = time.perf_counter() - t
after_mb, peak_mb = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracks = model.bundle.tracks
title = str(tracks["title"].iat[len(tracks) // 3])
firsts = {}
for name, call in (("resolve", lambda: model.search.resolve(f"{title} by {tracks['artist'].iat[len(tracks) // 3]}")),
                   ("complete", lambda: model.search.complete(title[:3])),
                   ("did-you-mean", lambda: model.search.suggest(title[:-2] + "qx"))):
    t = time.perf_counter(); call(); firsts[name] = time.perf_counter() - t
print(json.dumps({"n": len(tracks), "import_s": import_s, "import_mb": import_mb, "total_s": total, "phases": phases,
                  "after_mb": after_mb, "peak_mb": peak_mb, "firsts": firsts, "ann": model.bundle.ann is not None}))
"""


def run_phases(models: Path, src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PHASES, str(models)], capture_output=True, text=True, env=env,
                         cwd=src, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"load_model child exited {out.returncode}:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the server ------------------------------------------------------------------------------------

def memory(pid: int) -> dict[str, float]:
    """MB of one process: Rss, Pss and private (clean + dirty) from smaps_rollup."""
    out: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 3 and parts[0].endswith(":"):
                out[parts[0][:-1]] = int(parts[1]) / 1024
    return {"rss": out.get("Rss", 0.0), "pss": out.get("Pss", 0.0),
            "private": out.get("Private_Clean", 0.0) + out.get("Private_Dirty", 0.0)}


def tree(root: int) -> list[int]:
    """`root` and its live descendants (granian's workers are its children)."""
    pids, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids += map(int, children)
        frontier += map(int, children)
    return pids


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, (json.loads(body) if body[:1] == b"{" else {})
    finally:
        conn.close()


def data_copy(models: Path, into: Path) -> tuple[Path, str]:
    """A data folder publishing the same bundle (hard links, so the page cache stays warm)."""
    version = (models / "LATEST").read_text().strip()
    dst = into / "models" / version
    dst.mkdir(parents=True)
    for f in (models / version).iterdir():
        if f.is_file():
            os.link(f, dst / f.name)
    (into / "models" / "LATEST").write_text(version + "\n")
    return into, version


def next_bundle(models: Path) -> Path:
    """A second bundle folder beside the cached one, with one chart count changed: new tracks
    bytes and checksum, as a refresh publishes (made once per size, then hard-linked)."""
    from music_assets import storage

    version = (models / "LATEST").read_text().strip()
    folder = models.parent / "next" / f"{version}-next"
    if (folder / "model.json").is_file():
        return folder
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(models / version / "tracks.parquet")
    i = table.schema.get_field_index("chart_appearances")
    table = table.set_column(i, "chart_appearances", pc.add(table.column(i), pa.scalar(1, pa.int64())))
    folder.mkdir(parents=True, exist_ok=True)
    storage.write_parquet(table, folder / "tracks.parquet")
    meta = json.loads((models / version / "model.json").read_text())
    meta["version"], meta["files"]["tracks.parquet"] = folder.name, storage.file_sha256(folder / "tracks.parquet")
    for f in (models / version).iterdir():
        if f.is_file() and f.name not in ("tracks.parquet", "model.json"):
            shutil.copy(f, folder / f.name)
    storage.write_json(meta, folder / "model.json")
    return folder


def publish(data_dir: Path, bundle: Path) -> str:
    """Publish `bundle` (hard links) by replacing LATEST, as the pipeline does."""
    shutil.copytree(bundle, data_dir / "models" / bundle.name, copy_function=os.link)
    tmp = data_dir / "models" / "LATEST.tmp"
    tmp.write_text(bundle.name + "\n")
    os.replace(tmp, data_dir / "models" / "LATEST")
    return bundle.name


def run_server(models: Path, src: Path, server: Server, song: str, timeout: float = 1800.0) -> dict:
    """Start `python -m serving`, time its first answer and its loads, its memory, then a publish."""
    workers = server.workers
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        data_dir, version = data_copy(models, Path(tmp))
        port, log = free_port(), Path(tmp) / "server.log"
        cache = ["--tracks-cache", str(Path(tmp) / "cache")] if server.cache else []
        if server.cache == "warm":  # a restart: the tracks copy is already there
            subprocess.run([sys.executable, "-c", "import sys; from music_assets.model.bundle import load_bundle; "
                            "load_bundle(sys.argv[1], cache_dir=sys.argv[2])", str(models), cache[1]],
                           cwd=src, env={**os.environ, "PYTHONPATH": str(src)}, check=True, timeout=timeout)
        cmd = [sys.executable, "-m", "serving", "--data-dir", str(data_dir), "--port", str(port),
               "--check-interval", "0.2", "--threads", "4", *cache, *server.args]
        cmd += ["--workers", str(workers)] if workers > 1 else []
        if workers == 1 and "--server" in (src / "serving" / "__main__.py").read_text():
            cmd += ["--server", "waitress"]  # granian is the default since serving_attacks.py
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "MUSIC_ADVISER_RATE_LIMIT": "off"}
        with open(log, "w") as fh:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=src, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def loads() -> int:
                return log.read_text(errors="replace").count("serving model ")

            first = all_loaded = None
            while time.perf_counter() - started < timeout and (first is None or all_loaded is None):
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
                if first is None:
                    try:
                        if get(port, "/healthz", 5)[0] == 200:
                            first = time.perf_counter() - started
                    except OSError:
                        pass
                if all_loaded is None and loads() >= workers:
                    all_loaded = time.perf_counter() - started
                time.sleep(0.02)
            if first is None or all_loaded is None:
                raise TimeoutError("the server did not become ready")
            t = time.perf_counter()
            status, _ = get(port, f"/api/recommend?song={quote(song)}")
            first_recommend = time.perf_counter() - t
            if status != 200:
                raise RuntimeError(f"/api/recommend answered {status}")
            time.sleep(1.0)
            pids = tree(proc.pid)
            cold = {pid: memory(pid) for pid in pids}
            worker_loads = [float(m) for m in re.findall(r"serving model .*?loaded in ([0-9.]+) s", log.read_text())]
            # a newly published model: seconds until 30 answers in a row name it, failures meanwhile
            new = publish(data_dir, next_bundle(models))
            t, in_a_row, errors, reload_s = time.perf_counter(), 0, 0, None
            peak = {pid: m["rss"] for pid, m in cold.items()}
            while time.perf_counter() - t < timeout and in_a_row < 30:
                try:
                    status, body = get(port, "/healthz", 30)
                except OSError:
                    status, body = 0, {}
                errors += status != 200
                if status == 200 and body.get("model_version") == new:
                    in_a_row += 1
                    reload_s = reload_s or time.perf_counter() - t
                else:
                    in_a_row, reload_s = 0, None
                for pid in pids:
                    try:
                        peak[pid] = max(peak[pid], memory(pid)["rss"])
                    except OSError:
                        pass
                time.sleep(0.02)
            if in_a_row < 30:
                raise TimeoutError("the republished model was not picked up")
            time.sleep(1.0)
            warm = {pid: memory(pid) for pid in pids}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    serving_pids = pids[1:] if workers > 1 else pids  # granian's supervisor holds no model
    return {"first_s": first, "all_loaded_s": all_loaded, "first_recommend_s": first_recommend,
            "reload_s": reload_s, "errors": errors,
            "worker_load_s": statistics.median(worker_loads),
            "rss": max(cold[p]["rss"] for p in serving_pids), "private": max(cold[p]["private"] for p in serving_pids),
            "pss": max(cold[p]["pss"] for p in serving_pids),
            "pss_total": sum(m["pss"] for m in cold.values()), "reload_peak": max(peak[p] for p in serving_pids),
            "rss_after_reload": max(warm[p]["rss"] for p in serving_pids),
            "pss_total_after_reload": sum(m["pss"] for m in warm.values())}


@dataclass(frozen=True)
class Server:
    workers: int
    cache: str = ""  # "", "cold" (an empty --tracks-cache folder) or "warm" (already holding the tracks)
    args: tuple[str, ...] = ()
    new_code_only: bool = False  # options the code before this benchmark does not know


SERVERS = {
    "waitress": Server(1),
    "granian": Server(2, "cold", new_code_only=False),
    "granian-nocache": Server(2, args=("--tracks-cache", "off"), new_code_only=True),
    "granian-restart": Server(2, "warm", new_code_only=True),
}


# -- the tables ------------------------------------------------------------------------------------

def med(values: list[float], fmt: str = ".2f") -> str:
    return format(statistics.median(values), fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="folder holding an older music_assets and serving")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of: {', '.join(SERVERS)}; or none")
    parser.add_argument("--ann", action="store_true", help="give the bundles their ANN index first")
    args = parser.parse_args(argv)
    codes = {"this code": ROOT}
    if args.before:
        codes = {"before": args.before.resolve(), **codes}
    servers = {name: SERVERS[name] for name in (s.strip() for s in args.servers.split(",")) if name in SERVERS}
    load_rows, server_rows = [], []
    for n in args.sizes:
        models = demo_models_dir(n)
        if args.ann:
            ensure_ann(models)
        for p in models.rglob("*"):
            if p.is_file():
                p.read_bytes()
        import pyarrow.parquet as pq

        version = (models / "LATEST").read_text().strip()
        path = models / version / "tracks.parquet"
        flagged = "in_model" in pq.read_schema(path).names  # bundles cached before issue 13: every track
        table = pq.read_table(path, columns=["title", *(["in_model"] if flagged else [])])
        placed = ([i for i, ok in enumerate(table["in_model"].to_pylist()) if ok] if flagged
                  else list(range(table.num_rows)))  # a song the model answers for
        song = str(table["title"][placed[len(placed) // 7]])
        phases: dict[str, list[dict]] = {c: [] for c in codes}
        served: dict[tuple[str, str], list[dict]] = {(c, s): [] for c in codes for s, spec in servers.items()
                                                     if c == "this code" or not spec.new_code_only}
        next_bundle(models)
        for _ in range(args.runs):
            for code, src in codes.items():
                phases[code].append(run_phases(models, src))
            for (code, server), runs in served.items():
                spec = servers[server] if code == "this code" else replace(servers[server], cache="")
                runs.append(run_server(models, codes[code], spec, song))
        base = statistics.median(r["total_s"] for r in next(iter(phases.values())))
        for code, runs in phases.items():
            phase = lambda name: med([r["phases"].get(name, 0.0) for r in runs])  # noqa: E731
            load_rows.append({
                "tracks": f"{runs[0]['n']:,}", "code": code, "ANN": "yes" if runs[0]["ann"] else "no",
                "import s": med([r["import_s"] for r in runs]), "load_bundle s": phase("load_bundle"),
                "search index s": phase("search index"), "warm-up s": phase("warm-up"),
                "load_model s": med([r["total_s"] for r in runs]),
                "ratio": f"{statistics.median(r['total_s'] for r in runs) / base:.2f}",
                "RSS after import MB": med([r["import_mb"] for r in runs], ".0f"),
                "RSS loaded MB": med([r["after_mb"] for r in runs], ".0f"),
                "peak RSS MB": med([r["peak_mb"] for r in runs], ".0f"),
                "first resolve / complete / did-you-mean ms": " / ".join(
                    med([r["firsts"][k] * 1e3 for r in runs], ".1f") for k in ("resolve", "complete", "did-you-mean")),
            })
        for (code, server), runs in served.items():
            server_rows.append({
                "tracks": f"{phases[code][0]['n']:,}", "code": code, "server": f"{server} ({servers[server].workers} process{'es' if servers[server].workers > 1 else ''})",
                "first answer s": med([r["first_s"] for r in runs]),
                "every worker loaded s": med([r["all_loaded_s"] for r in runs]),
                "first recommend ms": med([r["first_recommend_s"] * 1e3 for r in runs], ".0f"),
                "model load per worker s": med([r["worker_load_s"] for r in runs]),
                "RSS / PSS / private per worker MB": f"{med([r['rss'] for r in runs], '.0f')} / {med([r['pss'] for r in runs], '.0f')} / {med([r['private'] for r in runs], '.0f')}",
                "PSS all processes MB": med([r["pss_total"] for r in runs], ".0f"),
                "publish -> served s": med([r["reload_s"] for r in runs]),
                "failed requests": str(sum(r["errors"] for r in runs)),
                "peak RSS per worker in reload MB": med([r["reload_peak"] for r in runs], ".0f"),
                "PSS all after reload MB": med([r["pss_total_after_reload"] for r in runs], ".0f"),
            })
    load = os.getloadavg()
    print_table(load_rows, f"load_model in a fresh process, medians of {args.runs} (load average {load[0]:.1f})")
    if server_rows:
        print_table(server_rows, f"python -m serving, medians of {args.runs} (load average {load[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
