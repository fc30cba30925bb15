"""Helpers shared by the benchmarks: demo bundles of any size, interleaved timing, tables, RSS."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import write_bundle

if TYPE_CHECKING:  # dagster is imported only by the benchmarks that run Dagster
    import dagster as dg
from music_assets.ingest.cleaning import clean_tracks
from music_assets.training.fit import fit_clusters, fit_embedding
from music_assets.schema import DEFAULT_MODEL_FEATURES
from music_assets.ingest.sources.demo import DemoCatalog, DemoConfig

CACHE_ENV = "MUSIC_ADVISER_BENCH_CACHE"
BENCH_K = 8  # clusters for benchmark bundles; the elbow asset is measured in benchmarks.pipeline


def cache_dir() -> Path:
    """Where generated benchmark bundles are kept between runs (outside the repo by default)."""
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "music-adviser-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_regions(truth: pd.DataFrame, appearances: np.ndarray, seed: int) -> list[list[str]]:
    """Chart regions per track, drawn as the demo's chart rows draw them (ingest/sources/demo.py):
    each of a track's chart rows (at most 30 here) lies in its artist's home region (55%), one of
    its genre family's regions (30%) or Global (15%); a track's regions are the distinct ones."""
    from music_assets.ingest.sources.demo import FAMILY_REGIONS, REGIONS

    rng = np.random.default_rng([seed, 7])
    n = len(truth)
    rows = np.minimum(appearances, 30)
    owner = np.repeat(np.arange(n), rows)
    r = rng.random(len(owner))
    home = truth["home_region"].to_numpy(dtype=np.int64)[owner]
    codes = {name: i for i, name in enumerate(REGIONS)}
    family = truth["family"].to_numpy(dtype=object)[owner]
    in_family = np.empty(len(owner), dtype=np.int64)
    for f, names in FAMILY_REGIONS.items():
        at = np.flatnonzero(family == f)
        options = np.array([codes[x] for x in names])
        in_family[at] = options[rng.integers(0, len(options), len(at))]
    region = np.where(r < 0.55, home, np.where(r < 0.85, in_family, codes["Global"]))
    pairs = np.unique(owner * len(REGIONS) + region)
    by_track = np.split(pairs % len(REGIONS), np.flatnonzero(np.diff(pairs // len(REGIONS))) + 1)
    names = np.array(REGIONS, dtype=object)
    return [sorted(names[c].tolist()) for c in by_track]


def demo_models_dir(n_tracks: int, seed: int = 42, root: Path | None = None, regions: bool = False) -> Path:
    """A `models/` folder with a published bundle built from an n-track demo catalog.

    Skips the chart-row stages (benchmarks.pipeline measures those): tracks come straight from the
    generator, then the same core functions the assets use clean, embed, cluster and write them.
    Cached by size and seed, because a 1M-track build takes about a minute. With `regions`, each
    track also carries the chart regions it charted in (`demo_regions`; a bundle of its own).
    """
    models = (root or cache_dir()) / (f"demo-{n_tracks}-{seed}" + ("-regions" if regions else "")) / "models"
    if registry.read_pointer(models):
        return models
    catalog = DemoCatalog(DemoConfig(n_tracks=n_tracks, seed=seed))
    truth = catalog.tracks
    appearances = np.maximum(1, np.round(truth["popularity"].to_numpy() * 3)).astype(np.int64)
    unique = pd.DataFrame({"track_id": truth["track_id"], "title": truth["title"],
                           "artist": truth["artist"], "chart_appearances": appearances})
    if regions:
        unique["regions"] = demo_regions(truth, appearances, seed)
    features = catalog.fetch_features(truth["track_id"].tolist())
    clean, _ = clean_tracks(unique, features)
    features_used = list(DEFAULT_MODEL_FEATURES)
    in_model = clean[features_used].notna().all(axis=1).to_numpy()  # as track_embedding: none imputed
    embedding, coords = fit_embedding(clean[in_model], features_used, 2)
    k = min(BENCH_K, int(in_model.sum()) - 1)
    clusters = fit_clusters(coords, k, seed)
    for j in range(coords.shape[1]):
        clean[f"pc_{j + 1}"] = np.nan
        clean.loc[in_model, f"pc_{j + 1}"] = coords[:, j]
    clean["cluster"] = -1
    clean.loc[in_model, "cluster"] = clusters.labels
    clean["in_model"] = in_model
    version, _ = write_bundle(models, clean, embedding, clusters.centroids, settings={"default_mode": "normal"})
    registry.publish_pointer(models, version)
    return models


def ensure_ann(models: Path) -> None:
    """Give the published bundle in `models` its ANN index (what the ann_index asset does)."""
    import json

    from music_assets.model import ann
    from music_assets.model.bundle import load_bundle

    version = (models / "LATEST").read_text().strip()
    if ann.has_index(models / version):
        return
    bundle = load_bundle(models)
    meta = json.loads((models / version / "model.json").read_text())
    ann.write_index(models / version, bundle.scaled, meta["files"]["tracks.parquet"],
                    rows=np.flatnonzero(bundle.in_model))


def single_threaded_blas():
    """BLAS thread pools limited to one thread. On a busy 2-core machine a multi-threaded gemv
    waits for a free core and its latency jumps 100x; one thread measures the code, not the queue.
    Floor and subjects always run under the same limit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def interleaved(subjects: dict[str, Callable[[int], object]], inputs: Sequence[int], rounds: int = 1,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Time each subject on each input, alternating subjects query by query so that noise from a
    busy machine hits them alike, in a new random order for each input: whichever subject runs
    right after one that swept the caches (the floor reads the whole matrix) pays for it, and a
    fixed order made the same subject pay every time (0.27 against 0.19 ms for one code path at
    100k tracks). Returns seconds per call, per subject."""
    times: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    for _ in range(rounds):
        for x in inputs:
            for i in rng.permutation(len(names)):
                name = names[i]
                fn = subjects[name]
                t0 = clock()
                fn(x)
                times[name].append(clock() - t0)
    return {name: np.asarray(v) for name, v in times.items()}


def p50_p99(seconds: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(seconds, 50)), float(np.percentile(seconds, 99))


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def print_table(rows: list[dict[str, object]], title: str | None = None) -> None:
    """A Markdown table, ready for the README."""
    if title:
        print(f"\n### {title}\n")
    if not rows:
        print("(no rows)")
        return
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in cols) + " |")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def sizes_arg(text: str) -> list[int]:
    """'10k,100k,1M' -> [10000, 100000, 1000000]."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("mk")) * mult))
    return out


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds per step of a run, from STEP_START to STEP_SUCCESS in Dagster's event log."""
    start: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            start[ev.step_key] = entry.timestamp
        elif ev.event_type_value == "STEP_SUCCESS":
            out[ev.step_key] = entry.timestamp - start[ev.step_key]
    return out
