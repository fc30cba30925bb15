"""The retention rule for old model versions: the pure rule, then the model_retention asset
applying it through Dagster to a models folder on a local disk and on an object store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from music_assets.core import storage
from music_assets.core.bundle import META_FILE, TRACKS_FILE, new_version
from music_assets.core.retention import version_time, versions_to_prune
from tests.conftest import materialize_demo

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def day(n: int) -> str:
    """A real version name built n days before NOW."""
    return new_version(f"{n:08x}" * 8, NOW - timedelta(days=n))


def test_version_names_round_trip_their_build_time() -> None:
    built = NOW - timedelta(hours=5, microseconds=17)
    assert version_time(new_version("ab" * 32, built)) == built
    for not_a_version in ("LATEST", ".tmp-123", "notes", "2026-11-25", "20261125T120000000000Z"):
        assert version_time(not_a_version) is None


def test_keeps_published_newer_and_the_newest_previous() -> None:
    names = [day(n) for n in range(10)] + ["LATEST", ".v.tmp-1-abc"]
    published = day(3)  # days 0..2 are newer builds (in flight, or not published by their checks)
    pruned = versions_to_prune(names, published, keep_previous=2, now=NOW, min_age=timedelta(hours=1))
    assert pruned == [day(n) for n in (9, 8, 7, 6)]  # oldest first; 5 and 4 kept for rollback


def test_young_versions_survive_even_beyond_keep() -> None:
    names = [new_version("cd" * 32, NOW - timedelta(minutes=m)) for m in (1, 2, 3, 90)]
    published = names[0]
    pruned = versions_to_prune(names, published, keep_previous=0, now=NOW, min_age=timedelta(minutes=30))
    assert pruned == [names[3]]


def test_builds_never_published_take_no_rollback_slot() -> None:
    names = [day(n) for n in range(10)]
    published = day(3)
    pruned = versions_to_prune(names, published, keep_previous=2, now=NOW, min_age=timedelta(hours=1),
                               ever_published={day(3), day(5), day(8)}, history_since=NOW - timedelta(days=30))
    assert pruned == [day(n) for n in (9, 7, 6, 4)]  # 5 and 8 were served once: the rollback targets


def test_versions_older_than_the_history_count_as_once_published() -> None:
    names = [day(n) for n in range(10)]
    pruned = versions_to_prune(names, day(3), keep_previous=2, now=NOW, min_age=timedelta(hours=1),
                               ever_published={day(3)}, history_since=NOW - timedelta(days=6, hours=12))
    assert pruned == [day(n) for n in (9, 6, 5, 4)]  # 7 and 8 predate the history: kept as targets


def test_nothing_pruned_without_a_published_version() -> None:
    names = [day(n) for n in range(5)]
    assert versions_to_prune(names, None, keep_previous=0, now=NOW, min_age=timedelta(0)) == []
    assert versions_to_prune(names, "garbage", keep_previous=0, now=NOW, min_age=timedelta(0)) == []
    with pytest.raises(ValueError, match="keep_previous"):
        versions_to_prune(names, day(0), keep_previous=-1, now=NOW, min_age=timedelta(0))


# -- the model_retention asset: the rule applied to a real models folder, local or object store ----


def fake_bundle(models, version: str) -> None:
    """A bundle folder as the pipeline leaves it: several files, one in a subfolder."""
    for name in (TRACKS_FILE, "quality.json", "plots/elbow.png", META_FILE):
        storage.write_bytes(b"x", models / version / name)


def retention(data_root, keep_previous: int, min_age_hours: float):
    result = materialize_demo(data_root, selection=["model_retention"], run_config={
        "ops": {"model_retention": {"config": {"keep_previous": keep_previous, "min_age_hours": min_age_hours}}}})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization.metadata


def test_retention_asset_deletes_only_old_versions_beyond_the_rollback_targets(data_root) -> None:
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    versions = [new_version(f"{n:08x}" * 8, now - timedelta(days=n)) for n in range(7)]
    for v in versions:
        fake_bundle(models, v)
    storage.write_text("a user's note", models / "notes.txt")
    fake_bundle(models, ".staging-abc")  # a crashed write's leftovers are not versions
    storage.publish_pointer(models, versions[2])  # versions[0:2] are newer builds (e.g. a run in flight)

    meta = retention(data_root, keep_previous=2, min_age_hours=1)
    assert meta["deleted_versions"].value == [versions[6], versions[5]]
    assert meta["published_version"].value == versions[2] and meta["deleted_count"].value == 2
    left = storage.list_names(models)
    assert set(versions[:5]) <= set(left) and not {versions[5], versions[6]} & set(left)
    assert {"notes.txt", ".staging-abc", storage.LATEST_POINTER} <= set(left)
    assert storage.read_pointer(models) == versions[2]
    for v in versions[2:5]:  # the published bundle and its rollback targets are whole
        assert storage.read_bytes(models / v / "plots" / "elbow.png") == b"x"

    meta = retention(data_root, keep_previous=0, min_age_hours=36)  # day 3 and 4 are older than 36 h
    assert meta["deleted_versions"].value == [versions[4], versions[3]]
    assert storage.exists(models / versions[2] / META_FILE)  # the published one, never


def test_retention_asset_spares_young_versions_and_does_nothing_without_a_publish(data_root) -> None:
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    versions = [new_version("ab" * 32, now - timedelta(minutes=m)) for m in (1, 10, 20, 120)]
    for v in versions:
        fake_bundle(models, v)
    assert retention(data_root, keep_previous=0, min_age_hours=0)["deleted_versions"].value == []  # no LATEST
    storage.publish_pointer(models, versions[0])
    meta = retention(data_root, keep_previous=0, min_age_hours=0.5)
    assert meta["deleted_versions"].value == [versions[3]]  # 10 and 20 minutes old: still young
    assert set(versions[:3]) <= set(storage.list_names(models))


def test_publishing_records_history_and_retention_prunes_failed_builds_first(data_root) -> None:
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    served, failed, current = ([new_version(f"{n:08x}" * 8, now - timedelta(days=n)) for n in ns]
                               for ns in ((6, 5, 4), (3, 2), (1,)))
    for v in (*served, *failed, *current):
        fake_bundle(models, v)
    for v in (*served, *current):  # the failed builds stopped at their checks: never published
        storage.publish_pointer(models, v)
    storage.publish_pointer(models, current[0])  # publishing again records nothing new
    history = storage.read_publications(models)
    assert history["versions"] == [*served, *current]
    history["since"] = (now - timedelta(days=30)).isoformat()  # as if recorded all along
    storage.write_json(history, models / storage.PUBLISHED_HISTORY)

    meta = retention(data_root, keep_previous=2, min_age_hours=1)
    assert meta["deleted_versions"].value == [served[0], *failed]  # oldest first
    left = set(storage.list_names(models))
    assert {served[1], served[2], current[0], storage.PUBLISHED_HISTORY} <= left
    assert storage.PUBLISHED_HISTORY not in meta["kept"].value
