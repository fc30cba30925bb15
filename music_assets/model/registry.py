"""The publication registry of a models folder: which bundle is served (LATEST) and which ever were.

    models/LATEST                     the published version, replaced atomically (one small object)
    models/published/<time>-<version>.json
                                      one record per publication, never rewritten (the history)
    models/published.json             the history as one file, as written before the records
                                      existed: still read, never written

Serving polls the pointer (`pointer_stamp`), the pipeline publishes (`publish_pointer`), retention
reads the history. Kept apart from storage.py, which only moves bytes, because this is what a
version *means* to the rest of the system.

Why one object per publication: a history kept in one file is read, changed and written back, so
two publishers lose each other's records, and a crash between replacing LATEST and rewriting it
leaves the served model out of it (retention then deletes it as never served). A record is its
own object under a name nobody else writes, written (and made durable) before LATEST is replaced:
whatever moment a publisher is killed at, every version LATEST ever named has its record. A crash
between the record and LATEST leaves a record of a version never served, which costs retention
one rollback slot and nothing else.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from music_assets import storage
from music_assets.storage import Location, StorePath, as_path, exists, read_bytes, read_json, read_text, write_json, write_text

LATEST_POINTER = "LATEST"
PUBLISHED_DIR = "published"  # one record per publication
PUBLISHED_HISTORY = "published.json"  # the single-file history of earlier releases (read only)
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_RECORD_NAME = re.compile(r"^(\d{8}T\d{12}Z)-(.+)\.json$")


@dataclass(frozen=True)
class Publication:
    """One time LATEST was pointed at `version` (`at` is None for records of the old single file,
    which kept no times)."""

    version: str
    at: datetime | None


def record_name(version: str, at: datetime) -> str:
    return f"{at:{_TIME_FORMAT}}-{version}.json"


def publish_pointer(models_dir: Location, version: str, run_id: str = "") -> StorePath:
    """Record the publication of `version` in the history, then point LATEST at it (atomically
    replacing the previous pointer). The record comes first and is durable before LATEST moves,
    so the history names every version LATEST ever named, whenever the process dies."""
    models_dir = as_path(models_dir)
    if not exists(models_dir / version):
        raise FileNotFoundError(f"cannot publish {version}: {models_dir / version} is missing")
    record_publication(models_dir, version, run_id=run_id)
    pointer = write_text(version + "\n", models_dir / LATEST_POINTER)
    storage.sync_folder(models_dir)
    return pointer


def record_publication(models_dir: Location, version: str, at: datetime | None = None, run_id: str = "") -> StorePath:
    """Add one record to the history (its own object: nothing is read or rewritten), durable when
    this returns. `at` defaults to now; an operator recording a rollback made by hand passes it."""
    at = at or datetime.now(timezone.utc)
    folder = as_path(models_dir) / PUBLISHED_DIR
    record = {"version": version, "published_at": at.isoformat(), "run_id": run_id,
              "host": socket.gethostname(), "pid": os.getpid()}
    path = write_json(record, folder / record_name(version, at))
    storage.sync_folder(folder)
    return path


def read_history(models_dir: Location) -> list[Publication]:
    """Every publication recorded, oldest first: the old single file's versions (no times), then
    one per record. A record that cannot be read still counts by its name, which carries the
    version and the time."""
    models_dir = as_path(models_dir)
    history = [Publication(v, None) for v in _old_history(models_dir).get("versions", [])]
    for name in storage.list_names(models_dir / PUBLISHED_DIR):
        match = _RECORD_NAME.match(name)
        if match:
            at = datetime.strptime(match.group(1), _TIME_FORMAT).replace(tzinfo=timezone.utc)
            history.append(Publication(match.group(2), at))
    return [p for p in history if p.at is None] + sorted((p for p in history if p.at is not None), key=lambda p: p.at)


def read_publications(models_dir: Location) -> dict[str, Any] | None:
    """{"since": ISO time the history was started, "versions": [...]} or None when no history was
    ever written (models published before it existed). `since` is the old file's start, else the
    first record's time: a version built before it may have been published unrecorded."""
    models_dir = as_path(models_dir)
    old = _old_history(models_dir)
    history = read_history(models_dir)
    if not history and not old:
        return None
    versions = list(dict.fromkeys(p.version for p in history))
    times = [p.at for p in history if p.at is not None]
    since = old.get("since") or (min(times).isoformat() if times else None)
    return {"since": since, "versions": versions}


def _old_history(models_dir: StorePath) -> dict[str, Any]:
    """models/published.json as earlier releases wrote it ({"since", "versions"}), or {}."""
    try:
        history = read_json(models_dir / PUBLISHED_HISTORY)
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(history, dict) or not isinstance(history.get("versions"), list):
        return {}
    return {"since": history.get("since"), "versions": [v for v in history["versions"] if isinstance(v, str)]}


def served_since(history: list[Publication], cutoff: datetime) -> set[str]:
    """The versions LATEST named at some moment after `cutoff`, by the records' times: each
    published after it, and the one published last before it (served until the next). Records
    without a time (the old file) say nothing here."""
    timed = [p for p in history if p.at is not None]
    served = {p.version for p in timed if p.at >= cutoff}  # type: ignore[operator]
    before = [p for p in timed if p.at < cutoff]  # type: ignore[operator]
    if before:
        served.add(before[-1].version)
    return served


def read_pointer(models_dir: Location) -> str | None:
    """The published version, or None when nothing has been published yet."""
    try:
        version = read_text(as_path(models_dir) / LATEST_POINTER).strip()
    except FileNotFoundError:
        return None
    return version or None


def pointer_stamp(models_dir: Location) -> tuple[Any, ...] | None:
    """A cheap value that changes whenever LATEST is replaced; None when there is none.

    Locally an `os.stat` (mtime, size, inode: no read). On an object store the pointer itself: a
    GET of a few dozen bytes costs what a HEAD does, and its content is exact where an ETag or
    mtime's meaning varies between stores.
    """
    path = as_path(models_dir) / LATEST_POINTER
    if isinstance(path, pathlib.Path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino
    try:
        return ("pointer", read_bytes(path))
    except FileNotFoundError:
        return None
