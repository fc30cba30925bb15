"""Benchmark 5: the whole pipeline at 100k demo tracks (time per asset and total), and serving
cold start at 1M tracks: bundle load time and resident memory against a bare Parquet read of
the same file in the same (fresh) process, then the first and later queries.

    python -m benchmarks.pipeline --tracks 100k --load-size 1M
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from benchmarks.common import demo_models_dir, ensure_ann, print_table, sizes_arg, step_seconds
from music_assets.defs.assets.ann_index import ann_index
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


def pipeline_times(n_tracks: int, data_dir: Path) -> list[dict[str, object]]:
    """Materialize every asset (and ann_index) in process; seconds per step from Dagster's event log."""
    instance = dg.DagsterInstance.ephemeral()
    t0 = time.perf_counter()
    result = dg.materialize(
        [*ALL_ASSETS, ann_index], instance=instance,
        resources={"store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=n_tracks)},
    )
    total = time.perf_counter() - t0
    if not result.success:
        raise SystemExit("pipeline failed")
    rows = [{"asset": step, "seconds": f"{seconds:.1f}"} for step, seconds in step_seconds(instance, result.run_id).items()]
    rows.sort(key=lambda r: -float(r["seconds"]))
    step_sum = sum(float(r["seconds"]) for r in rows)
    rows.append({"asset": "sum of steps", "seconds": f"{step_sum:.1f}"})
    rows.append({"asset": "total wall time (incl. Dagster start-up)", "seconds": f"{total:.1f}"})
    return rows


_COLD_START = r"""
import json, os, sys, time
t_import = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
import music_assets.model.bundle as bundle_module
from music_assets.model.bundle import load_bundle, TRACKS_FILE
if sys.argv[2] == "exact":  # the same bundle as served without its index
    bundle_module._load_ann = lambda *args: None
from music_assets.model.recommend import recommend, find_tracks
import_s = time.perf_counter() - t_import
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
models = sys.argv[1]
version = open(os.path.join(models, "LATEST")).read().strip()
path = os.path.join(models, version, TRACKS_FILE)
base = rss()
t0 = time.perf_counter(); table = pq.read_table(path); bare_s = time.perf_counter() - t0
bare_mb = rss() - base
del table
base = rss()
t0 = time.perf_counter(); b = load_bundle(models); load_s = time.perf_counter() - t0
load_mb = rss() - base
q = int(np.argmax(np.where(b.in_model, b.tracks["chart_appearances"].to_numpy(dtype=float), -np.inf)))
t0 = time.perf_counter(); recommend(b, q, "nearest"); first_s = time.perf_counter() - t0
t0 = time.perf_counter(); find_tracks(b, b.tracks["title"].iat[5]); find_s = time.perf_counter() - t0
times = []
for m in ("normal", "genre", "nearest"):
    t0 = time.perf_counter(); recommend(b, q, m); times.append(time.perf_counter() - t0)
warm = []
placed = np.flatnonzero(b.in_model)  # a track outside the model gets no recommendations
for q2 in placed[::max(1, len(placed) // 20)].tolist():
    for m in ("normal", "nearest"):
        t0 = time.perf_counter(); recommend(b, q2, m); warm.append(time.perf_counter() - t0)
print(json.dumps({"n": len(b.tracks), "import_s": import_s, "bare_s": bare_s, "bare_mb": bare_mb, "load_s": load_s,
                  "load_mb": load_mb, "first_query_s": first_s, "first_find_s": find_s, "other_modes_first_s": max(times), "warm_p50_s": float(np.median(warm)),
                  "ann": b.ann is not None, "rss_mb": rss()}))
"""


def cold_start(n_tracks: int, with_ann: bool) -> dict[str, object]:
    """Serving cold start in a fresh interpreter, so memory figures are this bundle's alone."""
    models = demo_models_dir(n_tracks)
    if with_ann:
        ensure_ann(models)
    out = subprocess.run([sys.executable, "-c", _COLD_START, str(models), "ann" if with_ann else "exact"], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "tracks": f"{r['n']:,}", "ANN index": "yes" if r["ann"] else "no",
        "bare pq.read_table s": f"{r['bare_s']:.2f}", "load_bundle s": f"{r['load_s']:.2f}",
        "load / bare": f"{r['load_s'] / r['bare_s']:.1f}x",
        "bare MB": f"{r['bare_mb']:.0f}", "load_bundle MB": f"{r['load_mb']:.0f}",
        "first query s": f"{r['first_query_s']:.2f}", "first title search s": f"{r['first_find_s']:.3f}",
        "first query of other modes ms (max)": f"{r['other_modes_first_s'] * 1e3:.0f}",
        "warm query p50 ms": f"{r['warm_p50_s'] * 1e3:.2f}", "process RSS MB": f"{r['rss_mb']:.0f}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=sizes_arg, default=sizes_arg("100k"), help="pipeline catalog size")
    parser.add_argument("--load-size", type=sizes_arg, default=sizes_arg("1M"), help="bundle size(s) for cold start")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_pipeline:
        with tempfile.TemporaryDirectory() as tmp:
            rows = pipeline_times(args.tracks[0], Path(tmp))
        print_table(rows, f"whole pipeline, {args.tracks[0]:,} demo tracks (target < 120 s)")
    rows = [cold_start(n, with_ann) for n in args.load_size for with_ann in (False, True)]
    print_table(rows, "serving cold start: load_bundle vs a bare Parquet read of the same file, fresh process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
