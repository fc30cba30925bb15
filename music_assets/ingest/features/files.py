"""Audio features from a local CSV or Parquet file in one of the common public layouts.

Each layout is a small column map (our column <- file column) plus value converters where the
file spells values differently. Layouts are detected from the header unless configured:

| layout        | file                                              | genres from                      |
|---------------|---------------------------------------------------|----------------------------------|
| `tracks_114k` | "Spotify Tracks Dataset" (track_id, artists, track_name, ..., track_genre) | `track_genre` |
| `features_232k` | "SpotifyFeatures.csv" (genre, artist_name, track_name, track_id, ...; key as "C#", mode as "Major", time_signature as "4/4"; one row per (track, genre)) | `genre`, all rows of a track |
| `daily_tracks` | daily-chart exports' tracks file (track_id, ..., artist_id, duration, no time_signature) | the artists file's `genres` (a Python-list string) via `artist_id` |
| `plain`       | already our names: track_id + the 13 features (+ optional genres, preview_url, cover_url) | `genres` if present |

Features a layout does not carry (time_signature in `daily_tracks`) get a documented constant
(LAYOUT_DEFAULTS); any other missing column is an error that names the column and the file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from music_assets.schema import FEATURE_COLUMNS, TRACK_FEATURE_COLUMNS
from music_assets.spotify.client import Log
from music_assets.ingest.charts.csv_files import LayoutColumnsError, resolve_layout

_SAME = {c: c for c in FEATURE_COLUMNS}
# our column <- file column
FEATURE_LAYOUTS: dict[str, dict[str, str]] = {
    "tracks_114k": {"track_id": "track_id", **_SAME, "genre": "track_genre"},
    "features_232k": {"track_id": "track_id", **_SAME, "genre": "genre"},
    "daily_tracks": {"track_id": "track_id", **{c: c for c in FEATURE_COLUMNS if c not in ("duration_ms", "time_signature")},
                     "duration_ms": "duration", "artist_id": "artist_id"},
    "plain": {"track_id": "track_id", **_SAME},
}
# Features a layout does not carry at all. cleaning.impute cannot take a mean of a column with no
# values, so these get a documented constant: 4 (common time, ~90% of charted tracks).
# time_signature is a categorical code outside the model's default features, so this only
# fills the column; it does not move any track in the embedding.
LAYOUT_DEFAULTS: dict[str, dict[str, float]] = {"daily_tracks": {"time_signature": 4.0}}
PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
                 "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11}
MODES = {"major": 1.0, "minor": 0.0}


class FeaturesFileError(ValueError):
    """A features or artists file that cannot be used; the message names the file."""


def detect_feature_layout(names: Sequence[str]) -> str:
    cols = set(names)
    if "track_genre" in cols:
        return "tracks_114k"
    if {"genre", "artist_name"} <= cols:
        return "features_232k"
    if "artist_id" in cols and "duration" in cols:
        return "daily_tracks"
    return "plain"


def read_table_file(path: Path, what: str) -> pd.DataFrame:
    """A CSV (plain or gzip) or Parquet file as a frame; a clear error when it is absent or empty."""
    if not path.is_file():
        raise FeaturesFileError(f"{what} {path} does not exist")
    if path.stat().st_size == 0:
        raise FeaturesFileError(f"{what} {path} is empty (0 bytes): was it written completely?")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="warn", compression="infer")
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
        raise FeaturesFileError(f"{what} {path} cannot be read ({exc}): half-written or corrupt?") from exc


def parse_genre_list(text: object) -> list[str]:
    """"['dance pop', 'pop']" -> ['dance pop', 'pop']. literal_eval, never eval: the file is data."""
    if isinstance(text, (list, tuple, np.ndarray)):
        return [str(g) for g in text]
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return [g.strip() for g in text.strip("[]").split(",") if g.strip().strip("'\"")]
    return [str(g) for g in value] if isinstance(value, (list, tuple)) else [str(value)]


def _key(value: object) -> float:
    if isinstance(value, str) and value.strip() in PITCH_CLASSES:
        return float(PITCH_CLASSES[value.strip()])
    return pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]


def _mode(value: object) -> float:
    if isinstance(value, str) and value.strip().lower() in MODES:
        return MODES[value.strip().lower()]
    return pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]


def _time_signature(value: object) -> float:
    if isinstance(value, str) and "/" in value:
        value = value.split("/", 1)[0]
    return pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]


@dataclass(frozen=True)
class FeaturesFileConfig:
    path: str
    layout: str = "auto"  # auto | tracks_114k | features_232k | daily_tracks | plain
    artists_path: str | None = None  # daily_tracks: artist_id, genres


class FeaturesFile:
    """A features file mapped to TRACK_FEATURE_COLUMNS, one row per track id (loaded once)."""

    def __init__(self, config: FeaturesFileConfig):
        self.config = config
        self.path = Path(config.path)

    @cached_property
    def table(self) -> pd.DataFrame:
        raw = read_table_file(self.path, "features file")
        names = [str(c) for c in raw.columns]
        layout, mapping = resolve_layout(names, self.config.layout, FEATURE_LAYOUTS, detect_feature_layout,
                                         f"features file {self.path}", "features")
        out = pd.DataFrame({ours: raw[theirs] for ours, theirs in mapping.items()})
        out["key"] = out["key"].map(_key)
        out["mode"] = out["mode"].map(_mode)
        if "time_signature" in out:
            out["time_signature"] = out["time_signature"].map(_time_signature)
        for col in FEATURE_COLUMNS:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64") if col in out else np.nan
        for col, value in LAYOUT_DEFAULTS.get(layout, {}).items():
            out[col] = value
        out["track_id"] = out["track_id"].astype(str).str.strip()
        out = out[out["track_id"].str.fullmatch(r"[0-9A-Za-z]{22}")]
        out["genres"] = self._genres(out, raw.loc[out.index], layout)
        for col in ("preview_url", "cover_url"):
            out[col] = raw.loc[out.index, col].replace("", None) if col in raw else None
        return out.loc[:, list(TRACK_FEATURE_COLUMNS)].reset_index(drop=True)

    def _genres(self, out: pd.DataFrame, raw: pd.DataFrame, layout: str) -> pd.Series:
        if layout in ("tracks_114k", "features_232k"):
            # One row per (track, genre) in these files: every genre a track is listed under.
            per_track = out.groupby("track_id")["genre"].agg(lambda s: sorted({g for g in s if g}))
            genres = out["track_id"].map(per_track)
            out.drop(columns="genre", inplace=True)
            # keep the first row per id, now carrying all its genres
            keep = ~out["track_id"].duplicated()
            out.drop(index=out.index[~keep], inplace=True)
            return genres[keep]
        if layout == "daily_tracks":
            by_artist = self.artist_genres
            genres = out["artist_id"].map(lambda a: by_artist.get(a, []))
            out.drop(columns="artist_id", inplace=True)
            return genres
        if "genres" in raw:
            return raw["genres"].map(parse_genre_list)
        return pd.Series([[] for _ in range(len(out))], index=out.index, dtype=object)

    @cached_property
    def artist_genres(self) -> dict[str, list[str]]:
        """artist_id -> genres, from the artists file (genres as a Python-list string)."""
        if not self.config.artists_path:
            return {}
        path = Path(self.config.artists_path)
        raw = read_table_file(path, "artists file")
        missing = [c for c in ("artist_id", "genres") if c not in raw.columns]
        if missing:
            raise LayoutColumnsError(missing, f"artists file {path}", "artists", ["artist_id", "genres"])
        return dict(zip(raw["artist_id"].astype(str), raw["genres"].map(parse_genre_list)))

    def lookup(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        table = self.table
        hits = table[table["track_id"].isin(set(track_ids))].drop_duplicates("track_id")
        if log:
            log(f"features file {self.path.name}: {len(hits):,} of {len(track_ids):,} tracks found")
        return hits.reset_index(drop=True)
