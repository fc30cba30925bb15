"""A column map: how one file (or every file a path/glob names) becomes charts, catalog or artists.

Written by hand in YAML or TOML (`MUSIC_ADVISER_COLUMN_MAP`, docs/bring-your-own-data.md), or one
of the built-in maps of layouts.builtin. Every field is checked when the map is loaded, and a wrong
one fails naming the field, so a typo never silently falls back to detection.

    files:
      - path: top200_summary.csv        # file, folder or glob, relative to the map file
        roles: [charts, catalog]
        columns: {rank: Highest Charting Position, title: Song Name, track_id: Song ID, ...}
        parse: {date: date}             # optional: every column has a default parser
        constants: {region: Global, chart: top200}
        from_file_name: {genre: '^(.+?)_playlist'}   # a regex whose first group is the value
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from music_assets.ingest.layouts.values import PARSERS
from music_assets.schema import CHART_COLUMNS, FEATURE_COLUMNS

ROLES = ("charts", "catalog", "artists")
# Our columns per role (a map may name any of them; `genre` is one label added to `genres`).
CHART_TARGETS = (*CHART_COLUMNS, "track_id")
CATALOG_TARGETS = ("track_id", "title", "artist", "popularity", *FEATURE_COLUMNS, "genres", "genre",
                   "preview_url", "cover_url", "artist_ids", "album")
ARTIST_TARGETS = ("artist_id", "genres")
TARGETS = {"charts": CHART_TARGETS, "catalog": CATALOG_TARGETS, "artists": ARTIST_TARGETS}
# How each of our columns is read when the map does not say.
DEFAULT_PARSERS: dict[str, str] = {
    "rank": "number", "streams": "number", "date": "date", "popularity": "number",
    **{c: "number" for c in FEATURE_COLUMNS}, "key": "key", "mode": "mode", "time_signature": "time_signature",
    "genres": "list", "artist_ids": "list", "artist": "names",
}
MAP_FIELDS = {"name", "path", "roles", "role", "layout", "columns", "parse", "constants", "from_file_name",
              "encoding", "delimiter", "records"}


class ColumnMapError(ValueError):
    """A column map that cannot be used; the message names the map file and the field."""


@dataclass(frozen=True)
class ColumnMap:
    name: str
    roles: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]  # ours <- the file's column(s); several: a list of labels (genre1..genre5)
    parse: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    from_file_name: dict[str, str] = field(default_factory=dict)  # ours <- regex, group 1
    required: tuple[str, ...] = ()  # file columns that must be present (built-ins: the detection signature)
    encoding: str | None = None
    delimiter: str | None = None
    records: str | None = None
    path: str | None = None  # the files this map is for (file, folder or glob); None: given by the source
    builtin: bool = False

    def parser(self, ours: str) -> str:
        return self.parse.get(ours, DEFAULT_PARSERS.get(ours, "text"))

    def for_role(self, role: str) -> dict[str, tuple[str, ...]]:
        return {ours: theirs for ours, theirs in self.columns.items() if ours in TARGETS[role]}

    def present(self, names: list[str]) -> "ColumnMap":
        """This map with only the columns the file has (a built-in map's optional columns may be absent)."""
        have = set(names)
        cols = {o: tuple(t for t in ts if t in have) for o, ts in self.columns.items()}
        return replace(self, columns={o: ts for o, ts in cols.items() if ts})

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layout": self.name, "roles": list(self.roles),
                               "columns": {o: (t[0] if len(t) == 1 else list(t)) for o, t in self.columns.items()}}
        if self.constants:
            out["constants"] = dict(self.constants)
        if self.from_file_name:
            out["from_file_name"] = dict(self.from_file_name)
        return out


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ColumnMapError(f"{where} must be a column name or a list of column names, got {value!r}")


def build_map(spec: dict[str, Any], where: str, base: "ColumnMap | None" = None) -> ColumnMap:
    """A ColumnMap from a mapping (one entry of a map file), checked field by field."""
    unknown = sorted(set(spec) - MAP_FIELDS)
    if unknown:
        raise ColumnMapError(f"{where}: unknown field(s) {', '.join(unknown)}; use {', '.join(sorted(MAP_FIELDS))}")
    roles_value = spec.get("roles", spec.get("role", list(base.roles) if base else None))
    if roles_value is None:
        raise ColumnMapError(f"{where}: field 'roles' is missing: say what the file is ({', '.join(ROLES)})")
    roles = (roles_value,) if isinstance(roles_value, str) else tuple(roles_value)
    bad_roles = [r for r in roles if r not in ROLES]
    if bad_roles or not roles:
        raise ColumnMapError(f"{where}: field 'roles' has {bad_roles or roles!r}; use {', '.join(ROLES)}")
    columns = dict(base.columns) if base else {}
    raw_columns = spec.get("columns", {})
    if not isinstance(raw_columns, dict):
        raise ColumnMapError(f"{where}: field 'columns' must map our column to the file's column")
    allowed = {t for r in roles for t in TARGETS[r]}
    for ours, theirs in raw_columns.items():
        if ours not in allowed:
            raise ColumnMapError(f"{where}: columns.{ours} is not a column of the roles {', '.join(roles)} "
                                 f"(use {', '.join(sorted(allowed))})")
        columns[ours] = _strings(theirs, f"{where}: columns.{ours}")
    parse = dict(base.parse) if base else {}
    for ours, parser in dict(spec.get("parse", {})).items():
        if parser not in PARSERS:
            raise ColumnMapError(f"{where}: parse.{ours} is {parser!r}; use one of {', '.join(PARSERS)}")
        parse[str(ours)] = parser
    constants = (dict(base.constants) if base else {}) | {str(k): str(v) for k, v in dict(spec.get("constants", {})).items()}
    for ours in constants:
        if ours not in allowed:
            raise ColumnMapError(f"{where}: constants.{ours} is not a column of the roles {', '.join(roles)}")
    from_name = (dict(base.from_file_name) if base else {}) | {str(k): str(v) for k, v in dict(spec.get("from_file_name", {})).items()}
    for ours, pattern in from_name.items():
        try:
            if re.compile(pattern).groups < 1:
                raise ColumnMapError(f"{where}: from_file_name.{ours} needs one (group) around the value")
        except re.error as exc:
            raise ColumnMapError(f"{where}: from_file_name.{ours} is not a regex ({exc})") from None
    if not columns:
        raise ColumnMapError(f"{where}: field 'columns' is missing: name at least the id column")
    return ColumnMap(
        name=str(spec.get("name") or ((base.name if not raw_columns else f"{base.name}+map") if base else "custom")),
        roles=roles, columns=columns, parse=parse, constants=constants, from_file_name=from_name,
        required=tuple(t for ts in raw_columns.values() for t in _strings(ts, where)) if raw_columns else (base.required if base else ()),
        encoding=spec.get("encoding", base.encoding if base else None),
        delimiter=spec.get("delimiter", base.delimiter if base else None),
        records=spec.get("records", base.records if base else None),
        path=spec.get("path"),
    )


@dataclass(frozen=True)
class ColumnMapFile:
    """The maps of one YAML/TOML file, matched to input files by their `path` (file, folder, glob)."""

    source: Path
    maps: tuple[ColumnMap, ...]

    def for_file(self, path: Path) -> ColumnMap | None:
        resolved = path.resolve()
        for m in self.maps:
            if m.path is None:
                continue
            target = (self.source.parent / m.path)
            pattern = str(target.resolve()) if not any(c in m.path for c in "*?[") else str(self.source.parent.resolve() / m.path)
            if resolved == Path(pattern) or str(resolved).startswith(pattern.rstrip("/") + "/") or fnmatch.fnmatch(str(resolved), pattern):
                return m
        return None

    def paths(self, role: str) -> list[str]:
        """The paths the maps give for `role` (so a map can stand in for MUSIC_ADVISER_CHARTS etc.)."""
        return [str(self.source.parent / m.path) for m in self.maps if m.path and role in m.roles]


def load_column_map(path: str | Path, builtins: dict[str, ColumnMap]) -> ColumnMapFile:
    """Read a YAML (.yaml/.yml) or TOML (.toml) column map; `layout: <name>` starts from a built-in."""
    source = Path(path)
    if not source.is_file():
        raise ColumnMapError(f"column map {source} does not exist")
    text = source.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if source.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ColumnMapError(f"column map {source} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise ColumnMapError(f"column map {source} must be a mapping with a 'files' list")
    entries = data.get("files", [data] if "columns" in data or "layout" in data else None)
    if not isinstance(entries, list) or not entries:
        raise ColumnMapError(f"column map {source}: field 'files' is missing: a list of files and their columns")
    maps = []
    for i, entry in enumerate(entries):
        where = f"column map {source}: files[{i}]"
        if not isinstance(entry, dict):
            raise ColumnMapError(f"{where} must be a mapping")
        base = None
        if "layout" in entry:
            if entry["layout"] not in builtins:
                raise ColumnMapError(f"{where}: layout {entry['layout']!r} is not a built-in layout; use {', '.join(builtins)}")
            base = builtins[entry["layout"]]
        maps.append(build_map(entry, where, base))
    return ColumnMapFile(source, tuple(maps))
