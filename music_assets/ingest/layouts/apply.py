"""A column map applied to a table as read: chart rows in the chart layout (text, for the chart
rules to judge), catalog rows (typed, with per-value parse rejects) and artists' genres.

Parse rejects have the shape of schema.FEATURE_REJECT_COLUMNS: the value becomes missing and the
reject keeps the file, the data row, the track id, our column, the value and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from music_assets.ingest.layouts.builtin import CHART_NAMES
from music_assets.ingest.layouts.column_map import ColumnMap, ColumnMapError
from music_assets.ingest.layouts.values import as_text, parse_column, split_list
from music_assets.ingest.tables.read import RawTable
from music_assets.schema import CHART_COLUMNS, FEATURE_COLUMNS, FEATURE_REJECT_COLUMNS

TRACK_URL_PREFIX = "https://open.spotify.com/track/"
TRACK_ID_RE = re.compile(r"[0-9A-Za-z]{22}")
CATALOG_COLUMNS = ("track_id", "title", "artist", "popularity", *FEATURE_COLUMNS, "genres", "preview_url",
                   "cover_url", "artist_ids", "album")
NOT_A_TRACK_ID = "track_id is not a 22-character Spotify id"


class MissingMappedColumns(ValueError):
    """The file lacks columns its map names; the message names them, the file and the layout."""


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object) for c in FEATURE_REJECT_COLUMNS})


@dataclass
class Mapped:
    """What one file gave under its map, and what was understood (for logs, metadata, inspect)."""

    path: Path
    column_map: ColumnMap
    charts: pa.Table | None = None
    catalog: pd.DataFrame | None = None
    artists: pd.DataFrame | None = None
    rejects: pd.DataFrame = field(default_factory=empty_rejects)
    from_file_name: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # our catalog columns the file does not carry
    from_config: dict[str, str] = field(default_factory=dict)  # chart columns given by the source config
    read: dict[str, Any] = field(default_factory=dict)

    def understood(self) -> dict[str, Any]:
        out = self.column_map.describe() | {"read": self.read}
        if self.from_file_name:
            out["from_file_name_values"] = dict(self.from_file_name)
        if self.absent:
            out["absent_features"] = list(self.absent)
        if self.from_config:
            out["from_source_config"] = dict(self.from_config)
        for what, table in (("chart_rows", self.charts), ("catalog_rows", self.catalog), ("artist_rows", self.artists)):
            if table is not None:
                out[what] = int(table.num_rows if isinstance(table, pa.Table) else len(table))
        out["parse_rejects"] = int(len(self.rejects))
        return out


def resolve_columns(column_map: ColumnMap, names: list[str], source: str) -> ColumnMap:
    """The map with the columns this file has. A built-in map's signature, or every column a
    hand-written map names, must be present: otherwise an error naming them."""
    missing = [c for c in column_map.required if c not in names]
    if missing:
        raise MissingMappedColumns(f"{source} is missing column(s) {', '.join(repr(c) for c in missing)} that the "
                                   f"{column_map.name!r} layout needs (it has: {', '.join(names[:30])})")
    return column_map.present(names)


def file_name_values(column_map: ColumnMap, path: Path) -> dict[str, str]:
    values = {}
    for ours, pattern in column_map.from_file_name.items():
        found = re.search(pattern, path.name)
        if found:
            values[ours] = found.group(1)
    return values


def apply_map(raw: RawTable, column_map: ColumnMap, roles: tuple[str, ...] | None = None,
              defaults: dict[str, str] | None = None) -> Mapped:
    """Apply `column_map` to a file for `roles` (default: every role of the map). `defaults` fill
    chart columns neither the file, its name nor the map give (the source's region and chart)."""
    names = [str(c) for c in raw.frame.columns]
    resolved = resolve_columns(column_map, names, str(raw.path))
    out = Mapped(raw.path, resolved, from_file_name=file_name_values(resolved, raw.path), read=raw.describe())
    rejects = [_bad_line_rejects(raw)]
    for role in roles or resolved.roles:
        if role == "charts":
            out.charts, out.from_config = _charts(raw, resolved, out.from_file_name, defaults or {})
        elif role == "catalog":
            out.catalog, more = _catalog(raw, resolved, out.from_file_name)
            rejects.append(more)
            out.absent = [c for c in FEATURE_COLUMNS if c not in resolved.columns]
        elif role == "artists":
            out.artists = _artists(raw, resolved)
    rejects = [r for r in rejects if len(r)]
    out.rejects = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
    return out


def _bad_line_rejects(raw: RawTable) -> pd.DataFrame:
    if not raw.bad_lines:
        return empty_rejects()
    return pd.DataFrame([{"source": raw.path.name, "row": int(b["row"]), "track_id": "", "column": "*",
                          "value": str(b["value"]), "reason": str(b["reason"])} for b in raw.bad_lines])


def _column(raw: RawTable, m: ColumnMap, ours: str) -> pd.Series:
    theirs = m.columns[ours]
    if len(theirs) == 1:
        return raw.frame[theirs[0]]
    # several file columns into one list (genre1..genre5): each cell a list of the non-blank values
    parts = [raw.frame[t].map(lambda v: split_list(v) or []) for t in theirs]
    return pd.Series([sum((p.iloc[i] for p in parts), []) for i in range(len(raw.frame))], index=raw.frame.index, dtype=object)


def _number_text(values: pd.Series, raw_text: pd.Series) -> pd.Series:
    """Parsed numbers back as plain text for the chart rules ("48,633,449.00" -> "48633449"); a
    value that did not parse stays as written, so the rules reject its row with their reason."""
    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))
    return pd.Series([fmt(v) if not np.isnan(v) else (r if isinstance(r, str) else "") for v, r in zip(values, raw_text)],
                     index=values.index, dtype=object)


def _charts(raw: RawTable, m: ColumnMap, from_name: dict[str, str],
            defaults: dict[str, str]) -> tuple[pa.Table, dict[str, str]]:
    """The raw chart layout, and the chart columns the source config had to give (said, not silent)."""
    n = len(raw.frame)
    source = str(raw.path)
    if "date" not in m.columns and "date" not in from_name and "date" not in m.constants:
        raise ColumnMapError(f"{source}: the {m.name!r} layout has no date column and the file name gives none "
                             "(spotifycharts names files regional-ph-daily-2020-01-01.csv): keep that name, or set "
                             "constants: {date: YYYY-MM-DD} in a column map for this file")
    given: dict[str, str] = {}
    cols: dict[str, pd.Series] = {}
    for ours in CHART_COLUMNS:
        if ours in m.columns:
            values = _column(raw, m, ours)
            parser = m.parser(ours)
            parsed = parse_column(values, parser, source, ours, m.columns[ours][0])
            text = as_text(values)
            if parser == "number":
                cols[ours] = _number_text(parsed.values, text)
            elif parser in ("date", "names", "text"):
                cols[ours] = parsed.values.where(parsed.values.notna(), text).fillna("")
            else:
                cols[ours] = text.fillna("")
        else:
            value = from_name.get(ours, m.constants.get(ours, defaults.get(ours, "")))
            if ours not in from_name and ours not in m.constants and ours in defaults:
                given[ours] = value
            cols[ours] = pd.Series([value] * n, index=raw.frame.index, dtype=object)
    if "track_id" in m.columns and "url" not in m.columns:
        ids = as_text(_column(raw, m, "track_id")).fillna("").str.strip()
        cols["url"] = TRACK_URL_PREFIX + ids
    cols["chart"] = cols["chart"].map(lambda v: CHART_NAMES.get(v, v))
    if "region" in from_name and from_name["region"] == "global":
        cols["region"] = cols["region"].replace("global", "Global")
    return pa.table({c: pa.array(cols[c].astype(str).tolist(), pa.string()) for c in CHART_COLUMNS}), given


def _catalog(raw: RawTable, m: ColumnMap, from_name: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = raw.frame
    source = str(raw.path)
    n = len(frame)
    out = pd.DataFrame(index=frame.index)
    if "track_id" not in m.columns:
        raise ColumnMapError(f"{source}: the {m.name!r} map gives no track_id column: a catalog needs one")
    ids = as_text(_column(raw, m, "track_id")).fillna("").str.strip()
    out["track_id"] = ids
    rejects: list[dict[str, Any]] = []
    rows = np.arange(1, n + 1)
    for ours in ("title", "artist"):
        out[ours] = parse_column(_column(raw, m, ours), m.parser(ours), source, ours, m.columns[ours][0]).values \
            if ours in m.columns else None
    for ours in ("popularity", *FEATURE_COLUMNS):
        if ours not in m.columns:
            out[ours] = np.nan
            continue
        values = _column(raw, m, ours)
        parsed = parse_column(values, m.parser(ours), source, ours, m.columns[ours][0])
        out[ours] = pd.to_numeric(parsed.values, errors="coerce").astype("float64")
        for i in np.flatnonzero(parsed.bad.to_numpy()):
            rejects.append({"source": raw.path.name, "row": int(rows[i]), "track_id": ids.iloc[i], "column": ours,
                            "value": str(values.iloc[i])[:200], "reason": f"{ours} is not a {parsed.parser}"})
    genres = pd.Series([[] for _ in range(n)], index=frame.index, dtype=object)
    for ours in ("genres", "genre"):
        if ours in m.columns:
            values = _column(raw, m, ours)
            parsed = parse_column(values, "list", source, ours, m.columns[ours][0])
            for i in np.flatnonzero(parsed.bad.to_numpy()):
                rejects.append({"source": raw.path.name, "row": int(rows[i]), "track_id": ids.iloc[i], "column": "genres",
                                "value": str(values.iloc[i])[:200], "reason": "genres is not a list"})
            genres = pd.Series([g + [x for x in p if x not in g] for g, p in zip(genres, parsed.values)],
                               index=frame.index, dtype=object)
    label = from_name.get("genre", m.constants.get("genre"))
    if label:
        genres = genres.map(lambda g: g if label in g else [*g, label])
    out["genres"] = genres
    for ours in ("preview_url", "cover_url", "album"):
        out[ours] = as_text(_column(raw, m, ours)).replace("", None) if ours in m.columns else None
    out["artist_ids"] = (parse_column(_column(raw, m, "artist_ids"), "list", source, "artist_ids",
                                      m.columns["artist_ids"][0]).values
                         if "artist_ids" in m.columns else pd.Series([[] for _ in range(n)], index=frame.index, dtype=object))
    good_id = ids.map(lambda v: TRACK_ID_RE.fullmatch(v) is not None)
    for i in np.flatnonzero(~good_id.to_numpy()):
        rejects.append({"source": raw.path.name, "row": int(rows[i]), "track_id": ids.iloc[i], "column": "*",
                        "value": ids.iloc[i][:200], "reason": NOT_A_TRACK_ID})
    table = pd.DataFrame(rejects, columns=list(FEATURE_REJECT_COLUMNS)) if rejects else empty_rejects()
    return out.loc[good_id.to_numpy(), list(CATALOG_COLUMNS)].reset_index(drop=True), table


def _artists(raw: RawTable, m: ColumnMap) -> pd.DataFrame:
    source = str(raw.path)
    ids = as_text(_column(raw, m, "artist_id")).fillna("").str.strip()
    genres = parse_column(_column(raw, m, "genres"), "list", source, "genres", m.columns["genres"][0]).values \
        if "genres" in m.columns else pd.Series([[] for _ in range(len(ids))], dtype=object)
    return pd.DataFrame({"artist_id": ids.to_numpy(), "genres": list(genres)})
