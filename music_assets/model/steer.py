"""Steered recommendations: several seeds, negative seeds, targets, min/max, a market (issue 16).

The replacement for Spotify's closed /v1/recommendations, as pure logic over a loaded bundle
(serving/spotify_api.py speaks HTTP; docs/api.md documents every parameter):

1. Seeds become one query in the model's space: the mean of the seed vectors, where a track is
   its own vector, an artist the mean of its tracks, a genre the mean of the tracks carrying it.
   Negative seeds push the query away (q + NEGATIVE_PUSH * (q - mean of negatives)). A target on
   a feature the embedding holds also moves the query onto the target on that axis, so the
   search itself looks where the target is.
2. Candidates: the rows the request allows (in the model, in the market, inside min/max, not a
   seed, a seed's same-title-same-artist twin, an excluded track or artist), searched through
   the bundle's ANN index when the allowed pool is a large share of the catalog, with a
   shortlist sized by that share and widened when too few survive; else by an exact scan of the
   pool's scan matrix (the recommend index's, or a market's). steer_search.py does that.
3. Ranking: distance plus TARGET_WEIGHT per target, |value - target| in standardized units; then
   max_per_artist and diversity (maximal marginal relevance) pick the final list.
Pure logic: imports neither dagster nor flask. benchmarks/steer_api.py measures its speed and
target adherence. A little over 300 lines: the request, its checks and the one function that
resolves seeds, filters and ranks read best together; search, filters, spaces and catalog
answers are in the steer_* modules beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from music_assets.model.bundle import ModelBundle
from music_assets.model.recommend_hybrid import FEATURE_WORDS
from music_assets.model.recommend_index import genre_index
from music_assets.model.steer_index import RANGES, TUNABLE, SteerIndex, steer_index
from music_assets.model import steer_search, steer_spaces
from music_assets.model.steer_filters import Filters
from music_assets.model.steer_catalog import TrackRecord, available_genres, markets, track_record, track_records  # noqa: F401 - the interface
from music_assets.text import normalize_text

MAX_SPOTIFY_SEEDS = 5  # the Spotify-compatible GET allows 1..5 seeds in all
STEER_MODES: tuple[str, ...] = ("nearest", "hybrid")
MAX_LIMIT = 100
MAX_SEEDS = 500  # a whole playlist, by POST
NEGATIVE_PUSH = 0.5
SEARCH_WAYS = ("auto", "ann", "exact")
__all__ = ["TUNABLE", "MAX_SPOTIFY_SEEDS", "STEER_MODES", "SteerError", "UnknownSeed", "SteerRequest", "SeedReport",
           "Steered", "SteerResult", "TrackRecord", "steer", "available_genres", "markets", "track_record", "track_records"]


class SteerError(ValueError):
    """A bad request; `field` names the parameter (e.g. "min_tempo"); the message is listener-safe."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownSeed(SteerError):
    """A seed id/name/genre the catalog does not know."""

    def __init__(self, field: str, value: str, message: str) -> None:
        super().__init__(field, message)
        self.value = value


@dataclass(frozen=True)
class SteerRequest:
    seed_tracks: tuple[str, ...] = ()
    seed_artists: tuple[str, ...] = ()  # artist ids where the catalog has them, else names
    seed_genres: tuple[str, ...] = ()
    negative_tracks: tuple[str, ...] = ()
    limit: int = 20
    market: str | None = None  # a chart region the catalog knows (its name, or an ISO code: model/markets.py)
    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)
    target: Mapping[str, float] = field(default_factory=dict)
    exclude_tracks: tuple[str, ...] = ()
    exclude_artists: tuple[str, ...] = ()
    max_per_artist: int | None = None
    diversity: float = 0.0
    mode: str = "nearest"


@dataclass(frozen=True)
class SeedReport:
    id: str
    type: str  # "TRACK" | "ARTIST" | "GENRE"
    initial_pool_size: int  # tracks the request could recommend before its filters (one pool for all seeds)
    after_filtering_size: int  # after market, min/max and exclusions (= SteerResult.pool_size)
    after_relinking_size: int  # no relinking here: the same


@dataclass(frozen=True)
class Steered:
    row: int
    score: float  # similarity to the seeds in [0, 1], 1 = closest
    reason: str
    # What the list is ranked by, as a score in [0, 1]: the similarity less the targets' penalties
    # (equal to `score` without targets). Shown to listeners, so the figures fall down the list.
    match: float = 0.0


@dataclass(frozen=True)
class SteerResult:
    results: list[Steered]
    seeds: list[SeedReport]
    adherence: dict[str, float]  # per target with values among the results: mean |value - target|
    pool_size: int
    market: str | None = None  # the region as the catalog spells it
    search: str = "exact"  # "ann" | "exact": how the candidates were found


# -- validation ---------------------------------------------------------------------------------

def _check_number(name: str, value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise SteerError(name, f"{name} must be a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise SteerError(name, f"{name} must be between {lo:g} and {hi:g}, got {float(value):g}")
    return float(value)


def _bounds(si: SteerIndex, request: SteerRequest) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    out = []
    for prefix, given in (("min", request.minimum), ("max", request.maximum), ("target", request.target)):
        checked = {}
        for name, value in dict(given).items():
            field_name = f"{prefix}_{name}"
            if name not in TUNABLE:
                raise SteerError(field_name, f"unknown feature {name!r} in {field_name}; tunable: {', '.join(TUNABLE)}")
            checked[name] = _check_number(field_name, value, *RANGES[name])
            if name not in si.values:
                raise SteerError(field_name, f"{field_name}: this catalog has no {name} values")
        out.append(checked)
    lo, hi, target = out
    for name in lo.keys() & hi.keys():
        if lo[name] > hi[name]:
            raise SteerError(f"min_{name}", f"min_{name} ({lo[name]:g}) is above max_{name} ({hi[name]:g})")
    return lo, hi, target


def _validate(si: SteerIndex, request: SteerRequest) -> tuple[str | None, dict, dict, dict]:
    if isinstance(request.limit, bool) or not isinstance(request.limit, (int, np.integer)) or not 1 <= request.limit <= MAX_LIMIT:
        raise SteerError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}, got {request.limit!r}")
    if request.mode not in STEER_MODES:
        raise SteerError("mode", f"unknown mode {request.mode!r}; choose one of {', '.join(STEER_MODES)}")
    _check_number("diversity", request.diversity, 0.0, 1.0)
    if request.max_per_artist is not None and (isinstance(request.max_per_artist, bool) or
                                               not isinstance(request.max_per_artist, (int, np.integer)) or request.max_per_artist < 1):
        raise SteerError("max_per_artist", f"max_per_artist must be a whole number of at least 1, got {request.max_per_artist!r}")
    n_seeds = len(request.seed_tracks) + len(request.seed_artists) + len(request.seed_genres)
    if n_seeds == 0:
        raise SteerError("seed_tracks", "give at least one seed: seed_tracks, seed_artists or seed_genres")
    if n_seeds > MAX_SEEDS:
        raise SteerError("seed_tracks", f"at most {MAX_SEEDS} seeds in all, got {n_seeds}")
    market = None
    if request.market is not None and str(request.market).strip():
        market = si.market_name(str(request.market))
        if market is None:
            known = [m for m, _ in si.market_sizes()[:8]]
            raise SteerError("market", f"unknown market {request.market!r}; "
                             + (f"this catalog knows e.g. {', '.join(known)}" if known else "this catalog has no chart regions"))
    return (market, *_bounds(si, request))


# -- seeds --------------------------------------------------------------------------------------

@dataclass
class _Seed:
    id: str
    type: str
    rows: np.ndarray  # the rows whose vectors make it (one for a track)
    own: np.ndarray  # rows never recommended for it (a track and its twins)


def _track_row(bundle: ModelBundle, field_name: str, track_id: str) -> int:
    row = bundle.id_index.get(str(track_id).strip())
    if row is None:
        raise UnknownSeed(field_name, str(track_id), f"{field_name}: track {str(track_id)[:80]!r} is not in the catalog")
    return int(row)


def _artist_rows(bundle: ModelBundle, si: SteerIndex, field_name: str, artist: str) -> np.ndarray | None:
    by_id, by_name = si.artists(bundle)
    found = by_id.get(str(artist).strip())
    if found is None:
        found = by_name.get(normalize_text(artist))
    return found


def _seeds(bundle: ModelBundle, si: SteerIndex, request: SteerRequest) -> list[_Seed]:
    ix = si.ix
    seeds = []
    for tid in request.seed_tracks:
        row = _track_row(bundle, "seed_tracks", tid)
        seeds.append(_Seed(str(tid), "TRACK", np.array([row]), ix.excluded(row)))
    for artist in request.seed_artists:
        rows = _artist_rows(bundle, si, "seed_artists", artist)
        if rows is None:
            raise UnknownSeed("seed_artists", str(artist), f"seed_artists: artist {str(artist)[:80]!r} is not in the catalog")
        seeds.append(_Seed(str(artist), "ARTIST", rows, np.array([], dtype=np.int64)))
    genres = genre_index(bundle)
    lowered = {g.casefold(): g for g in genres}
    for genre in request.seed_genres:
        name = lowered.get(str(genre).strip().casefold())
        if name is None:
            raise UnknownSeed("seed_genres", str(genre), f"seed_genres: genre {str(genre)[:80]!r} is not in the catalog "
                              "(see available-genre-seeds)")
        seeds.append(_Seed(name, "GENRE", genres[name], np.array([], dtype=np.int64)))
    return seeds


def _excluded(bundle: ModelBundle, si: SteerIndex, request: SteerRequest, seeds: list[_Seed],
              negatives: list[int]) -> np.ndarray:
    """Rows never recommended for this request, sorted: seeds and their twins, negative seeds,
    excluded tracks (unknown ids exclude nothing) and artists, with their twins."""
    parts = [s.own for s in seeds] + [si.ix.excluded(r) for r in negatives]
    for tid in request.exclude_tracks:
        row = bundle.id_index.get(str(tid).strip())
        if row is not None:
            parts.append(si.ix.excluded(int(row)))
    for artist in request.exclude_artists:
        rows = _artist_rows(bundle, si, "exclude_artists", artist)
        if rows is not None:
            parts.append(rows)
    return np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.array([], dtype=np.int64)


# -- the request --------------------------------------------------------------------------------

def steer(bundle: ModelBundle, request: SteerRequest, search: str = "auto") -> SteerResult:
    """Recommendations for `request` (see the module docstring). `search` forces the ANN index
    ("ann", where the bundle has one) or the exact scan ("exact"); tests and benchmarks compare them."""
    if search not in SEARCH_WAYS:
        raise ValueError(f"search must be one of {SEARCH_WAYS}")
    si = steer_index(bundle)
    market, lo, hi, target = _validate(si, request)
    seeds = _seeds(bundle, si, request)
    negatives = [_track_row(bundle, "negative_tracks", t) for t in request.negative_tracks]
    space = steer_spaces.space(bundle, si, request.mode)
    if space is None:
        raise SteerError("mode", "this model has no hybrid vectors (built before the hybrid mode); use mode nearest")
    vectors = [v for s in seeds if (v := space.seed_vector(si, s.type, s.id, s.rows)) is not None]
    if not vectors:
        raise SteerError(f"seed_{seeds[0].type.lower()}s", "none of the seeds has audio features in the catalog, so "
                         "none can be compared with other songs")
    query = np.mean(vectors, axis=0)
    negative_vectors = [v for r in negatives if (v := space.seed_vector(si, "TRACK", str(r), np.array([r]))) is not None]
    if negative_vectors:
        query = space.push_away(query, np.mean(negative_vectors, axis=0), NEGATIVE_PUSH)
    excluded = _excluded(bundle, si, request, seeds, negatives)
    filters = Filters(si, market, lo, hi, excluded)
    found = steer_search.search(bundle, si, space, query, space.steered(si, query, target), filters, request, target, search)
    seed_genres = _seed_genres(si, seeds)
    reasons = _reasons(si, space, query, found.rows, seed_genres, market, target)
    matches = found.scores if found.matches is None else found.matches
    results = [Steered(r, s, why, m) for r, s, why, m in
               zip(found.rows.tolist(), found.scores.tolist(), reasons, matches.tolist())]
    adherence = {}
    for name, value in target.items():
        got = si.values[name][found.rows]
        got = got[np.isfinite(got)]
        if len(got):
            adherence[name] = float(np.mean(np.abs(got - value)))
    pool = filters.pool_size()
    initial = si.n_recommendable - int(si.recommendable[excluded].sum()) if len(excluded) else si.n_recommendable
    reports = [SeedReport(s.id, s.type, initial, pool, pool) for s in seeds]
    return SteerResult(results, reports, adherence, pool, market, found.how)


def _seed_genres(si: SteerIndex, seeds: list[_Seed]) -> set[int]:
    codes: set[int] = set()
    names = {g: i for i, g in enumerate(si.ix.genre_names)}
    for s in seeds:
        if s.type == "TRACK":
            codes.update(si.ix.genres_of(int(s.rows[0])).tolist())
        elif s.type == "GENRE" and s.id in names:
            codes.add(names[s.id])
    return codes


def _reasons(si: SteerIndex, space: steer_spaces.Space, query: np.ndarray, rows: np.ndarray, seed_genres: set[int],
             market: str | None, target: dict[str, float]) -> list[str]:
    """Plain words per result: what it shares with the seeds, and where it meets the request
    (computed for all results at once: a loop of numpy calls per result showed in the latency)."""
    if not len(rows):
        return []
    ix = si.ix
    firsts = space.reasons(si, query, rows)
    names, codes = ix.genre_names, ix.genre_code_list
    spans = ix.genre_spans[rows].tolist()
    near = [None] * len(rows)
    if target:
        names_t = list(target)
        gaps = np.column_stack([np.abs(si.values[n][rows] - target[n]) / si.spread[n] for n in names_t])
        gaps = np.where(np.isfinite(gaps), gaps, np.inf)
        best, best_gap = gaps.argmin(axis=1).tolist(), gaps.min(axis=1).tolist()
        near = [f"{FEATURE_WORDS.get(names_t[j], names_t[j].replace('_', ' '))} close to your target" if g <= 0.5 else None
                for j, g in zip(best, best_gap)]
    where = f"charted in {market}" if market else None
    out = []
    for first, (s, e), close in zip(firsts, spans, near):
        parts = [first]
        if seed_genres and not first.startswith("also"):
            shared = [names[c] for c in codes[s:e] if c in seed_genres]
            if shared:
                parts.append("also " + " / ".join(shared[:2]))
        if close:
            parts.append(close)
        if where:
            parts.append(where)
        out.append("; ".join(parts))
    return out
