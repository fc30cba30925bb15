"""recommender_model: build the versioned bundle serving will load, without publishing it.

Publishing (replacing LATEST) is the job of published_model, after model_quality and
model_pictures have written quality.json and plots/ into the bundle and the blocking checks
passed: a run that fails anywhere leaves the previous model serving.
"""

import dagster as dg

from music_assets.assets.track_clusters import centroids_path
from music_assets.assets.track_embedding import params_path
from music_assets.core import storage
from music_assets.core.bundle import META_FILE, content_key, write_bundle
from music_assets.core.model import Embedding
from music_assets.resources import DataStore


class PublishConfig(dg.Config):
    default_mode: str = "normal"  # used only until model_quality writes its measured winner


def built_bundle_path(store: DataStore) -> storage.StorePath:
    """Where recommender_model records the version it built (the bundle is not published yet)."""
    return store.asset_path("recommender_model", ".json")


def _previous_build(store: DataStore) -> str | None:
    path = built_bundle_path(store)
    try:
        version = storage.read_json(path)["version"]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return version if storage.exists(store.models_dir / version / META_FILE) else None


def built_version(store: DataStore) -> str:
    """The version recommender_model built last; a bundle exists once its model.json does (it is
    written last), which holds on object stores too, where folders are only name prefixes."""
    path = built_bundle_path(store)
    try:
        version = storage.read_json(path)["version"]
    except FileNotFoundError:
        raise dg.Failure(f"{path} is missing: materialize recommender_model first") from None
    if not storage.exists(store.models_dir / version / META_FILE):
        raise dg.Failure(f"bundle {version} recorded in {path} is missing from {store.models_dir}")
    return version


@dg.asset(group_name="model", kinds={"parquet", "json"}, deps=["tracks", "track_embedding", "track_clusters"])
def recommender_model(context: dg.AssetExecutionContext, config: PublishConfig, store: DataStore) -> dg.MaterializeResult:
    """Write data/models/<version>/ (tracks + parameters as Parquet/JSON); published_model publishes it."""
    embedding = Embedding.from_dict(storage.read_json(params_path(store)))
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
    previous = _previous_build(store)
    # Every run gets its own version (what it built and what it published stay traceable to the
    # run), but a tracks file identical to the previous build's shares its bytes: a hard link
    # locally, a server-side copy on an object store (nothing uploaded).
    version, path = write_bundle(
        store.models_dir, bundle_tracks, embedding, centroids,
        settings={"default_mode": config.default_mode, "run_id": context.run.run_id},
        share_tracks_from=store.models_dir / previous if previous else None,
    )
    key = content_key(path)
    unchanged = previous is not None and previous != version and key is not None and content_key(store.models_dir / previous) == key
    if unchanged:
        context.log.info(f"built model {version}: same content as {previous} (tracks file shared)")
    else:
        context.log.info(f"built model {version} (not published yet)")
    storage.write_json({"version": version, "path": str(path), "content_key": key}, built_bundle_path(store))
    return dg.MaterializeResult(
        data_version=dg.DataVersion(key[:16]) if key else None,
        metadata={
            "version": version,
            "same_content_as": previous if unchanged else "",
            "path": dg.MetadataValue.path(str(path)),
            "dagster/row_count": len(bundle_tracks),
            "k": len(centroids),
            "default_mode": config.default_mode,
        }
    )
