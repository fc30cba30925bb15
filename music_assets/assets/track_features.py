"""track_features: audio features, genres, preview and cover URLs, fetched incrementally."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.features_store import merge_fetched, ids_to_fetch
from music_assets.resources import DataStore, SourceResource


@dg.asset(group_name="ingest", kinds={"parquet", "pandas"}, deps=["unique_tracks"])
def track_features(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource) -> dg.MaterializeResult:
    """Features for every charted track. Ids fetched by an earlier run (found or not) are kept
    and not asked for again, so a refresh only pays for new tracks."""
    src = source.open()
    path = store.asset_path("track_features")
    wanted = storage.read_parquet(store.asset_path("unique_tracks"), columns=["track_id"])["track_id"]
    known = storage.read_parquet(path) if path.exists() else None
    todo = ids_to_fetch(wanted, known, src.name)
    context.log.info(f"track features: {len(wanted):,} tracks, {len(todo):,} to fetch from {src.name}")
    fetched = src.fetch_features(todo, context.log.info) if todo else pd.DataFrame()
    merged = merge_fetched(known, fetched, todo, src.name, datetime.now(timezone.utc))
    storage.write_parquet(merged, path)
    found = int(merged["found"].sum())
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            source=src.name,
            fetched_this_run=len(todo),
            reused_from_earlier_runs=len(wanted) - len(todo),
            found=found,
            not_found=len(merged) - found,
        )
    )
