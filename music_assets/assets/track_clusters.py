"""track_clusters: KMeans labels for every track, centroids beside them."""

import dagster as dg
import numpy as np
import pandas as pd

from music_assets.assets.cluster_k import chosen_k, pc_columns
from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.model import fit_clusters
from music_assets.resources import DataStore


class ClusterConfig(dg.Config):
    seed: int = 0


def centroids_path(store: DataStore) -> storage.StorePath:
    return store.asset_path("track_clusters_centroids")


@dg.asset(group_name="model", kinds={"parquet", "scikitlearn"}, deps=["track_embedding", "cluster_k"])
def track_clusters(context: dg.AssetExecutionContext, config: ClusterConfig, store: DataStore) -> dg.MaterializeResult:
    """KMeans with the elbow's k on the PCA coordinates; clusters numbered by size (0 = largest)."""
    k = chosen_k(store)
    emb = storage.read_parquet(store.asset_path("track_embedding"))
    pcs = pc_columns(list(emb.columns))
    result = fit_clusters(emb.loc[:, pcs].to_numpy(), k, config.seed)
    path = storage.write_parquet(pd.DataFrame({"track_id": emb["track_id"], "cluster": result.labels}),
                                 store.asset_path("track_clusters"))
    centroids = pd.DataFrame(result.centroids, columns=pcs).assign(cluster=np.arange(k))
    storage.write_parquet(centroids, centroids_path(store))
    sizes = np.bincount(result.labels, minlength=k)
    context.log.info(f"KMeans k={k}: cluster sizes {sizes.tolist()}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path, k=k, inertia=result.inertia,
            cluster_sizes=dg.MetadataValue.json(sizes.tolist()),
            centroids_path=dg.MetadataValue.path(str(centroids_path(store))),
        )
    )
