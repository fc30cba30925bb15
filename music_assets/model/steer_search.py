"""Candidates and ranking for steer(): the two spaces it searches, the request's filters, the pick.

- Space: "nearest" is the recommend index's scaled feature matrix (Euclidean distance, the bundle's
  ANN index); "hybrid" the hybrid vectors (inner product, their own ANN index where built).
- Filters: which rows a request allows, for a few rows at a time (the ANN shortlist) or for a
  whole pool (the exact scan), and the exact pool size.
- search(): the ANN index when the allowed pool is a large share of the catalog, asking for a
  shortlist sized by that share and widening it when too few survive the filters; an exact scan
  of the pool's scan matrix otherwise (a small market, tight min/max: few rows to scan). The
  rule and its constants are measured by benchmarks/steer_api.py.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from music_assets.model.bundle import ModelBundle
from music_assets.model.hybrid import contributions, query_vector
from music_assets.model.recommend_hybrid import FEATURE_WORDS, hybrid_model
from music_assets.model.steer_index import SteerIndex
from music_assets.text import normalize_text

# Shortlist: rows re-ranked per wanted row when targets, diversity or max_per_artist re-rank
# (a wider choice for them), plus a pad.
SHORTLIST_FACTOR = 2
PAD = 16
# ANN: rows fetched per wanted row, divided by the allowed share; widened by WIDEN while too few
# survive the filters. One fetched row costs about as much as scanning ROW_COST rows exactly
# (model/recommend.py measured the same trade), so a pool smaller than fetch x ROW_COST is scanned.
OVERFETCH = 1.2
WIDEN = 4
MAX_FETCH = 4_000
ROW_COST = 400
TARGET_WEIGHT = 1.0  # one standard deviation off a target costs as much as 1.0 of distance
MISSING_TARGET_COST = 1.0  # a track without a value for a target feature: as if one std off


class Filters:
    """What a request allows: recommendable, in the market, inside min/max, not excluded."""

    def __init__(self, si: SteerIndex, market: str | None, lo: dict[str, float], hi: dict[str, float],
                 excluded: np.ndarray) -> None:
        self.si = si
        if market:
            self.group, self.market_mask, _ = si.market(market)
        else:
            self.group, self.market_mask = si.ix.all, None
        self.bounds = [(si.values[f], lo.get(f, -math.inf), hi.get(f, math.inf)) for f in sorted(lo.keys() | hi.keys())]
        self.excluded = excluded

    def _inside(self, rows: np.ndarray | None) -> np.ndarray | bool:
        ok: np.ndarray | bool = True
        for values, lo, hi in self.bounds:
            v = values if rows is None else values[rows]
            ok = ok & (v >= lo) & (v <= hi)  # NaN fails both: a track without the value never passes
        return ok

    def _is_excluded(self, rows: np.ndarray) -> np.ndarray:
        if not len(self.excluded):
            return np.zeros(len(rows), dtype=bool)
        pos = np.minimum(np.searchsorted(self.excluded, rows), len(self.excluded) - 1)
        return self.excluded[pos] == rows

    def allowed(self, rows: np.ndarray) -> np.ndarray:
        ok = self.si.recommendable[rows].copy()
        if self.market_mask is not None:
            ok &= self.market_mask[rows]
        ok &= self._inside(rows)
        return ok & ~self._is_excluded(rows)

    def group_rows(self) -> np.ndarray:
        return self.group.rows if self.group.rows is not None else np.arange(self.si.n)

    def allowed_in_group(self) -> np.ndarray:
        """Mask over the pool group's rows (the group holds only recommendable, in-market rows)."""
        rows = self.group.rows
        ok = np.ones(len(self.group), dtype=bool)
        if self.bounds:
            ok &= self._inside(rows)
        if len(self.excluded):
            if rows is None:
                ok[self.excluded] = False
            else:
                pos = np.searchsorted(rows, self.excluded)
                hit = pos < len(rows)
                hit[hit] = rows[pos[hit]] == self.excluded[hit]
                ok[pos[hit]] = False
        return ok

    def share(self) -> float:
        """Estimated share of the recommendable catalog allowed (min/max from a fixed sample)."""
        si = self.si
        share = len(self.group) / max(si.n_recommendable, 1)
        if self.bounds and len(si.sample):
            share *= float(np.mean(self._inside(si.sample)))
        return share

    def pool_size(self) -> int:
        """Exactly how many rows the request allows."""
        if self.bounds:
            base = int(np.count_nonzero(self._inside(self.group.rows)))
        else:
            base = len(self.group)
        if len(self.excluded):
            ex = self.excluded
            ok = self.si.recommendable[ex].copy()
            if self.market_mask is not None:
                ok &= self.market_mask[ex]
            ok &= self._inside(ex)
            base -= int(np.count_nonzero(ok))
        return base


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

    def cost(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
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

    def cost(self, rows, query):
        diff = self.vectors[rows] - query.astype(np.float32)
        return np.sqrt(np.einsum("ij,ij->i", diff, diff)).astype(np.float64)

    def score(self, rows, query):
        return 1.0 / (1.0 + self.cost(rows, query))

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

    def score(self, rows, query):
        return np.clip((self.vectors[rows] @ query.astype(np.float32)).astype(np.float64), 0.0, 1.0)

    def dissimilarity(self, rows):
        x = self.vectors[rows, :-1].astype(np.float64)
        return 1.0 - x @ x.T

    def has_index(self):
        return self.model.index is not None

    def shortlist(self, q, fetch):
        rows = self.model.index.query(q.astype(np.float32), fetch)
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


@dataclass
class Found:
    rows: np.ndarray
    scores: np.ndarray
    how: str


def candidates(sp: Space, filters: Filters, q: np.ndarray, m: int, way: str) -> tuple[np.ndarray, str]:
    """At least m allowed rows near q where the pool has them (fewer only when it has fewer)."""
    if sp.has_index() and way != "exact":
        share = filters.share()
        fetch = math.ceil((m + len(filters.excluded)) * OVERFETCH / max(share, 1e-9))
        if way == "ann" or (fetch <= MAX_FETCH and fetch * ROW_COST <= len(filters.group)):
            while True:
                rows = sp.shortlist(q, fetch)
                got = rows[filters.allowed(rows)]
                if len(got) >= m or fetch >= filters.si.n:
                    return got, "ann"
                if way != "ann" and fetch * WIDEN > MAX_FETCH:
                    break  # too few survive even a wide shortlist: scan exactly
                fetch = min(fetch * WIDEN, filters.si.n)
    return sp.exact(filters, q, m), "exact"


def select(si: SteerIndex, sp: Space, rows: np.ndarray, cost: np.ndarray, limit: int, diversity: float,
           max_per_artist: int | None) -> np.ndarray:
    """Positions of the final list in `rows` (sorted by cost): capped per artist, and with
    diversity > 0 by maximal marginal relevance: (1 - d) * relevance + d * distance to the
    closest track already chosen."""
    if not diversity and not max_per_artist:
        return np.arange(min(limit, len(rows)))
    artists = [normalize_text(r[2]) for r in si.ix.records.get(rows)] if max_per_artist else None
    counts: dict[str, int] = {}
    available = np.ones(len(rows), dtype=bool)
    chosen: list[int] = []
    nearest_chosen = np.full(len(rows), np.inf)
    apart = sp.dissimilarity(rows) if diversity else None
    while len(chosen) < limit and available.any():
        if diversity and chosen:
            value = (1 - diversity) * -cost + diversity * nearest_chosen
        else:
            value = -cost.copy()
        value[~available] = -np.inf
        i = int(np.argmax(value))
        available[i] = False
        if artists is not None:
            if counts.get(artists[i], 0) >= max_per_artist:
                continue
            counts[artists[i]] = counts.get(artists[i], 0) + 1
        chosen.append(i)
        if apart is not None:
            nearest_chosen = np.minimum(nearest_chosen, apart[i])
    return np.array(chosen, dtype=np.int64)


def search(bundle: ModelBundle, si: SteerIndex, sp: Space, query: np.ndarray, q_search: np.ndarray,
           filters: Filters, request, target: dict[str, float], way: str) -> Found:
    """The request's results: candidates, cost (distance + target penalties), the pick."""
    limit = request.limit
    rerank = bool(target) or request.diversity > 0 or bool(request.max_per_artist)
    m = limit * SHORTLIST_FACTOR + PAD if rerank else limit
    rows, how = candidates(sp, filters, q_search, m, way)
    if not len(rows):
        return Found(rows, np.array([]), how)
    cost = sp.cost(rows, q_search)
    for name, value in target.items():
        gap = np.abs(si.values[name][rows] - value) / si.spread[name]
        cost += TARGET_WEIGHT * np.where(np.isfinite(gap), gap, MISSING_TARGET_COST)
    order = np.lexsort((rows, cost))
    rows, cost = rows[order], cost[order]
    pick = select(si, sp, rows, cost, limit, float(request.diversity), request.max_per_artist)
    rows = rows[pick]
    return Found(rows, sp.score(rows, query), how)
