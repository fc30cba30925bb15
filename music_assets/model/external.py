"""Recommendations for a song that is not in the catalog, from its audio features alone.

Used when serving looks an unknown title up live (the seed did this with Spotify). Same modes
and distance as `recommend.py` (Euclidean in StandardScaler space), but the query is a feature
vector instead of a catalog row: its cluster is the nearest KMeans centroid in PCA space, and a
missing feature is filled with the catalog mean for this one query (the catalog's own tracks are
never imputed; serving refuses a song with no feature at all). Only the model's tracks (in_model)
are candidates. Kept beside recommend.py
rather than inside it so that module's behaviour stays exactly as its owner wrote it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from music_assets.model.bundle import ModelBundle
from music_assets.text import normalize_text
from music_assets.model.recommend import MAX_K, MODES, Recommendation, RecommendationError
from music_assets.model.recommend_index import genre_index


def feature_vector(bundle: ModelBundle, features: Mapping[str, float]) -> np.ndarray:
    """The model's features in order; missing or non-finite ones imputed with the catalog mean."""
    means = np.asarray(bundle.embedding.mean, dtype=np.float64)
    out = means.copy()
    for j, name in enumerate(bundle.features):
        try:
            value = float(features.get(name, np.nan))
        except (TypeError, ValueError):
            value = np.nan
        if np.isfinite(value):
            out[j] = value
    return out


def recommend_for_features(bundle: ModelBundle, features: Mapping[str, float], genres: Sequence[str],
                           mode: str, k: int, exclude_title_artist: tuple[str, str] | None = None,
                           ) -> list[Recommendation]:
    """The k catalog tracks nearest to a feature vector under `mode` (one of MODES), nearest first."""
    if not 1 <= k <= MAX_K:
        raise RecommendationError(f"k must be between 1 and {MAX_K}, got {k}")
    raw = feature_vector(bundle, features)
    query = bundle.embedding.scale_features(raw[None, :])[0].astype(np.float32)
    if mode == "normal":
        coords = bundle.embedding.transform(raw[None, :])[0]
        cluster = int(np.argmin(((bundle.centroids - coords) ** 2).sum(axis=1)))
        candidates = np.flatnonzero(bundle.clusters == cluster)
    elif mode == "genre":
        if not genres:
            raise RecommendationError("this song has no genre information, so genre mode cannot recommend for it")
        parts = [genre_index(bundle).get(g, np.array([], int)) for g in genres]
        candidates = np.unique(np.concatenate(parts)) if parts else np.array([], int)
    elif mode in MODES:
        candidates = np.arange(len(bundle.tracks))
    else:
        raise RecommendationError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    tracks = bundle.tracks
    candidates = candidates[bundle.in_model[candidates]]  # a track without features is never recommended
    if exclude_title_artist:  # the same song, if the catalog has it under another id
        title, artist = (normalize_text(x) for x in exclude_title_artist)
        same = [i for i in bundle.title_index.get(title, []) if normalize_text(tracks["artist"].iat[i]) == artist]
        candidates = candidates[~np.isin(candidates, same)]
    if not len(candidates):
        return []
    diff = bundle.scaled[candidates] - query
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    top = np.argpartition(dist, min(k, len(dist) - 1))[:k] if len(dist) > k else np.arange(len(dist))
    top = top[np.lexsort((candidates[top], dist[top]))]
    wanted = set(genres)
    out = []
    for j in top:
        i = int(candidates[j])
        shared = [g for g in tracks["genres"].iat[i] if g in wanted]
        closest = [bundle.features[f] for f in np.argsort(np.abs(bundle.scaled[i] - query), kind="stable")[:2]]
        reason = "; ".join(([f"shares {', '.join(shared[:2])}"] if shared else []) + ["close on " + " and ".join(closest)])
        out.append(Recommendation(
            index=i, track_id=str(tracks["track_id"].iat[i]), title=str(tracks["title"].iat[i]),
            artist=str(tracks["artist"].iat[i]), genres=list(tracks["genres"].iat[i]),
            preview_url=str(tracks["preview_url"].iat[i]), distance=float(dist[j]), reason=reason,
            cover_url=str(tracks["cover_url"].iat[i]),
        ))
    return out
