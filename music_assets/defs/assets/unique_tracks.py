"""unique_tracks: one row per track id with its chart history."""

import dagster as dg

from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.engines.base import EngineError


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="ingest", kinds={"parquet"}, deps=["chart_rows"], owners=OWNERS, tags=tags("ingest"),
          code_version="1")
def unique_tracks(store: DataStore, engine: EngineResource) -> dg.MaterializeResult:
    """Chart rows collapsed per track id: title, artist, first/last date, appearances, regions,
    best rank, total streams (aggregated out of core: DuckDB locally, Spark SQL on Spark)."""
    runner = engine.engine()
    path = store.asset_path("unique_tracks")
    try:
        runner.unique_tracks(store.asset_path("chart_rows"), path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    return dg.MaterializeResult(metadata=parquet_metadata(path, engine=runner.name))
