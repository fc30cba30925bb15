"""Recommendation modes over a loaded bundle, and a plain-words reason for each result.

Modes:
- normal:  the seed's mode: only the query's KMeans cluster, nearest first (Euclidean distance
           in StandardScaler space).
- genre:   the seed's other mode: only tracks sharing at least one genre, nearest first.
- nearest: nearest in the full scaled feature space, no cluster boundary.
The query itself and its duplicates (same id, alias ids, same normalized title+artist) are
never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from music_assets.core.bundle import RESULT_COLUMNS, ModelBundle
from music_assets.core.cleaning import normalize_text

MODES: tuple[str, ...] = ("normal", "genre", "nearest")
MAX_K = 100


class RecommendationError(ValueError):
    """A request that cannot be answered; the message is fit to show a listener."""


@dataclass(frozen=True)
class Recommendation:
    index: int
    track_id: str
    title: str
    artist: str
    genres: list[str]
    preview_url: str
    distance: float
    reason: str


def find_tracks(bundle: ModelBundle, title: str, artist: str | None = None) -> list[int]:
    """Row indices of tracks whose title matches (case/accent-insensitive), optionally by artist."""
    hits = bundle.title_index.get(normalize_text(title), np.array([], dtype=int))
    if artist:
        wanted = normalize_text(artist)
        hits = np.array([i for i in hits if wanted in normalize_text(bundle.tracks["artist"].iat[i])], dtype=int)
    order = np.argsort(-bundle.tracks["chart_appearances"].to_numpy()[hits], kind="stable") if len(hits) else []
    return [int(hits[i]) for i in order]


def _candidates(bundle: ModelBundle, query: int, mode: str) -> np.ndarray | None:
    """Sorted row indices a mode may recommend from; None means every row (no copy of 0..n-1)."""
    if mode == "normal":
        return bundle._cluster_rows.get(int(bundle.clusters[query]), np.array([query]))
    if mode == "genre":
        genres = bundle.tracks["genres"].iat[query]
        if not genres:
            raise RecommendationError(
                f"{bundle.tracks['title'].iat[query]!s} has no genre information, so genre mode cannot "
                "recommend for it; try another mode"
            )
        lists = [bundle.genre_index.get(g, np.array([], int)) for g in genres]
        if len(lists) == 1:
            return lists[0]
        # A mask scatter is O(n) where np.unique(concatenate) sorts every shared row.
        mask = np.zeros(len(bundle.tracks), dtype=bool)
        for rows in lists:
            mask[rows] = True
        return np.flatnonzero(mask)
    if mode == "nearest":
        return None
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


def _duplicates_of(bundle: ModelBundle, query: int) -> np.ndarray:
    """The query and every row with its normalized title and artist, sorted."""
    cols = bundle._columns
    title, artist = cols["title"][query].as_py(), cols["artist"][query].as_py()
    hits = bundle.title_index.get(normalize_text(title), ())
    excluded = {query}
    if len(hits) > 1:
        key = normalize_text(artist)
        excluded.update(int(i) for i in hits if normalize_text(cols["artist"][int(i)].as_py()) == key)
    return np.fromiter(sorted(excluded), dtype=np.int64, count=len(excluded))


# Exact search ranks by |x|^2 - 2 x.q (one pass over the f x n matrix, like the floor), keeps a
# few more rows than needed, then re-ranks those with the direct formula the results report.
# The re-rank is provably the exact answer when no row left out can reach the k-th distance once
# float32 rounding (bounded by _ROUNDING) is allowed for; otherwise every row that could is
# re-ranked too, so ties break by row number exactly as in a full scan.
_PAD = 16
_ROUNDING = 1e-5
# ANN: rows fetched per wanted row, scaled up by how few rows the mode allows; beyond
# _ANN_MAX_FETCH, or for candidate sets of at most _ANN_EXACT_BELOW rows, exact search is cheaper.
_ANN_OVERFETCH = 2.0
_ANN_MAX_FETCH = 2_000
_ANN_EXACT_BELOW = 20_000


def _direct(bundle: ModelBundle, query: int, rows: np.ndarray) -> np.ndarray:
    diff = bundle.scaled[rows] - bundle.scaled[query]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _ranked(bundle: ModelBundle, query: int, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    dist = _direct(bundle, query, rows)
    order = np.lexsort((rows, dist))[:k]
    return rows[order], dist[order]


def _exact(bundle: ModelBundle, query: int, cand: np.ndarray | None, excluded: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    q = bundle.scaled[query]
    if cand is None:
        approx = bundle._sq_norms - 2.0 * (q @ bundle._scaled_t)
    else:
        approx = bundle._sq_norms[cand] - 2.0 * (bundle.scaled[cand] @ q)
    n_keep = k + len(excluded) + _PAD
    if len(approx) <= n_keep:
        rows = np.arange(len(approx)) if cand is None else cand
        rows = _without(rows, excluded)
        return _ranked(bundle, query, rows, k)
    part = np.argpartition(approx, n_keep - 1)[:n_keep]
    bound = float(approx[part].max())  # every row left out has approx >= bound
    rows = part if cand is None else cand[part]
    rows = _without(rows, excluded)
    top, dist = _ranked(bundle, query, rows, k)
    q2 = float(q @ q)
    slack = _ROUNDING * (bundle._max_sq_norm + q2) + 1e-6
    if len(top) < k:  # the excluded rows crowded the shortlist out: rank every allowed row
        keep = np.ones(len(approx), dtype=bool)
    else:
        threshold = float(dist[-1]) ** 2 - q2 + slack  # every row that may tie or beat the k-th
        if bound > threshold:
            return top, dist
        keep = approx <= threshold  # ties at the k-th distance (e.g. identical imputed tracks)
    rows = np.flatnonzero(keep) if cand is None else cand[keep]
    return _ranked(bundle, query, _without(rows, excluded), k)


def _approximate(bundle: ModelBundle, query: int, cand: np.ndarray | None, excluded: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Top k through the ANN index, over-fetching and filtering to the mode's rows; None when
    exact search is the better (or the only correct) way for this query."""
    n = len(bundle.scaled)
    share = 1.0 if cand is None else len(cand) / n
    if cand is not None and len(cand) <= _ANN_EXACT_BELOW:
        return None
    fetch = int(np.ceil((k + len(excluded)) * _ANN_OVERFETCH / share))
    if fetch > _ANN_MAX_FETCH:
        return None
    rows, _ = bundle.ann.query(bundle.scaled[query], fetch)
    rows = rows[(rows >= 0) & (rows < n)]
    if cand is not None:
        pos = np.minimum(np.searchsorted(cand, rows), len(cand) - 1)
        rows = rows[cand[pos] == rows]
    rows = _without(rows, excluded)
    if len(rows) < k:
        return None
    return _ranked(bundle, query, rows, k)


def recommend(bundle: ModelBundle, query: int, mode: str = "normal", k: int = 10) -> list[Recommendation]:
    """The k nearest tracks to row `query` under `mode`, nearest first.

    Exact by default; with the bundle's ANN index (large catalogs) approximately nearest, still
    only from the rows the mode allows.
    """
    if not 1 <= k <= MAX_K:
        raise RecommendationError(f"k must be between 1 and {MAX_K}, got {k}")
    cand = _candidates(bundle, query, mode)
    excluded = _duplicates_of(bundle, query)
    found = _approximate(bundle, query, cand, excluded, k) if bundle.ann is not None else None
    top, dist = found if found is not None else _exact(bundle, query, cand, excluded, k)
    if not len(top):
        return []
    cols = bundle._columns
    take = pa.array(top)
    picked = {c: cols[c].take(take).to_pylist() for c in RESULT_COLUMNS}
    wanted = set(cols["genres"][query].as_py() or [])
    closest = _closest_features(np.abs(bundle.scaled[top] - bundle.scaled[query]))
    features = bundle.features
    return [
        Recommendation(
            index=int(top[j]),
            track_id=str(picked["track_id"][j]),
            title=str(picked["title"][j]),
            artist=str(picked["artist"][j]),
            genres=list(picked["genres"][j] or []),
            preview_url=str(picked["preview_url"][j]),
            distance=float(dist[j]),
            reason=_reason(wanted, list(picked["genres"][j] or []), closest[j], features),
        )
        for j in range(len(top))
    ]
