"""The retention rule for old model versions: the pure rule, then the model_retention asset
applying it through Dagster to a models folder on a local disk and on an object store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import META_FILE, TRACKS_FILE, new_version
from music_assets.model.retention import version_time, versions_to_prune
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
    registry.publish_pointer(models, versions[2])  # versions[0:2] are newer builds (e.g. a run in flight)

    meta = retention(data_root, keep_previous=2, min_age_hours=1)
    assert meta["deleted_versions"].value == [versions[6], versions[5]]
    assert meta["published_version"].value == versions[2] and meta["deleted_count"].value == 2
    left = storage.list_names(models)
    assert set(versions[:5]) <= set(left) and not {versions[5], versions[6]} & set(left)
    assert {"notes.txt", ".staging-abc", registry.LATEST_POINTER} <= set(left)
    assert registry.read_pointer(models) == versions[2]
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
    registry.publish_pointer(models, versions[0])
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
    for v in served:  # each served for a day, an hour after it was built; the failed builds never
        registry.record_publication(models, v, at=version_time(v) + timedelta(hours=1))
    registry.publish_pointer(models, current[0])
    assert registry.read_publications(models)["versions"] == [*served, *current]
    registry.publish_pointer(models, current[0])  # published again: one more record, no new version
    assert registry.read_publications(models)["versions"] == [*served, *current]
    assert len(storage.list_names(models / registry.PUBLISHED_DIR)) == 5

    meta = retention(data_root, keep_previous=2, min_age_hours=1)
    assert meta["deleted_versions"].value == [served[0], *failed]  # oldest first
    left = set(storage.list_names(models))
    assert {served[1], served[2], current[0], registry.PUBLISHED_DIR} <= left
    assert registry.PUBLISHED_DIR not in meta["kept"].value


def test_a_version_served_within_the_window_is_kept_however_old_its_build(data_root) -> None:
    """A week-old build that LATEST named until ten minutes ago may still be what a replica
    serves: it stays for min_age_hours after it stopped being served, rollback slot or not."""
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    old, rolled_back_from, current = (new_version(f"{n:08x}" * 8, now - timedelta(days=n)) for n in (9, 8, 7))
    for v in (old, rolled_back_from, current):
        fake_bundle(models, v)
    registry.record_publication(models, old, at=now - timedelta(days=8))
    registry.record_publication(models, rolled_back_from, at=now - timedelta(hours=3))
    registry.publish_pointer(models, current)  # replaced it just now
    meta = retention(data_root, keep_previous=0, min_age_hours=1)
    assert meta["deleted_versions"].value == [old]  # rolled_back_from was served within the hour
    meta = retention(data_root, keep_previous=0, min_age_hours=0)  # no window: only LATEST is safe
    assert meta["deleted_versions"].value == [rolled_back_from]
    assert registry.read_pointer(models) == current and storage.exists(models / current / META_FILE)


def test_retention_keeps_what_latest_names_whatever_the_history_says(data_root) -> None:
    """A history that lost LATEST's version (or names only other ones, or is unreadable) never
    makes retention delete the served model."""
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    versions = [new_version(f"{n:08x}" * 8, now - timedelta(days=n)) for n in (1, 5, 9)]
    for v in versions:
        fake_bundle(models, v)
    served = versions[1]
    storage.write_text(served + "\n", models / registry.LATEST_POINTER)  # published with no record at all
    registry.record_publication(models, versions[2], at=now - timedelta(days=9))
    registry.record_publication(models, versions[0], at=now - timedelta(minutes=5))  # a record, LATEST never moved
    storage.write_text("{not json", models / registry.PUBLISHED_HISTORY)
    storage.write_text("garbage", models / registry.PUBLISHED_DIR / f"{versions[1][:22]}-x.json")
    for keep, age in ((0, 0), (3, 0), (0, 1000)):
        retention(data_root, keep_previous=keep, min_age_hours=age)
        assert registry.read_pointer(models) == served and storage.exists(models / served / META_FILE)


def test_the_single_file_history_of_earlier_releases_is_still_read(data_root) -> None:
    """models/published.json, as earlier releases wrote it, still counts: its versions are rollback
    targets, its start tells which older builds may have been published unrecorded; new
    publications go to records beside it and never rewrite it."""
    now = datetime.now(timezone.utc)
    models = data_root / "models"
    v = [new_version(f"{n:08x}" * 8, now - timedelta(days=n)) for n in range(8)]
    for version in v:
        fake_bundle(models, version)
    old = {"since": (now - timedelta(days=5, hours=12)).isoformat(), "versions": [v[5], v[4]]}
    storage.write_json(old, models / registry.PUBLISHED_HISTORY)
    registry.record_publication(models, v[2], at=now - timedelta(days=2))
    registry.publish_pointer(models, v[1])
    assert registry.read_publications(models) == {"since": old["since"], "versions": [v[5], v[4], v[2], v[1]]}
    assert storage.read_json(models / registry.PUBLISHED_HISTORY) == old  # never rewritten

    meta = retention(data_root, keep_previous=3, min_age_hours=1)
    # rollback targets: 2, 4, 5 (recorded) but only the 3 newest: 2, 4 and 5; 6 and 7 predate the
    # old history and count as once published, but there is no slot left for them; 3 was never served
    assert meta["deleted_versions"].value == [v[7], v[6], v[3]]
    assert set(v[:3]) | {v[4], v[5]} <= set(storage.list_names(models))
