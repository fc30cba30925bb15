"""ann_index: an approximate nearest-neighbour index, added to the build before it is published.

It indexes the build recommender_model made in this run (its BundleRef input), so LATEST never
names a large bundle without its index. It adds ann_index.voy, ann_duplicates.parquet and
ann_index.json to that folder (model/ann.py) and never touches the tracks file; published_model's
seal records their checksums. Below `min_tracks` no index is built: exact search answers fast
enough there (benchmarks/ann.py measures where the index starts to pay).
"""

import time

import dagster as dg
import numpy as np

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef
from music_assets.defs.resources import DataStore
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, rounded, tags
from music_assets.model import ann
from music_assets.model.bundle import TRACKS_FILE, load_bundle


class AnnIndexConfig(dg.Config):
    min_tracks: int = 50_000  # below this, exact search is fast enough (benchmarks/ann.py)
    m: int = ann.AnnParams.m
    ef_construction: int = ann.AnnParams.ef_construction
    ef_search: int = ann.AnnParams.ef_search
    threads: int = -1  # -1: one per core


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"voyager", "parquet"}, owners=OWNERS, tags=tags("model"), code_version="1")
def ann_index(context: dg.AssetExecutionContext, config: AnnIndexConfig, recommender_model: BundleRef,
              store: DataStore) -> dg.MaterializeResult:
    """An HNSW graph (Spotify's Voyager) over the build's scaled features, for catalogs of at
    least `min_tracks` tracks, so recommendations stay fast at a million tracks."""
    del store  # asked for so that a run indexing alone also holds the data folder's lock
    path = recommender_model.folder
    bundle = load_bundle(path.parent, path.name, sealed=False)
    n = len(bundle.tracks)
    common = {"bundle_path": dg.MetadataValue.path(str(path)), "version": bundle.version,
              "dagster/row_count": n, "min_tracks": config.min_tracks}
    if n < config.min_tracks:
        context.log.info(f"{n:,} tracks < min_tracks={config.min_tracks:,}: no index, exact search")
        return dg.MaterializeResult(metadata={**common, "built": False})
    params = ann.AnnParams(m=config.m, ef_construction=config.ef_construction, ef_search=config.ef_search)
    t0 = time.perf_counter()
    written = ann.write_index(path, bundle.scaled, bundle.meta["files"][TRACKS_FILE], params, config.threads,
                              rows=np.flatnonzero(bundle.in_model))  # only the model's tracks are ever found
    build_s = time.perf_counter() - t0
    size = storage.size(path / ann.INDEX_FILE)
    context.log.info(f"ANN index over {written.n_indexed:,} distinct vectors of {n:,} tracks in {build_s:.1f} s")
    return dg.MaterializeResult(
        metadata={
            **common, "built": True, "library": f"{written.library} {written.library_version}",
            "distinct_vectors": written.n_indexed, "build_seconds": rounded(build_s, 2),
            "index_bytes": size, "params": dg.MetadataValue.json(params.__dict__),
            "index_path": dg.MetadataValue.path(str(path / ann.INDEX_FILE)),
        }
    )
