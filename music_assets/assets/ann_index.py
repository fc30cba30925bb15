"""ann_index: an approximate nearest-neighbour index stored inside the model bundle folder.

It indexes the bundle recommender_model built (the same record published_model publishes), before
publication, so LATEST never names a large bundle without its index. This asset adds
ann_index.voy, ann_duplicates.parquet and ann_index.json to that folder (core/ann.py) and never
touches tracks.parquet or model.json, so the bundle's checksums stay valid. Without a build record
(only the models folder at hand) it indexes the bundle LATEST points to.
load_bundle picks the index up when it is present and matches the bundle; recommend then uses it.
Below `min_tracks` no index is built: exact search is fast enough there (README "Performance").
"""

import time

import dagster as dg

from music_assets.core import ann, storage
from music_assets.core.bundle import META_FILE, TRACKS_FILE, load_bundle
from music_assets.assets.recommender_model import built_version
from music_assets.resources import DataStore

BUNDLE_ASSET = "recommender_model"


class AnnIndexConfig(dg.Config):
    min_tracks: int = 50_000  # below this, exact search answers in under a millisecond
    m: int = ann.AnnParams.m
    ef_construction: int = ann.AnnParams.ef_construction
    ef_search: int = ann.AnnParams.ef_search
    threads: int = -1  # -1: one per core


def bundle_dir(store: DataStore) -> storage.StorePath:
    """The bundle recommender_model last built (not yet published), else the one LATEST names."""
    try:
        return store.models_dir / built_version(store)
    except dg.Failure:
        version = storage.read_pointer(store.models_dir)
        if not version:
            raise dg.Failure(f"no model bundle to index: materialize {BUNDLE_ASSET} first") from None
        return store.models_dir / version


@dg.asset(group_name="model", kinds={"voyager", "parquet"}, deps=[BUNDLE_ASSET])
def ann_index(context: dg.AssetExecutionContext, config: AnnIndexConfig, store: DataStore) -> dg.MaterializeResult:
    """An HNSW graph (Spotify's Voyager) over the bundle's scaled features, for catalogs of at
    least `min_tracks` tracks, so recommendations stay sub-millisecond at a million tracks."""
    path = bundle_dir(store)
    meta = storage.read_json(path / META_FILE)
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
    size = storage.size(path / ann.INDEX_FILE)
    context.log.info(f"ANN index over {written.n_indexed:,} distinct vectors of {n:,} tracks in {build_s:.1f} s")
    return dg.MaterializeResult(
        metadata={
            **common, "built": True, "library": f"{written.library} {written.library_version}",
            "distinct_vectors": written.n_indexed, "build_seconds": dg.MetadataValue.float(round(build_s, 2)),
            "index_bytes": size, "params": dg.MetadataValue.json(params.__dict__),
            "index_path": dg.MetadataValue.path(str(path / ann.INDEX_FILE)),
        }
    )
