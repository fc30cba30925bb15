"""Benchmark 1: recommend() in process, per mode and catalog size, against the numpy floor.

The floor is what the hardware needs for one exact query: one float32 matrix-vector product
over the scaled feature matrix plus an argpartition for the top 10. Floor and every mode are
timed query by query, interleaved, in the same run, so the ratios hold on a busy machine.

    python -m benchmarks.recommend_inprocess --sizes 10k,100k,1M --queries 300 --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from benchmarks.common import single_threaded_blas, demo_models_dir, ensure_ann, fmt_ms, interleaved, p50_p99, print_table, sizes_arg
from music_assets.model.bundle import load_bundle
from music_assets.model import recommend as rec
from music_assets.model.recommend import MODES, recommend
from music_assets.model.recommend_index import recommend_index

K = 10


def floor_fn(scaled: np.ndarray, k: int = K):
    """One matrix-vector product + argpartition: the least any exact top-k scan can do."""
    def run(query: int) -> np.ndarray:
        scores = scaled @ scaled[query]
        return np.argpartition(scores, -k)[-k:]
    return run


def pick_queries(bundle, n: int, seed: int = 0) -> list[int]:
    """Random rows that every mode can answer (genre mode needs a track with genres)."""
    has_genres = np.flatnonzero((bundle.tracks["genres"].map(len).to_numpy() > 0) & bundle.in_model)
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(has_genres, min(n, len(has_genres)), replace=False)]


def index_share(bundle, queries: list[int], mode: str) -> float:
    """Share of the queries for which recommend() takes the ANN path (it falls back to an exact
    scan of the mode's rows where that costs less, e.g. a genre of a few % of the catalog)."""
    ix = recommend_index(bundle)
    used = [rec._approximate(bundle, ix, q, rec._groups(bundle, ix, q, mode), ix.excluded(q), K) is not None
            for q in queries]
    return float(np.mean(used))


def bench_size(n_tracks: int, n_queries: int, modes: list[str], ann: bool, rounds: int) -> list[dict[str, object]]:
    models = demo_models_dir(n_tracks)
    if ann:
        ensure_ann(models)
    t0 = time.perf_counter()
    bundle = load_bundle(models)
    load_s = time.perf_counter() - t0
    queries = pick_queries(bundle, n_queries)
    print(f"# {len(bundle.tracks):,} tracks: load {load_s:.2f} s, {len(queries)} queries x {rounds} rounds per subject, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    for mode in modes:  # warm lazy indexes so the first query does not carry them
        recommend(bundle, queries[0], mode, K)
    subjects = {"floor": floor_fn(np.nan_to_num(bundle.scaled))}  # rows outside the model: zeros, as the index holds them
    exact = dataclasses.replace(bundle, ann=None) if bundle.ann is not None else None
    for mode in modes:
        subjects[mode] = lambda q, m=mode: recommend(bundle, q, m, K)
        if exact is not None:  # the same bundle searched exactly, timed in the same run
            recommend(exact, queries[0], mode, K)
            subjects[f"{mode}: exact"] = lambda q, m=mode: recommend(exact, q, m, K)
    # The exact search alone (no result objects, no reasons): what the floor compares like for like.
    ix = recommend_index(bundle)
    subjects["nearest: exact search only"] = lambda q: rec._exact(ix, q, [ix.all], ix.excluded(q), K)
    if bundle.ann is not None:
        subjects["nearest: ANN search only"] = lambda q: rec._approximate(bundle, ix, q, [ix.all], ix.excluded(q), K)
    times = interleaved(subjects, queries, rounds)
    if exact is not None:  # how many of the exact top 10 the ANN path returns
        for mode in modes:
            hit = [len({r.index for r in recommend(bundle, q, mode, K)} & {r.index for r in recommend(exact, q, mode, K)})
                   for q in queries]
            print(f"# {mode}: results with the index overlap the exact top {K}: {np.mean(hit) / K:.3f}; "
                  f"the ANN path answered {index_share(bundle, queries, mode):.0%} of the queries", flush=True)
    f50, f99 = p50_p99(times["floor"])
    rows = []
    for name, t in times.items():
        p50, p99 = p50_p99(t)
        rows.append({
            "tracks": f"{len(bundle.tracks):,}", "subject": name,
            "path": ("ANN-enabled" if bundle.ann is not None and "exact" not in name and name != "floor" else "exact"),
            "p50 ms": fmt_ms(p50), "p99 ms": fmt_ms(p99),
            "p50 / floor p50": f"{p50 / f50:.2f}", "p99 / floor p99": f"{p99 / f99:.2f}",
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("10k,100k,1M"), help="e.g. 10k,100k,1M")
    parser.add_argument("--queries", type=int, default=300, help="queries per subject and size")
    parser.add_argument("--rounds", type=int, default=3, help="times each query is timed per subject")
    # hybrid needs the vectors the pipeline's hybrid_vectors asset adds; these demo bundles skip it
    audio_modes = [m for m in MODES if m != "hybrid"]
    parser.add_argument("--modes", default=",".join(audio_modes), help=f"comma-separated, default {','.join(audio_modes)}")
    parser.add_argument("--ann-from", type=sizes_arg, default=sizes_arg("50k"),
                        help="build and use the ANN index from this catalog size (the asset's default)")
    args = parser.parse_args(argv)
    args.ann_from = args.ann_from[0]
    modes = [m for m in args.modes.split(",") if m]
    rows = []
    single_threaded_blas()
    for n in args.sizes:
        rows += bench_size(n, args.queries, modes, ann=n >= args.ann_from, rounds=args.rounds)
    print_table(rows, f"recommend in process, k={K}: p50/p99 per query vs the numpy floor (same run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
