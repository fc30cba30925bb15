"""Everything Dagster loads: assets, resources, jobs. Resources are chosen here, from the environment."""

from __future__ import annotations

import dagster as dg

from music_assets.assets.chart_rows import chart_rows
from music_assets.assets.cluster_k import cluster_k
from music_assets.assets.recommender_model import recommender_model
from music_assets.assets.track_clusters import track_clusters
from music_assets.assets.track_embedding import track_embedding
from music_assets.assets.track_features import track_features
from music_assets.assets.tracks import tracks
from music_assets.assets.unique_tracks import unique_tracks
from music_assets.resources import DataStore, SourceResource, default_data_dir

ALL_ASSETS = [
    chart_rows, unique_tracks, track_features, tracks,
    track_embedding, cluster_k, track_clusters, recommender_model,
]

# The graph is a chain, so separate processes per step would only add start-up time.
music_adviser_job = dg.define_asset_job(
    "music_adviser_job", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor,
    description="Refresh everything: chart rows -> features -> clean tracks -> model -> published bundle.",
)


def build_resources(data_dir: str | None = None) -> dict[str, dg.ConfigurableResource]:
    return {"store": DataStore(data_dir=data_dir or default_data_dir()), "source": SourceResource.from_env()}


defs = dg.Definitions(assets=ALL_ASSETS, jobs=[music_adviser_job], resources=build_resources())
