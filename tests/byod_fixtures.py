"""Project-written fixtures of every layout issue 13 lists: the real headers, the real messes (a
note line before the header, thousands separators, `2/4/22` dates, list strings, `;` and `|`
lists, "C#"/"Major"/"4/4", a bad value or two), written deterministically for `n` tracks.

Each `write_<layout>` writes its files into a folder and returns a Case: the source config that
brings them in (paths and at most a column map), and what the pipeline must find: rows in, tracks
in the bundle, parse rejects and chart-row rejects by reason. The generator decides the messes, so
it knows the counts; the pipeline has to find them. Used by tests/test_byod_layouts.py and
scripts/byod_report.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
GENRES = ("rock", "pop", "hip hop", "classical")
# genre -> centre of (danceability, energy, loudness, speechiness, acousticness, instrumentalness,
# liveness, valence, tempo): far apart, so the fitted clusters are not tiny
CENTRES = {
    "rock": (0.45, 0.85, -5.0, 0.05, 0.05, 0.10, 0.25, 0.45, 140.0),
    "pop": (0.75, 0.65, -6.0, 0.08, 0.20, 0.01, 0.12, 0.70, 115.0),
    "hip hop": (0.80, 0.60, -7.0, 0.35, 0.15, 0.01, 0.15, 0.50, 95.0),
    "classical": (0.25, 0.10, -22.0, 0.04, 0.95, 0.85, 0.10, 0.15, 80.0),
}
N_TRACKS = 150  # tracks_enough needs 100 after dedupe (defs/checks.py MIN_TRACKS)
NOTE = ',,,"Note that these figures are generated using a formula that protects against any artificial inflation of chart positions.",'
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def track_id(seed: str, i: int) -> str:
    digest = int(hashlib.sha1(f"{seed}-{i}".encode()).hexdigest(), 16)
    return "".join(BASE62[(digest >> (6 * k)) % 62] for k in range(22))


@dataclass
class Track:
    track_id: str
    title: str
    artist: str
    artist_id: str
    genre: str
    features: dict[str, float]
    popularity: int


def catalog(seed: str, n: int = N_TRACKS) -> list[Track]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        genre = GENRES[i % len(GENRES)]
        c = CENTRES[genre]
        jitter = lambda v, s, lo, hi: round(min(hi, max(lo, v + rng.gauss(0, s))), 4)  # noqa: E731
        f = {"danceability": jitter(c[0], 0.05, 0, 1), "energy": jitter(c[1], 0.05, 0, 1),
             "loudness": jitter(c[2], 1.0, -59, 4), "speechiness": jitter(c[3], 0.02, 0, 1),
             "acousticness": jitter(c[4], 0.05, 0, 1), "instrumentalness": jitter(c[5], 0.05, 0, 1),
             "liveness": jitter(c[6], 0.03, 0, 1), "valence": jitter(c[7], 0.05, 0, 1),
             "tempo": jitter(c[8], 5.0, 40, 240), "key": float(rng.randrange(12)), "mode": float(rng.randrange(2)),
             "duration_ms": float(rng.randrange(150_000, 300_000)), "time_signature": float(rng.choice((3, 4, 4, 4)))}
        out.append(Track(track_id(seed, i), f"{seed.title()} Song {i:03d}", f"Artist {seed[:3]} {i % 36:02d}",
                         track_id(seed + "-artist", i % 36), genre, f, rng.randrange(1, 100)))
    return out


@dataclass
class Case:
    layout: str
    source: dict[str, Any]  # SourceResource fields besides kind="files"
    rows_in: int  # data rows over every file
    tracks: int  # tracks the bundle must hold
    feature_rejects: dict[str, int] = field(default_factory=dict)
    chart_rejects: dict[str, int] = field(default_factory=dict)
    absent: bool = False  # a feature the file does not carry (all-NaN; the model uses the ones it has)
    files: list[str] = field(default_factory=list)


def _csv(path: Path, header: list[str], rows: list[list[Any]], sep: str = ",", note: str | None = None,
         gz: bool = False, encoding: str = "utf-8") -> Path:
    import csv
    import io

    buf = io.StringIO()
    if note:
        buf.write(note + "\n")
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


FEATURES13 = ["danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness", "instrumentalness",
              "liveness", "valence", "tempo", "duration_ms", "time_signature"]


def _plain_features(path: Path, tracks: list[Track]) -> Path:
    return _csv(path, ["track_id", *FEATURES13, "genres"],
                [[t.track_id, *[t.features[c] for c in FEATURES13], t.genre] for t in tracks])


def _url(t: Track) -> str:
    return f"https://open.spotify.com/track/{t.track_id}"


# ---------------------------------------------------------------------------------------------------
# chart layouts (each with a plain features file, so the graph has features)
# ---------------------------------------------------------------------------------------------------

def write_kaggle(folder: Path) -> Case:
    ts = catalog("kaggle")
    rows = [[t.title, i % 200 + 1, "2017-01-01", t.artist, _url(t), "Argentina", "top200", "SAME_POSITION", 1000 + i]
            for i, t in enumerate(ts)]
    rows.append(["Broken", "N/A", "2017-01-01", "Nobody", _url(ts[0]), "Argentina", "top200", "MOVE_UP", 1])
    charts = _csv(folder / "charts.csv", ["title", "rank", "date", "artist", "url", "region", "chart", "trend", "streams"], rows)
    feats = _plain_features(folder / "features.csv", ts)
    return Case("kaggle", {"charts_path": str(charts), "features_path": str(feats)}, len(rows) + len(ts), len(ts),
                chart_rejects={"rank is not a positive integer": 1})


def write_daily(folder: Path) -> Case:
    ts = catalog("daily")
    rows = [["2017-01-01", i + 1, t.track_id, t.title, t.artist, 5000 - i] for i, t in enumerate(ts)]
    charts = _csv(folder / "daily.csv.gz", ["date", "position", "track_id", "track_name", "artist", "streams"], rows, gz=True)
    tracks = _csv(folder / "tracks.csv", ["track_id", "track_name", "artist_id", "artist_name", "album_id", "duration",
                                          "release_date", "popularity", *[c for c in FEATURES13 if c not in ("duration_ms", "time_signature")]],
                  [[t.track_id, t.title, t.artist_id, t.artist, "alb", int(t.features["duration_ms"]), "2016-11-17", t.popularity,
                    *[t.features[c] for c in FEATURES13 if c not in ("duration_ms", "time_signature")]] for t in ts])
    artists = _csv(folder / "artists.csv", ["artist_id", "artist_name", "total_followers", "genres", "popularity"],
                   sorted({(t.artist_id, t.artist, 10, str([t.genre, f"{t.genre} deep"]), 50) for t in ts}))
    n_artists = len({t.artist_id for t in ts})
    return Case("daily + daily_tracks + artists", {"charts_path": str(charts), "charts_region": "Philippines",
                                                   "features_path": str(tracks), "artists_path": str(artists)},
                len(rows) + len(ts) + n_artists, len(ts), absent=True)


def write_spotifycharts(folder: Path) -> Case:
    ts = catalog("spotifycharts")
    paths = []
    for day, chunk in (("2020-01-01", ts[:75]), ("2020-01-02", ts[75:])):
        rows = [[i + 1, t.title, t.artist, f"{(90_000 - i * 100):,}", _url(t)] for i, t in enumerate(chunk)]
        if day == "2020-01-02":
            rows.append(["", "No Position", "Someone", "1,000", _url(ts[0])])
        paths.append(_csv(folder / "charts" / f"regional-ph-daily-{day}.csv", ["Position", "Track Name", "Artist", "Streams", "URL"],
                          rows, note=NOTE))
    feats = _plain_features(folder / "features.csv", ts)
    return Case("spotifycharts (folder, note line, date and region from the file name)",
                {"charts_path": str(folder / "charts"), "features_path": str(feats)}, len(ts) + 1 + len(ts), len(ts),
                chart_rejects={"rank is not a positive integer": 1})


def write_spotifycharts_weekly(folder: Path) -> Case:
    ts = catalog("weekly")
    rows = [["2020-01-03", "2020-01-10", i + 1, t.title, t.artist, f"{(1_200_000 - i * 1000):,}", _url(t)] for i, t in enumerate(ts)]
    charts = _csv(folder / "regional-global-weekly-2020-01-03--2020-01-10.csv",
                  ["Week Start", "Week End", "Position", "Track Name", "Artist", "Streams", "URL"], rows, note=NOTE)
    feats = _plain_features(folder / "features.csv", ts)
    return Case("spotifycharts weekly", {"charts_path": str(charts), "features_path": str(feats)}, 2 * len(ts), len(ts))


def write_weekly_dump(folder: Path) -> Case:
    ts = catalog("weeklydump")
    rows = [[("global", "us")[i % 2], "weekly", "2021-05-06", i // 2 + 1, t.track_id, f"{t.artist}, Guest {i % 5}",
             t.title, 100_000 - i] for i, t in enumerate(ts)]
    rows.append(["us", "weekly", "06-May", 3, ts[1].track_id, "X", "Bad date", 5])  # a spreadsheet's date
    charts = _csv(folder / "weekly_charts.csv", ["country", "freq", "date", "rank", "track_id", "artist_names", "track_name", "streams"], rows)
    feats = _plain_features(folder / "features.csv", ts)
    return Case("weekly dump", {"charts_path": str(charts), "features_path": str(feats)}, len(rows) + len(ts), len(ts),
                chart_rejects={"date is not a real YYYY-MM-DD date": 1})


def write_id_keyed(folder: Path) -> Case:
    ts = catalog("idkeyed")
    rows = [[i + 1, t.title, t.artist, 3000 - i, "Global", "2019-12-31", t.track_id] for i, t in enumerate(ts)]
    rows.append([7, "No id", "Someone", 10, "Global", "2019-12-31", "spotify:track:nope"])
    charts = _csv(folder / "chart.csv", ["position", "title", "artist", "streams", "region", "date", "id"], rows)
    feats = _plain_features(folder / "features.csv", ts)
    return Case("id-keyed dump", {"charts_path": str(charts), "features_path": str(feats)}, len(rows) + len(ts), len(ts),
                chart_rejects={"url has no Spotify track id": 1})


# ---------------------------------------------------------------------------------------------------
# charts and catalog in one file
# ---------------------------------------------------------------------------------------------------

def write_year_end(folder: Path, genres5: bool = False) -> Case:
    ts = catalog("yearend5" if genres5 else "yearend")
    header = ["chart_position", "title", "artist", "year", "album", "id", *FEATURES13, "popularity"]
    header += ["genre1", "genre2", "genre3", "genre4", "genre5"] if genres5 else ["top_genre"]
    rows = []
    for i, t in enumerate(ts):
        f = dict(t.features)
        labels = [t.genre, f"{t.genre} dance" if i % 2 else "", "", "", ""] if genres5 else [t.genre]
        rows.append([i % 100 + 1, t.title, t.artist, 2010 + i // 100, "Album", t.track_id,
                     *[f[c] for c in FEATURES13], t.popularity, *labels])
    rows[5][header.index("tempo")] = "fast"  # one bad value: a parse reject, the value missing
    path = _csv(folder / ("year_end_genres.csv" if genres5 else "year_end.csv"), header, rows)
    return Case("year-end list (genre1..genre5)" if genres5 else "year-end list (top_genre)", {"charts_path": str(path)},
                len(rows), len(ts), feature_rejects={"tempo is not a number": 1})


def write_top200_summary(folder: Path) -> Case:
    ts = catalog("summary")
    header = ["Index", "Highest Charting Position", "Number of Times Charted", "Week of Highest Charting", "Song Name",
              "Streams", "Artist", "Artist Followers", "Song ID", "Genre", "Release Date", "Weeks Charted", "Popularity",
              "Danceability", "Energy", "Loudness", "Speechiness", "Acousticness", "Liveness", "Tempo", "Duration (ms)",
              "Valence", "Chord"]
    rows = []
    for i, t in enumerate(ts):
        f = t.features
        rows.append([i + 1, i % 200 + 1, 8, f"{1 + i % 12}/{1 + i % 28}/22", t.title, f"{48_633_449 - i * 1000:,}.00",
                     t.artist, f"{3_377_762 + i:,}", t.track_id, str([t.genre, f"{t.genre} italiano"]), "2/4/22", 8, t.popularity,
                     f["danceability"], f["energy"], f["loudness"], f["speechiness"], f["acousticness"], f["liveness"],
                     f["tempo"], int(f["duration_ms"]), f["valence"], PITCHES[int(f["key"])]])
    rows[3][header.index("Energy")] = "n/a"
    path = _csv(folder / "spotify_top200_summary.csv", header, rows)
    return Case("top-200 summary", {"charts_path": str(path)}, len(rows), len(ts),
                feature_rejects={"energy is not a number": 1}, absent=True)


# ---------------------------------------------------------------------------------------------------
# catalog layouts (no charts)
# ---------------------------------------------------------------------------------------------------

def write_catalog_dump(folder: Path) -> Case:
    ts = catalog("catalogdump")
    header = ["id", "name", "popularity", "duration_ms", "explicit", "artists", "id_artists", "release_date", "danceability",
              "energy", "key", "loudness", "mode", "speechiness", "acousticness", "instrumentalness", "liveness", "valence",
              "tempo", "time_signature"]
    rows = [[t.track_id, t.title, t.popularity, int(t.features["duration_ms"]), 0, str([t.artist]), str([t.artist_id]),
             "1922-02-22", *[t.features[c] for c in header[8:]]] for t in ts]
    rows[2][header.index("danceability")] = "2017-01-01"  # a date in a numeric column, once: a reject
    rows.append(["not-an-id", "Bad", 1, 1000, 0, "['X']", "['Y']", "1922", *[0.5] * 12])
    tracks = _csv(folder / "tracks.csv", header, rows)
    artists = sorted({(t.artist_id, 10.0, str([t.genre, "k-pop"] if t.genre == "pop" else [t.genre]), t.artist, 40) for t in ts})
    art = _csv(folder / "artists.csv", ["id", "followers", "genres", "name", "popularity"], artists)
    return Case("catalog dump + artists", {"features_path": str(tracks), "artists_path": str(art)},
                len(rows) + len(artists), len(ts),
                feature_rejects={"danceability is not a number": 1, "track_id is not a 22-character Spotify id": 1})


def write_playlist_folder(folder: Path) -> Case:
    ts = catalog("playlist")
    header = ["playlist_name", "playlist_id", "track_id", "track_name", "artist_name", "popularity", *FEATURES13]
    by_genre: dict[str, list[Track]] = {}
    for t in ts:
        by_genre.setdefault(t.genre, []).append(t)
    n = 0
    for genre, members in by_genre.items():
        rows = [[f"{genre} hits", "pl1", t.track_id, t.title, t.artist, t.popularity, *[t.features[c] for c in FEATURES13]]
                for t in members]
        if genre == "rock":
            rows[0][header.index("tempo")] = "04-Apr"
        n += len(rows)
        _csv(folder / "genres" / f"{genre.title().replace(' ', '')}_playlist_tracks_data.csv", header, rows)
    return Case("folder of per-genre CSVs", {"features_path": str(folder / "genres")}, n, len(ts),
                feature_rejects={"tempo is not a number": 1})


def write_json(folder: Path) -> Case:
    ts = catalog("jsoncat")
    tracks = {"tracks": [{"id": t.track_id, "name": t.title, "artists": [t.artist], "id_artists": [t.artist_id],
                          "popularity": t.popularity, **t.features} for t in ts]}
    tracks["tracks"][4]["valence"] = "high"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tracks.json").write_text(json.dumps(tracks))
    artists = [{"id": a, "name": n, "tags": [g, f"{g} tagged"]} for a, n, g in sorted({(t.artist_id, t.artist, t.genre) for t in ts})]
    (folder / "artists.json").write_text(json.dumps(artists))
    return Case("JSON tracks.json + artists.json (tag lists)", {"features_path": str(folder / "tracks.json"),
                                                                 "artists_path": str(folder / "artists.json")},
                len(ts) + len(artists), len(ts), feature_rejects={"valence is not a number": 1})


def write_jsonl(folder: Path) -> Case:
    ts = catalog("jsonlines")
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"track_id": t.track_id, "title": t.title, "artist": t.artist, **t.features,
                         "genres": f"{t.genre}|{t.genre} jsonl"}) for t in ts]
    (folder / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    return Case("JSON Lines (plain)", {"features_path": str(folder / "tracks.jsonl")}, len(ts), len(ts))


def write_tracks_114k(folder: Path) -> Case:
    ts = catalog("t114k")
    header = ["Unnamed: 0", "track_id", "artists", "album_name", "track_name", "popularity", "duration_ms", "explicit",
              *[c for c in FEATURES13 if c != "duration_ms"], "track_genre"]
    rows = []
    for i, t in enumerate(ts):
        for g in ([t.genre, f"{t.genre} acoustic"] if i % 10 == 0 else [t.genre]):  # one row per (track, genre)
            rows.append([len(rows), t.track_id, f"{t.artist};Feat {i % 3}", "Album", t.title, t.popularity,
                         int(t.features["duration_ms"]), "False", *[t.features[c] for c in FEATURES13 if c != "duration_ms"], g])
    path = _csv(folder / "dataset.csv", header, rows)
    return Case("tracks_114k", {"features_path": str(path)}, len(rows), len(ts))


def write_features_232k(folder: Path) -> Case:
    ts = catalog("f232k")
    header = ["genre", "artist_name", "track_name", "track_id", "popularity", "acousticness", "danceability", "duration_ms",
              "energy", "instrumentalness", "key", "liveness", "loudness", "mode", "speechiness", "tempo", "time_signature", "valence"]
    rows = []
    for t in ts:
        f = t.features
        rows.append([t.genre.title(), t.artist, t.title, t.track_id, t.popularity, f["acousticness"], f["danceability"],
                     int(f["duration_ms"]), f["energy"], f["instrumentalness"], PITCHES[int(f["key"])], f["liveness"],
                     f["loudness"], "Major" if f["mode"] else "Minor", f["speechiness"], f["tempo"],
                     f"{int(f['time_signature'])}/4", f["valence"]])
    rows[7][header.index("time_signature")] = "04-Apr"  # one spreadsheet-mangled value: a reject
    path = _csv(folder / "SpotifyFeatures.csv", header, rows)
    return Case("features_232k", {"features_path": str(path)}, len(rows), len(ts),
                feature_rejects={"time_signature is not a time_signature": 1})


def write_plain(folder: Path) -> Case:
    ts = catalog("plainsemi")
    rows = [[t.track_id, t.title, t.artist, *[t.features[c] for c in FEATURES13], f"{t.genre}|{t.genre} plain"] for t in ts]
    path = _csv(folder / "features.csv", ["track_id", "title", "artist", *FEATURES13, "genres"], rows, sep=";")
    return Case("plain (';' delimited)", {"features_path": str(path)}, len(rows), len(ts))


def write_column_map(folder: Path) -> Case:
    """A layout no built-in fits, brought by a column map of a few lines (latin-1, renamed columns)."""
    ts = catalog("mapped")
    header = ["Titel", "Künstler", "Spotify-ID", "Tanzbarkeit", "Energie", "Lautstärke", "Sprechanteil", "Akustik",
              "Instrumental", "Live", "Stimmung", "Tempo", "Genres"]
    keys = ["danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness", "liveness", "valence", "tempo"]
    rows = [[t.title, t.artist + " é", t.track_id, *[t.features[k] for k in keys], f"{t.genre};{t.genre} schön"] for t in ts]
    path = _csv(folder / "katalog.csv", header, rows, sep=";", encoding="latin-1")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "columns.yaml").write_text(
        "files:\n"
        "  - path: katalog.csv\n"
        "    roles: [catalog]\n"
        "    encoding: latin-1\n"
        "    columns: {track_id: Spotify-ID, title: Titel, artist: Künstler, danceability: Tanzbarkeit, energy: Energie,\n"
        "              loudness: Lautstärke, speechiness: Sprechanteil, acousticness: Akustik,\n"
        "              instrumentalness: Instrumental, liveness: Live, valence: Stimmung, tempo: Tempo, genres: Genres}\n",
        encoding="utf-8")
    return Case("column map (latin-1, German headers)", {"column_map_path": str(folder / "columns.yaml")}, len(rows), len(ts),
                absent=True)


WRITERS: dict[str, Callable[[Path], Case]] = {
    "kaggle": write_kaggle, "daily": write_daily, "spotifycharts": write_spotifycharts,
    "spotifycharts_weekly": write_spotifycharts_weekly, "weekly_dump": write_weekly_dump, "id_keyed": write_id_keyed,
    "year_end": write_year_end, "year_end_genres": lambda f: write_year_end(f, genres5=True),
    "top200_summary": write_top200_summary, "catalog_dump": write_catalog_dump, "playlist_folder": write_playlist_folder,
    "json": write_json, "jsonl": write_jsonl, "tracks_114k": write_tracks_114k, "features_232k": write_features_232k,
    "plain": write_plain, "column_map": write_column_map,
}


@dataclass
class Outcome:
    """What one case gave through the whole graph."""

    success: bool
    rows_in: int
    tracks: int  # in the published bundle (0 when nothing was published)
    feature_rejects: dict[str, int]
    chart_rejects: dict[str, int]
    failure: str = ""


def run_case(case: Case, data_dir: Path, engine: str = "local", spark_master: str = "local[1]") -> Outcome:
    """The whole asset graph (every asset and check) on the case's files, into `data_dir`."""
    import dagster as dg
    import pyarrow.parquet as pq

    from music_assets.definitions import ALL_ASSETS
    from music_assets.defs.resources import DataStore, EngineResource, SourceResource

    result = dg.materialize(ALL_ASSETS, raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(kind=engine, spark_master=spark_master),
        "source": SourceResource(kind="files", **case.source)})
    meta = {e.materialization.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}
    files: dict[str, int] = {}
    for asset in ("chart_rows", "track_features"):
        for item in meta.get(asset, {}).get("layouts_understood", []) or []:
            if "read" in item:
                files[item["read"]["file"]] = int(item["read"]["rows"])
            elif "file" in item:  # streamed: the chart rows read (one streamed file per case)
                files[item["file"]] = int(meta["chart_rows"]["rows_read"])
    tracks = 0
    latest = data_dir / "models" / "LATEST"
    if latest.is_file():
        from music_assets.model.bundle import load_bundle

        tracks = len(load_bundle(data_dir / "models").tracks)
    rejected = data_dir / "assets" / "chart_rows_rejected.parquet"
    chart_rejects = dict(meta.get("chart_rows", {}).get("rejected_reasons", {}) or {})
    failure = ""
    if not result.success:
        messages = []
        for event in (e for e in result.all_events if e.is_step_failure):
            error = event.step_failure_data.error
            while error is not None:  # the asset's own exception is a cause of Dagster's
                messages.append(str(error.message).strip()[:500])
                error = error.cause
        failure = "\n".join(messages)
    del rejected, pq
    return Outcome(result.success, sum(files.values()), tracks,
                   dict(meta.get("track_features", {}).get("parse_reject_reasons", {}) or {}), chart_rejects, failure)
