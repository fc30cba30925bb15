"""track_features: audio features, genres, preview and cover URLs, fetched incrementally."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, markdown_table, parquet_metadata, rounded, tags
from music_assets import storage
from music_assets.ingest.features.store import (
    Progress, checkpoint_dir, checkpoint_rows, clear_checkpoints, ids_to_fetch, load_store, merge_fetched,
    write_checkpoint,
)
from music_assets.ingest.charts.rows import MissingColumnsError
from music_assets.ingest.features.files import FeaturesFileError
from music_assets.ingest.layouts.choose import INPUT_ERRORS
from music_assets.spotify.http import QuotaExceeded, RetryLater, SpotifySourceError
from music_assets.defs.resources import DataStore, SourceResource
from music_assets.defs.stage_files import parse_rejects_path

LONG_WAIT_RETRIES = 3  # run-level retries after a long 429 Retry-After


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="ingest", kinds={"parquet"}, deps=["unique_tracks"], owners=OWNERS, tags=tags("ingest"),
          code_version="1")
def track_features(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource) -> dg.MaterializeResult:
    """Features for every charted track. Ids fetched by an earlier run (found or not) are kept
    and not asked for again, so a refresh only pays for new tracks. A long fetch is checkpointed
    every `checkpoint_every` batches (and on failure), so a killed or failed run, restarted,
    refetches nothing it already had."""
    src = source.open()
    path = store.asset_path("track_features")
    parts = checkpoint_dir(path)
    wanted = storage.read_parquet(store.asset_path("unique_tracks"), columns=["track_id"])["track_id"]
    resumed = checkpoint_rows(parts)
    known = load_store(path, parts)
    todo = ids_to_fetch(wanted, known, src.name)
    context.log.info(f"track features: {len(wanted):,} tracks, {len(todo):,} to fetch from {src.name}"
                     + (f" ({resumed:,} recovered from an interrupted run's checkpoints)" if resumed else ""))
    progress = Progress(len(todo))
    pending: list[tuple[list[str], pd.DataFrame]] = []

    def flush() -> None:
        if pending:
            asked = [i for ids, _ in pending for i in ids]
            frames = [f for _, f in pending if not f.empty]
            fetched = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            write_checkpoint(parts, merge_fetched(None, fetched, asked, src.name, datetime.now(timezone.utc)))
            pending.clear()
            context.log.info(f"track features: checkpoint, {progress.line()}")

    def batches():
        """Sources that fetch over the network yield batches (checkpointed); local ones answer at once."""
        iter_features = getattr(src, "iter_features", None)
        if iter_features:
            yield from iter_features(todo, context.log.info)
        elif todo:
            yield todo, src.fetch_features(todo, context.log.info)

    try:
        try:
            for asked, frame in batches():
                pending.append((asked, frame))
                progress.add(len(asked))
                if len(pending) >= source.checkpoint_every:
                    flush()
        finally:
            flush()  # what completed before a failure is kept, so a restart does not refetch it
    except RetryLater as exc:
        context.log.warning(f"track features: {exc}; progress checkpointed, asking Dagster to retry the run")
        raise dg.RetryRequested(max_retries=LONG_WAIT_RETRIES, seconds_to_wait=exc.seconds) from exc
    except QuotaExceeded as exc:
        raise dg.Failure(description=f"stopped: {exc}") from None
    except (SpotifySourceError, MissingColumnsError, FeaturesFileError, *INPUT_ERRORS) as exc:
        raise dg.Failure(description=f"track features: {exc}") from None

    extra = parse_rejects_metadata(context, src, store)
    merged = load_store(path, parts)
    if merged is None:
        merged = merge_fetched(None, pd.DataFrame(), [], src.name, datetime.now(timezone.utc))
    storage.write_parquet(merged, path)
    clear_checkpoints(parts)
    found = int(merged["found"].sum())
    report = getattr(src, "metadata", None)
    if report:
        paths = report()
        context.log.info(f"track features: paths used: {paths}")
        extra |= {"source_paths": dg.MetadataValue.json(paths),
                 "api_calls": dg.MetadataValue.int(paths["api_calls_total"])}
        if paths["api_calls_per_1000_tracks"] is not None:
            extra["api_calls_per_1000_tracks"] = rounded(paths["api_calls_per_1000_tracks"], 1)
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            source=source.kind,
            fetched_this_run=len(todo),
            recovered_from_checkpoint=resumed,
            reused_from_earlier_runs=len(wanted) - len(todo),
            found=found,
            not_found=len(merged) - found,
            **extra,
        )
    )


def parse_rejects_metadata(context: dg.AssetExecutionContext, src: object, store: DataStore) -> dict[str, object]:
    """The files source's parse rejects (values that could not be read, now missing) written to
    track_features_rejected.parquet beside the output, counted by reason in the metadata with a
    few examples; and what was understood of each file (layout, mapping, roles)."""
    rejects_of = getattr(src, "feature_rejects", None)
    if rejects_of is None:
        return {}
    try:
        rejects = rejects_of()
        understood = src.features_understood()  # type: ignore[attr-defined]
    except FeaturesFileError as exc:
        raise dg.Failure(description=f"track features: {exc}") from None
    rejected_path = parse_rejects_path(store)
    storage.write_parquet(rejects, rejected_path)
    reasons = {str(k): int(v) for k, v in rejects["reason"].value_counts().items()} if len(rejects) else {}
    for item in understood:
        context.log.info(f"track features: understood {item}")
    if reasons:
        context.log.warning(f"track features: {len(rejects):,} values could not be read (now missing), kept in "
                            f"{rejected_path}: {reasons}")
    return {"parse_rejects": len(rejects), "parse_reject_reasons": dg.MetadataValue.json(reasons),
            "parse_rejects_path": dg.MetadataValue.path(str(rejected_path)),
            "parse_reject_sample": markdown_table(rejects.head(10), rows=10),
            "layouts_understood": dg.MetadataValue.json(understood)}
