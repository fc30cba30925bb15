"""Everything Dagster loads: assets, checks, resources, jobs, schedules, sensors.
Resources and the engine of the heavy stages are chosen here, from the environment."""

from __future__ import annotations

import dagster as dg

from music_assets.assets.ann_index import ann_index
from music_assets.assets.chart_rows import chart_rows
from music_assets.assets.cluster_k import cluster_k
from music_assets.assets.model_quality import model_quality
from music_assets.assets.model_retention import model_retention
from music_assets.assets.pictures import catalog_pictures, model_pictures
from music_assets.assets.published_model import published_model
from music_assets.assets.recommender_model import recommender_model
from music_assets.assets.track_clusters import track_clusters
from music_assets.assets.track_embedding import track_embedding
from music_assets.assets.track_features import track_features
from music_assets.assets.tracks import tracks
from music_assets.assets.unique_tracks import unique_tracks
from music_assets.automation import ALL_JOBS, ALL_SCHEDULES, ALL_SENSORS, music_adviser_job
from music_assets.checks import ALL_CHECKS
from music_assets.engine import Engine, assets_for, engine_from_env, engine_resources
from music_assets.resources import DataStore, SourceResource, default_data_dir

ALL_ASSETS = [
    chart_rows, unique_tracks, track_features, tracks,
    track_embedding, cluster_k, track_clusters, recommender_model, ann_index,
    model_quality, model_pictures, catalog_pictures, published_model, model_retention,
]

__all__ = ["ALL_ASSETS", "ALL_CHECKS", "build_definitions", "build_resources", "defs", "music_adviser_job"]


def build_resources(data_dir: str | None = None, engine: Engine | None = None) -> dict[str, dg.ConfigurableResource]:
    return {"store": DataStore(data_dir=data_dir or default_data_dir()), "source": SourceResource.from_env(),
            **engine_resources(engine or engine_from_env())}


def build_definitions(engine: Engine | None = None, resources: dict[str, dg.ConfigurableResource] | None = None) -> dg.Definitions:
    """The code location for `engine` (default: $MUSIC_ADVISER_ENGINE, else local)."""
    engine = engine or engine_from_env()
    return dg.Definitions(
        assets=assets_for(engine, ALL_ASSETS), asset_checks=ALL_CHECKS, jobs=ALL_JOBS, schedules=ALL_SCHEDULES,
        sensors=ALL_SENSORS, resources=resources if resources is not None else build_resources(engine=engine),
    )


defs = build_definitions()
