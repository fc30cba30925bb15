"""Benchmark 3: approximate nearest neighbours — Voyager vs hnswlib vs FAISS (HNSW) on the
bundle's scaled float32 feature matrix, against exact numpy search in the same run.

For each library and search depth (ef): build time, index file size, recall@10 against the
exact top 10, and single-query p50/p99 with the exact scan timed interleaved query by query.
Every library indexes one row per distinct vector (music_assets/model/ann.py says why) and its
results are expanded with the duplicate rows, as the recommend path does; `--keep-duplicates`
indexes every row instead, to show what duplicates do to each graph.

    python -m benchmarks.ann --size 1M --queries 500 --efs 32,64,128
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import single_threaded_blas, demo_models_dir, fmt_ms, interleaved, p50_p99, print_table, sizes_arg
from music_assets.model.ann import Duplicates, unique_rows
from music_assets.model.bundle import load_bundle

K = 10


def recall_at_k(x: np.ndarray, q: np.ndarray, found: np.ndarray, truth: np.ndarray) -> float:
    """Share of returned ids that are as near as the exact k-th neighbour. Tie-aware: tracks whose
    features were all imputed share one vector, so "the" exact top 10 is often not unique."""
    kth = float(np.sum((x[truth[-1]] - q) ** 2))
    d = np.sum((x[np.asarray(found, dtype=np.int64)] - q) ** 2, axis=1)
    return float(np.count_nonzero(d <= kth * (1 + 1e-5) + 1e-9)) / len(truth)


def exact_scan(xt: np.ndarray, sq: np.ndarray, q: np.ndarray, k: int = K) -> np.ndarray:
    """The exact subject: recommend's scan (|x|^2 - 2 x.q over the f x n matrix, argpartition)."""
    approx = sq - 2.0 * (q @ xt)
    top = np.argpartition(approx, k)[:k]
    return top[np.argsort(approx[top], kind="stable")]


def exact_topk(x: np.ndarray, q: np.ndarray, k: int = K) -> np.ndarray:
    """Exact Euclidean top k, nearest first (ground truth)."""
    d = np.einsum("ij,ij->i", x - q, x - q)
    top = np.argpartition(d, k)[:k]
    return top[np.argsort(d[top], kind="stable")]


class Lib:
    """One library behind the same four calls: build, save, query, set_ef."""

    name: str

    def build(self, x: np.ndarray, m: int, ef_construction: int, threads: int) -> None: ...
    def save(self, path: Path) -> None: ...
    def set_ef(self, ef: int) -> None: ...
    def query(self, q: np.ndarray, k: int) -> np.ndarray: ...


class Voyager(Lib):
    name = "voyager"

    def build(self, x, m, ef_construction, threads):
        import voyager
        self.index = voyager.Index(voyager.Space.Euclidean, num_dimensions=x.shape[1], M=m,
                                   ef_construction=ef_construction, random_seed=1)
        self.index.add_items(x, ids=np.arange(len(x)), num_threads=threads)
        self.ef = 64

    def save(self, path):
        self.index.save(str(path))

    def set_ef(self, ef):
        self.ef = ef

    def query(self, q, k):
        return self.index.query(q, k=k, query_ef=self.ef)[0]


class Hnswlib(Lib):
    name = "hnswlib"

    def build(self, x, m, ef_construction, threads):
        import hnswlib
        self.index = hnswlib.Index(space="l2", dim=x.shape[1])
        self.index.init_index(max_elements=len(x), M=m, ef_construction=ef_construction, random_seed=1)
        self.index.add_items(x, np.arange(len(x)), num_threads=threads)

    def save(self, path):
        self.index.save_index(str(path))

    def set_ef(self, ef):
        self.index.set_ef(ef)

    def query(self, q, k):
        return self.index.knn_query(q, k=k, num_threads=1)[0][0]


class Faiss(Lib):
    name = "faiss-hnsw"

    def build(self, x, m, ef_construction, threads):
        import faiss
        faiss.omp_set_num_threads(threads)
        self.faiss = faiss
        self.index = faiss.IndexHNSWFlat(x.shape[1], m)
        self.index.hnsw.efConstruction = ef_construction
        self.index.add(x)

    def save(self, path):
        self.faiss.write_index(self.index, str(path))

    def set_ef(self, ef):
        self.index.hnsw.efSearch = ef

    def query(self, q, k):
        return self.index.search(q[None, :], k)[1][0]


LIBS: dict[str, Callable[[], Lib]] = {"voyager": Voyager, "hnswlib": Hnswlib, "faiss": Faiss}


def run(n_tracks: int, n_queries: int, efs: list[int], libs: list[str], m: int, ef_construction: int,
        threads: int, keep_duplicates: bool = False) -> list[dict[str, object]]:
    bundle = load_bundle(demo_models_dir(n_tracks))
    x = np.ascontiguousarray(bundle.scaled[bundle.in_model], dtype=np.float32)  # the model's tracks only
    xt, sq = np.ascontiguousarray(x.T), np.einsum("ij,ij->i", x, x)
    if keep_duplicates:
        reps, dups = np.arange(len(x)), Duplicates.empty()
    else:
        reps, dups = unique_rows(x)
    rng = np.random.default_rng(0)
    queries = [int(i) for i in rng.choice(len(x), min(n_queries, len(x)), replace=False)]
    truth = {q: exact_topk(x, x[q]) for q in queries}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib_name in libs:
            lib = LIBS[lib_name]()
            t0 = time.perf_counter()
            lib.build(x[reps], m, ef_construction, threads)
            build_s = time.perf_counter() - t0
            path = Path(tmp) / f"{lib_name}.index"
            lib.save(path)
            size_mb = os.path.getsize(path) / 2**20
            for ef in efs:
                lib.set_ef(max(ef, K))
                found = {q: dups.expand(reps[lib.query(x[q], K).astype(np.int64)])[:K] for q in queries}
                recall = np.mean([recall_at_k(x, x[q], found[q], truth[q]) for q in queries])
                times = interleaved({"exact": lambda q: exact_scan(xt, sq, x[q]),
                                     "ann": lambda q: dups.expand(reps[lib.query(x[q], K).astype(np.int64)])}, queries)
                e50, e99 = p50_p99(times["exact"])
                a50, a99 = p50_p99(times["ann"])
                rows.append({
                    "tracks": f"{len(x):,}", "indexed": f"{len(reps):,}", "library": lib_name, "M": m, "ef_construction": ef_construction,
                    "ef": ef, "build s": f"{build_s:.1f}", "index MB": f"{size_mb:.0f}",
                    "recall@10": f"{recall:.3f}", "ann p50 ms": fmt_ms(a50), "ann p99 ms": fmt_ms(a99),
                    "exact p50 ms": fmt_ms(e50), "speed-up p50": f"{e50 / a50:.0f}x",
                })
                print(rows[-1], flush=True)
            del lib
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=sizes_arg, default=sizes_arg("1M"), help="catalog size(s), e.g. 100k,1M")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--efs", default="32,64,128", help="search depths to try")
    parser.add_argument("--libs", default=",".join(LIBS), help=f"subset of {','.join(LIBS)}")
    parser.add_argument("-M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-duplicates", action="store_true", help="index every row, duplicates too")
    args = parser.parse_args(argv)
    rows = []
    single_threaded_blas()
    for n in args.size:
        rows += run(n, args.queries, [int(e) for e in args.efs.split(",")], args.libs.split(","), args.M,
                    args.ef_construction, args.threads, args.keep_duplicates)
    print_table(rows, f"ANN libraries vs exact numpy search, k={K} (same run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
