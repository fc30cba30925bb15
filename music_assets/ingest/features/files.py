"""Audio features (the catalog) from local files in any layout ingest/layouts knows or a column map
describes: CSV, gzip, Parquet, JSON, JSON Lines; a file, a folder or a glob.

Each file is read (ingest/tables), mapped (ingest/layouts: rename, parse "C#"/"Major"/"4/4",
thousands separators, list strings, a genre label from the file name) and checked value by value:
a value that cannot be read becomes missing and is kept as a parse reject (schema.FEATURE_REJECT_COLUMNS)
with its file, row, track id, column and reason. A feature the file does not carry is an all-NaN
column: absent columns are never invented. Rows of one track id (one per genre in tracks_114k and
features_232k) become one track carrying every genre. Genres come from the file, else from the
artists file(s) through the track's artist ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from music_assets.ingest.layouts.apply import CATALOG_COLUMNS, Mapped, empty_rejects
from music_assets.ingest.layouts.choose import INPUT_ERRORS, LayoutChoice, map_file
from music_assets.ingest.layouts.values import split_list
from music_assets.ingest.tables.read import expand_paths
from music_assets.schema import TRACK_DETAIL_COLUMNS, TRACK_FEATURE_COLUMNS
from music_assets.spotify.client import Log


class FeaturesFileError(ValueError):
    """A features or artists file that cannot be used; the message names the file."""


def parse_genre_list(text: object) -> list[str]:
    """"['dance pop', 'pop']" -> ['dance pop', 'pop'] (literal_eval, never eval); unreadable -> []."""
    return split_list(text) or []


@dataclass(frozen=True)
class FeaturesFileConfig:
    path: str  # a file, a folder or a glob
    layout: str = "auto"  # auto | a catalog layout of ingest/layouts/builtin.py
    artists_path: str | None = None  # a file, folder or glob of artists with their genres
    column_map: str | None = None  # a YAML/TOML column map (ingest/layouts/column_map.py)
    also_charts: bool = False  # the path was given for charts: use only files whose layout is a catalog too


def _merge_track_rows(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per track id: the first row's values, every genre any of its rows carries (sorted)."""
    if catalog["track_id"].is_unique:
        return catalog.reset_index(drop=True)
    genres = catalog.groupby("track_id", sort=False)["genres"].agg(lambda s: sorted({g for gs in s for g in gs}))
    first = catalog.drop_duplicates("track_id", keep="first").copy()
    first["genres"] = first["track_id"].map(genres)
    return first.reset_index(drop=True)


class FeaturesFile:
    """The catalog mapped to TRACK_FEATURE_COLUMNS (+ title, artist, popularity), loaded once."""

    def __init__(self, config: FeaturesFileConfig):
        self.config = config
        self.path = Path(config.path)
        self.mapped: list[Mapped] = []

    def _choice(self) -> LayoutChoice:
        return LayoutChoice(self.config.layout if not self.config.also_charts else "auto", self.config.column_map)

    @cached_property
    def catalog(self) -> pd.DataFrame:
        """Every catalog column (ingest/layouts/apply.CATALOG_COLUMNS), one row per track id."""
        try:
            files = expand_paths(self.config.path)
            for path in files:
                self.mapped.append(map_file(path, "catalog", self._choice()))
        except INPUT_ERRORS as exc:
            raise FeaturesFileError(f"features: {exc}") from None
        frames = [m.catalog for m in self.mapped if m.catalog is not None and len(m.catalog)]
        catalog = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CATALOG_COLUMNS))
        catalog = _merge_track_rows(catalog)
        by_artist = self.artist_genres
        if by_artist:
            catalog["genres"] = [g if len(g) else list(dict.fromkeys(x for a in (ids or []) for x in by_artist.get(a, [])))
                                 for g, ids in zip(catalog["genres"], catalog["artist_ids"])]
        return catalog

    @property
    def table(self) -> pd.DataFrame:
        details = [c for c in TRACK_DETAIL_COLUMNS if c in self.catalog.columns]
        return self.catalog.loc[:, [*TRACK_FEATURE_COLUMNS, *details]].reset_index(drop=True)

    @cached_property
    def artist_genres(self) -> dict[str, list[str]]:
        """artist id -> genres, from the artists file(s)."""
        if not self.config.artists_path:
            return {}
        out: dict[str, list[str]] = {}
        try:
            for path in expand_paths(self.config.artists_path):
                mapped = map_file(path, "artists", LayoutChoice("auto", self.config.column_map))
                self.mapped.append(mapped)
                assert mapped.artists is not None
                for artist, genres in zip(mapped.artists["artist_id"], mapped.artists["genres"]):
                    out.setdefault(artist, list(genres))
        except INPUT_ERRORS as exc:
            raise FeaturesFileError(f"artists: {exc}") from None
        return out

    @property
    def rejects(self) -> pd.DataFrame:
        """Parse rejects of every file read (schema.FEATURE_REJECT_COLUMNS)."""
        self.catalog  # noqa: B018 - reading is what finds them
        frames = [m.rejects for m in self.mapped if len(m.rejects)]
        return pd.concat(frames, ignore_index=True) if frames else empty_rejects()

    def understood(self) -> list[dict[str, Any]]:
        self.catalog  # noqa: B018
        return [m.understood() for m in self.mapped]

    def lookup(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        table = self.table
        hits = table[table["track_id"].isin(set(track_ids))].drop_duplicates("track_id")
        if log:
            log(f"features {self.path.name}: {len(hits):,} of {len(track_ids):,} tracks found")
        return hits.reset_index(drop=True)
