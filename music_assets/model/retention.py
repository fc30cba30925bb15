"""Which old model versions to delete, so a daily refresh doesn't fill the disk (or the bucket).

Every run writes a new bundle version (hundreds of MB with its index at a million tracks), so the models
folder grows without bound unless something prunes it. The rule keeps everything a reader could
still need:
- the published version and anything newer (a newer one may be a run still in flight);
- the `keep_previous` newest versions before it that were once published, as rollback targets
  (re-point LATEST at one): a build whose checks failed was never published and is no target, so
  it does not take a rollback slot (with no publication history, e.g. models published before the
  history existed, every older version counts as once published);
- any version younger than `min_age`, so a replica halfway through downloading it is never
  pulled out from under, and any version LATEST named within `min_age`, whenever it was built, so
  neither is a replica still on the previous model;
- anything whose name isn't a version (the LATEST pointer, temporary folders, a user's notes).
Nothing is pruned while nothing is published.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Collection, Iterable

VERSION_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"  # bundle.new_version's prefix


def version_time(name: str) -> datetime | None:
    """The build time a version name starts with, or None when the name is not a version."""
    stamp, _, content = name.partition("-")
    if not content:
        return None
    try:
        return datetime.strptime(stamp, VERSION_TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def versions_to_prune(names: Iterable[str], published: str | None, keep_previous: int,
                      now: datetime, min_age: timedelta, ever_published: Collection[str] | None = None,
                      history_since: datetime | None = None, served_recently: Collection[str] = ()) -> list[str]:
    """The version names to delete, oldest first (see the module docstring for the rule).

    `ever_published`: the versions LATEST has named since `history_since`; None when there is no
    history. A version built before `history_since` may have been published unrecorded, so it
    still counts as a rollback target. `served_recently`: the versions LATEST named within
    `min_age` (registry.served_since). `published`, the version LATEST names now, is never
    deleted, whatever the history says.
    """
    if keep_previous < 0:
        raise ValueError(f"keep_previous must be >= 0, not {keep_previous}")
    if not published or version_time(published) is None:
        return []
    older = sorted(n for n in set(names) if version_time(n) is not None and n < published)

    def once_published(name: str) -> bool:
        if ever_published is None or name in ever_published:
            return True
        return history_since is not None and version_time(name) < history_since  # type: ignore[operator]

    eligible = [n for n in older if once_published(n)]
    targets = set(eligible[max(0, len(eligible) - keep_previous):])
    candidates = [n for n in older if n not in targets and n not in served_recently]
    return [n for n in candidates if now - version_time(n) >= min_age]  # type: ignore[operator]
