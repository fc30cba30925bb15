"""recommender_model: build a new model bundle (tracks + parameters); later steps finish it.

The output is a BundleRef (defs/bundle_io.py): ann_index, model_quality and model_pictures take
it as their input and add their files to that build, and published_model seals it (model.json
last) and replaces LATEST once the blocking checks passed. A run that fails anywhere leaves the
previous model serving and its own build unsealed, which no loader takes for a bundle.
"""

import warnings

import dagster as dg

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef, bundle_ref_io_manager
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import centroids, embedding_params
from music_assets.model import registry
from music_assets.model.bundle import build_bundle, content_key


class PublishConfig(dg.Config):
    default_mode: str = "normal"  # used only until model_quality writes its measured winner


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet", "json"}, deps=["tracks", "track_embedding", "track_clusters"],
          io_manager_def=bundle_ref_io_manager, owners=OWNERS, tags=tags("model"), code_version="1")
def recommender_model(context: dg.AssetExecutionContext, config: PublishConfig, store: DataStore) -> dg.Output[BundleRef]:
    """A new build in models/<version>/: one row per track (metadata, features, PCA coordinates,
    cluster) and the fitted scaler, PCA and centroids, as Parquet and JSON. Not published."""
    tracks = storage.read_parquet(store.asset_path("tracks"))
    coords = storage.read_parquet(store.asset_path("track_embedding"))
    clusters = storage.read_parquet(store.asset_path("track_clusters"))
    bundle_tracks = tracks.merge(coords, on="track_id", validate="one_to_one").merge(
        clusters, on="track_id", validate="one_to_one"
    )
    if len(bundle_tracks) != len(tracks):
        raise dg.Failure(f"{len(tracks)} tracks but {len(bundle_tracks)} with coordinates and a cluster: "
                         "rematerialize track_embedding and track_clusters")
    centers = centroids(store)
    published = registry.read_pointer(store.models_dir)
    # Every run gets its own version (what it built and what it published stay traceable to the
    # run), but a tracks file identical to the served model's shares its bytes: a hard link
    # locally, a server-side copy on an object store (nothing uploaded).
    version, path = build_bundle(
        store.models_dir, bundle_tracks, embedding_params(store), centers,
        settings={"default_mode": config.default_mode, "run_id": context.run.run_id},
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
            },
        )
