"""The spaces steer() searches (model/steer.py, model/steer_search.py).

- "nearest": the recommend index's scaled feature matrix, Euclidean distance, the bundle's ANN index;
- "hybrid": the hybrid vectors (model/hybrid.py), inner product, their own ANN index where built.
Each turns seeds into vectors, costs and scores candidates, finds them exactly or through its index,
and words why a result was placed.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import numpy as np

from music_assets.model.bundle import ModelBundle
from music_assets.model.hybrid import contributions, query_vector
from music_assets.model.recommend_hybrid import FEATURE_WORDS, hybrid_model
from music_assets.model.steer_filters import Filters
from music_assets.model.steer_index import SteerIndex


class Space:
    """A vector space steer() searches; see the subclasses."""

    vectors: np.ndarray
    name: str

    def seed_vector(self, si: SteerIndex, kind: str, key: str, rows: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def push_away(self, query: np.ndarray, negative: np.ndarray, weight: float) -> np.ndarray:
        return query + weight * (query - negative)

    def steered(self, si: SteerIndex, query: np.ndarray, target: dict[str, float]) -> np.ndarray:
        return query

    def into_bounds(self, filters: Filters, query: np.ndarray) -> np.ndarray:
        return query

    def searched_inside(self, filters: Filters) -> frozenset[str]:
        """The bounded features into_bounds() moves the query inside."""
        return frozenset()

    def cost(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        return self.as_score(self.cost(rows, query))

    def as_score(self, cost: np.ndarray) -> np.ndarray:
        """A cost (distance, plus target penalties where the request has targets) as a score in
        [0, 1], decreasing with the cost: the same map for the pure similarity and the ranked match."""
        raise NotImplementedError

    def dissimilarity(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def shortlist(self, q: np.ndarray, fetch: int) -> np.ndarray:
        raise NotImplementedError

    def has_index(self) -> bool:
        raise NotImplementedError

    def exact(self, filters: Filters, q: np.ndarray, m: int) -> np.ndarray:
        raise NotImplementedError

    def reasons(self, si: SteerIndex, query: np.ndarray, rows: np.ndarray) -> list[str]:
        raise NotImplementedError


def _similar(si: SteerIndex, diffs: np.ndarray) -> list[str]:
    """Per row of |differences| (in the audio embedding), "similar A and B" for its two closest features."""
    words = [FEATURE_WORDS.get(f, f) for f in si.ix.features]
    closest = np.argsort(diffs, axis=1, kind="stable")[:, :2].tolist()
    return [f"similar {words[a]} and {words[b]}" for a, b in closest]


INSIDE = 0.25  # how far inside a min/max box the index is asked from, in standard deviations


class NearestSpace(Space):
    """The scaled audio features (StandardScaler space), Euclidean distance."""

    name = "nearest"

    def __init__(self, bundle: ModelBundle, si: SteerIndex) -> None:
        self.vectors = si.ix.scaled
        self.ann = bundle.ann
        self.n = si.n

    def seed_vector(self, si, kind, key, rows):
        if kind == "TRACK":
            row = int(rows[0])
            return self.vectors[row].astype(np.float64) if si.recommendable[row] else None
        return si.centroid(("nearest", kind, key), rows, self.vectors)

    def steered(self, si, query, target):
        """A target on an axis of the embedding moves the query onto it there."""
        out = query.copy()
        for name, value in target.items():
            j = si.embedded.get(name)
            if j is not None:
                out[j] = (value - si.center[name]) / si.spread[name]
        return out

    def into_bounds(self, filters, query):
        """The query moved into the min/max box on the axes of the embedding, a little inside
        (INSIDE standard deviations where the box is wide enough): the nearest allowed rows lie there."""
        si = filters.si
        out = query
        for name, (_, lo, hi) in zip(filters.names, filters.bounds):
            j = si.embedded.get(name)
            if j is None:
                continue
            a, b = (lo - si.center[name]) / si.spread[name], (hi - si.center[name]) / si.spread[name]
            margin = min(INSIDE, (b - a) / 2)
            value = float(np.clip(query[j], a + margin, b - margin))
            if value != query[j]:
                out = out.copy() if out is query else out
                out[j] = value
        return out

    def searched_inside(self, filters):
        return frozenset(n for n in filters.names if n in filters.si.embedded)

    def cost(self, rows, query):
        diff = self.vectors[rows] - query.astype(np.float32)
        return np.sqrt(np.einsum("ij,ij->i", diff, diff)).astype(np.float64)

    def as_score(self, cost):
        return 1.0 / (1.0 + cost)

    def dissimilarity(self, rows):
        x = self.vectors[rows].astype(np.float64)
        sq = np.einsum("ij,ij->i", x, x)
        return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))

    def has_index(self):
        return self.ann is not None

    def shortlist(self, q, fetch):
        rows, _ = self.ann.query(q.astype(np.float32), fetch)
        return rows[(rows >= 0) & (rows < self.n)]

    def exact(self, filters, q, m):
        group = filters.group
        qa = np.empty(self.vectors.shape[1] + 1, dtype=np.float32)
        qa[:-1], qa[-1] = q, 1.0
        approx = qa @ group.scan  # |x|^2 - 2 x.q over the pool's rows, one BLAS call
        ok = filters.allowed_in_group()
        return _best(approx, ok, m, filters)

    def reasons(self, si, query, rows):
        return _similar(si, np.abs(self.vectors[rows] - query.astype(np.float32)))


def _best(cost: np.ndarray, ok: np.ndarray, m: int, filters: Filters) -> np.ndarray:
    """Rows (of the pool group) of the m lowest costs among the allowed positions."""
    n_ok = int(np.count_nonzero(ok))
    if n_ok == 0:
        return np.array([], dtype=np.int64)
    if n_ok < len(ok):
        cost = np.where(ok, cost, np.inf)
    k = min(m, n_ok)
    part = np.argpartition(cost, k - 1)[:k] if k < len(cost) else np.flatnonzero(ok)
    part = part[ok[part]]
    return filters.group.row_numbers(part).astype(np.int64)


class HybridSpace(Space):
    """The hybrid vectors (model/hybrid.py): inner product, 1 = the same listeners, genres, sound."""

    name = "hybrid"

    def __init__(self, bundle: ModelBundle, model) -> None:  # model: hybrid.HybridModel
        self.model = model
        self.vectors = model.vectors
        self.prior = float(np.sqrt(model.weights.recency))

    def seed_vector(self, si, kind, key, rows):
        if kind == "TRACK":
            return query_vector(self.vectors, int(rows[0]), self.model.weights).astype(np.float64)
        found = si.centroid(("hybrid", kind, key), rows, self.vectors)
        if found is None:
            return None
        found = found.copy()
        found[-1] = self.prior
        return found

    def push_away(self, query, negative, weight):
        out = query + weight * (query - negative)
        out[-1] = self.prior
        return out

    def cost(self, rows, query):
        return 1.0 - (self.vectors[rows] @ query.astype(np.float32)).astype(np.float64)

    def as_score(self, cost):
        return np.clip(1.0 - cost, 0.0, 1.0)

    def dissimilarity(self, rows):
        x = self.vectors[rows, :-1].astype(np.float64)
        return 1.0 - x @ x.T

    def has_index(self):
        return self.model.index is not None

    def shortlist(self, q, fetch):
        rows, _ = self.model.index.query(q.astype(np.float32), fetch)
        return rows[(rows >= 0) & (rows < len(self.vectors))]

    def exact(self, filters, q, m):
        rows = filters.group_rows()
        scores = self.vectors[rows] @ q.astype(np.float32) if filters.group.rows is not None else self.vectors @ q.astype(np.float32)
        return _best(-scores.astype(np.float64), filters.allowed_in_group(), m, filters)

    def reasons(self, si, query, rows):
        """The signal that placed each row, as recommend_hybrid words it."""
        parts = contributions(self.vectors, query.astype(np.float32), rows, self.model.layout)
        out = []
        for i, row in enumerate(rows.tolist()):
            by = {name: float(v[i]) for name, v in parts.items()}
            main = max(by, key=by.get) if by else "audio"
            names = [si.ix.genre_names[c] for c in si.ix.genres_of(row).tolist()]
            if main == "chart" and by["chart"] > 0:
                region = self.model.top_region[row]
                out.append("streamed by the same listeners" + (f" in {region}" if region else ""))
            elif main == "genre" and by["genre"] > 0 and names:
                out.append("also " + " / ".join(names[:2]))
            else:
                out.append("similar sound")
        return out


def space(bundle: ModelBundle, si: SteerIndex, mode: str) -> Space | None:
    """The request's space; None for hybrid on a bundle without hybrid vectors."""
    if mode == "hybrid":
        model = hybrid_model(bundle)
        return HybridSpace(bundle, model) if model is not None else None
    return bundle.derived("steer_nearest_space", lambda b: NearestSpace(b, si))
