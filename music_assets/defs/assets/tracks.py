"""tracks: charted tracks joined with their features, impossible values rejected, deduplicated."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.defs.stage_files import range_rejects_path
from music_assets.engines.base import EngineError
from music_assets.schema import FEATURE_REJECT_COLUMNS


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="prepare", kinds={"parquet"}, deps=["unique_tracks", "track_features"], owners=OWNERS,
          tags=tags("prepare"), code_version="2")
def tracks(context: dg.AssetExecutionContext, store: DataStore, engine: EngineResource) -> dg.MaterializeResult:
    """One clean row per recording: a feature value outside its documented range is rejected
    (missing, with a row in tracks_rejected.parquet), duplicates by id removed, title+artist twins
    merged only when they are the same recording (the survivor keeps the others as alias_ids).
    Nothing is imputed: missing values stay missing, text gaps become ""."""
    runner = engine.engine()
    path = store.asset_path("tracks")
    try:
        report = runner.clean_tracks(store.asset_path("unique_tracks"), store.asset_path("track_features"), path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    rejects_path = range_rejects_path(store)
    storage.write_parquet(report.rejects.loc[:, list(FEATURE_REJECT_COLUMNS)].reset_index(drop=True), rejects_path)
    context.log.info(
        f"tracks ({runner.name}): {report.input_rows:,} in, {report.output_rows:,} out, {report.duplicate_songs:,} "
        f"twins merged (same recording), {report.twins_kept:,} twins kept apart, {report.tracks_without_features:,} "
        f"without features ({report.featureless_share:.1%}), {len(report.rejects):,} values rejected"
        + (f" ({report.rejected_by_reason})" if len(report.rejects) else ""))
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            engine=runner.name,
            input_rows=report.input_rows,
            duplicate_ids_removed=report.duplicate_ids,
            duplicate_songs_removed=report.duplicate_songs,
            twins_kept_apart=report.twins_kept,
            tracks_without_features=report.tracks_without_features,
            featureless_share=rounded(report.featureless_share),
            missing_values=dg.MetadataValue.json(report.missing_values),
            values_rejected=len(report.rejects),
            rejected_by_reason=dg.MetadataValue.json(report.rejected_by_reason),
            rejects_path=dg.MetadataValue.path(str(rejects_path)),
        )
    )
