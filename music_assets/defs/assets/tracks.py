"""tracks: charted tracks joined with their features, deduplicated, imputed."""

import dagster as dg

from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.engines.base import EngineError


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="prepare", kinds={"parquet"}, deps=["unique_tracks", "track_features"], owners=OWNERS,
          tags=tags("prepare"), code_version="1")
def tracks(context: dg.AssetExecutionContext, store: DataStore, engine: EngineResource) -> dg.MaterializeResult:
    """One clean row per song: duplicates by id and by normalized title+artist removed (the
    survivor keeps the others as alias_ids), numeric gaps filled with the column mean, text with ""."""
    runner = engine.engine()
    path = store.asset_path("tracks")
    try:
        report = runner.clean_tracks(store.asset_path("unique_tracks"), store.asset_path("track_features"), path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    context.log.info(
        f"tracks ({runner.name}): {report.input_rows:,} in, {report.duplicate_songs:,} re-releases merged, "
        f"{report.tracks_without_features:,} without features, imputed share {report.imputed_share:.2%}"
    )
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            engine=runner.name,
            input_rows=report.input_rows,
            duplicate_ids_removed=report.duplicate_ids,
            duplicate_songs_removed=report.duplicate_songs,
            tracks_without_features=report.tracks_without_features,
            imputed_values=dg.MetadataValue.json(report.imputed_values),
            imputed_share=rounded(report.imputed_share),
        )
    )
