"""recommender_model: build a new model bundle (tracks + parameters); later steps finish it.

The output is a BundleRef (defs/bundle_io.py): ann_index, model_quality and model_pictures take
it as their input and add their files to that build, and published_model seals it (model.json
last) and replaces LATEST once the blocking checks passed. A run that fails anywhere leaves the
previous model serving and its own build unsealed, which no loader takes for a bundle.
"""

import warnings

import dagster as dg
import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef, bundle_ref_io_manager
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import centroids, embedding_params, model_tracks
from music_assets.model import registry
from music_assets.model.bundle import IN_MODEL, NO_CLUSTER, build_bundle, content_key
from music_assets.model.steer_index import chart_popularity


class PublishConfig(dg.Config):
    default_mode: str = "normal"  # used only until model_quality writes its measured winner


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet", "json"}, deps=["tracks", "track_embedding", "track_clusters"],
          io_manager_def=bundle_ref_io_manager, owners=OWNERS, tags=tags("model"), code_version="1")
def recommender_model(context: dg.AssetExecutionContext, config: PublishConfig, store: DataStore) -> dg.Output[BundleRef]:
    """A new build in models/<version>/: one row per track (metadata, features, PCA coordinates,
    cluster, in_model) and the fitted scaler, PCA and centroids, the features used and the
    catalog's coverage, as Parquet and JSON. Not published."""
    tracks = storage.read_parquet(store.asset_path("tracks"))
    coords = storage.read_parquet(store.asset_path("track_embedding"))
    clusters = storage.read_parquet(store.asset_path("track_clusters"))
    # every track stays in the bundle (searchable); those the model was not built on (no value
    # for a feature it uses) have no coordinates, cluster -1 and in_model false: never recommended
    placed = coords.merge(clusters, on="track_id", validate="one_to_one")
    if len(placed) != len(coords) or len(coords) != len(clusters):
        raise dg.Failure(f"{len(coords)} tracks with coordinates but {len(clusters)} with a cluster: "
                         "rematerialize track_embedding and track_clusters")
    bundle_tracks = tracks.merge(placed, on="track_id", how="left", validate="one_to_one")
    bundle_tracks[IN_MODEL] = bundle_tracks["cluster"].notna()
    coverage = model_tracks(store)
    unplaced = bundle_tracks[~bundle_tracks[IN_MODEL] & bundle_tracks[coverage["features_used"]].notna().all(axis=1)]
    if len(unplaced):  # a track the model should hold has no place: the embedding is older than tracks
        raise dg.Failure(f"{len(unplaced)} tracks with every feature used have no coordinates or cluster (e.g. "
                         f"{', '.join(map(str, unplaced['track_id'][:5]))}): rematerialize track_embedding and track_clusters")
    bundle_tracks["cluster"] = bundle_tracks["cluster"].fillna(NO_CLUSTER).astype("int64")
    # popularity 0..100 for the /v1 API and min_/max_/target_popularity: the catalog's own where it
    # has one, else derived from chart appearances (model/steer_index.chart_popularity)
    derived = chart_popularity(bundle_tracks["chart_appearances"].to_numpy(dtype="float64", na_value=0.0))
    given = (pd.to_numeric(bundle_tracks["popularity"], errors="coerce") if "popularity" in bundle_tracks
             else pd.Series(np.nan, index=bundle_tracks.index))
    bundle_tracks["popularity"] = given.fillna(pd.Series(derived, index=bundle_tracks.index)).astype("float64")
    centers = centroids(store)
    published = registry.read_pointer(store.models_dir)
    # Every run gets its own version (what it built and what it published stay traceable to the
    # run), but a tracks file identical to the served model's shares its bytes: a hard link
    # locally, a server-side copy on an object store (nothing uploaded).
    version, path = build_bundle(
        store.models_dir, bundle_tracks, embedding_params(store), centers,
        settings={"default_mode": config.default_mode, "run_id": context.run.run_id},
        catalog=coverage,
        share_tracks_from=store.models_dir / published if published else None,
    )
    key = content_key(path)
    unchanged = published is not None and key is not None and content_key(store.models_dir / published) == key
    context.log.info(f"built model {version}" + (f": same content as the published {published} (tracks file shared)"
                                                  if unchanged else " (not published yet)"))
    with warnings.catch_warnings():  # Output's data_version is marked beta; MaterializeResult's is not
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Output(
            BundleRef(version=version, path=str(path)),
            data_version=dg.DataVersion(key[:16]) if key else None,
            metadata={
                "version": version,
                "same_content_as": published if unchanged else "",
                "path": dg.MetadataValue.path(str(path)),
                "dagster/row_count": len(bundle_tracks),
                "k": len(centers),
                "default_mode": config.default_mode,
                "features_used": dg.MetadataValue.json(coverage["features_used"]),
                "features_dropped": dg.MetadataValue.json(coverage["features_dropped"]),
                "tracks_in_model": coverage["tracks_in_model"],
                "tracks_without_features": coverage["tracks_without_features"],
                "featureless_share": dg.MetadataValue.float(float(coverage["featureless_share"])),
            },
        )
