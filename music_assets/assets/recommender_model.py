"""recommender_model: the versioned bundle serving loads, published by replacing LATEST."""

import json

import dagster as dg

from music_assets.assets.track_clusters import centroids_path
from music_assets.assets.track_embedding import params_path
from music_assets.core import storage
from music_assets.core.bundle import write_bundle
from music_assets.core.model import Embedding
from music_assets.resources import DataStore


class PublishConfig(dg.Config):
    default_mode: str = "normal"


@dg.asset(group_name="model", kinds={"parquet", "json"}, deps=["tracks", "track_embedding", "track_clusters"])
def recommender_model(context: dg.AssetExecutionContext, config: PublishConfig, store: DataStore) -> dg.MaterializeResult:
    """Write data/models/<version>/ (tracks + parameters as Parquet/JSON) and point LATEST at it."""
    embedding = Embedding.from_dict(json.loads(params_path(store).read_text(encoding="utf-8")))
    tracks = storage.read_parquet(store.asset_path("tracks"))
    coords = storage.read_parquet(store.asset_path("track_embedding"))
    clusters = storage.read_parquet(store.asset_path("track_clusters"))
    bundle_tracks = tracks.merge(coords, on="track_id", validate="one_to_one").merge(
        clusters, on="track_id", validate="one_to_one"
    )
    if len(bundle_tracks) != len(tracks):
        raise dg.Failure(f"{len(tracks)} tracks but {len(bundle_tracks)} with coordinates and a cluster: "
                         "rematerialize track_embedding and track_clusters")
    centroids = storage.read_parquet(centroids_path(store)).sort_values("cluster").drop(columns="cluster").to_numpy()
    version, path = write_bundle(
        store.models_dir, bundle_tracks, embedding, centroids,
        settings={"default_mode": config.default_mode, "run_id": context.run.run_id},
    )
    previous = storage.read_pointer(store.models_dir)
    storage.publish_pointer(store.models_dir, version)
    context.log.info(f"published model {version} (previous: {previous})")
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "path": dg.MetadataValue.path(str(path)),
            "previous_version": previous or "",
            "dagster/row_count": len(bundle_tracks),
            "k": len(centroids),
            "default_mode": config.default_mode,
        }
    )
