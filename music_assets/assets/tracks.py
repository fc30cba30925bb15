"""tracks: charted tracks joined with features, deduplicated, imputed."""

import dagster as dg

from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.cleaning import CleaningReport, clean_tracks
from music_assets.core.schema import TRACK_FEATURE_COLUMNS
from music_assets.resources import DataStore


@dg.asset(group_name="prepare", kinds={"parquet", "pandas"}, deps=["unique_tracks", "track_features"])
def tracks(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    """One clean row per song: duplicates by id and by normalized title+artist removed (the
    survivor keeps the others as alias_ids), numeric gaps filled with the column mean, text with ""."""
    unique = storage.read_parquet(store.asset_path("unique_tracks"))
    features = storage.read_parquet(store.asset_path("track_features"), columns=list(TRACK_FEATURE_COLUMNS))
    clean, report = clean_tracks(unique, features)
    path = storage.write_parquet(clean, store.asset_path("tracks"))
    return cleaning_result(context, path, report)


def cleaning_result(context: dg.AssetExecutionContext, path: storage.StorePath, report: CleaningReport,
                    engine: str = "") -> dg.MaterializeResult:
    """The log line and metadata of a `tracks` materialization, the same on every engine."""
    label = f"tracks ({engine})" if engine else "tracks"
    context.log.info(
        f"{label}: {report.input_rows:,} in, {report.duplicate_songs:,} re-releases merged, "
        f"{report.tracks_without_features:,} without features, imputed share {report.imputed_share:.2%}"
    )
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            **({"engine": engine} if engine else {}),
            input_rows=report.input_rows,
            duplicate_ids_removed=report.duplicate_ids,
            duplicate_songs_removed=report.duplicate_songs,
            tracks_without_features=report.tracks_without_features,
            imputed_values=dg.MetadataValue.json(report.imputed_values),
            imputed_share=dg.MetadataValue.float(report.imputed_share),
        )
    )
