"""What leaving out the asked song's other versions costs a request (RecommendIndex._versions,
docs/serving.md), and keeping each song once in a list (RecommendIndex.repeated_songs): each
alone, uncached (the first time a song is asked for, or a row is listed), beside a whole `nearest`
request, interleaved in one process; and how many queries found versions.

    .venv/bin/python -m benchmarks.version_lookup [--sizes 100k] [--queries 500]
"""

from __future__ import annotations

import argparse
from time import perf_counter

import numpy as np

from benchmarks.common import demo_models_dir, fmt_ms, print_table, single_threaded_blas, sizes_arg
from music_assets.model.bundle import load_bundle
from music_assets.model.recommend import recommend
from music_assets.model.recommend_index import recommend_index


def bench(n_tracks: int, n_queries: int) -> dict[str, object]:
    bundle = load_bundle(demo_models_dir(n_tracks))
    ix = recommend_index(bundle)
    queries = np.random.default_rng(0).choice(np.flatnonzero(bundle.in_model), n_queries, replace=False).tolist()
    for q in queries[:20]:
        recommend(bundle, q, "nearest", 10)  # warm the index and the ANN
    lookup, once, request, found = [], [], [], 0
    for q in queries:  # interleaved: all under the same load
        ix._version_cache.clear()
        t0 = perf_counter()
        found += len(ix._versions(q)) > 0
        lookup.append(perf_counter() - t0)
        ix._version_cache.clear()
        ix._noted[:] = 0
        t0 = perf_counter()
        rows = [r.index for r in recommend(bundle, q, "nearest", 10)]
        request.append(perf_counter() - t0)
        ix._noted[:] = 0
        t0 = perf_counter()
        ix.repeated_songs(np.array(rows))
        once.append(perf_counter() - t0)
    p50_lookup, p50_once, p50_request = float(np.median(lookup)), float(np.median(once)), float(np.median(request))
    return {"tracks": f"{len(bundle.tracks):,}", "versions lookup p50 ms": fmt_ms(p50_lookup),
            "p99 ms": fmt_ms(float(np.percentile(lookup, 99))), "one-per-song check p50 ms": fmt_ms(p50_once),
            "nearest request p50 ms (both included, uncached)": fmt_ms(p50_request),
            "(lookup + check) / request": f"{(p50_lookup + p50_once) / p50_request:.1%}",
            "queries with versions": f"{found} of {len(queries)}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg("100k"))
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args(argv)
    with single_threaded_blas():
        print_table([bench(n, args.queries) for n in args.sizes], title="leaving out the asked song's versions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
