"""The hybrid's blend weights, chosen on a validation period that precedes the evaluated one.

For a cut at date C the weights are chosen one level down: the training period [start, C) is cut
again at the same fraction (the inner cut V), signals are fitted on rows before V, and each
weight set of a small grid is scored by cochart_lift_hit_at_10 on [V, C); the best (ties: the
earlier, simpler set in grid order) whose genre hit rate is not below the audio mode's on the same
split is returned (listeners who ask for a song expect its kind of music: co-listening alone drifts
to whatever the same country streams). Rows after C never take part.

Scores of every weight set come from one cosine matrix per signal (queries x candidates), so the
grid costs a few array operations per set, not a search per set.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from music_assets.model.hybrid import SIGNALS, HybridWeights
from music_assets.training.signals.catalog_signals import CatalogSignals

GRID = {
    "audio": (0.0, 0.1, 0.2, 0.4),
    "chart": (1.0,),  # the scale: only the ratios matter
    "genre": (0.0, 0.05, 0.1, 0.2, 0.4),
    "recency": (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
}


def weight_grid() -> list[HybridWeights]:
    names = list(GRID)
    return [HybridWeights(**dict(zip(names, values))) for values in itertools.product(*GRID.values())]


@dataclass
class ScoreParts:
    """Per signal the cosine of each query with each candidate, and who has which signal."""

    cosines: dict[str, np.ndarray]  # name -> q x n
    q_present: dict[str, np.ndarray]  # name -> q
    c_present: dict[str, np.ndarray]  # name -> n
    prior: np.ndarray  # n
    excluded: np.ndarray  # q x n bool: the query itself

    def scores(self, w: HybridWeights) -> np.ndarray:
        """The hybrid scores (model/hybrid.py's inner product) for weights w, without building vectors."""
        wq = sum(w.of(s) * self.q_present[s] for s in SIGNALS)
        wc = sum(w.of(s) * self.c_present[s] for s in SIGNALS)
        norm = np.sqrt(np.outer(np.maximum(wq, 1e-12), np.maximum(wc, 1e-12)))
        total = sum(w.of(s) * self.cosines[s] * np.outer(self.q_present[s], self.c_present[s]) for s in SIGNALS)
        out = total / norm + w.recency * self.prior[None, :]
        out[self.excluded] = -np.inf
        return out


def score_parts(signals: CatalogSignals, query_rows: np.ndarray, candidate_rows: np.ndarray) -> ScoreParts:
    """Cosines between the query rows and the candidate rows (catalog row numbers) per signal."""
    cosines = {s: signals.blocks[s][query_rows] @ signals.blocks[s][candidate_rows].T for s in SIGNALS}
    return ScoreParts(
        cosines={s: c.astype(np.float32) for s, c in cosines.items()},
        q_present={s: signals.present[s][query_rows].astype(np.float32) for s in SIGNALS},
        c_present={s: signals.present[s][candidate_rows].astype(np.float32) for s in SIGNALS},
        prior=signals.prior[candidate_rows].astype(np.float32),
        excluded=query_rows[:, None] == candidate_rows[None, :],
    )


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row of scores, the k best columns, best first (ties by column number)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


def slot_hits(top: np.ndarray, candidate_ids: np.ndarray, relevant: list[set[str]]) -> float:
    """Share of result slots holding a relevant track."""
    hits = sum(sum(1 for t in candidate_ids[row] if t in rel) for row, rel in zip(top, relevant))
    return hits / max(top.size, 1)


def genre_hits(top: np.ndarray, query_genres: list[frozenset[str]], candidate_genres: list[frozenset[str]]) -> float:
    """Share of result slots sharing a genre with the query (evaluate.py's genre_hit_rate)."""
    hits = sum(sum(1 for c in row if candidate_genres[c] & g) for row, g in zip(top, query_genres))
    return hits / max(top.size, 1)


# Queries scored at a time: the cosine matrices are queries x candidates, so at 200k candidates a
# chunk holds tens of MB where all 500 queries at once would hold gigabytes.
QUERY_CHUNK = 64


def chunked_tops(signals: CatalogSignals, query_rows: np.ndarray, candidate_rows: np.ndarray,
                 weight_sets: list[HybridWeights], k: int, chunk: int = QUERY_CHUNK) -> dict[HybridWeights, np.ndarray]:
    """Per weight set, the q x k best candidate positions for every query, scored chunk by chunk."""
    tops: dict[HybridWeights, list[np.ndarray]] = {w: [] for w in weight_sets}
    for start in range(0, len(query_rows), chunk):
        parts = score_parts(signals, query_rows[start:start + chunk], candidate_rows)
        for w in weight_sets:
            tops[w].append(top_k_rows(parts.scores(w), k))
    width = min(k, len(candidate_rows))
    return {w: (np.concatenate(t) if t else np.empty((0, width), dtype=np.int64)) for w, t in tops.items()}


def score_grid(signals: CatalogSignals, query_rows: np.ndarray, candidate_rows: np.ndarray, candidate_ids: np.ndarray,
               relevant: list[set[str]], query_genres: list[frozenset[str]], candidate_genres: list[frozenset[str]],
               k: int = 10) -> list[tuple[HybridWeights, float, float]]:
    """Every weight set of the grid with its co-chart hit rate and genre hit rate on this split."""
    grid = [w for w in weight_grid() if any(w.of(s) > 0 for s in SIGNALS)]
    tops = chunked_tops(signals, query_rows, candidate_rows, grid, k)
    return [(w, slot_hits(tops[w], candidate_ids, relevant), genre_hits(tops[w], query_genres, candidate_genres))
            for w in grid]
