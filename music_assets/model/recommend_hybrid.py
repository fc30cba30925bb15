"""The hybrid mode's search and its reasons: "Listened together".

One inner product per track (model/hybrid.py) ranks the catalog; each result is explained by the
signal that placed it, in words a listener understands: the chart block ("streamed by the same
listeners in the Philippines in 2020"), the genre block ("also OPM / pinoy indie") or the audio
block ("similar energy and mood"). recommend.py turns the rows into Recommendations (this module
does not import it: no import circle). Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import numpy as np

from music_assets import storage
from music_assets.model.bundle import META_FILE, ModelBundle
from music_assets.model.hybrid import META_FILE as HYBRID_META, VECTORS_FILE, HybridError, HybridModel, contributions, \
    query_vector, read_hybrid, top_k
from music_assets.model.recommend_index import recommend_index

# What a listener calls each audio feature ("similar energy and mood").
FEATURE_WORDS = {
    "danceability": "groove", "energy": "energy", "loudness": "loudness", "speechiness": "amount of words",
    "acousticness": "acoustic sound", "instrumentalness": "instrumental feel", "liveness": "live feel",
    "valence": "mood", "tempo": "tempo",
}


def hybrid_model(bundle: ModelBundle) -> HybridModel | None:
    """The bundle's hybrid vectors, read once per loaded bundle; None when it has none."""
    def load(b: ModelBundle) -> HybridModel | None:
        # a sealed bundle vouches for its hybrid files (checksums in model.json); a build being
        # evaluated before publication is read as it is
        files = b.meta.get("files", {}) if storage.exists(b.path / META_FILE) else None
        return read_hybrid(b.path, b.tracks["track_id"].to_numpy(dtype=object), files)
    return bundle.derived("hybrid_model", load)


def _shared(a: list[str], b: list[str]) -> list[str]:
    wanted = set(a)
    return [g for g in b if g in wanted]


def _audio_words(ix, query: int, row: int, features: list[str]) -> str:
    closest = np.argsort(np.abs(ix.scaled[row] - ix.scaled[query]), kind="stable")[:2]
    return " and ".join(FEATURE_WORDS.get(features[j], features[j]) for j in closest)


def hybrid_top(bundle: ModelBundle, query: int, k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The k rows with the highest hybrid score (never the query or its duplicates), their scores
    and a reason each. HybridError when the bundle carries no hybrid vectors."""
    model = hybrid_model(bundle)
    if model is None:
        raise HybridError("this model has no hybrid vectors (built before the hybrid mode); try another mode")
    ix = recommend_index(bundle)
    q = query_vector(model.vectors, query, model.weights)
    rows, scores = top_k(model.vectors, q, k, ix.excluded(query))
    parts = contributions(model.vectors, q, rows, model.layout)
    genres = bundle.tracks["genres"]
    q_genres = list(genres.iat[query])
    reasons = []
    for i, row in enumerate(rows.tolist()):
        by = {name: float(v[i]) for name, v in parts.items()}
        main = max(by, key=by.get) if by else "audio"
        shared = _shared(q_genres, list(genres.iat[row]))
        if main == "chart" and by["chart"] > 0:
            region = model.top_region[row] or model.top_region[query]
            year = int(model.peak_year[row])
            text = "streamed by the same listeners" + (f" in {region}" if region else "") + (f" in {year}" if year else "")
            if shared:
                text += "; also " + " / ".join(shared[:2])
        elif main == "genre" and shared:
            text = "also " + " / ".join(shared[:2])
        else:
            text = "similar " + _audio_words(ix, query, row, bundle.features)
        reasons.append(text)
    return rows, scores, reasons
