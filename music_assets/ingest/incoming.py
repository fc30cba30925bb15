"""Which files in the incoming folder are new or changed and completely written.

Files in subfolders count too, named by their path relative to the folder.
A file counts once per content: the cursor maps each file name to a fingerprint (size and
modification time), so an unchanged file is never processed twice and a replaced one is processed
again. A file still being copied is skipped until it settles: names that copy tools use while
writing (hidden, .part, .tmp, .crdownload, .partial) are ignored, and so is any file modified less
than `settle_seconds` ago (its fingerprint would still change).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ACCEPTED_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".json")
IN_PROGRESS_SUFFIXES: tuple[str, ...] = (".part", ".partial", ".tmp", ".crdownload", ".download")


@dataclass(frozen=True)
class IncomingScan:
    ready: list[str]  # new or changed, fully written: start a run for these
    waiting: list[str]  # accepted names still settling: looked at again on the next tick
    cursor: dict[str, str]  # name -> fingerprint, to store as the new cursor


def fingerprint(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """The stored cursor, tolerating none or a damaged one (then every file is considered new)."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def is_candidate(name: str) -> bool:
    lower = name.lower()
    if name.startswith((".", "~")) or lower.endswith(IN_PROGRESS_SUFFIXES):
        return False
    return lower.endswith(ACCEPTED_SUFFIXES)


def scan(folder: str | os.PathLike[str], cursor: dict[str, str], now: float, settle_seconds: float) -> IncomingScan:
    """Compare the folder with the cursor at wall-clock time `now` (seconds since the epoch)."""
    folder = Path(folder)
    ready: list[str] = []
    waiting: list[str] = []
    new_cursor = dict(cursor)
    if not folder.is_dir():
        return IncomingScan([], [], new_cursor)
    for path in sorted(folder.rglob("*")):  # subfolders too: exports are often kept per region or year
        if not path.is_file() or not is_candidate(path.name):
            continue
        name = path.relative_to(folder).as_posix()
        stat = path.stat()
        fp = fingerprint(stat)
        if cursor.get(name) == fp:
            continue
        if now - stat.st_mtime < settle_seconds or stat.st_size == 0:
            waiting.append(name)
            continue
        ready.append(name)
        new_cursor[name] = fp
    return IncomingScan(ready, waiting, new_cursor)
