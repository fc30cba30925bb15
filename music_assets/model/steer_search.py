"""Candidates and ranking for steer(): the request's filters, the search, the pick.

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
from music_assets.model.steer_index import SteerIndex
from music_assets.model.steer_filters import Filters
from music_assets.model.steer_spaces import Space
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


@dataclass
class Found:
    rows: np.ndarray
    scores: np.ndarray  # similarity to the seeds alone
    how: str
    matches: np.ndarray | None = None  # the ranked cost as a score: similarity with the targets' penalties


def candidates(sp: Space, filters: Filters, q: np.ndarray, m: int, way: str) -> tuple[np.ndarray, str]:
    """At least m allowed rows near q where the pool has them (fewer only when it has fewer): the
    index is asked from q moved inside the min/max box (Space.into_bounds), where the allowed rows
    are, so fewer of its shortlist fall outside; the exact scan ranks from q itself."""
    if sp.has_index() and way != "exact":
        share = filters.share(skip=sp.searched_inside(filters))
        fetch = math.ceil((m + len(filters.excluded)) * OVERFETCH / max(share, 1e-9))
        if way == "ann" or (fetch <= MAX_FETCH and fetch * ROW_COST <= len(filters.group)):
            q_find = sp.into_bounds(filters, q)
            while True:
                rows = sp.shortlist(q_find, fetch)
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

    def ranked(m: int) -> tuple[np.ndarray, np.ndarray, str]:
        rows, how = candidates(sp, filters, q_search, m, way)
        cost = sp.cost(rows, q_search) if len(rows) else np.array([])
        for name, value in target.items():
            gap = np.abs(si.values[name][rows] - value) / si.spread[name]
            cost += TARGET_WEIGHT * np.where(np.isfinite(gap), gap, MISSING_TARGET_COST)
        order = np.lexsort((rows, cost))
        return rows[order], cost[order], how

    rows, cost, how = ranked(m)
    if not len(rows):
        return Found(rows, np.array([]), how)
    pick = select(si, sp, rows, cost, limit, float(request.diversity), request.max_per_artist)
    # each song once (recommend_index.one_per_song's rule): drop a picked row that repeats a better
    # one's song and pick again, ranking deeper when the shortlist runs out; most lists hold no
    # version note and cost one check of the picked rows
    dropped = np.zeros(len(rows), dtype=bool)
    for _ in range(3):
        repeated = si.ix.repeated_songs(rows[pick])
        if not repeated.any():
            break
        dropped[pick[repeated]] = True
        if len(rows) - dropped.sum() < limit and len(rows) >= m:
            m += 2 * int(dropped.sum()) + PAD
            keep_out = set(rows[dropped].tolist())
            rows, cost, how = ranked(m)
            dropped = np.array([r in keep_out for r in rows.tolist()], dtype=bool)
        kept = np.flatnonzero(~dropped)
        pick = kept[select(si, sp, rows[kept], cost[kept], limit, float(request.diversity), request.max_per_artist)]
    rows = rows[pick]
    return Found(rows, sp.score(rows, query), how, sp.as_score(cost[pick]))
