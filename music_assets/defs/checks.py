"""Asset checks on the data (`tracks`) and the model's parts (embedding, clusters). Blocking checks
stop everything downstream, published_model included, so a failing one leaves the previous model
serving. Rules live in training/validation.py. The checks of the build itself (quality against
the served model, the pictures) are computed by their assets (model_quality, model_pictures),
from the numbers those assets just produced."""

from __future__ import annotations

import dagster as dg

from music_assets.defs.stage_files import centroids_path, embedding_params_path
from music_assets import storage
from music_assets.training import validation
from music_assets.schema import FEATURE_COLUMNS, FEATURE_RANGES
from music_assets.defs.resources import DataStore

MIN_TRACKS = 100  # fewer and the elbow (k up to 15) and the quality sample mean little
MAX_IMPUTED_SHARE = 0.10  # warn when more than a tenth of the feature cells are made up
MIN_CLUSTER_SHARE = 0.005  # a cluster under 0.5% of the catalog...
MIN_CLUSTER_SIZE = 10  # ...or under 10 tracks gives "normal" mode too few candidates


def _result(outcome: validation.Outcome, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description, severity=severity,
                               metadata={k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                                         for k, v in outcome.metadata.items()})


@dg.asset_check(asset="tracks", blocking=True, description="Every track id appears once.")
def tracks_unique_ids(store: DataStore) -> dg.AssetCheckResult:
    return _result(validation.unique_ids(storage.read_parquet(store.asset_path("tracks"), columns=["track_id"])))


@dg.asset_check(asset="tracks", blocking=True, description="No null feature, title or artist after imputation.")
def tracks_no_nulls(store: DataStore) -> dg.AssetCheckResult:
    columns = ["track_id", "title", "artist", *FEATURE_COLUMNS]
    return _result(validation.no_nulls(storage.read_parquet(store.asset_path("tracks")), columns))


@dg.asset_check(asset="tracks", blocking=True, description="Every audio feature inside the range the Web API documents.")
def tracks_features_in_range(store: DataStore) -> dg.AssetCheckResult:
    df = storage.read_parquet(store.asset_path("tracks"), columns=list(FEATURE_COLUMNS))
    return _result(validation.in_ranges(df, FEATURE_RANGES))


@dg.asset_check(asset="tracks", blocking=False,
                description=f"At most {MAX_IMPUTED_SHARE:.0%} of feature values imputed (a warning, not a stop).")
def tracks_imputed_share(store: DataStore) -> dg.AssetCheckResult:
    n_imputed = storage.read_parquet(store.asset_path("tracks"), columns=["n_imputed"])["n_imputed"]
    return _result(validation.imputed_share(n_imputed, len(FEATURE_COLUMNS), MAX_IMPUTED_SHARE),
                   severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="tracks", blocking=True, description=f"At least {MIN_TRACKS} tracks.")
def tracks_enough(store: DataStore) -> dg.AssetCheckResult:
    n = len(storage.read_parquet(store.asset_path("tracks"), columns=["track_id"]))
    return _result(validation.enough_rows(n, MIN_TRACKS))


@dg.asset_check(asset="track_embedding", blocking=True, description="PCA explained variance recorded and valid.")
def embedding_variance_recorded(store: DataStore) -> dg.AssetCheckResult:
    return _result(validation.variance_recorded(storage.read_json(embedding_params_path(store))))


@dg.asset_check(asset="track_clusters", blocking=True, description="No empty or tiny cluster.")
def clusters_not_tiny(store: DataStore) -> dg.AssetCheckResult:
    labels = storage.read_parquet(store.asset_path("track_clusters"), columns=["cluster"])["cluster"].to_numpy()
    k = len(storage.read_parquet(centroids_path(store), columns=["cluster"]))
    return _result(validation.clusters_not_tiny(labels, k, MIN_CLUSTER_SHARE, MIN_CLUSTER_SIZE))


ALL_CHECKS = [
    tracks_unique_ids, tracks_no_nulls, tracks_features_in_range, tracks_imputed_share, tracks_enough,
    embedding_variance_recorded, clusters_not_tiny,
]
