"""Offline quality of recommendation modes, measured without listening logs.

There is no record of what listeners liked, so we measure what the catalog can tell us, for every
mode on the same sample of query tracks (seeded, so versions compare like with like):

- genre_hit_rate:  share of the k result slots holding a track that shares a genre with the query
                   (an empty slot counts as a miss, so a mode cannot win by answering less);
- artist_hit_rate: share of the k slots holding a track by the query's artist;
- coverage:        share of the catalog that appears in at least one result list;
- diversity:       intra-list diversity, the mean pairwise Euclidean distance between the results
                   of one list in the standardized feature space, averaged over lists;
- popularity_bias: mean chart appearances of the results divided by the catalog's mean (1 = neutral);
- answered:        share of queries that received a full list of k results.

A random recommender (k uniform draws without the query) gives the floor every mode must beat.
The query sample is "held out" in the sense that matters here: the models are unsupervised and
never see genres, artists or popularity, which are the labels scored; the query and its duplicates
are never counted as results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from music_assets.model.bundle import ModelBundle
from music_assets.text import normalize_text
from music_assets.model.recommend import RecommendationError, recommend

RANDOM_MODE = "random"
METRICS: tuple[str, ...] = (
    "genre_hit_rate", "artist_hit_rate", "coverage", "diversity", "popularity_bias", "answered",
)
# A mode whose results are filtered on the very label that genre_hit_rate scores gets 1.0 by
# construction; it is measured and reported but cannot win on that metric.
LABEL_FILTER_MODES: frozenset[str] = frozenset({"genre"})

Recommender = Callable[[int], Sequence[int]]


@dataclass(frozen=True)
class Catalog:
    """What evaluation needs from a catalog, row-aligned: labels, popularity and feature vectors."""

    genres: Sequence[Sequence[str]]
    artists: Sequence[str]
    popularity: np.ndarray  # chart appearances per track
    features: np.ndarray  # n x f, standardized
    in_model: np.ndarray | None = None  # bool per track; None: all. Only these are queried or recommended

    def __len__(self) -> int:
        return len(self.artists)

    def model_rows(self) -> np.ndarray:
        return np.arange(len(self)) if self.in_model is None else np.flatnonzero(self.in_model)


def genre_share(catalog: Catalog) -> float:
    """Share of tracks with at least one genre: 0 means genre hit rate cannot be measured."""
    return float(np.mean([len(g) > 0 for g in catalog.genres])) if len(catalog) else 0.0


def sample_queries(catalog: Catalog, n: int, seed: int) -> np.ndarray:
    """A seeded sample of query rows among tracks that carry a genre (genre hit rate needs one);
    among all tracks when none does, so the other metrics are still measured."""
    if len(catalog) == 0:
        raise ValueError("the catalog is empty: nothing to evaluate")
    rows = catalog.model_rows()  # a track outside the model is never a query (it gets no recommendations)
    eligible = rows[[len(catalog.genres[i]) > 0 for i in rows]]
    if len(eligible) == 0:
        eligible = rows
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=min(n, len(eligible)), replace=False))


def random_recommender(n_tracks: int, k: int, seed: int, rows: np.ndarray | None = None) -> Recommender:
    """The floor: k distinct tracks drawn uniformly (from `rows`, the model's tracks, when given),
    never the query itself."""
    rng = np.random.default_rng(seed)
    pool = np.arange(n_tracks) if rows is None else np.asarray(rows)

    def recommend(query: int) -> list[int]:
        others = pool[pool != query]
        picks = rng.choice(len(others), size=min(k, len(others)), replace=False)
        return [int(others[p]) for p in picks]

    return recommend


def _mean_pairwise_distance(x: np.ndarray) -> float:
    diff = x[:, None, :] - x[None, :, :]
    d = np.sqrt((diff ** 2).sum(axis=2))
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


def evaluate_mode(catalog: Catalog, recommender: Recommender, queries: Iterable[int], k: int = 10) -> dict[str, float]:
    """The metrics above for one recommender over `queries` (see the module docstring)."""
    genre_sets = [frozenset(g) for g in catalog.genres]
    artists = list(catalog.artists)
    genre_hits = artist_hits = answered = n_queries = 0
    diversities: list[float] = []
    shown: set[int] = set()
    result_popularity: list[float] = []
    for q in queries:
        q = int(q)
        n_queries += 1
        recs = [int(r) for r in recommender(q)][:k]
        shown.update(recs)
        answered += len(recs) == k
        genre_hits += sum(1 for r in recs if genre_sets[r] & genre_sets[q])
        artist_hits += sum(1 for r in recs if artists[r] == artists[q])
        result_popularity.extend(float(catalog.popularity[r]) for r in recs)
        if len(recs) >= 2:
            diversities.append(_mean_pairwise_distance(catalog.features[recs]))
    if n_queries == 0:
        raise ValueError("no query tracks to evaluate")
    catalog_popularity = float(np.mean(catalog.popularity))
    slots = n_queries * k
    return {
        "genre_hit_rate": genre_hits / slots,
        "artist_hit_rate": artist_hits / slots,
        "coverage": len(shown) / len(catalog),
        "diversity": float(np.mean(diversities)) if diversities else 0.0,
        "popularity_bias": (float(np.mean(result_popularity)) / catalog_popularity
                            if result_popularity and catalog_popularity > 0 else float("nan")),
        "answered": answered / n_queries,
    }


def evaluate_modes(catalog: Catalog, recommenders: dict[str, Recommender], queries: Sequence[int],
                   k: int = 10, seed: int = 0) -> pd.DataFrame:
    """One row per mode (plus the random floor), one column per metric, on the same queries."""
    rows = []
    for mode, rec in {**recommenders, RANDOM_MODE: random_recommender(len(catalog), k, seed, catalog.model_rows())}.items():
        rows.append({"mode": mode, **evaluate_mode(catalog, rec, queries, k)})
    return pd.DataFrame(rows, columns=["mode", *METRICS])


def pick_winner(table: pd.DataFrame) -> str:
    """The mode serving should use by default: the best genre hit rate among modes that answer
    every query and do not filter on the genre label; ties go to wider coverage. Falls back to
    "normal" (the seed's mode) when no eligible mode beats the random floor."""
    floor = float(table.loc[table["mode"] == RANDOM_MODE, "genre_hit_rate"].iloc[0]) if (table["mode"] == RANDOM_MODE).any() else 0.0
    eligible = table[(table["mode"] != RANDOM_MODE) & ~table["mode"].isin(LABEL_FILTER_MODES)
                     & (table["answered"] >= 0.999) & (table["genre_hit_rate"] > floor)]
    if eligible.empty:
        return "normal"
    best = eligible.sort_values(["genre_hit_rate", "coverage", "mode"], ascending=[False, False, True], kind="stable")
    return str(best["mode"].iloc[0])


def quality_report(table: pd.DataFrame, version: str, k: int, n_queries: int, seed: int,
                   genre_labelled: float = 1.0) -> dict:
    """The JSON written into a bundle as quality.json: per-mode metrics and the winner."""
    return {
        "version": version,
        "genre_labelled_share": round(genre_labelled, 6),
        "k": k,
        "n_queries": n_queries,
        "seed": seed,
        "winner": pick_winner(table),
        "modes": {row["mode"]: {m: (None if pd.isna(row[m]) else round(float(row[m]), 6)) for m in METRICS}
                  for _, row in table.iterrows()},
    }


def regression(current: dict, published: dict | None, tolerance: float) -> list[str]:
    """Why `current` is worse than `published` beyond `tolerance` (empty when it is not).

    Compares the genre hit rate of each non-random mode both reports measured, and of the winner.
    """
    if not published or "modes" not in published:
        return []
    if current.get("genre_labelled_share", 1.0) == 0 or published.get("genre_labelled_share", 1.0) == 0:
        return []  # genre hit rate was not measurable on one side: nothing to compare
    problems = []
    for mode, metrics in current.get("modes", {}).items():
        old = published["modes"].get(mode)
        if mode == RANDOM_MODE or not old or old.get("genre_hit_rate") is None:
            continue
        new_v, old_v = metrics["genre_hit_rate"], old["genre_hit_rate"]
        if new_v < old_v - tolerance:
            problems.append(f"{mode}: genre hit rate {new_v:.3f} < published {old_v:.3f} - {tolerance}")
    return problems


def append_history(history: pd.DataFrame | None, table: pd.DataFrame, version: str, evaluated_at: str) -> pd.DataFrame:
    """Quality history across versions: re-evaluating a version replaces its rows."""
    new = table.assign(version=version, evaluated_at=evaluated_at)
    if history is None or history.empty:
        return new.reset_index(drop=True)
    kept = history[history["version"] != version]
    return pd.concat([kept, new], ignore_index=True).sort_values(["evaluated_at", "mode"], kind="stable").reset_index(drop=True)


def catalog_from_bundle(bundle: ModelBundle) -> Catalog:
    return Catalog(
        genres=list(bundle.tracks["genres"]),
        artists=[normalize_text(a) for a in bundle.tracks["artist"]],
        popularity=bundle.tracks["chart_appearances"].to_numpy(dtype=np.float64),
        features=np.asarray(bundle.scaled, dtype=np.float64),
        in_model=None if bundle.in_model.all() else bundle.in_model,
    )


def bundle_recommenders(bundle: ModelBundle, modes: Sequence[str], k: int = 10) -> dict[str, Recommender]:
    """Each serving mode as a Recommender; a query a mode cannot answer gets an empty list."""
    def make(mode: str) -> Recommender:
        def rec(query: int) -> list[int]:
            try:
                return [r.index for r in recommend(bundle, query, mode=mode, k=k)]
            except RecommendationError:
                return []
        return rec

    return {mode: make(mode) for mode in modes}
