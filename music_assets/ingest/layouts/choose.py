"""Which column map a file gets: the user's map for it (MUSIC_ADVISER_COLUMN_MAP), a layout named
in the config, or the built-in layout its header is detected as; then read + map in one call."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from music_assets.ingest.layouts.apply import Mapped, MissingMappedColumns, apply_map
from music_assets.ingest.layouts.builtin import BUILTIN_LAYOUTS, UnknownLayout, detect_layout
from music_assets.ingest.layouts.column_map import ColumnMap, ColumnMapError, ColumnMapFile, load_column_map
from music_assets.ingest.tables.read import RawTable, file_format, read_table
from music_assets.ingest.layouts.values import ColumnMangled
from music_assets.ingest.tables.sniff import TableReadError, sniff_csv

# Everything a user's file or map can be wrong with: each message names the file and the field.
INPUT_ERRORS = (UnknownLayout, ColumnMapError, MissingMappedColumns, ColumnMangled, TableReadError)


@dataclass(frozen=True)
class LayoutChoice:
    """How the source says a file's columns are to be understood."""

    layout: str = "auto"  # auto, or a built-in layout's name
    column_map: str | None = None  # a YAML/TOML column map file
    region: str = "Global"  # chart rows whose file, name and map give no region
    chart: str = "top200"


@lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> ColumnMapFile:
    return load_column_map(path, BUILTIN_LAYOUTS)


def column_map_file(path: str | None) -> ColumnMapFile | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise ColumnMapError(f"column map {p} does not exist")
    return _load(str(p.resolve()), p.stat().st_mtime)


def header_names(path: Path, user: ColumnMap | None = None) -> list[str]:
    """A file's column names without reading it all (CSV: the header after any note line)."""
    kind = file_format(path)
    if kind == "csv":
        return list(sniff_csv(path, user.encoding if user else None, user.delimiter if user else None).names)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    return [str(c) for c in read_table(path, records=user.records if user else None).frame.columns]


def choose_map(path: Path, names: list[str], role: str, choice: LayoutChoice) -> ColumnMap:
    user = column_map_file(choice.column_map)
    mine = user.for_file(path) if user else None
    if mine is not None:
        if role not in mine.roles:
            raise ColumnMapError(f"column map {user.source if user else ''}: {path} is mapped as {', '.join(mine.roles)}, "
                                 f"not {role}: fix its 'roles' or the path given for {role}")
        return mine
    if choice.layout != "auto":
        if choice.layout not in BUILTIN_LAYOUTS:
            raise ColumnMapError(f"unknown layout {choice.layout!r}; use auto or one of {', '.join(BUILTIN_LAYOUTS)}")
        layout = BUILTIN_LAYOUTS[choice.layout]
        if role not in layout.roles:
            raise ColumnMapError(f"layout {choice.layout!r} is a {'/'.join(layout.roles)} layout, not {role} ({path})")
        return layout
    return detect_layout(names, str(path), role)


def map_file(path: Path, role: str, choice: LayoutChoice, roles: tuple[str, ...] | None = None) -> Mapped:
    """Read `path` and apply the map chosen for it, for `roles` (default: `role` only)."""
    user = column_map_file(choice.column_map)
    mine = user.for_file(path) if user else None
    raw: RawTable = read_table(path, mine.encoding if mine else None, mine.delimiter if mine else None,
                               mine.records if mine else None)
    names = [str(c) for c in raw.frame.columns]
    column_map = choose_map(path, names, role, choice)
    return apply_map(raw, column_map, roles or (role,), {"region": choice.region, "chart": choice.chart})


__all__ = ["INPUT_ERRORS", "LayoutChoice", "UnknownLayout", "choose_map", "column_map_file", "header_names", "map_file"]
