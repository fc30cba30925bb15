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
from music_assets.model.recommend_index import one_per_song, recommend_index
from music_assets.model import hybrid_ann

# ANN shortlist: rows fetched per wanted row, and at least this many (benchmarks/hybrid_ann.py
# measures recall@10 against the exact scan with these).
_OVERFETCH = 4
_MIN_FETCH = 64
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
        model = read_hybrid(b.path, b.tracks["track_id"].to_numpy(dtype=object), files)
        if model is not None and storage.exists(b.path / hybrid_ann.META_FILE):
            for name in (hybrid_ann.INDEX_FILE, hybrid_ann.DUPLICATES_FILE, hybrid_ann.META_FILE):
                if files is not None and files.get(name) != storage.file_sha256(b.path / name):
                    raise HybridError(f"{name} does not match its checksum (corrupt or half-written)")
            try:  # checked against model.json above when sealed; else against its own sidecar
                model.index = hybrid_ann.load(b.path, *model.vectors.shape, verify=files is None)
            except hybrid_ann.AnnIndexError as exc:
                raise HybridError(f"the hybrid index cannot be used: {exc}") from exc
        return model
    return bundle.derived("hybrid_model", load)


def hybrid_top(bundle: ModelBundle, query: int, k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The k rows with the highest hybrid score (never the query or its duplicates, each song
    once), their scores and a reason each. HybridError when the bundle carries no hybrid vectors."""
    model = hybrid_model(bundle)
    if model is None:
        raise HybridError("this model has no hybrid vectors (built before the hybrid mode); try another mode")
    ix = recommend_index(bundle)
    q = query_vector(model.vectors, query, model.weights)
    excluded = ix.excluded(query)
    everyone = bool(ix.recommendable.all())

    def rank(n_best: int) -> tuple[np.ndarray, np.ndarray]:
        found = None
        if model.index is not None:  # a shortlist from the graph, re-ranked exactly
            n = len(model.vectors)
            shortlist, _ = model.index.query(q, max(_OVERFETCH * (n_best + len(excluded)), _MIN_FETCH))
            shortlist = np.unique(shortlist[(shortlist >= 0) & (shortlist < n)])
            shortlist = shortlist[ix.recommendable[shortlist]]  # never a track outside the model
            found = top_k(model.vectors, q, n_best, excluded, rows=shortlist)
            if len(found[0]) < min(n_best, n - len(excluded)):
                found = None  # the shortlist was mostly excluded rows: scan exactly
        return found if found is not None else top_k(
            model.vectors, q, n_best, excluded, allowed=None if everyone else ix.recommendable)

    rows, scores = one_per_song(ix, rank, k)
    parts = contributions(model.vectors, q, rows, model.layout)
    # reasons from the per-bundle arrays (genre codes, scaled features): no pandas per result
    names, codes = ix.genre_names, ix.genre_code_list
    wanted = set(ix.genres_of(query).tolist())
    spans = ix.genre_spans[rows].tolist()
    closest = np.argsort(np.abs(ix.scaled[rows] - ix.scaled[query]), axis=1, kind="stable")[:, :2].tolist()
    words = [FEATURE_WORDS.get(f, f) for f in bundle.features]
    reasons = []
    for i, (row, (s, e), (a, b)) in enumerate(zip(rows.tolist(), spans, closest)):
        by = {name: float(v[i]) for name, v in parts.items()}
        main = max(by, key=by.get) if by else "audio"
        shared = [names[c] for c in codes[s:e] if c in wanted]
        if main == "chart" and by["chart"] > 0:
            region = model.top_region[row] or model.top_region[query]
            year = int(model.peak_year[row])
            text = "streamed by the same listeners" + (f" in {region}" if region else "") + (f" in {year}" if year else "")
            if shared:
                text += "; also " + " / ".join(shared[:2])
        elif main == "genre" and shared:
            text = "also " + " / ".join(shared[:2])
        else:
            text = f"similar {words[a]} and {words[b]}"
        reasons.append(text)
    return rows, scores, reasons
