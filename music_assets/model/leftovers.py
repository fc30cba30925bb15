"""Crash leftovers in a data folder, and which are old enough to remove.

A writer killed halfway leaves what it was assembling: a `.staging-<hex>` folder beside the models
(model/bundle.py builds there, then renames), a `.<name>.tmp-<pid>-<hex>` or `.<name>.link` file
beside the file it was replacing (storage.py), or a build folder without model.json (a run that
stopped before publishing, or a deletion cut short: model.json goes first). No reader takes any of
them for data, but they fill the disk. Each is removed once older than a safe age: a younger one
may belong to a run still in flight (the data folder's lock keeps other runs out, but not a run
whose lock is off, or a store whose lock has limits: data_lock.py). The published version is
never a leftover, whatever its folder holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from music_assets import storage
from music_assets.model.bundle import META_FILE
from music_assets.model.retention import version_time

STAGING_FOLDER = re.compile(r"^\.staging-[0-9a-f]{32}$")
TEMP_FILE = re.compile(r"^\..+\.(tmp-\d+-[0-9a-f]{8}|link)$")
WRITTEN_FOLDERS = ("assets", "pictures", "models")  # where the pipeline writes (never incoming/)


@dataclass(frozen=True)
class Leftover:
    path: storage.StorePath
    kind: str  # "staging folder" | "temporary file" | "unsealed build"
    written: datetime  # when it was last written (a build: when it was started)

    @property
    def is_folder(self) -> bool:
        return self.kind != "temporary file"


def find_leftovers(data_dir: storage.Location, now: datetime, min_age: timedelta,
                   published: str | None) -> list[Leftover]:
    """The leftovers in the data folder older than `min_age`, oldest first."""
    root = storage.as_path(data_dir)
    models = root / "models"
    found: list[Leftover] = []
    for folder in WRITTEN_FOLDERS:
        for relative in storage.list_files(root / folder):
            name = relative.rsplit("/", 1)[-1]
            if TEMP_FILE.match(name) and not STAGING_FOLDER.match(relative.split("/", 1)[0]):
                found += _dated(root / folder / relative, "temporary file")
    for name in storage.list_names(models):
        if STAGING_FOLDER.match(name):
            found += _dated(models / name, "staging folder")
        elif name != published and (built := version_time(name)) is not None \
                and not storage.exists(models / name / META_FILE):
            found.append(Leftover(models / name, "unsealed build", built))
    return sorted((f for f in found if now - f.written >= min_age), key=lambda f: f.written)


def _dated(path: storage.StorePath, kind: str) -> list[Leftover]:
    mtime = storage.modified_time(path)
    if mtime is None:  # gone meanwhile, or a store that does not say: left for a later pass
        return []
    return [Leftover(path, kind, datetime.fromtimestamp(mtime, tz=timezone.utc))]


def remove_leftover(leftover: Leftover) -> None:
    """Delete a leftover file, or a leftover folder with everything in it."""
    if leftover.is_folder:
        storage.remove_tree(leftover.path)
    else:
        storage.remove_file(leftover.path)
