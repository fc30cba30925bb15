"""The retention rule for old model versions (pure logic; the asset that applies it is tested in
test_pipeline-style materializations)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from music_assets.core.bundle import new_version
from music_assets.core.retention import version_time, versions_to_prune

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


def test_nothing_pruned_without_a_published_version() -> None:
    names = [day(n) for n in range(5)]
    assert versions_to_prune(names, None, keep_previous=0, now=NOW, min_age=timedelta(0)) == []
    assert versions_to_prune(names, "garbage", keep_previous=0, now=NOW, min_age=timedelta(0)) == []
    with pytest.raises(ValueError, match="keep_previous"):
        versions_to_prune(names, day(0), keep_previous=-1, now=NOW, min_age=timedelta(0))
