"""Offline quality of every mode on real data (../shared/data/tracks_114k_sample) and on the demo.

The real sample has one genre label per track (114 genres), so genre hit rate@10 is measured
against labels nobody on the team made. The model is fitted the way the pipeline fits it
(StandardScaler + PCA, elbow k, KMeans on the PCA coordinates), written as a real bundle and
evaluated with the same code as the model_quality asset. Popularity bias uses the sample's
Spotify popularity (0-100) where the pipeline uses chart appearances.

    .venv/bin/python -m benchmarks.quality_real_data [--queries 1000] [--repeats 3] [--demo-tracks 20000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd

from music_assets.model.bundle import load_bundle, write_bundle
from music_assets.training.evaluate import (
    bundle_recommenders, catalog_from_bundle, evaluate_modes, pick_winner, sample_queries,
)
from music_assets.training.fit import elbow_curve, fit_clusters, fit_embedding, knee_k
from music_assets.model.recommend import MODES
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS, FEATURE_RANGES

# this script's bundles carry no chart rows, so no hybrid vectors: benchmarks/hybrid_quality.py measures hybrid
AUDIO_MODES = [m for m in MODES if m != "hybrid"]
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tracks_114k_sample" / "dataset_sample.csv"


def load_114k(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per track id (a track listed under several genres keeps all of them)."""
    raw = pd.read_csv(path)
    out_of_range = {c: int((~raw[c].between(*FEATURE_RANGES[c])).sum()) for c in FEATURE_COLUMNS
                    if (~raw[c].between(*FEATURE_RANGES[c])).any()}
    genres = raw.groupby("track_id")["track_genre"].agg(lambda s: sorted(set(s)))
    first = raw.drop_duplicates("track_id").set_index("track_id")
    df = pd.DataFrame({
        "track_id": first.index,
        "title": first["track_name"].fillna("").astype(str).to_numpy(),
        "artist": first["artists"].fillna("").astype(str).to_numpy(),
        "genres": [genres[t] for t in first.index],
        "chart_appearances": first["popularity"].to_numpy(dtype=np.int64),
        **{c: first[c].to_numpy(dtype=np.float64) for c in FEATURE_COLUMNS},
    })
    return df, out_of_range


def demo_catalog(n_tracks: int) -> pd.DataFrame:
    from music_assets.ingest.charts.rows import validate_chart_batch
    from music_assets.ingest.charts.unique import unique_tracks_from_parquet
    from music_assets.ingest.cleaning import clean_tracks
    from music_assets.ingest.sources.demo import DemoCatalog, DemoConfig
    from music_assets import storage
    import pyarrow as pa

    src = DemoCatalog(DemoConfig(n_tracks=n_tracks, seed=42))
    with tempfile.TemporaryDirectory() as tmp:
        rows = pa.concat_tables([validate_chart_batch(b).good for b in src.chart_batches()])
        storage.write_parquet(rows, Path(tmp) / "rows.parquet")
        unique = unique_tracks_from_parquet(Path(tmp) / "rows.parquet").to_pandas()
    clean, _ = clean_tracks(unique, src.fetch_features(list(unique["track_id"])))
    return clean.dropna(subset=list(DEFAULT_MODEL_FEATURES)).reset_index(drop=True)  # the model's tracks


def build_bundle(df: pd.DataFrame, models_dir: Path, k: int | None = None) -> tuple[str, int]:
    """The pipeline's model on `df`: scaler + PCA (2 components), elbow k (unless given), KMeans, a real bundle."""
    features = list(DEFAULT_MODEL_FEATURES)
    embedding, coords = fit_embedding(df, features, 2)
    k = k or knee_k(elbow_curve(coords, range(2, 16), seed=0))
    clusters = fit_clusters(coords, k, seed=0)
    tracks = df.assign(pc_1=coords[:, 0], pc_2=coords[:, 1], cluster=clusters.labels)
    for col, default in (("preview_url", ""), ("cover_url", ""), ("has_preview", False)):
        if col not in tracks:
            tracks[col] = default
    if "alias_ids" not in tracks:
        tracks["alias_ids"] = [[] for _ in range(len(tracks))]
    version, _ = write_bundle(models_dir, tracks, embedding, clusters.centroids, settings={"default_mode": "normal"})
    return version, k


def measure(name: str, df: pd.DataFrame, n_queries: int, repeats: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        version, k = build_bundle(df, Path(tmp))
        bundle = load_bundle(tmp, version)
        catalog = catalog_from_bundle(bundle)
        queries = sample_queries(catalog, n_queries, seed=0)
        times = []
        for _ in range(repeats):
            started = perf_counter()
            table = evaluate_modes(catalog, bundle_recommenders(bundle, AUDIO_MODES, 10), queries, 10, seed=0)
            times.append(perf_counter() - started)
    print(f"\n## {name}: {len(df):,} tracks, k={k} (elbow), {len(queries):,} queries, "
          f"evaluation median {statistics.median(times):.2f}s over {repeats} run(s) "
          f"({', '.join(f'{t:.2f}' for t in times)})  winner: {pick_winner(table)}\n")
    print(table.round(4).to_markdown(index=False))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-tracks", type=int, default=20_000)
    args = parser.parse_args()
    if SAMPLE.exists():
        real, bad = load_114k(SAMPLE)
        print(f"{SAMPLE.name}: values outside the documented ranges (the tracks_features_in_range check "
              f"would stop this data): {bad or 'none'}")
        real = real.assign(**{c: real[c].clip(*FEATURE_RANGES[c]) for c in bad})
        measure("tracks_114k_sample (real)", real, args.queries, args.repeats)
    else:
        print(f"{SAMPLE} is absent: skipping the real-data table")
    if args.demo_tracks:
        measure("demo catalog", demo_catalog(args.demo_tracks), args.queries, args.repeats)


if __name__ == "__main__":
    main()
