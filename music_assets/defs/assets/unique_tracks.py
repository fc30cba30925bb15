"""unique_tracks: one row per track id with its chart history (or, without charts, the catalog's tracks)."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, tags
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.engines.base import EngineError
from music_assets.ingest.charts.unique import catalog_unique_tracks
from music_assets.ingest.features.files import FeaturesFileError


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="ingest", kinds={"parquet"}, deps=["chart_rows"], owners=OWNERS, tags=tags("ingest"),
          code_version="1")
def unique_tracks(context: dg.AssetExecutionContext, store: DataStore, engine: EngineResource,
                  source: SourceResource) -> dg.MaterializeResult:
    """Chart rows collapsed per track id: title, artist, first/last date, appearances, regions,
    best rank, total streams (aggregated out of core: DuckDB locally, Spark SQL on Spark).
    A source without charts (a catalog alone) gives the catalog's tracks, their popularity (where
    the file has one) in `chart_appearances`, the column search and fallbacks rank by."""
    src = source.open()
    path = store.asset_path("unique_tracks")
    if not getattr(src, "has_charts", True):
        try:
            catalog = src.catalog_tracks()  # type: ignore[attr-defined]
        except FeaturesFileError as exc:
            raise dg.Failure(str(exc)) from None
        table, popularity = catalog_unique_tracks(catalog)
        storage.write_parquet(table, path)
        context.log.info(f"unique tracks: {table.num_rows:,} from the catalog (no charts); popularity: {popularity}")
        return dg.MaterializeResult(metadata=parquet_metadata(path, source=source.kind, tracks_from="catalog (no charts)",
                                                              popularity_from=popularity))
    runner = engine.engine()
    try:
        runner.unique_tracks(store.asset_path("chart_rows"), path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    return dg.MaterializeResult(metadata=parquet_metadata(path, source=source.kind, engine=runner.name,
                                                          tracks_from="chart rows"))
