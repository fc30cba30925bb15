"""track_clusters: KMeans labels for every track, centroids beside them."""

from typing import Optional

import dagster as dg
import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.defs.stage_files import centroids_path, chosen_k
from music_assets.engines.base import EngineError


class ClusterConfig(dg.Config):
    seed: int = 0
    n_init: Optional[int] = None  # KMeans restarts (None: the engine's default)
    max_iter: Optional[int] = None  # iterations per restart (None: the engine's default)


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet"}, deps=["track_embedding", "cluster_k"], owners=OWNERS,
          tags=tags("model"), code_version="1")
def track_clusters(context: dg.AssetExecutionContext, config: ClusterConfig, store: DataStore,
                   engine: EngineResource) -> dg.MaterializeResult:
    """KMeans with the elbow's k on the PCA coordinates; clusters numbered by size (0 = largest)."""
    runner = engine.engine()
    k = chosen_k(store)
    path = store.asset_path("track_clusters")
    try:
        result = runner.fit_clusters(store.asset_path("track_embedding"), k, config.seed, config.n_init,
                                     config.max_iter, path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    pcs = [f"pc_{i + 1}" for i in range(result.centroids.shape[1])]
    storage.write_parquet(pd.DataFrame(result.centroids, columns=pcs).assign(cluster=np.arange(k)), centroids_path(store))
    context.log.info(f"KMeans k={k} ({runner.name}): cluster sizes {result.sizes}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path, k=k, inertia=rounded(result.inertia, 3), engine=runner.name,
            cluster_sizes=dg.MetadataValue.json(result.sizes),
            centroids_path=dg.MetadataValue.path(str(centroids_path(store))),
        )
    )
