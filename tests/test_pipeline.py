"""The whole graph materialized with Dagster into a temporary folder; assertions on the files."""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from music_assets.text import normalize_text
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS, FEATURE_RANGES
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


def test_tracks_clean_unique_nothing_imputed_in_range(demo_data_dir: Path) -> None:
    tracks = read(demo_data_dir, "tracks")
    unique = read(demo_data_dir, "unique_tracks")
    assert tracks["track_id"].is_unique
    for col, (lo, hi) in FEATURE_RANGES.items():
        present = tracks[col].dropna()
        assert present.between(lo, hi).all(), col
    merged = sum(len(a) for a in tracks["alias_ids"])
    assert merged > 0 and len(tracks) + merged == len(unique)
    # the demo's featureless tracks stay featureless (never given a mean), counted per row
    featureless = tracks["n_missing"] == len(FEATURE_COLUMNS)
    assert featureless.any() and tracks.loc[featureless, list(FEATURE_COLUMNS)].isna().all().all()
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
    tracks = read(demo_data_dir, "tracks")
    complete = tracks[list(DEFAULT_MODEL_FEATURES)].notna().all(axis=1)
    assert len(clusters) == int(complete.sum()) < len(tracks)  # the model's tracks: every feature present
    assert set(clusters["track_id"]) == set(tracks.loc[complete, "track_id"])


def test_published_bundle_matches_assets(demo_data_dir: Path, demo_bundle) -> None:
    assert (demo_data_dir / "models" / "LATEST").read_text().strip() == demo_bundle.version
    assert len(demo_bundle.tracks) == len(read(demo_data_dir, "tracks"))
    assert not list((demo_data_dir / "models").glob("**/*.pkl"))
    # the stored scaler reproduces standardized features on the model's tracks: mean ~0, std ~1;
    # the others are in the bundle (searchable) without features, coordinates or a cluster
    model = demo_bundle.scaled[demo_bundle.in_model]
    assert np.allclose(model.mean(axis=0), 0, atol=1e-3)
    assert np.allclose(model.std(axis=0), 1, atol=1e-2)
    outside = demo_bundle.tracks[~demo_bundle.in_model]
    assert len(outside) and outside["pc_1"].isna().all() and (outside["cluster"] == -1).all()
    assert np.isnan(demo_bundle.scaled[~demo_bundle.in_model]).any(axis=1).all()  # a used feature missing
    catalog = json.loads((demo_bundle.path / "model.json").read_text())["catalog"]
    assert catalog["features_used"] == demo_bundle.features == list(DEFAULT_MODEL_FEATURES)
    assert catalog["tracks_in_model"] == int(demo_bundle.in_model.sum())
    assert catalog["tracks_without_features"] == int((demo_bundle.tracks["n_missing"] == len(FEATURE_COLUMNS)).sum()) > 0
