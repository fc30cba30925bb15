"""The public layouts this project knows by their header, each a column map, and their detection.

A layout is detected when every column of its signature is in the header; the most specific
layouts are tried first. Columns a layout maps but the file lacks are absent (all-NaN features),
never invented. docs/bring-your-own-data.md has a worked example of each.
"""

from __future__ import annotations

from typing import Sequence

from music_assets.ingest.layouts.column_map import ColumnMap
from music_assets.schema import CHART_COLUMNS, FEATURE_COLUMNS

_F = {c: (c,) for c in FEATURE_COLUMNS}
# spotifycharts.com names its downloads regional-ph-daily-2020-01-01.csv,
# regional-global-weekly-2020-01-03--2020-01-10.csv, viral-us-daily-....csv
SPOTIFYCHARTS_FILE_NAME = {
    "chart": r"^(regional|viral)-",
    "region": r"^(?:regional|viral)-([a-z]{2}|global)-",
    "date": r"-(?:daily|weekly)-(\d{4}-\d{2}-\d{2})",
}
CHART_NAMES = {"regional": "top200", "viral": "viral50"}  # spotifycharts' words for our chart kinds


def _m(name: str, roles: tuple[str, ...], columns: dict[str, str | tuple[str, ...]], signature: Sequence[str],
       **kw: object) -> ColumnMap:
    cols = {o: (t,) if isinstance(t, str) else tuple(t) for o, t in columns.items()}
    return ColumnMap(name=name, roles=roles, columns=cols, required=tuple(signature), builtin=True, **kw)  # type: ignore[arg-type]


BUILTIN_LAYOUTS: dict[str, ColumnMap] = {m.name: m for m in (
    # --- charts -----------------------------------------------------------------------------
    _m("kaggle", ("charts",), {c: c for c in CHART_COLUMNS}, ("title", "rank", "date", "artist", "url", "region", "chart")),
    _m("daily", ("charts",), {"title": "track_name", "rank": "position", "date": "date", "artist": "artist",
                              "track_id": "track_id", "streams": "streams"},
       ("date", "position", "track_id", "track_name", "artist")),
    _m("spotifycharts_weekly", ("charts",), {"rank": "Position", "title": "Track Name", "artist": "Artist",
                                             "streams": "Streams", "url": "URL", "date": "Week Start"},
       ("Week Start", "Week End", "Position", "Track Name", "Artist", "URL"), from_file_name=SPOTIFYCHARTS_FILE_NAME),
    _m("spotifycharts", ("charts",), {"rank": "Position", "title": "Track Name", "artist": "Artist",
                                      "streams": "Streams", "url": "URL", "date": "Date", "region": "Region"},
       ("Position", "Track Name", "Artist", "URL"), from_file_name=SPOTIFYCHARTS_FILE_NAME),
    _m("weekly_dump", ("charts",), {"region": "country", "date": "date", "rank": "rank", "track_id": "track_id",
                                    "artist": "artist_names", "title": "track_name", "streams": "streams"},
       ("country", "freq", "date", "rank", "track_id", "artist_names", "track_name")),
    _m("id_keyed", ("charts",), {"rank": "position", "title": "title", "artist": "artist", "streams": "streams",
                                 "region": "region", "date": "date", "track_id": "id"},
       ("position", "title", "artist", "region", "date", "id")),
    # --- charts and catalog in one file -----------------------------------------------------
    _m("top200_summary", ("charts", "catalog"),
       {"rank": "Highest Charting Position", "date": "Week of Highest Charting", "title": "Song Name",
        "streams": "Streams", "artist": "Artist", "track_id": "Song ID", "genres": "Genre",
        "popularity": "Popularity", "danceability": "Danceability", "energy": "Energy", "loudness": "Loudness",
        "speechiness": "Speechiness", "acousticness": "Acousticness", "liveness": "Liveness", "tempo": "Tempo",
        "duration_ms": "Duration (ms)", "valence": "Valence", "key": "Chord"},
       ("Highest Charting Position", "Song Name", "Artist", "Song ID", "Streams")),
    _m("year_end_genres", ("charts", "catalog"),
       {"rank": "chart_position", "title": "title", "artist": "artist", "date": "year", "track_id": "id", **_F,
        "popularity": "popularity", "genres": ("genre1", "genre2", "genre3", "genre4", "genre5")},
       ("chart_position", "title", "artist", "year", "id", "genre1")),
    _m("year_end", ("charts", "catalog"),
       {"rank": "chart_position", "title": "title", "artist": "artist", "date": "year", "track_id": "id", **_F,
        "popularity": "popularity", "genre": "top_genre"},
       ("chart_position", "title", "artist", "year", "id")),
    # --- catalog (features) -----------------------------------------------------------------
    _m("tracks_114k", ("catalog",), {"track_id": "track_id", "title": "track_name", "artist": "artists",
                                     "popularity": "popularity", **_F, "genre": "track_genre", "album": "album_name"},
       ("track_id", "track_genre")),
    _m("features_232k", ("catalog",), {"track_id": "track_id", "title": "track_name", "artist": "artist_name",
                                       "popularity": "popularity", **_F, "genre": "genre"},
       ("track_id", "genre", "artist_name")),
    _m("playlist_tracks", ("catalog",), {"track_id": "track_id", "title": "track_name", "artist": "artist_name",
                                         "popularity": "popularity", **_F, "genre": "genre"},
       ("playlist_name", "track_id", "track_name", "artist_name"),
       from_file_name={"genre": r"^(.+?)_playlist"}),
    _m("daily_tracks", ("catalog",), {"track_id": "track_id", "title": "track_name", "artist": "artist_name",
                                      "popularity": "popularity", **{c: (c,) for c in FEATURE_COLUMNS if c != "duration_ms"},
                                      "duration_ms": "duration", "artist_ids": "artist_id"},
       ("track_id", "artist_id", "duration")),
    _m("catalog_dump", ("catalog",), {"track_id": "id", "title": "name", "artist": "artists", "popularity": "popularity",
                                      **_F, "artist_ids": "id_artists", "genres": "genres",
                                      "preview_url": "preview_url", "cover_url": "cover_url"},
       ("id", "name", "artists")),
    _m("plain", ("catalog",), {"track_id": "track_id", "title": "title", "artist": "artist", "popularity": "popularity",
                               **_F, "genres": "genres", "preview_url": "preview_url", "cover_url": "cover_url"},
       ("track_id",)),
    # --- artists ------------------------------------------------------------------------------
    _m("artists_daily", ("artists",), {"artist_id": "artist_id", "genres": "genres"}, ("artist_id", "genres")),
    _m("artists_dump", ("artists",), {"artist_id": "id", "genres": "genres"}, ("id", "genres")),
    _m("artists_tags", ("artists",), {"artist_id": "id", "genres": "tags"}, ("id", "tags")),
)}
# Detection order: most specific first (plain last: any file with a track_id column fits it).
DETECTION_ORDER = ("kaggle", "daily", "spotifycharts_weekly", "spotifycharts", "weekly_dump", "id_keyed",
                   "top200_summary", "year_end_genres", "year_end", "tracks_114k", "features_232k",
                   "playlist_tracks", "daily_tracks", "catalog_dump", "artists_daily", "artists_dump",
                   "artists_tags", "plain")
# Layouts the streaming chart reader reads directly (csv_files.CHART_LAYOUTS); others are normalized first.
STREAMED_CHART_LAYOUTS = ("kaggle", "daily")


class UnknownLayout(ValueError):
    """No built-in layout fits a header; the message names the file, its header and the way out."""


def detect_layout(names: Sequence[str], source: str, role: str | None = None) -> ColumnMap:
    """The first built-in layout whose signature the header has (of `role`, when given)."""
    have = set(names)
    for name in DETECTION_ORDER:
        layout = BUILTIN_LAYOUTS[name]
        if role is not None and role not in layout.roles:
            continue
        if set(layout.required) <= have:
            return layout
    kinds = f"{role} " if role else ""
    candidates = [BUILTIN_LAYOUTS[n] for n in DETECTION_ORDER if role is None or role in BUILTIN_LAYOUTS[n].roles]
    closest = max(candidates, key=lambda m: len(set(m.required) & have) / len(m.required))
    lacks = ", ".join(repr(c) for c in closest.required if c not in have)
    raise UnknownLayout(f"{source}: no known {kinds}layout fits the header {list(names)[:30]} (closest: "
                        f"{closest.name!r}, which needs {lacks}); write a column map "
                        f"(MUSIC_ADVISER_COLUMN_MAP, docs/bring-your-own-data.md) or name a layout "
                        f"({', '.join(n for n in DETECTION_ORDER if role is None or role in BUILTIN_LAYOUTS[n].roles)})")
