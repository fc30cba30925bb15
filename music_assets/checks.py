"""Asset checks: data checks on `tracks`, model checks on the embedding, the clusters, the
quality and the pictures. Blocking checks stop everything downstream, published_model included,
so a failing one leaves the previous model serving. Rules live in core/validation.py."""

from __future__ import annotations

import dagster as dg

from music_assets.assets.pictures import MODEL_PLOTS
from music_assets.assets.recommender_model import built_version
from music_assets.assets.track_embedding import params_path
from music_assets.core import storage, validation
from music_assets.core.bundle import PLOTS_DIR, read_quality
from music_assets.core.evaluate import RANDOM_MODE, regression
from music_assets.core.plots import is_png
from music_assets.core.schema import FEATURE_COLUMNS, FEATURE_RANGES
from music_assets.resources import DataStore

MIN_TRACKS = 100  # fewer and the elbow (k up to 15) and the quality sample mean little
MAX_IMPUTED_SHARE = 0.10  # warn when more than a tenth of the feature cells are made up
MIN_CLUSTER_SHARE = 0.005  # a cluster under 0.5% of the catalog...
MIN_CLUSTER_SIZE = 10  # ...or under 10 tracks gives "normal" mode too few candidates
QUALITY_TOLERANCE = 0.03  # genre hit rate may drop this much (sampling noise) before publishing stops


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
    return _result(validation.variance_recorded(storage.read_json(params_path(store))))


@dg.asset_check(asset="track_clusters", blocking=True, description="No empty or tiny cluster.")
def clusters_not_tiny(store: DataStore) -> dg.AssetCheckResult:
    labels = storage.read_parquet(store.asset_path("track_clusters"), columns=["cluster"])["cluster"].to_numpy()
    k = len(storage.read_parquet(store.asset_path("track_clusters_centroids"), columns=["cluster"]))
    return _result(validation.clusters_not_tiny(labels, k, MIN_CLUSTER_SHARE, MIN_CLUSTER_SIZE))


@dg.asset_check(asset="model_quality", blocking=True,
                description=f"Beats the random floor and is not worse than the published model by more than {QUALITY_TOLERANCE}.")
def quality_not_worse_than_published(store: DataStore) -> dg.AssetCheckResult:
    version = built_version(store)
    current = read_quality(store.models_dir / version)
    published_version = storage.read_pointer(store.models_dir)
    published = read_quality(store.models_dir / published_version) if published_version else {}
    problems = regression(current, published, QUALITY_TOLERANCE)
    modes = current.get("modes", {})
    winner = current.get("winner")
    floor = modes.get(RANDOM_MODE, {}).get("genre_hit_rate")
    if not modes:
        problems.append(f"model {version} has no quality.json")
    if current.get("genre_labelled_share", 1.0) == 0:
        # Nothing to measure against: say so loudly, but a catalog without genres may still serve.
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="no track has a genre: quality not comparable; " + "; ".join(problems),
                                   metadata={"version": version, "published_version": published_version or ""})
    if winner in modes and floor is not None and modes[winner]["genre_hit_rate"] <= floor:
        problems.append(f"winner {winner} does not beat the random floor ({floor:.3f})")
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or f"{version} is no worse than {published_version or 'nothing published'}",
        metadata={"version": version, "published_version": published_version or "",
                  "tolerance": QUALITY_TOLERANCE, "winner": str(winner)},
    )


@dg.asset_check(asset="model_pictures", blocking=True, description="The bundle holds elbow.png and pca_map.png, valid PNGs.")
def model_pictures_are_png(store: DataStore) -> dg.AssetCheckResult:
    folder = store.models_dir / built_version(store) / PLOTS_DIR
    bad = [p for p in MODEL_PLOTS if not storage.exists(folder / p) or not is_png(folder / p)]
    return dg.AssetCheckResult(passed=not bad, description=f"missing or not PNG: {bad}" if bad else "both pictures are PNGs",
                               metadata={"folder": dg.MetadataValue.path(str(folder))})


ALL_CHECKS = [
    tracks_unique_ids, tracks_no_nulls, tracks_features_in_range, tracks_imputed_share, tracks_enough,
    embedding_variance_recorded, clusters_not_tiny, quality_not_worse_than_published, model_pictures_are_png,
]
