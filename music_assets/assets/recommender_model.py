"""recommender_model: build the versioned bundle serving will load, without publishing it.

Publishing (replacing LATEST) is the job of published_model, after model_quality and
model_pictures have written quality.json and plots/ into the bundle and the blocking checks
passed: a run that fails anywhere leaves the previous model serving.
"""

import json
import os
from pathlib import Path

import dagster as dg

from music_assets.assets.track_clusters import centroids_path
from music_assets.assets.track_embedding import params_path
from music_assets.core import storage
from music_assets.core.bundle import TRACKS_FILE, content_key, write_bundle
from music_assets.core.model import Embedding
from music_assets.resources import DataStore


class PublishConfig(dg.Config):
    default_mode: str = "normal"  # used only until model_quality writes its measured winner


def built_bundle_path(store: DataStore) -> Path:
    """Where recommender_model records the version it built (the bundle is not published yet)."""
    return store.asset_path("recommender_model", ".json")


def _previous_build(store: DataStore) -> str | None:
    path = built_bundle_path(store)
    try:
        version = json.loads(path.read_text(encoding="utf-8"))["version"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    return version if (store.models_dir / version).is_dir() else None


def built_version(store: DataStore) -> str:
    path = built_bundle_path(store)
    if not path.exists():
        raise dg.Failure(f"{path} is missing: materialize recommender_model first")
    version = json.loads(path.read_text(encoding="utf-8"))["version"]
    if not (store.models_dir / version).is_dir():
        raise dg.Failure(f"bundle {version} recorded in {path} is missing from {store.models_dir}")
    return version


def _share_tracks_file(previous: Path, new: Path) -> None:
    """Replace new/tracks.parquet by a hard link to the identical file of `previous` (same checksum)."""
    tmp = new / f".{TRACKS_FILE}.link"
    try:
        os.link(previous / TRACKS_FILE, tmp)
        os.replace(tmp, new / TRACKS_FILE)
    except OSError:  # another filesystem or no hard links: keeping the copy is just as correct
        tmp.unlink(missing_ok=True)


@dg.asset(group_name="model", kinds={"parquet", "json"}, deps=["tracks", "track_embedding", "track_clusters"])
def recommender_model(context: dg.AssetExecutionContext, config: PublishConfig, store: DataStore) -> dg.MaterializeResult:
    """Write data/models/<version>/ (tracks + parameters as Parquet/JSON); published_model publishes it."""
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
    key = content_key(path)
    previous = _previous_build(store)
    unchanged = previous is not None and previous != version and key is not None and content_key(store.models_dir / previous) == key
    if unchanged:
        # Every run gets its own version (what it built and what it published stay traceable to the
        # run), but identical content shares the bytes of the previous build: a hard link, not a copy.
        _share_tracks_file(store.models_dir / previous, path)
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
