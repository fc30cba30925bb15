"""model_retention: delete old model versions after a publish, by the rule in model/retention.py.

Every run writes a new bundle (hundreds of MB with its index at a million tracks), so without pruning the
models folder or bucket grows without bound. This is an asset of its own, downstream of
published_model, rather than a step inside publishing:
- publishing stays one small act (replace LATEST); a deletion that fails (a bucket policy without
  DeleteObject, a network error) fails this asset, visibly, while the new model is already
  published and served, instead of making a served model look unpublished;
- it runs only after a successful publish (a failed blocking check skips it, so nothing is pruned
  while the previous model keeps serving);
- it can be re-run alone from the launchpad with other config (e.g. after lowering keep_previous).
Deletion goes through storage.py, so local folders and object stores are pruned alike. It also
removes crash leftovers (model/leftovers.py) older than the store's `leftover_age_hours`.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import META_FILE
from music_assets.model.leftovers import find_leftovers, remove_leftover
from music_assets.model.retention import versions_to_prune
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, rounded, tags
from music_assets.defs.resources import DataStore


class RetentionConfig(dg.Config):
    keep_previous: int = 3  # once-published versions kept before the published one, for rollback
    min_age_hours: float = 24.0  # younger versions always survive (a replica may still be reading one)


def delete_version(models_dir: storage.StorePath, version: str) -> None:
    """Delete a bundle, its model.json first: a bundle counts as one while model.json exists (it
    is written last), so a deletion cut short leaves a folder every loader refuses, never a bundle
    that looks complete but lacks files."""
    storage.remove_file(models_dir / version / META_FILE)
    storage.remove_tree(models_dir / version)


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"json"}, deps=["published_model"], owners=OWNERS, tags=tags("model"),
          code_version="2")
def model_retention(context: dg.AssetExecutionContext, config: RetentionConfig, store: DataStore) -> dg.MaterializeResult:
    """Delete model versions older than the published one beyond the `keep_previous` newest, unless
    built or served within `min_age_hours`; the published version, newer ones and rollback targets
    stay. Then remove crash leftovers older than the store's `leftover_age_hours`."""
    if config.keep_previous < 0 or config.min_age_hours < 0:
        raise dg.Failure(f"keep_previous and min_age_hours must be >= 0, got {config.keep_previous} and {config.min_age_hours}")
    models = store.models_dir
    names = storage.list_names(models)
    published = registry.read_pointer(models)
    history = registry.read_publications(models)
    now, min_age = datetime.now(timezone.utc), timedelta(hours=config.min_age_hours)
    doomed = versions_to_prune(
        names, published, config.keep_previous, now, min_age,
        ever_published=set(history["versions"]) if history else None,
        history_since=datetime.fromisoformat(history["since"]) if history and history.get("since") else None,
        served_recently=registry.served_since(registry.read_history(models), now - min_age),
    )
    deleted, failed = [], {}
    for version in doomed:
        try:
            delete_version(models, version)
            deleted.append(version)
        except OSError as exc:  # keep going: one stuck version must not keep the others
            failed[version] = str(exc)
    leftovers = find_leftovers(store.root, now, timedelta(hours=store.leftover_age_hours), published)
    removed = []
    for leftover in leftovers:
        try:
            remove_leftover(leftover)
            removed.append(f"{leftover.kind}: {leftover.path}")
        except OSError as exc:
            failed[str(leftover.path)] = str(exc)
    kept = sorted(set(storage.list_names(models)) - {registry.LATEST_POINTER, registry.PUBLISHED_HISTORY,
                                                     registry.PUBLISHED_DIR})
    context.log.info(f"retention: published {published}; deleted {len(deleted)} old version(s) {deleted}; "
                     f"removed {len(removed)} crash leftover(s) older than {store.leftover_age_hours:g} h {removed}; "
                     f"{len(kept)} entries kept in {models}")
    if failed:
        raise dg.Failure(f"could not delete {len(failed)} old model version(s) or leftover(s) from {models}: {failed}. "
                         "Check that this process may delete there (on a bucket: DeleteObject), then re-run model_retention",
                         metadata={"deleted_versions": dg.MetadataValue.json(deleted)})
    return dg.MaterializeResult(metadata={
        "published_version": published or "",
        "deleted_versions": dg.MetadataValue.json(deleted),
        "deleted_count": len(deleted),
        "leftovers_removed": dg.MetadataValue.json(removed),
        "leftover_age_hours": rounded(store.leftover_age_hours, 2),
        "kept": dg.MetadataValue.json(kept),
        "keep_previous": config.keep_previous,
        "min_age_hours": rounded(config.min_age_hours, 2),
        "models_dir": dg.MetadataValue.path(str(models)),
    })
