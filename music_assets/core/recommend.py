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

from music_assets.core.bundle import ModelBundle
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


def _candidates(bundle: ModelBundle, query: int, mode: str) -> np.ndarray:
    if mode == "normal":
        return np.flatnonzero(bundle.clusters == bundle.clusters[query])
    if mode == "genre":
        genres = bundle.tracks["genres"].iat[query]
        if not genres:
            raise RecommendationError(
                f"{bundle.tracks['title'].iat[query]!s} has no genre information, so genre mode cannot "
                "recommend for it; try another mode"
            )
        return np.unique(np.concatenate([bundle.genre_index.get(g, np.array([], int)) for g in genres]))
    if mode == "nearest":
        return np.arange(len(bundle.tracks))
    raise RecommendationError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")


def explain(bundle: ModelBundle, query: int, other: int) -> str:
    """A short reason: shared genres and the two features on which the songs are closest."""
    parts = []
    shared = [g for g in bundle.tracks["genres"].iat[other] if g in set(bundle.tracks["genres"].iat[query])]
    if shared:
        parts.append("shares " + ", ".join(shared[:2]))
    diff = np.abs(bundle.scaled[other] - bundle.scaled[query])
    closest = [bundle.features[j] for j in np.argsort(diff, kind="stable")[:2]]
    parts.append("close on " + " and ".join(closest))
    return "; ".join(parts)


def recommend(bundle: ModelBundle, query: int, mode: str = "normal", k: int = 10) -> list[Recommendation]:
    """The k nearest tracks to row `query` under `mode`, nearest first."""
    if not 1 <= k <= MAX_K:
        raise RecommendationError(f"k must be between 1 and {MAX_K}, got {k}")
    candidates = _candidates(bundle, query, mode)
    tracks = bundle.tracks
    excluded = {query}
    key = normalize_text(tracks["title"].iat[query]), normalize_text(tracks["artist"].iat[query])
    for i in find_tracks(bundle, tracks["title"].iat[query]):
        if normalize_text(tracks["artist"].iat[i]) == key[1]:
            excluded.add(i)
    candidates = candidates[~np.isin(candidates, list(excluded))]
    if not len(candidates):
        return []
    diff = bundle.scaled[candidates] - bundle.scaled[query]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    top = np.argpartition(dist, min(k, len(dist) - 1))[:k] if len(dist) > k else np.arange(len(dist))
    top = top[np.lexsort((candidates[top], dist[top]))]
    return [
        Recommendation(
            index=int(candidates[j]),
            track_id=str(tracks["track_id"].iat[candidates[j]]),
            title=str(tracks["title"].iat[candidates[j]]),
            artist=str(tracks["artist"].iat[candidates[j]]),
            genres=list(tracks["genres"].iat[candidates[j]]),
            preview_url=str(tracks["preview_url"].iat[candidates[j]]),
            distance=float(dist[j]),
            reason=explain(bundle, query, int(candidates[j])),
        )
        for j in top
    ]
