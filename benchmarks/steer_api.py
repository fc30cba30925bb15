"""Benchmark: steer() in process (issue 16), five seeds + three targets + a market, against a
single-seed `nearest` recommend() query, side by side in one run; and how well targets and
min/max are met.

Latency: each subject answers the same random inputs, interleaved query by query
(benchmarks/common.interleaved). Subjects:
- "nearest, 1 seed": recommend(bundle, row, "nearest", 10), the baseline the issue names;
- "steer, 1 seed": the same seed through steer() (limit 10);
- "steer, 5 seeds + 3 targets + market=M": five random seed tracks, targets on energy, danceability
  and valence, limit 20 (Spotify's default), one subject per market (the largest, a middle one,
  a small one), by the path steer() picks; and the same through the exact scan only;
- "steer, 5 seeds + target_energy + min_tempo, limit 50": the issue's spotipy call, no market.
Quality, over the same requests: target adherence, mean |value - target| of the results divided
by that of as many random picks from the same filtered pool (market; < 1 is better than random);
and requests with random min/max ranges, the share of results inside every range (must be 100%).

    python -m benchmarks.steer_api --sizes 1M --queries 200 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import (
    demo_models_dir, ensure_ann, fmt_ms, interleaved, p50_p99, print_table, single_threaded_blas, sizes_arg,
)
from music_assets.model.bundle import load_bundle
from music_assets.model.recommend import recommend
from music_assets.model.steer import SteerRequest, markets, steer
from music_assets.model.steer_index import steer_index

TARGETS = ("energy", "danceability", "valence")
RANGED = ("tempo", "energy", "popularity", "acousticness")


def pick_markets(bundle) -> list[str]:
    """The largest market, one in the middle and a small one (at least 1% of the catalog)."""
    sizes = steer_index(bundle).market_sizes()
    n = len(bundle.tracks)
    small = [m for m, c in sizes if c >= 0.01 * n] or [sizes[-1][0]]
    picked = [sizes[0][0], sizes[len(sizes) // 2][0], small[-1]]
    return list(dict.fromkeys(picked))


def requests(bundle, n: int, market: str | None, seed: int) -> list[SteerRequest]:
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(bundle.in_model)
    ids = bundle.tracks["track_id"].to_numpy(dtype=object)
    out = []
    for _ in range(n):
        seeds = tuple(str(ids[r]) for r in rng.choice(rows, 5, replace=False))
        target = {name: float(np.round(rng.uniform(0.15, 0.9), 2)) for name in TARGETS}
        out.append(SteerRequest(seed_tracks=seeds, target=target, market=market, limit=20))
    return out


def ranged(bundle, n: int, seed: int) -> list[SteerRequest]:
    """Requests with a random [min, max] on two features, between their 10th and 90th percentiles."""
    rng = np.random.default_rng(seed)
    si = steer_index(bundle)
    rows = np.flatnonzero(bundle.in_model)
    ids = bundle.tracks["track_id"].to_numpy(dtype=object)
    out = []
    for _ in range(n):
        lo, hi = {}, {}
        for name in rng.choice(RANGED, 2, replace=False):
            a, b = np.sort(rng.uniform(10, 90, 2))
            lo[name], hi[name] = (float(np.nanpercentile(si.values[name], p)) for p in (a, b))
        out.append(SteerRequest(seed_tracks=tuple(str(ids[r]) for r in rng.choice(rows, 3, replace=False)),
                                minimum=lo, maximum=hi, limit=20))
    return out


def adherence(bundle, reqs: list[SteerRequest], seed: int) -> tuple[float, dict[str, float], float]:
    """(mean ratio over targets, per target ratio, share of answers by the ANN path)."""
    si = steer_index(bundle)
    rng = np.random.default_rng(seed)
    got = {t: [] for t in TARGETS}
    rand = {t: [] for t in TARGETS}
    ann = 0
    for req in reqs:
        result = steer(bundle, req)
        ann += result.search == "ann"
        rows = np.array([s.row for s in result.results])
        pool = si.market(result.market)[0].rows if result.market else np.flatnonzero(si.recommendable)
        picks = rng.choice(pool, len(rows), replace=False)
        for name, value in req.target.items():
            got[name].append(np.nanmean(np.abs(si.values[name][rows] - value)))
            rand[name].append(np.nanmean(np.abs(si.values[name][picks] - value)))
    per = {t: float(np.mean(got[t]) / np.mean(rand[t])) for t in TARGETS}
    return float(np.mean(list(per.values()))), per, ann / max(len(reqs), 1)


def inside_share(bundle, reqs: list[SteerRequest]) -> tuple[float, int]:
    si = steer_index(bundle)
    total = inside = 0
    for req in reqs:
        for s in steer(bundle, req).results:
            total += 1
            inside += all(req.minimum[f] <= si.values[f][s.row] <= req.maximum[f] for f in req.minimum)
    return inside / max(total, 1), total


def bench_size(n_tracks: int, n_queries: int, rounds: int, ann: bool) -> tuple[list[dict], list[dict]]:
    models = demo_models_dir(n_tracks, regions=True)
    if ann:
        ensure_ann(models)
    t0 = time.perf_counter()
    bundle = load_bundle(models)
    load_s = time.perf_counter() - t0
    rows = np.flatnonzero(bundle.in_model)
    rng = np.random.default_rng(1)
    singles = [int(r) for r in rng.choice(rows, n_queries, replace=False)]
    ids = bundle.tracks["track_id"].to_numpy(dtype=object)
    chosen = pick_markets(bundle)
    sizes = dict(steer_index(bundle).market_sizes())
    t0 = time.perf_counter()
    for m in chosen:  # warm: the market scan groups are built on first use
        steer_index(bundle).market(m)
    warm_s = time.perf_counter() - t0
    print(f"# {len(bundle.tracks):,} tracks, ANN index: {bundle.ann is not None}; load {load_s:.2f} s, market groups "
          f"{warm_s:.2f} s; {n_queries} inputs x {rounds} rounds; markets {', '.join(f'{m} ({sizes[m]:,})' for m in chosen)}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    subjects = {
        "nearest, 1 seed (recommend)": lambda i: recommend(bundle, singles[i], "nearest", 10),
        "steer, 1 seed": lambda i: steer(bundle, SteerRequest(seed_tracks=(str(ids[singles[i]]),), limit=10)),
    }
    by_market = {}
    for j, m in enumerate(chosen):
        reqs = requests(bundle, n_queries, m, seed=10 + j)
        by_market[m] = reqs
        subjects[f"steer, 5 seeds + 3 targets + market={m}"] = lambda i, r=reqs: steer(bundle, r[i])
        if bundle.ann is not None:
            subjects[f"steer, 5 seeds + 3 targets + market={m}: exact scan"] = (
                lambda i, r=reqs: steer(bundle, r[i], search="exact"))
    # the spotipy call: recommendations(seed_tracks=[...], target_energy=0.8, min_tempo=120, limit=50)
    spotipy_like = [SteerRequest(seed_tracks=r.seed_tracks, target={"energy": 0.8}, minimum={"tempo": 120.0}, limit=50)
                    for r in by_market[chosen[0]]]
    subjects["steer, 5 seeds + target_energy + min_tempo, limit 50"] = lambda i: steer(bundle, spotipy_like[i])
    for fn in subjects.values():
        fn(0)
    times = interleaved(subjects, list(range(n_queries)), rounds)
    base50, base99 = p50_p99(times["nearest, 1 seed (recommend)"])
    table = []
    for name, t in times.items():
        p50, p99 = p50_p99(t)
        table.append({"tracks": f"{len(bundle.tracks):,}", "subject": name, "p50 ms": fmt_ms(p50), "p99 ms": fmt_ms(p99),
                      "p50 / nearest p50": f"{p50 / base50:.2f}", "p99 / nearest p99": f"{p99 / base99:.2f}"})
    quality = []
    for m, reqs in by_market.items():
        ratio, per, ann_share = adherence(bundle, reqs, seed=3)
        quality.append({"tracks": f"{len(bundle.tracks):,}", "requests": f"5 seeds + 3 targets, market={m}",
                        "adherence / random (mean)": f"{ratio:.3f}",
                        **{f"{t} / random": f"{per[t]:.3f}" for t in TARGETS},
                        "answered by ANN": f"{ann_share:.0%}", "inside min/max": "-"})
    share, total = inside_share(bundle, ranged(bundle, n_queries, seed=4))
    quality.append({"tracks": f"{len(bundle.tracks):,}", "requests": "3 seeds + random min/max on 2 features",
                    "adherence / random (mean)": "-", **{f"{t} / random": "-" for t in TARGETS},
                    "answered by ANN": "-", "inside min/max": f"{share:.1%} of {total:,}"})
    return table, quality


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("1M"), help="e.g. 10k,100k,1M")
    parser.add_argument("--queries", type=int, default=200, help="inputs per subject and size")
    parser.add_argument("--rounds", type=int, default=2, help="times each input is timed per subject")
    parser.add_argument("--ann-from", type=sizes_arg, default=sizes_arg("50k"),
                        help="build and use the ANN index from this catalog size (the asset's default)")
    args = parser.parse_args(argv)
    single_threaded_blas()
    latency, quality = [], []
    for n in args.sizes:
        a, b = bench_size(n, args.queries, args.rounds, ann=n >= args.ann_from[0])
        latency += a
        quality += b
    print_table(latency, "steer() in process: p50/p99 per request vs a single-seed nearest query (same run)")
    print_table(quality, "steer() target adherence (vs random picks from the same filtered pool) and min/max")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
