"""ann_index: an approximate nearest-neighbour index stored inside the model bundle folder.

Contract with the asset that writes the bundle (BUNDLE_ASSET, today `recommender_model`): its
materialization metadata carries `path`, the bundle folder `models/<version>/`. This asset adds
ann_index.voy, ann_duplicates.parquet and ann_index.json to that folder (core/ann.py) and never
touches tracks.parquet or model.json, so the bundle's checksums stay valid. Without that metadata
(e.g. only this asset materialized, in a fresh instance) it uses the bundle LATEST points to.
load_bundle picks the index up when it is present and matches the bundle; recommend then uses it.
Below `min_tracks` no index is built: exact search is fast enough there (README "Performance").
"""

import json
import time
from pathlib import Path

import dagster as dg

from music_assets.core import ann, storage
from music_assets.core.bundle import META_FILE, TRACKS_FILE, load_bundle
from music_assets.resources import DataStore

BUNDLE_ASSET = "recommender_model"


class AnnIndexConfig(dg.Config):
    min_tracks: int = 50_000  # below this, exact search answers in under a millisecond
    m: int = ann.AnnParams.m
    ef_construction: int = ann.AnnParams.ef_construction
    ef_search: int = ann.AnnParams.ef_search
    threads: int = -1  # -1: one per core


def bundle_dir(context: dg.AssetExecutionContext, store: DataStore) -> Path:
    """The folder of the bundle BUNDLE_ASSET last wrote (its `path` metadata), else LATEST's."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(BUNDLE_ASSET))
    materialization = event.asset_materialization if event is not None else None
    entry = materialization.metadata.get("path") if materialization is not None else None
    if entry is not None and Path(str(entry.value)).is_dir():
        return Path(str(entry.value))
    version = storage.read_pointer(store.models_dir)
    if not version:
        raise dg.Failure(f"no model bundle to index: {BUNDLE_ASSET} has no `path` metadata and "
                         f"{store.models_dir} has no LATEST pointer; materialize {BUNDLE_ASSET} first")
    return store.models_dir / version


@dg.asset(group_name="model", kinds={"voyager", "parquet"}, deps=[BUNDLE_ASSET])
def ann_index(context: dg.AssetExecutionContext, config: AnnIndexConfig, store: DataStore) -> dg.MaterializeResult:
    """An HNSW graph (Spotify's Voyager) over the bundle's scaled features, for catalogs of at
    least `min_tracks` tracks, so recommendations stay sub-millisecond at a million tracks."""
    path = bundle_dir(context, store)
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    n = int(meta["n_tracks"])
    common = {"bundle_path": dg.MetadataValue.path(str(path)), "version": path.name,
              "dagster/row_count": n, "min_tracks": config.min_tracks}
    if n < config.min_tracks:
        context.log.info(f"{n:,} tracks < min_tracks={config.min_tracks:,}: no index, exact search")
        return dg.MaterializeResult(metadata={**common, "built": False})
    bundle = load_bundle(path.parent, path.name)
    params = ann.AnnParams(m=config.m, ef_construction=config.ef_construction, ef_search=config.ef_search)
    t0 = time.perf_counter()
    written = ann.write_index(path, bundle.scaled, meta["files"][TRACKS_FILE], params, config.threads)
    build_s = time.perf_counter() - t0
    size = (path / ann.INDEX_FILE).stat().st_size
    context.log.info(f"ANN index over {written.n_indexed:,} distinct vectors of {n:,} tracks in {build_s:.1f} s")
    return dg.MaterializeResult(
        metadata={
            **common, "built": True, "library": f"{written.library} {written.library_version}",
            "distinct_vectors": written.n_indexed, "build_seconds": dg.MetadataValue.float(round(build_s, 2)),
            "index_bytes": size, "params": dg.MetadataValue.json(params.__dict__),
            "index_path": dg.MetadataValue.path(str(path / ann.INDEX_FILE)),
        }
    )
