"""Asset checks on the data (`tracks`) and the model's parts (embedding, clusters). Blocking checks
stop everything downstream, published_model included, so a failing one leaves the previous model
serving. Rules live in training/validation.py. The checks of the build itself (quality against
the served model, the pictures) are computed by their assets (model_quality, model_pictures),
from the numbers those assets just produced."""

from __future__ import annotations

import dagster as dg

import pandas as pd

from music_assets.defs.stage_files import centroids_path, embedding_params_path, parse_rejects_path, range_rejects_path
from music_assets import storage
from music_assets.training import validation
from music_assets.schema import FEATURE_COLUMNS, FEATURE_RANGES, FEATURE_REJECT_COLUMNS
from music_assets.defs.resources import DataStore

MIN_TRACKS = 100  # fewer in the model and the elbow (k up to 15) and the quality sample mean little
MAX_FEATURELESS_SHARE = 0.10  # warn when more than a tenth of the tracks have no audio features
MIN_CLUSTER_SHARE = 0.005  # a cluster under 0.5% of the catalog...
MIN_CLUSTER_SIZE = 10  # ...or under 10 tracks gives "normal" mode too few candidates


def _result(outcome: validation.Outcome, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description, severity=severity,
                               metadata={k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                                         for k, v in outcome.metadata.items()})


@dg.asset_check(asset="tracks", blocking=True, description="Every track id appears once.")
def tracks_unique_ids(store: DataStore) -> dg.AssetCheckResult:
    return _result(validation.unique_ids(storage.read_parquet(store.asset_path("tracks"), columns=["track_id"])))


@dg.asset_check(asset="tracks", blocking=True, description="No null track id, title or artist (features may be missing: never imputed).")
def tracks_no_nulls(store: DataStore) -> dg.AssetCheckResult:
    columns = ["track_id", "title", "artist"]
    return _result(validation.no_nulls(storage.read_parquet(store.asset_path("tracks"), columns=columns), columns))


@dg.asset_check(asset="tracks", blocking=True,
                description="Every audio feature value present is inside the range the Web API documents.")
def tracks_features_in_range(store: DataStore) -> dg.AssetCheckResult:
    df = storage.read_parquet(store.asset_path("tracks"), columns=["track_id", *FEATURE_COLUMNS])
    return _result(validation.in_ranges(df, FEATURE_RANGES, allow_missing=True))


@dg.asset_check(asset="tracks", blocking=False,
                description=f"At most {MAX_FEATURELESS_SHARE:.0%} of the tracks without audio features (a warning, not a stop).")
def tracks_featureless_share(store: DataStore) -> dg.AssetCheckResult:
    n_missing = storage.read_parquet(store.asset_path("tracks"), columns=["n_missing"])["n_missing"]
    return _result(validation.featureless_share(n_missing, len(FEATURE_COLUMNS), MAX_FEATURELESS_SHARE),
                   severity=dg.AssetCheckSeverity.WARN)


def _rejects(path: storage.StorePath) -> pd.DataFrame | None:
    return storage.read_parquet(path) if storage.exists(path) else None


@dg.asset_check(asset="tracks", blocking=True,
                description="Feature values rejected (unparsable: track_features_rejected.parquet; out of range: "
                            "tracks_rejected.parquet) stay under the configured share of values and of tracks.")
def tracks_rejected_share(store: DataStore) -> dg.AssetCheckResult:
    files = [p for p in (parse_rejects_path(store), range_rejects_path(store)) if storage.exists(p)]
    frames = [f for f in (_rejects(p) for p in files) if f is not None]
    rejects = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(FEATURE_REJECT_COLUMNS)))
    features = storage.read_parquet(store.asset_path("track_features"), columns=["track_id"])
    with storage.open_parquet(store.asset_path("track_features")) as parquet:
        n_columns = len([c for c in FEATURE_COLUMNS if c in parquet.schema_arrow.names])
    return _result(validation.rejected_share(rejects, len(features) * max(1, n_columns), features["track_id"].nunique(),
                                             store.max_rejected_share, [str(p) for p in files]))


@dg.asset_check(asset="track_embedding", blocking=True,
                description=f"At least {MIN_TRACKS} tracks in the model (those with every feature it uses).")
def tracks_enough(store: DataStore) -> dg.AssetCheckResult:
    n = len(storage.read_parquet(store.asset_path("track_embedding"), columns=["track_id"]))
    return _result(validation.enough_rows(n, MIN_TRACKS, "tracks in the model"))


@dg.asset_check(asset="track_embedding", blocking=True, description="PCA explained variance recorded and valid.")
def embedding_variance_recorded(store: DataStore) -> dg.AssetCheckResult:
    return _result(validation.variance_recorded(storage.read_json(embedding_params_path(store))))


@dg.asset_check(asset="track_clusters", blocking=True, description="No empty or tiny cluster.")
def clusters_not_tiny(store: DataStore) -> dg.AssetCheckResult:
    labels = storage.read_parquet(store.asset_path("track_clusters"), columns=["cluster"])["cluster"].to_numpy()
    k = len(storage.read_parquet(centroids_path(store), columns=["cluster"]))
    return _result(validation.clusters_not_tiny(labels, k, MIN_CLUSTER_SHARE, MIN_CLUSTER_SIZE))


ALL_CHECKS = [
    tracks_unique_ids, tracks_no_nulls, tracks_features_in_range, tracks_featureless_share, tracks_rejected_share,
    tracks_enough,
    embedding_variance_recorded, clusters_not_tiny,
]
