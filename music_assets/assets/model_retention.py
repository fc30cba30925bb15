"""model_retention: delete old model versions after a publish, by the rule in core/retention.py.

Every run writes a new bundle (about 0.4 GB with its index at 1M tracks), so without pruning the
models folder or bucket grows without bound. This is an asset of its own, downstream of
published_model, rather than a step inside publishing:
- publishing stays one small act (replace LATEST); a deletion that fails (a bucket policy without
  DeleteObject, a network error) fails this asset, visibly, while the new model is already
  published and served, instead of making a served model look unpublished;
- it runs only after a successful publish (a failed blocking check skips it, so nothing is pruned
  while the previous model keeps serving);
- it can be re-run alone from the launchpad with other config (e.g. after lowering keep_previous).
Deletion goes through core/storage.py, so local folders and object stores are pruned alike.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from music_assets.core import storage
from music_assets.core.bundle import META_FILE
from music_assets.core.retention import versions_to_prune
from music_assets.resources import DataStore


class RetentionConfig(dg.Config):
    keep_previous: int = 3  # once-published versions kept before the published one, for rollback
    min_age_hours: float = 24.0  # younger versions always survive (a replica may still be reading one)


def delete_version(models_dir: storage.StorePath, version: str) -> None:
    """Delete a bundle, its model.json first: a bundle counts as one while model.json exists (it
    is written last), so a deletion cut short leaves a folder every loader refuses, never a bundle
    that looks complete but lacks files."""
    storage.remove_file(models_dir / version / META_FILE)
    storage.remove_tree(models_dir / version)


@dg.asset(group_name="model", deps=["published_model"])
def model_retention(context: dg.AssetExecutionContext, config: RetentionConfig, store: DataStore) -> dg.MaterializeResult:
    """Delete model versions older than the published one beyond the `keep_previous` newest, unless
    younger than `min_age_hours`; the published version, newer ones and rollback targets stay."""
    if config.keep_previous < 0 or config.min_age_hours < 0:
        raise dg.Failure(f"keep_previous and min_age_hours must be >= 0, got {config.keep_previous} and {config.min_age_hours}")
    models = store.models_dir
    names = storage.list_names(models)
    published = storage.read_pointer(models)
    history = storage.read_publications(models)
    doomed = versions_to_prune(
        names, published, config.keep_previous, datetime.now(timezone.utc), timedelta(hours=config.min_age_hours),
        ever_published=set(history["versions"]) if history else None,
        history_since=datetime.fromisoformat(history["since"]) if history and history.get("since") else None,
    )
    deleted, failed = [], {}
    for version in doomed:
        try:
            delete_version(models, version)
            deleted.append(version)
        except OSError as exc:  # keep going: one stuck version must not keep the others
            failed[version] = str(exc)
    kept = sorted(set(names) - set(deleted) - {storage.LATEST_POINTER, storage.PUBLISHED_HISTORY})
    context.log.info(f"retention: published {published}; deleted {len(deleted)} old version(s) {deleted}; "
                     f"{len(kept)} entries kept in {models}")
    if failed:
        raise dg.Failure(f"could not delete {len(failed)} old model version(s) from {models}: {failed}",
                         metadata={"deleted_versions": dg.MetadataValue.json(deleted)})
    return dg.MaterializeResult(metadata={
        "published_version": published or "",
        "deleted_versions": dg.MetadataValue.json(deleted),
        "deleted_count": len(deleted),
        "kept": dg.MetadataValue.json(kept),
        "keep_previous": config.keep_previous,
        "min_age_hours": dg.MetadataValue.float(config.min_age_hours),
        "models_dir": dg.MetadataValue.path(str(models)),
    })
