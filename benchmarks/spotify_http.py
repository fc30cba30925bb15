"""Benchmark: the Spotify-compatible /v1/recommendations over HTTP with the production server
(issue 16), against a single-seed `nearest` query over the same connection, side by side.

`python -m serving` (granian, one worker) serves a demo bundle with chart regions and its ANN
index; one keep-alive connection sends, interleaved request by request (a new random order for
each input: benchmarks/common.interleaved):
- "/api/recommend, 1 seed": `/api/recommend?id=<seed>&mode=nearest&k=10`, the baseline;
- "/v1, 1 seed": `/v1/recommendations?seed_tracks=<seed>&limit=10`;
- "/v1, 5 seeds + 3 targets + market": five seeds, target_energy/danceability/valence and the
  largest market, limit 20 (Spotify's default), as spotipy would send it;
- the same with limit=100 (Spotify's maximum: the answer is five times longer);
- the issue's spotipy call: the five seeds, target_energy=0.8, min_tempo=120, limit=50.
Latency is the client's: request sent to answer read, one request in flight (service time, no
queue). Every answer is checked (200, the number of tracks) so an error page is never timed.

    python -m benchmarks.spotify_http --sizes 100k,1M --queries 200
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import time
import urllib.parse

import numpy as np

from benchmarks.common import demo_models_dir, ensure_ann, fmt_ms, interleaved, p50_p99, print_table, sizes_arg
from benchmarks.http_load import Server
from music_assets.model.bundle import load_bundle
from music_assets.model.steer import markets

TARGETS = ("energy", "danceability", "valence")


def inputs(models, n: int, seed: int = 1) -> dict[str, list[str]]:
    """The paths per subject, input i of each from the same random seeds."""
    bundle = load_bundle(models)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(bundle.in_model)
    ids = bundle.tracks["track_id"].to_numpy(dtype=object)
    market = markets(bundle)[0]
    paths: dict[str, list[str]] = {"/api/recommend, 1 seed": [], "/v1, 1 seed": [], "/v1, 5 seeds + 3 targets + market": [],
                          "/v1, same, limit=100": [], "/v1, target_energy=0.8 + min_tempo=120, limit=50": []}
    for _ in range(n):
        five = [str(ids[r]) for r in rng.choice(rows, 5, replace=False)]
        targets = {f"target_{t}": round(float(rng.uniform(0.15, 0.9)), 2) for t in TARGETS}
        steered = {"seed_tracks": ",".join(five), **targets, "market": market}
        paths["/api/recommend, 1 seed"].append("/api/recommend?" + urllib.parse.urlencode(
            {"id": five[0], "mode": "nearest", "k": 10}))
        paths["/v1, 1 seed"].append("/v1/recommendations?" + urllib.parse.urlencode({"seed_tracks": five[0], "limit": 10}))
        paths["/v1, 5 seeds + 3 targets + market"].append(
            "/v1/recommendations?" + urllib.parse.urlencode({**steered, "limit": 20}))
        paths["/v1, same, limit=100"].append("/v1/recommendations?" + urllib.parse.urlencode({**steered, "limit": 100}))
        paths["/v1, target_energy=0.8 + min_tempo=120, limit=50"].append("/v1/recommendations?" + urllib.parse.urlencode(
            {"seed_tracks": ",".join(five), "target_energy": 0.8, "min_tempo": 120, "limit": 50}))
    del bundle
    return paths


def getter(conn: http.client.HTTPConnection, paths: list[str], key: str):
    def get(i: int) -> None:
        conn.request("GET", paths[i], headers={"Authorization": "Bearer any-token"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{paths[i][:80]} answered {response.status}: {body[:200]!r}")
        if not json.loads(body)[key]:
            raise RuntimeError(f"{paths[i][:80]} answered no tracks")
    return get


def bench_size(n_tracks: int, n_queries: int, rounds: int) -> list[dict]:
    models = demo_models_dir(n_tracks, regions=True)
    ensure_ann(models)
    paths = inputs(models, n_queries)
    server = Server("default", models.parent, threads=4, workers=1)
    try:
        ready = server.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        subjects = {name: getter(conn, p, "results" if name.startswith("/api") else "tracks") for name, p in paths.items()}
        for i in range(min(20, n_queries)):  # warm: market groups, first-request caches
            for fn in subjects.values():
                fn(i)
        print(f"# {n_tracks:,} tracks; server ready in {ready:.1f} s; {n_queries} inputs x {rounds} rounds; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        times = interleaved(subjects, range(n_queries), rounds=rounds)
        conn.close()
    finally:
        server.stop()
    base = p50_p99(times["/api/recommend, 1 seed"])[0]
    rows = []
    for name, seconds in times.items():
        p50, p99 = p50_p99(seconds)
        rows.append({"tracks": f"{n_tracks:,}", "request over HTTP (granian)": name, "p50 ms": fmt_ms(p50),
                     "p99 ms": fmt_ms(p99), "p50 / baseline": f"{p50 / base:.2f}"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [row for n in args.sizes for row in bench_size(n, args.queries, args.rounds)]
    print_table(rows, "/v1/recommendations over HTTP against a single-seed nearest query")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
