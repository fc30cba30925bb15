"""The embedded demo catalog: a deterministic, offline stand-in for Spotify chart data.

Everything comes from one seed: no network, no shipped files. It is shaped like the real data
so every stage is exercised honestly: base62 ids, ~45 genres in families whose audio-feature
distributions overlap (genre is only partly recoverable from sound), 1-4 genres per artist,
chart rows in the Kaggle layout with one track in many rows, and the mess real data has:
missing features, no preview, shared titles, re-releases under a second id, malformed rows.
A little over 300 lines: one generator, whose catalog, artists, regions and chart rows are drawn
from streams of one seed and must agree with each other (a region's genres, an artist's tracks).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from music_assets.schema import CHART_COLUMNS, SYNTHESIZED_PREVIEW_SCHEME, TRACK_FEATURE_COLUMNS
from music_assets.ingest.sources.base import Log

BASE62 = np.array(list(string.digits + string.ascii_uppercase + string.ascii_lowercase))

# Family prototypes: danceability, energy, speechiness, acousticness, instrumentalness,
# liveness, valence, loudness (dB), tempo (BPM), P(mode=1), duration (s).
_FAMILIES: dict[str, tuple[float, ...]] = {
    "pop": (0.65, 0.66, 0.06, 0.20, 0.01, 0.15, 0.52, -6.0, 118, 0.60, 205),
    "electronic": (0.70, 0.82, 0.06, 0.05, 0.30, 0.18, 0.42, -5.0, 124, 0.50, 215),
    "hip hop": (0.78, 0.62, 0.26, 0.15, 0.01, 0.18, 0.44, -6.5, 128, 0.50, 190),
    "latin": (0.76, 0.75, 0.10, 0.20, 0.01, 0.15, 0.70, -5.0, 100, 0.55, 200),
    "rock": (0.47, 0.82, 0.05, 0.07, 0.08, 0.21, 0.44, -5.5, 130, 0.65, 235),
    "acoustic": (0.55, 0.38, 0.04, 0.70, 0.04, 0.13, 0.42, -10.0, 112, 0.75, 215),
    "calm": (0.30, 0.16, 0.04, 0.90, 0.80, 0.11, 0.20, -21.0, 95, 0.60, 300),
    "r&b": (0.66, 0.52, 0.09, 0.30, 0.02, 0.14, 0.50, -7.5, 104, 0.45, 215),
    "asian pop": (0.68, 0.78, 0.07, 0.15, 0.01, 0.16, 0.60, -4.5, 122, 0.55, 200),
    "island": (0.78, 0.62, 0.10, 0.20, 0.03, 0.15, 0.76, -7.0, 100, 0.50, 220),
    "jazz": (0.55, 0.40, 0.05, 0.65, 0.30, 0.20, 0.50, -11.0, 110, 0.55, 260),
}
GENRE_FAMILY: dict[str, str] = {
    **dict.fromkeys(["pop", "dance pop", "boy band", "girl group", "post-teen pop", "electropop"], "pop"),
    **dict.fromkeys(["edm", "house", "tropical house", "electro house", "techno"], "electronic"),
    **dict.fromkeys(["rap", "trap", "hip hop", "melodic rap"], "hip hop"),
    **dict.fromkeys(["latin", "reggaeton", "latin pop", "trap latino"], "latin"),
    **dict.fromkeys(["rock", "indie rock", "alternative rock", "metal", "punk"], "rock"),
    **dict.fromkeys(["folk", "indie folk", "country", "singer-songwriter", "acoustic pop", "opm"], "acoustic"),
    **dict.fromkeys(["classical", "soundtrack", "ambient", "lo-fi"], "calm"),
    **dict.fromkeys(["r&b", "soul", "funk"], "r&b"),
    **dict.fromkeys(["k-pop", "j-pop", "anime", "mandopop"], "asian pop"),
    **dict.fromkeys(["reggae", "afrobeats"], "island"),
    **dict.fromkeys(["jazz", "blues"], "jazz"),
}
GENRES: tuple[str, ...] = tuple(GENRE_FAMILY)
REGIONS: tuple[str, ...] = (
    "Global", "United States", "United Kingdom", "Argentina", "Brazil", "Mexico", "Spain",
    "Germany", "France", "Italy", "Netherlands", "Sweden", "Japan", "South Korea", "Philippines",
    "Indonesia", "Australia", "Canada", "Colombia", "Chile", "Peru", "Poland", "Turkey", "India",
    "Taiwan", "Thailand", "Nigeria", "South Africa", "Portugal", "Norway",
)
_ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "ch", "sh", "br", "tr", "st", "fl", "gr", "kr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea", "io"]
_CODAS = ["", "", "", "n", "r", "l", "s", "m", "nd", "st"]
# Where each family's listeners are: charts are regional (a K-pop song charts in Korea and the
# Philippines far more than in Brazil). A track charts mostly in its artist's home region, drawn
# from its primary genre's family, then in the family's other regions and Global.
FAMILY_REGIONS: dict[str, tuple[str, ...]] = {
    "pop": ("United States", "United Kingdom", "Australia", "Canada", "Sweden", "Netherlands", "Philippines", "Norway"),
    "electronic": ("Netherlands", "Germany", "Sweden", "Norway", "United Kingdom", "Poland"),
    "hip hop": ("United States", "Canada", "United Kingdom", "Germany", "France", "Poland"),
    "latin": ("Mexico", "Argentina", "Colombia", "Chile", "Peru", "Spain", "Brazil"),
    "rock": ("United Kingdom", "United States", "Germany", "Poland", "Brazil", "Italy"),
    "acoustic": ("Philippines", "Indonesia", "United States", "Canada", "Australia", "Norway"),
    "calm": ("Japan", "France", "Germany", "United Kingdom"),
    "r&b": ("United States", "United Kingdom", "Philippines", "South Africa", "Nigeria"),
    "asian pop": ("South Korea", "Japan", "Philippines", "Indonesia", "Taiwan", "Thailand"),
    "island": ("Nigeria", "South Africa", "United Kingdom", "Portugal"),
    "jazz": ("France", "Japan", "United States", "Turkey", "India"),
}
START_DATE = date(2017, 1, 1)
N_DAYS = 5 * 365


@dataclass(frozen=True)
class DemoConfig:
    n_tracks: int = 20_000
    seed: int = 42
    rows_per_track: float = 12.0  # mean chart appearances per track
    missing_features_share: float = 0.03  # no features at all, or some fields null
    preview_share: float = 0.65
    rerelease_share: float = 0.02  # same song, second id
    shared_title_share: float = 0.02  # same title, different artist
    malformed_row_share: float = 0.0005

    def __post_init__(self) -> None:
        if not 10 <= self.n_tracks <= 1_000_000:
            raise ValueError(f"demo n_tracks must be between 10 and 1,000,000, got {self.n_tracks}")


def _words(rng: np.random.Generator, n: int, max_syllables: int = 3) -> np.ndarray:
    """Pronounceable invented words: onset-vowel(-coda) syllables."""
    n_syl = rng.integers(1, max_syllables + 1, n)
    out = np.full(n, "", dtype=object)
    for i in range(max_syllables):
        part = (
            np.array(_ONSETS, dtype=object)[rng.integers(0, len(_ONSETS), n)]
            + np.array(_VOWELS, dtype=object)[rng.integers(0, len(_VOWELS), n)]
            + np.where(i == n_syl - 1, np.array(_CODAS, dtype=object)[rng.integers(0, len(_CODAS), n)], "")
        )
        out = np.where(i < n_syl, out + part, out)
    return out


def _capitalize(words: np.ndarray) -> np.ndarray:
    return np.array([w[:1].upper() + w[1:] for w in words], dtype=object)


def _base62_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    chars = BASE62[rng.integers(0, 62, size=(n, 22))]
    ids = chars.view(f"<U22").ravel() if chars.dtype.kind == "U" else None
    ids = np.array(["".join(row) for row in chars]) if ids is None else ids
    return ids.astype(object)


def _genre_prototypes(seed: int) -> np.ndarray:
    """One feature-mean row per genre: its family's prototype, nudged per genre."""
    rng = np.random.default_rng([seed, 1])
    rows = []
    for genre in GENRES:
        proto = np.array(_FAMILIES[GENRE_FAMILY[genre]], dtype=float)
        nudge = np.concatenate([rng.normal(0, 0.07, 7), [rng.normal(0, 1.5), rng.normal(0, 8), rng.normal(0, 0.08), rng.normal(0, 15)]])
        rows.append(proto + nudge)
    return np.array(rows)


class DemoCatalog:
    """The generated catalog. `tracks` is the ground truth; sources expose it like real data."""

    name = "demo"

    def __init__(self, config: DemoConfig = DemoConfig()):
        self.config = config

    @cached_property
    def tracks(self) -> pd.DataFrame:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 0])
        n_rel = int(round(cfg.n_tracks * cfg.rerelease_share))
        n_orig = cfg.n_tracks - n_rel
        n_artists = max(5, n_orig // 6)

        # Artists: a name, a primary genre (popular genres likelier), 0-3 more mostly in its family.
        genre_weight = 1.0 / np.arange(1, len(GENRES) + 1) ** 0.6
        genre_weight = rng.permutation(genre_weight / genre_weight.sum())
        primary = rng.choice(len(GENRES), n_artists, p=genre_weight)
        families = np.array([GENRE_FAMILY[g] for g in GENRES])
        n_extra = rng.choice(4, n_artists, p=[0.35, 0.35, 0.2, 0.1])
        artist_genres: list[list[int]] = []
        for a in range(n_artists):
            chosen = [int(primary[a])]
            same_family = np.flatnonzero(families == families[primary[a]])
            for _ in range(n_extra[a]):
                pool = same_family if rng.random() < 0.75 else np.arange(len(GENRES))
                g = int(rng.choice(pool))
                if g not in chosen:
                    chosen.append(g)
            artist_genres.append(chosen)
        first = _capitalize(_words(rng, n_artists, 3))
        last = _capitalize(_words(rng, n_artists, 2))
        has_last = rng.random(n_artists) < 0.55
        artist_names = np.where(has_last, first + " " + last, first)
        artist_names = pd.Series(artist_names).where(
            ~pd.Series(artist_names).duplicated(), pd.Series(artist_names) + " " + pd.Series(np.arange(n_artists)).astype(str)
        ).to_numpy(dtype=object)
        artist_style = rng.normal(0, 1, (n_artists, 11))

        # Tracks of original releases.
        artist_of = np.sort(rng.integers(0, n_artists, n_orig))
        protos = _genre_prototypes(cfg.seed)
        # A track leans to one of its artist's genres and to the artist's blend of all of them.
        n_genres = np.array([len(g) for g in artist_genres])
        genre_matrix = np.array([g + [g[0]] * (4 - len(g)) for g in artist_genres])
        artist_mean = np.array([protos[g].mean(axis=0) for g in artist_genres])
        pick = (rng.random(n_orig) * n_genres[artist_of]).astype(int)
        track_genre_rows = genre_matrix[artist_of, pick]
        mean = 0.6 * protos[track_genre_rows] + 0.4 * artist_mean[artist_of]
        scale = np.array([0.05, 0.05, 0.02, 0.06, 0.05, 0.03, 0.07, 1.0, 6.0, 0.05, 12.0])
        mean = mean + artist_style[artist_of] * scale
        unit = np.clip(mean[:, :7], 0.01, 0.99)
        conc = 9.0
        feats = {}
        for j, name in enumerate(["danceability", "energy", "speechiness", "acousticness",
                                  "instrumentalness", "liveness", "valence"]):
            feats[name] = rng.beta(unit[:, j] * conc, (1 - unit[:, j]) * conc)
        feats["loudness"] = np.clip(rng.normal(mean[:, 7], 3.0), -60.0, 0.0)
        feats["tempo"] = np.clip(rng.normal(mean[:, 8], 22.0), 50.0, 220.0)
        feats["key"] = rng.integers(0, 12, n_orig).astype(float)
        feats["mode"] = (rng.random(n_orig) < np.clip(mean[:, 9], 0.05, 0.95)).astype(float)
        feats["time_signature"] = rng.choice([3, 4, 5, 7], n_orig, p=[0.07, 0.88, 0.04, 0.01]).astype(float)
        feats["duration_ms"] = np.round(np.clip(rng.normal(mean[:, 10], 40.0), 45.0, 900.0) * 1000.0)

        words = _capitalize(_words(rng, max(200, n_orig // 4), 3))
        n_words = rng.choice([1, 2, 3], n_orig, p=[0.45, 0.4, 0.15])
        picks = words[rng.integers(0, len(words), (n_orig, 3))]
        titles = np.where(n_words == 1, picks[:, 0], np.where(n_words == 2, picks[:, 0] + " " + picks[:, 1],
                                                              picks[:, 0] + " " + picks[:, 1] + " " + picks[:, 2]))
        # Same title, different artist (covers, unrelated songs that happen to share a name).
        n_shared = int(round(n_orig * cfg.shared_title_share))
        if n_shared:
            dst = rng.choice(n_orig, n_shared, replace=False)
            titles[dst] = titles[rng.choice(n_orig, n_shared)]

        # The artist's home region, from its primary genre's family (own stream: the rest of the
        # catalog is unchanged by it).
        region_rng = np.random.default_rng([cfg.seed, 3])
        region_code = {r: i for i, r in enumerate(REGIONS)}
        family_of_artist = families[primary]
        home_region = np.array([region_code[FAMILY_REGIONS[f][int(region_rng.integers(0, len(FAMILY_REGIONS[f])))]]
                                for f in family_of_artist], dtype=np.int64)
        # Stable artist ids, from a stream of their own (the rest of the catalog is unchanged by it).
        artist_ids = _base62_ids(np.random.default_rng([cfg.seed, 5]), n_artists)
        tracks = pd.DataFrame(
            {
                "track_id": _base62_ids(rng, n_orig),
                "title": titles,
                "artist": artist_names[artist_of],
                "artist_index": artist_of,
                "artist_ids": [[a] for a in artist_ids[artist_of]],
                "home_region": home_region[artist_of],
                "family": family_of_artist[artist_of],
                "genres": [[GENRES[g] for g in artist_genres[a]] for a in artist_of],
                "popularity": rng.pareto(1.2, n_orig) + 1.0,
                **feats,
            }
        )
        # Re-releases: same recording under a second id, title spelled slightly differently.
        if n_rel:
            src = tracks.iloc[rng.choice(n_orig, n_rel, replace=False)].copy()
            src["track_id"] = _base62_ids(rng, n_rel)
            variant = rng.integers(0, 3, n_rel)
            src["title"] = np.where(variant == 0, src["title"].str.upper(),
                                    np.where(variant == 1, src["title"] + " ", src["title"].str.lower()))
            for name in ["danceability", "energy", "valence"]:
                src[name] = np.clip(src[name] + rng.normal(0, 0.005, n_rel), 0, 1)
            src["popularity"] = src["popularity"] * 0.3
            tracks = pd.concat([tracks, src], ignore_index=True)

        n = len(tracks)
        has_preview = rng.random(n) < cfg.preview_share
        tracks["preview_url"] = np.where(has_preview, SYNTHESIZED_PREVIEW_SCHEME + tracks["track_id"].astype(object), None)
        tracks["cover_url"] = None
        # Missing features: two thirds of the affected tracks have none at all, the rest lose fields.
        affected = rng.random(n) < cfg.missing_features_share
        tracks["features_missing"] = affected & (rng.random(n) < 2 / 3)
        partial = affected & ~tracks["features_missing"].to_numpy()
        for col in ["danceability", "energy", "loudness", "tempo", "valence", "liveness"]:
            tracks[col] = tracks[col].mask(partial & (rng.random(n) < 0.35))
        return tracks

    def fetch_features(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        found = self.tracks.set_index("track_id", drop=False)
        wanted = pd.Index(track_ids)
        hits = found.loc[wanted.intersection(found.index)]
        hits = hits[~hits["features_missing"]]
        if log:
            log(f"demo source: {len(hits):,} of {len(wanted):,} tracks have features")
        return hits.loc[:, [*TRACK_FEATURE_COLUMNS, "artist_ids"]].reset_index(drop=True)

    def chart_batches(self, tracks_per_batch: int = 50_000) -> Iterator[pa.Table]:
        """Chart rows in the Kaggle layout, as strings, generated batch by batch (bounded memory)."""
        tracks = self.tracks
        for start in range(0, len(tracks), tracks_per_batch):
            chunk = tracks.iloc[start:start + tracks_per_batch]
            rng = np.random.default_rng([self.config.seed, 2, start])
            yield self._chart_rows(chunk, rng)

    def _chart_rows(self, chunk: pd.DataFrame, rng: np.random.Generator) -> pa.Table:
        cfg = self.config
        pop = chunk["popularity"].to_numpy()
        expected = (cfg.rows_per_track - 1) * pop / np.mean(pop) if len(pop) else pop
        n_rows = 1 + rng.poisson(np.minimum(expected, 50 * cfg.rows_per_track))
        idx = np.repeat(np.arange(len(chunk)), n_rows)
        step = np.concatenate([np.arange(k) for k in n_rows]) if len(n_rows) else np.array([], int)
        start_day = rng.integers(0, N_DAYS, len(chunk))
        day = np.minimum(start_day[idx] + step * rng.integers(1, 4, len(idx)), N_DAYS - 1)
        home = chunk["home_region"].to_numpy(dtype=np.int64)
        region_code = {r: i for i, r in enumerate(REGIONS)}
        family_regions = {f: np.array([region_code[r] for r in rs]) for f, rs in FAMILY_REGIONS.items()}
        fam = chunk["family"].to_numpy(dtype=object)[idx]
        r = rng.random(len(idx))
        # one of the family's regions per row (vectorised per family)
        in_family = np.zeros(len(idx), dtype=np.int64)
        for f, codes in family_regions.items():
            at = np.flatnonzero(fam == f)
            in_family[at] = codes[rng.integers(0, len(codes), len(at))]
        region = np.where(r < 0.55, home[idx], np.where(r < 0.85, in_family,
                          np.where(r < 0.97, 0, rng.integers(0, len(REGIONS), len(idx)))))
        chart = np.where(rng.random(len(idx)) < 0.85, "top200", "viral50")
        base = 200.0 / np.sqrt(pop[idx])
        limit = np.where(chart == "top200", 200, 50)
        rank = np.clip(np.round(base * np.exp(rng.normal(0, 0.5, len(idx))) * limit / 200), 1, limit).astype(int)
        streams = np.where(chart == "top200", np.round(2_000_000 / rank ** 0.9 * rng.uniform(0.3, 1.0, len(idx))), np.nan)
        prev_rank = np.concatenate([[0], rank[:-1]])
        trend = np.where(step == 0, "NEW_ENTRY", np.where(rank < prev_rank, "MOVE_UP",
                                                          np.where(rank > prev_rank, "MOVE_DOWN", "SAME_POSITION")))
        dates = np.datetime64(START_DATE) + day.astype("timedelta64[D]")
        cols = {
            "title": chunk["title"].to_numpy(dtype=object)[idx],
            "rank": rank.astype(str).astype(object),
            "date": dates.astype(str).astype(object),
            "artist": chunk["artist"].to_numpy(dtype=object)[idx],
            "url": ("https://open.spotify.com/track/" + chunk["track_id"].astype(object)).to_numpy(dtype=object)[idx],
            "region": np.array(REGIONS, dtype=object)[region],
            "chart": chart.astype(object),
            "trend": trend.astype(object),
            "streams": np.where(np.isnan(streams), "", np.char.add(np.nan_to_num(streams).astype(np.int64).astype(str), ".0")).astype(object),
        }
        self._add_malformed_rows(cols, rng)
        order = np.lexsort((cols["rank"], cols["region"], cols["date"]))
        return pa.table({c: pa.array(cols[c][order], pa.string()) for c in CHART_COLUMNS})

    def _add_malformed_rows(self, cols: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        n = len(cols["title"])
        bad = np.flatnonzero(rng.random(n) < self.config.malformed_row_share)
        damage = [
            ("rank", "N/A"), ("url", "https://open.spotify.com/track/notanid"), ("date", "2017-13-45"),
            ("chart", "top2000"), ("streams", "lots"), ("title", ""), ("url", ""),
        ]
        for i in bad:
            col, value = damage[rng.integers(0, len(damage))]
            cols[col][i] = value
