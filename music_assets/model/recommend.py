"""Recommendation modes over a loaded bundle, and a plain-words reason for each result.

Modes:
- normal:  the seed's mode: only the query's KMeans cluster, nearest first (Euclidean distance
           in StandardScaler space).
- genre:   the seed's other mode: only tracks sharing at least one genre, nearest first.
- nearest: nearest in the full scaled feature space, no cluster boundary.
- hybrid:  "listened together": chart co-listening, genres and sound blended (model/hybrid.py,
           model/recommend_hybrid.py), for bundles that carry hybrid vectors.
The query itself and its duplicates (same id, alias ids, same normalized title+artist) are
never recommended, nor are its song's other versions by its artist, nor is a track outside the
model (no audio features: `check_recommendable`); a list holds each song once (one_per_song).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from music_assets.model.bundle import ModelBundle
from music_assets.text import normalize_text
from music_assets.model.recommend_index import Group, RecommendIndex, one_per_song, recommend_index
from music_assets.model.hybrid import HybridError, similarity
from music_assets.model.recommend_hybrid import hybrid_model, hybrid_top

MODES: tuple[str, ...] = ("normal", "genre", "nearest", "hybrid")
# The modes ranked by distance in the audio embedding (hybrid ranks blended vectors: model/hybrid.py).
AUDIO_MODES: tuple[str, ...] = ("normal", "genre", "nearest")
MAX_K = 100


class RecommendationError(ValueError):
    """A request that cannot be answered; the message is fit to show a listener."""


class NoAudioFeatures(RecommendationError):
    """The query is in the catalog (searchable) but not in the model: it lacks audio features."""


def check_recommendable(bundle: ModelBundle, query: int) -> None:
    """The one gate for a catalog track as a query: a track the model was not built on (no value
    for a feature it uses) gets this answer, never neighbours at distance 0.0 among the others."""
    if not bundle.in_model[query]:
        title = str(bundle.tracks["title"].iat[query]) or str(bundle.tracks["track_id"].iat[query])
        raise NoAudioFeatures(f"{title} has no audio features in the catalog, so it cannot be compared "
                              "with other songs: it is searchable but never recommended")


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, which
# made building the results a visible share of a small query (benchmarks/recommend_inprocess.py).
@dataclass(slots=True)
class Recommendation:
    index: int
    track_id: str
    title: str
    artist: str
    genres: list[str]
    preview_url: str
    distance: float  # audio modes: Euclidean in the standardized features; hybrid: 1 - similarity
    reason: str
    cover_url: str = ""
    similarity: float | None = None  # hybrid only: in [0, 1] (model/hybrid.py similarity)


def find_tracks(bundle: ModelBundle, title: str, artist: str | None = None) -> list[int]:
    """Row indices of tracks whose title matches (case/accent-insensitive), optionally by artist."""
    hits = bundle.title_index.get(normalize_text(title), np.array([], dtype=int))
    if artist:
        wanted = normalize_text(artist)
        hits = np.array([i for i in hits if wanted in normalize_text(bundle.tracks["artist"].iat[i])], dtype=int)
    # the model's tracks first (a twin without features cannot be answered for), then the most charted
    order = (np.lexsort((-bundle.tracks["chart_appearances"].to_numpy()[hits], ~bundle.in_model[hits]))
             if len(hits) else [])
    return [int(hits[i]) for i in order]


def _groups(bundle: ModelBundle, ix: RecommendIndex, query: int, mode: str) -> list[Group]:
    """The row groups a mode may recommend from: the query's cluster, each of its genres (a row
    may sit in several), or the whole catalog."""
    if mode == "normal":
        return [ix.cluster_group(query)]
    if mode == "genre":
        codes = ix.genres_of(query)
        if not len(codes):
            raise RecommendationError(
                f"{bundle.tracks['title'].iat[query]!s} has no genre information, so genre mode cannot "
                "recommend for it; try another mode"
            )
        return [ix.genre_group(c) for c in dict.fromkeys(codes.tolist())]
    if mode == "nearest":
        return [ix.all]
    raise RecommendationError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def _closest_features(diffs: np.ndarray) -> np.ndarray:
    """Per row of |differences|, the column numbers of the two smallest (stable order)."""
    return np.argsort(diffs, axis=-1, kind="stable")[..., :2]


def _reason(wanted: set[str], other_genres: list[str], closest: np.ndarray, features: list[str]) -> str:
    """explain() from values already at hand (same words, without a pandas lookup per result)."""
    parts = []
    shared = [g for g in other_genres if g in wanted]
    if shared:
        parts.append("shares " + ", ".join(shared[:2]))
    parts.append("close on " + " and ".join(features[j] for j in closest))
    return "; ".join(parts)


def explain(bundle: ModelBundle, query: int, other: int) -> str:
    """A short reason: shared genres and the two features on which the songs are closest."""
    genres = bundle.tracks["genres"]
    closest = _closest_features(np.abs(bundle.scaled[other] - bundle.scaled[query]))
    return _reason(set(genres.iat[query]), list(genres.iat[other]), closest, bundle.features)


def _without(rows: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """rows minus the (few) excluded ones; np.isin costs more than the whole scan at 10k rows."""
    keep = rows != excluded[0]
    for e in excluded[1:]:
        keep &= rows != e
    return rows[keep]


# Exact search ranks by |x|^2 - 2 x.q (one pass over the f x n matrix, like the floor), keeps a
# few more rows than needed, then re-ranks those with the direct formula the results report.
# The re-rank is provably the exact answer when no row left out can reach the k-th distance once
# float32 rounding (bounded by _ROUNDING) is allowed for; otherwise every row that could is
# re-ranked too, so ties break by row number exactly as in a full scan.
_PAD = 16
_ROUNDING = 1e-5
# ANN: rows fetched per wanted row, scaled up by how few rows the mode allows. The index is used
# only when it is cheaper than scanning the mode's rows exactly: one fetched row costs about as
# much as scanning _ANN_ROW_COST rows (benchmarks/recommend_inprocess.py measures both at 100k and
# 1M tracks), so a genre, a few percent of the catalog, is scanned and the whole catalog is
# searched through the graph.
_ANN_OVERFETCH = 2.0
_ANN_MAX_FETCH = 2_000
_ANN_ROW_COST = 400


def _direct(ix: RecommendIndex, query: int, rows: np.ndarray) -> np.ndarray:
    diff = ix.scaled[rows] - ix.scaled[query]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _ranked(ix: RecommendIndex, query: int, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    dist = _direct(ix, query, rows)
    order = np.lexsort((rows, dist))[:k]
    return rows[order], dist[order]


def _exact(ix: RecommendIndex, query: int, groups: list[Group], excluded: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    q = ix.scaled[query]
    qa = np.empty(ix.f + 1, dtype=np.float32)
    qa[:-1], qa[-1] = q, 1.0
    if len(groups) == 1:
        approx = qa @ groups[0].scan  # |x|^2 - 2 x.q for the group's rows
        rows_at = groups[0].row_numbers
    else:  # a row in several groups appears once per group: same value, removed after the shortlist
        approx = np.concatenate([qa @ g.scan for g in groups])
        all_rows = np.concatenate([g.rows for g in groups])
        rows_at = lambda pos: np.unique(all_rows[pos])  # noqa: E731
    n_keep = k + len(excluded) + _PAD
    if len(approx) <= n_keep:  # rank every allowed row
        return _ranked(ix, query, _without(rows_at(np.arange(len(approx))), excluded), k)
    part = np.argpartition(approx, n_keep - 1)[:n_keep]
    bound = float(approx[part[-1]])  # the largest value kept (argpartition puts it last); every row left out is >= it
    top, dist = _ranked(ix, query, _without(rows_at(part), excluded), k)
    q2 = float(q @ q)
    slack = _ROUNDING * (ix.max_sq_norm + q2) + 1e-6
    if len(top) < k:  # the excluded rows (or repeats) crowded the shortlist out: rank every allowed row
        threshold = np.inf
    else:
        threshold = float(dist[-1]) ** 2 - q2 + slack  # every row that may tie or beat the k-th
        if bound > threshold:
            return top, dist
    # ties at the k-th distance (e.g. identical feature vectors): rank every row that may reach it
    return _ranked(ix, query, _without(rows_at(np.flatnonzero(approx <= threshold)), excluded), k)


def _in_groups(rows: np.ndarray, groups: list[Group]) -> np.ndarray:
    """Mask of `rows` that belong to at least one group (each group's rows are sorted)."""
    mask = np.zeros(len(rows), dtype=bool)
    for g in groups:
        if g.rows is None:
            return np.ones(len(rows), dtype=bool)
        pos = np.minimum(np.searchsorted(g.rows, rows), len(g.rows) - 1)
        mask |= g.rows[pos] == rows
    return mask


def _approximate(bundle: ModelBundle, ix: RecommendIndex, query: int, groups: list[Group],
                 excluded: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Top k through the ANN index, over-fetching and filtering to the mode's rows; None when
    exact search is the better (or the only correct) way for this query."""
    n = ix.n
    n_allowed = sum(len(g) for g in groups)  # >= the union: an upper bound on the share
    share = min(1.0, n_allowed / n)
    fetch = int(np.ceil((k + len(excluded)) * _ANN_OVERFETCH / share))
    if fetch > _ANN_MAX_FETCH or fetch * _ANN_ROW_COST > n_allowed:
        return None
    rows, _ = bundle.ann.query(ix.scaled[query], fetch)
    rows = rows[(rows >= 0) & (rows < n)]
    if groups[0].rows is not None:
        rows = rows[_in_groups(rows, groups)]
    rows = _without(rows, excluded)
    if len(rows) < k:
        return None
    return _ranked(ix, query, rows, k)


def recommend(bundle: ModelBundle, query: int, mode: str = "normal", k: int = 10) -> list[Recommendation]:
    """The k nearest tracks to row `query` under `mode`, nearest first.

    Exact by default; with the bundle's ANN index (large catalogs) approximately nearest, still
    only from the rows the mode allows.
    """
    if not 1 <= k <= MAX_K:
        raise RecommendationError(f"k must be between 1 and {MAX_K}, got {k}")
    check_recommendable(bundle, query)
    if mode == "hybrid":
        return _hybrid(bundle, query, k)
    ix = recommend_index(bundle)
    groups = _groups(bundle, ix, query, mode)
    excluded = ix.excluded(query)

    def rank(n: int) -> tuple[np.ndarray, np.ndarray]:
        found = _approximate(bundle, ix, query, groups, excluded, n) if bundle.ann is not None else None
        return found if found is not None else _exact(ix, query, groups, excluded, n)

    top, dist = one_per_song(ix, rank, k)
    if not len(top):
        return []
    return _results(ix, query, top, dist)


def _results(ix: RecommendIndex, query: int, top: np.ndarray, dist: np.ndarray) -> list[Recommendation]:
    """Recommendation objects with their reasons, from the per-bundle arrays (no pandas)."""
    rows = top.tolist()
    records = ix.records.get(top)  # track_id, title, artist, preview_url, cover_url
    names, codes = ix.genre_names, ix.genre_code_list
    spans = ix.genre_spans[top].tolist()
    wanted = set(ix.genres_of(query).tolist())
    closest = _closest_features(np.abs(ix.scaled[top] - ix.scaled[query])).tolist()
    close_on = ix.close_on
    out = []
    for i, d, (track_id, title, artist, preview, cover), (s, e), (a, b) in zip(
            rows, dist.tolist(), records, spans, closest):
        mine = codes[s:e]
        shared = [names[c] for c in mine if c in wanted]
        reason = f"shares {', '.join(shared[:2])}; {close_on[a][b]}" if shared else close_on[a][b]
        out.append(Recommendation(i, track_id, title, artist, [names[c] for c in mine], preview, d, reason, cover))
    return out


def _hybrid(bundle: ModelBundle, query: int, k: int) -> list[Recommendation]:
    """hybrid mode's results with a similarity in [0, 1] (model/hybrid.py similarity) and
    `distance` = 1 - similarity (lower is closer, as in the other modes; never negative)."""
    try:
        top, scores, reasons = hybrid_top(bundle, query, k)
    except HybridError as exc:
        raise RecommendationError(str(exc)) from exc
    ix = recommend_index(bundle)
    names, codes, spans = ix.genre_names, ix.genre_code_list, ix.genre_spans[top].tolist()
    sims = similarity(scores, hybrid_model(bundle).weights).tolist()
    return [Recommendation(int(i), track_id, title, artist, [names[c] for c in codes[s:e]], preview, 1.0 - sim,
                           reason, cover, sim)
            for i, sim, reason, (track_id, title, artist, preview, cover), (s, e)
            in zip(top.tolist(), sims, reasons, ix.records.get(top), spans)]
