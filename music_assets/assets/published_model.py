"""published_model: point data/models/LATEST at the bundle this run built and evaluated.

Upstream blocking checks (data on tracks, clusters, quality against the serving model, pictures)
stop this step when they fail, so LATEST keeps pointing at the previous model.
"""

from datetime import timedelta

import dagster as dg

from music_assets.assets.pictures import MODEL_PLOTS
from music_assets.assets.recommender_model import built_version
from music_assets.core import storage
from music_assets.core.bundle import PLOTS_DIR, QUALITY_FILE, read_quality
from music_assets.resources import DataStore


@dg.asset(
    group_name="model", kinds={"json"}, deps=["model_quality", "model_pictures", "ann_index"],
    # The daily schedule refreshes the model; a day and a half without a new one deserves a look.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36)),
)
def published_model(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    """Replace LATEST (atomically) with the built bundle once it carries quality.json and its plots."""
    version = built_version(store)
    bundle_dir = store.models_dir / version
    missing = [name for name in (QUALITY_FILE, *(f"{PLOTS_DIR}/{p}" for p in MODEL_PLOTS))
               if not storage.exists(bundle_dir / name)]
    if missing:
        raise dg.Failure(f"model {version} is incomplete, not publishing: missing {', '.join(missing)}")
    previous = storage.read_pointer(store.models_dir)
    storage.publish_pointer(store.models_dir, version)
    winner = read_quality(bundle_dir).get("winner", "")
    context.log.info(f"published model {version} (previous: {previous}; default mode: {winner})")
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "previous_version": previous or "",
            "default_mode": winner,
            "path": dg.MetadataValue.path(str(bundle_dir)),
        }
    )
