"""Genre vectors: a track's artists' genres as a TF-IDF vector, so "opm" and "pinoy indie" tracks
meet even when they sound apart, and rare genres weigh more than "pop".

Tokens are each genre and each word of it ("pinoy indie" gives "pinoy indie", "pinoy", "indie"):
related genres share words, so "pinoy rock" is near "pinoy indie" and far from "album rock"
only through the shared "rock". Above `dims` distinct tokens the vectors are reduced by a
truncated SVD (dense vectors of a fixed width are what the blend and the ANN index take); rows are
normalized, so their inner product is their cosine. A track without genres gets a zero row and
the blend leaves this signal out for it. Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from music_assets.training.signals.chart_profile import normalize_rows, reduce

DEFAULT_GENRE_DIMS = 32


def genre_tokens(genres: Iterable[str]) -> list[str]:
    """The genres of one track and their words, lower-cased, each once."""
    out: dict[str, None] = {}
    for g in genres:
        g = str(g).strip().lower()
        if not g:
            continue
        out[g] = None
        for word in g.replace("-", " ").split():
            out["w:" + word] = None  # a word is a token of its own, never mistaken for a genre name
    return list(out)


def genre_vectors(genres: Sequence[Sequence[str]], dims: int = DEFAULT_GENRE_DIMS, seed: int = 0) -> np.ndarray:
    """n x d float32, one row per track (zero when it has no genre)."""
    docs = [genre_tokens(g) for g in genres]
    if not any(docs):
        return np.zeros((len(docs), 1), dtype=np.float32)
    tfidf = TfidfVectorizer(analyzer=lambda doc: doc, sublinear_tf=True, norm="l2")
    m = tfidf.fit_transform(docs)
    if m.shape[1] <= dims:
        return normalize_rows(m.toarray().astype(np.float32))
    vectors, _ = reduce(m.tocsr(), dims, seed, power=1.0)
    return vectors
