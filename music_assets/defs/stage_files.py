"""Files a stage writes beside its main Parquet file, and how a later stage reads them.

Asset modules share these instead of importing each other: each function names one file of the
data folder (DataStore.asset_path) and what it holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.defs.resources import DataStore
from music_assets.model.embedding import Embedding


def embedding_params_path(store: DataStore) -> storage.StorePath:
    """track_embedding's fitted scaler + PCA (JSON), which the bundle carries."""
    return store.asset_path("track_embedding", ".params.json")


def embedding_params(store: DataStore) -> Embedding:
    return Embedding.from_dict(storage.read_json(embedding_params_path(store)))


def parse_rejects_path(store: DataStore) -> storage.StorePath:
    """track_features' rejected values (a value the reader could not parse), FEATURE_REJECT_COLUMNS."""
    return store.asset_path("track_features_rejected")


def range_rejects_path(store: DataStore) -> storage.StorePath:
    """tracks' rejected values (outside the documented range, ingest/cleaning.py), FEATURE_REJECT_COLUMNS."""
    return store.asset_path("tracks_rejected")


def model_tracks_path(store: DataStore) -> storage.StorePath:
    """track_embedding's choice: the features used, those dropped and why, and the catalog's coverage
    (training/features.py FeatureChoice.summary), which the bundle and /model carry."""
    return store.asset_path("track_embedding", ".features.json")


def model_tracks(store: DataStore) -> dict:
    return storage.read_json(model_tracks_path(store))


def centroids_path(store: DataStore) -> storage.StorePath:
    """track_clusters' KMeans centroids, one row per cluster."""
    return store.asset_path("track_clusters_centroids")


def centroids(store: DataStore) -> np.ndarray:
    return storage.read_parquet(centroids_path(store)).sort_values("cluster").drop(columns="cluster").to_numpy()


def elbow_curve(store: DataStore) -> pd.DataFrame:
    """cluster_k's curve: k, inertia, and the chosen k."""
    return storage.read_parquet(store.asset_path("cluster_k"))


def chosen_k(store: DataStore) -> int:
    curve = elbow_curve(store)
    return int(curve.loc[curve["chosen"], "k"].iloc[0])


def pictures_dir(store: DataStore) -> storage.StorePath:
    return store.root / "assets" / "pictures"
