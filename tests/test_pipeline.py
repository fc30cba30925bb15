"""The whole graph materialized with Dagster into a temporary folder; assertions on the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from music_assets.text import normalize_text
from music_assets.schema import FEATURE_COLUMNS, FEATURE_RANGES
from tests.conftest import SMALL_DEMO_TRACKS


def read(data_dir: Path, name: str) -> pd.DataFrame:
    return pq.read_table(data_dir / "assets" / f"{name}.parquet").to_pandas()


def test_every_asset_writes_its_parquet(demo_data_dir: Path) -> None:
    for name in ["chart_rows", "chart_rows_rejected", "unique_tracks", "track_features", "tracks",
                 "track_embedding", "cluster_k", "track_clusters"]:
        assert (demo_data_dir / "assets" / f"{name}.parquet").is_file(), name
    leftovers = [p.name for p in (demo_data_dir / "assets").iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_chart_rows_are_typed_and_malformed_rows_kept_aside(demo_data_dir: Path) -> None:
    rows = read(demo_data_dir, "chart_rows")
    rejected = read(demo_data_dir, "chart_rows_rejected")
    assert len(rows) > 5 * SMALL_DEMO_TRACKS  # one track appears in many chart rows
    assert rows["track_id"].str.fullmatch(r"[0-9A-Za-z]{22}").all()
    assert set(rows["chart"]) == {"top200", "viral50"}
    assert rows.loc[rows["chart"] == "viral50", "streams"].isna().all()
    assert len(rejected) > 0 and rejected["reason"].notna().all()


def test_unique_tracks_one_row_per_id(demo_data_dir: Path) -> None:
    rows = read(demo_data_dir, "chart_rows")
    unique = read(demo_data_dir, "unique_tracks")
    assert unique["track_id"].is_unique
    assert set(unique["track_id"]) == set(rows["track_id"])
    assert unique["chart_appearances"].sum() == len(rows)


def test_tracks_clean_unique_imputed_in_range(demo_data_dir: Path) -> None:
    tracks = read(demo_data_dir, "tracks")
    unique = read(demo_data_dir, "unique_tracks")
    assert tracks["track_id"].is_unique
    assert tracks[list(FEATURE_COLUMNS)].notna().all().all()
    for col, (lo, hi) in FEATURE_RANGES.items():
        assert tracks[col].between(lo, hi).all(), col
    keys = [(normalize_text(t), normalize_text(a)) for t, a in zip(tracks["title"], tracks["artist"])]
    assert len(set(keys)) == len(keys), "a song survived deduplication twice"
    merged = sum(len(a) for a in tracks["alias_ids"])
    assert merged > 0 and len(tracks) + merged == len(unique)
    assert (tracks["n_imputed"] > 0).any()
    # shared titles by different artists are distinct songs and must all survive
    assert tracks["title"].map(normalize_text).duplicated().any()


def test_elbow_and_clusters(demo_data_dir: Path) -> None:
    curve = read(demo_data_dir, "cluster_k")
    assert list(curve["k"]) == list(range(2, 16))
    assert curve["chosen"].sum() == 1
    k = int(curve.loc[curve["chosen"], "k"].iloc[0])
    assert 2 <= k <= 15
    clusters = read(demo_data_dir, "track_clusters")
    assert set(clusters["cluster"]) == set(range(k))
    assert len(clusters) == len(read(demo_data_dir, "tracks"))


def test_published_bundle_matches_assets(demo_data_dir: Path, demo_bundle) -> None:
    assert (demo_data_dir / "models" / "LATEST").read_text().strip() == demo_bundle.version
    assert len(demo_bundle.tracks) == len(read(demo_data_dir, "tracks"))
    assert not list((demo_data_dir / "models").glob("**/*.pkl"))
    # the stored scaler reproduces standardized features: mean ~0, std ~1
    assert np.allclose(demo_bundle.scaled.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(demo_bundle.scaled.std(axis=0), 1, atol=1e-2)
