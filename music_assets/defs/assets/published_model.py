"""published_model: seal this run's build and point models/LATEST at it.

It runs only when every blocking check upstream passed (data on tracks, clusters, the quality
against the served model, the pictures): otherwise LATEST keeps naming the previous model.
"""

from datetime import timedelta

import dagster as dg

from music_assets.defs.bundle_io import BundleRef
from music_assets.defs.resources import DataStore
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, tags
from music_assets.model import registry
from music_assets.model.bundle import PLOT_FILES, PLOTS_DIR, QUALITY_FILE, BundleError, read_quality, seal_bundle
from music_assets import storage


@dg.asset(
    pool=DATA_FOLDER_POOL,
    group_name="model", kinds={"json"}, deps=["model_quality", "model_pictures", "ann_index", "hybrid_vectors"], owners=OWNERS,
    tags=tags("model"), code_version="2",
    # The daily schedule refreshes the model; a day and a half without a new one deserves a look.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36)),
)
def published_model(context: dg.AssetExecutionContext, recommender_model: BundleRef,
                    store: DataStore) -> dg.MaterializeResult:
    """Seal the build (model.json, with every file's checksum, written last), record the
    publication in the history, then replace LATEST (atomically) with it: from the next check on,
    every serving replica moves to it."""
    del store  # asked for so that a run publishing alone also holds the data folder's lock
    bundle_dir = recommender_model.folder
    missing = [name for name in (QUALITY_FILE, *(f"{PLOTS_DIR}/{p}" for p in PLOT_FILES))
               if not storage.exists(bundle_dir / name)]
    if missing:
        raise dg.Failure(f"model {recommender_model.version} is incomplete, not publishing: missing {', '.join(missing)}")
    try:
        meta = seal_bundle(bundle_dir)
    except BundleError as exc:
        raise dg.Failure(str(exc)) from exc
    models_dir = bundle_dir.parent
    previous = registry.read_pointer(models_dir)
    registry.publish_pointer(models_dir, recommender_model.version, run_id=context.run.run_id)
    winner = read_quality(bundle_dir).get("winner", "")
    context.log.info(f"published model {recommender_model.version} (previous: {previous}; default mode: {winner})")
    return dg.MaterializeResult(
        metadata={
            "version": recommender_model.version,
            "previous_version": previous or "",
            "default_mode": winner,
            "files": dg.MetadataValue.json(sorted(meta["files"])),
            "path": dg.MetadataValue.path(str(bundle_dir)),
        }
    )
