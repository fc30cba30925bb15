"""unique_tracks: one row per track id with its chart history."""

import dagster as dg

from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.charts import unique_tracks_from_parquet
from music_assets.resources import DataStore


@dg.asset(group_name="ingest", kinds={"parquet", "duckdb"}, deps=["chart_rows"])
def unique_tracks(store: DataStore) -> dg.MaterializeResult:
    """Chart rows collapsed per track id: title, artist, first/last date, appearances, regions,
    best rank, total streams (aggregated out of core by DuckDB)."""
    path = store.asset_path("unique_tracks")
    storage.write_parquet(unique_tracks_from_parquet(store.asset_path("chart_rows")), path)
    return dg.MaterializeResult(metadata=parquet_metadata(path))
