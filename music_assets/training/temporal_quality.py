"""The temporal evaluation of every mode (cochart_eval.py's protocol) and the hybrid's weights.

`choose_hybrid_weights` picks the blend on the validation period before the cut;
`evaluate_temporal` fits every signal on rows before the cut, ranks the candidates for each query
with each mode and reports the co-chart metrics beside evaluate.py's genre hit rate and
beyond-accuracy metrics on the same lists. Modes:

- random, popular (most chart days before the cut), charting_now (random among the tracks charting
  in the week before the cut, then the rest: how much of a score is only "still charting"): the floors;
- audio: nearest by Euclidean distance in standardized feature space (serving's `nearest`);
- chart_profile, genres: one signal alone (cosine);
- hybrid: the blend with the weights chosen before the cut (model/hybrid.py).
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Sequence

import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.model.bundle import ModelBundle
from music_assets.text import normalize_text
from music_assets.model.hybrid import SIGNALS, HybridWeights
from music_assets.training.cochart_eval import CutConfig, Split, cut_date, make_split, query_hits, ranking_metrics, \
    ratio_interval
from music_assets.training.evaluate import METRICS, Catalog, evaluate_mode
from music_assets.training.hybrid_weights import GRID, QUERY_CHUNK, chunked_tops, genre_hits, score_grid, top_k_rows
from music_assets.training.signals.catalog_signals import CatalogSignals, catalog_signals
from music_assets.training.signals.chart_profile import ProfileParams, chart_period

TEMPORAL_MODES: tuple[str, ...] = ("random", "popular", "charting_now", "audio", "chart_profile", "genres", "hybrid")
SINGLE_SIGNAL_MODES: tuple[str, ...] = ("audio", "chart_profile", "genres")  # issue 15's "best single signal"
COCHART_METRICS: tuple[str, ...] = ("cochart_lift_hit_at_10", "cochart_lift_ndcg_at_10", "cochart_lift_any_hit")


@dataclass
class TemporalCatalog:
    """What the evaluation needs of a catalog, row-aligned."""

    track_ids: Sequence[str]
    artists: Sequence[str]  # normalized: "another artist" compares these
    genres: Sequence[Sequence[str]]
    scaled: np.ndarray  # standardized audio features
    audio_present: np.ndarray  # False where every feature was imputed

    def signals(self, chart_rows: storage.Location, before: date, params: ProfileParams) -> CatalogSignals:
        return catalog_signals(chart_rows, before, self.track_ids, self.artists, self.genres, self.scaled,
                               self.audio_present, params)


@dataclass
class TemporalResult:
    table: pd.DataFrame  # one row per mode
    weights: HybridWeights
    start: date
    cut: date
    stop: date
    validation_cut: date
    n_candidates: int
    n_queries: int
    n_eligible: int  # candidates charting after the cut too, before keeping those with a relevant track
    validation: list[tuple[HybridWeights, float]] = field(repr=False, default_factory=list)
    per_query: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # mode -> relevant results per query

    def report(self) -> dict:
        """The part of quality.json this evaluation writes."""
        return {
            "cut": self.cut.isoformat(), "start": self.start.isoformat(), "stop": self.stop.isoformat(),
            "validation_cut": self.validation_cut.isoformat(), "n_candidates": self.n_candidates,
            "n_queries": self.n_queries, "n_eligible": self.n_eligible,
            "hybrid_weights": self.weights.to_dict(),
            "modes": {r["mode"]: {m: (None if pd.isna(r[m]) else round(float(r[m]), 6))
                                  for m in (*COCHART_METRICS, *METRICS)} for _, r in self.table.iterrows()},
            "hybrid_ratios": self.hybrid_ratios(),
        }

    def hybrid_ratios(self) -> dict[str, dict[str, float | str | None]]:
        """The hybrid's co-chart hits over each other mode's on the same queries, with a paired
        bootstrap 95% interval (cochart_eval.ratio_interval); `best_single` names the best of
        audio, chart_profile and genres. None for a ratio whose denominator has no hit, and for an
        upper end the resamples cannot bound. Empty when per-query hits were not kept."""
        if "hybrid" not in self.per_query:
            return {}
        hits = self.table.set_index("mode")["cochart_lift_hit_at_10"]
        best = str(hits[list(SINGLE_SIGNAL_MODES)].idxmax())
        out: dict[str, dict[str, float | str | None]] = {}
        for key, mode in (*((m, m) for m in TEMPORAL_MODES if m != "hybrid"), ("best_single", best)):
            r, lo, hi = ratio_interval(self.per_query["hybrid"], self.per_query[mode])
            out[key] = {"mode": mode, **{name: (None if not np.isfinite(v) else round(v, 4))
                                         for name, v in (("ratio", r), ("low", lo), ("high", hi))}}
        return out


def temporal_catalog(bundle: ModelBundle) -> TemporalCatalog:
    """A build's tracks as the temporal evaluation sees them (audio present for the tracks the
    model was built on: model/bundle.py in_model)."""
    t = bundle.tracks
    return TemporalCatalog(
        track_ids=t["track_id"].tolist(), artists=[normalize_text(a) for a in t["artist"]],
        genres=[list(g) for g in t["genres"]], scaled=np.asarray(bundle.scaled, dtype=np.float32),
        audio_present=np.asarray(bundle.in_model, dtype=bool),
    )


def _split(chart_rows: storage.Location, catalog: TemporalCatalog, start: date, cut: date, stop: date,
           cfg: CutConfig) -> Split:
    return make_split(chart_rows, catalog.track_ids, catalog.artists, start, cut, stop, cfg.n_queries, cfg.seed,
                      cfg.min_co, cfg.min_lift)


def validation_cuts(start: date, cut: date, fraction: float) -> tuple[date, ...]:
    """Inner cuts of the training period [start, cut): at `fraction` of it and half way from there
    to the cut (two rolling-origin folds, both ending at the cut: one fold's few hundred queries
    are too few to rank weight sets a few hundredths apart)."""
    return (cut_date(start, cut, fraction), cut_date(start, cut, (1 + fraction) / 2))


def choose_hybrid_weights(chart_rows: storage.Location, catalog: TemporalCatalog, start: date, cut: date,
                          cfg: CutConfig, params: ProfileParams) -> tuple[HybridWeights, date, list]:
    """The weights with the best mean co-chart hit rate over the validation folds before `cut`
    among those whose mean genre hit rate is not below the audio mode's (each fold's signals
    fitted before its own inner cut). Returns (weights, first inner cut, [(weights, hit, genre hit)])."""
    ids_all = np.asarray(list(catalog.track_ids), dtype=object)
    genres_all = [frozenset(g) for g in catalog.genres]
    totals: dict[HybridWeights, list[tuple[float, float]]] = {}
    audio_genre: list[float] = []
    cuts = validation_cuts(start, cut, cfg.fraction)
    for inner in cuts:
        split = _split(chart_rows, catalog, start, inner, cut, cfg)
        signals = catalog.signals(chart_rows, inner, params)
        q_rows = split.candidates[split.queries]
        q_genres = [genres_all[i] for i in q_rows]
        c_genres = [genres_all[i] for i in split.candidates]
        audio_genre.append(genre_hits(_audio_top(catalog, q_rows, split.candidates, cfg.k), q_genres, c_genres))
        for w, hit, genre in score_grid(signals, q_rows, split.candidates, ids_all[split.candidates], split.relevant,
                                        q_genres, c_genres, cfg.k):
            totals.setdefault(w, []).append((hit, genre))
    mean = [(w, float(np.mean([v[0] for v in vs])), float(np.mean([v[1] for v in vs]))) for w, vs in totals.items()]
    smooth = smoothed(mean)
    floor = float(np.mean(audio_genre))
    allowed = [i for i, m in enumerate(mean) if m[2] >= floor] or list(range(len(mean)))
    best = max(allowed, key=lambda i: smooth[i])  # the first of equal scores, in grid order
    return mean[best][0], cuts[0], mean


def smoothed(scored: list[tuple[HybridWeights, float, float]]) -> list[float]:
    """Each set's hit rate averaged with its grid neighbours' (one step on any weight): the
    validation landscape is flat within sampling noise, so a broad optimum is the one that carries
    over to a later period, not a lone peak."""
    keys = list(GRID)
    pos = np.array([[GRID[k].index(w.of(k)) for k in keys] for w, _, _ in scored])
    hits = np.array([h for _, h, _ in scored])
    return [float(hits[np.abs(pos - p).max(axis=1) <= 1].mean()) for p in pos]


def _audio_top(catalog: TemporalCatalog, q_rows: np.ndarray, cand: np.ndarray, k: int, chunk: int = QUERY_CHUNK) -> np.ndarray:
    """serving's `nearest`: Euclidean in standardized feature space, the query itself left out."""
    x = catalog.scaled[cand].astype(np.float32)
    x2 = (x ** 2).sum(axis=1)[None, :]
    tops = []
    for start in range(0, len(q_rows), chunk):
        q = q_rows[start:start + chunk]
        d2 = x2 - 2 * catalog.scaled[q].astype(np.float32) @ x.T
        d2[q[:, None] == cand[None, :]] = np.inf
        tops.append(top_k_rows(-d2, k))
    return np.concatenate(tops)


def _popular_top(popularity: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The most charted candidates (ties by position), without the query itself."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))[:k + 1]
    return np.array([[p for p in order if p != q][:k] for q in queries.tolist()], dtype=np.int64)


def _charting_now_top(now: np.ndarray, queries: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Per query a seeded random order of the candidates charting now, then of the others; the
    query itself left out."""
    out = np.empty((len(queries), min(k, len(now) - 1)), dtype=np.int64)
    for i, q in enumerate(queries.tolist()):
        score = rng.random(len(now)) + now
        score[q] = -np.inf
        out[i] = top_k_rows(score[None, :], out.shape[1])[0]
    return out


def _rankings(split: Split, catalog: TemporalCatalog, signals: CatalogSignals, weights: HybridWeights,
              k: int, seed: int) -> dict[str, np.ndarray]:
    """Per mode, q x k candidate positions, best first."""
    cand, q_rows = split.candidates, split.candidates[split.queries]
    out: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(seed)
    n = len(cand)
    rand = np.empty((len(q_rows), min(k, n - 1)), dtype=np.int64)
    for i, q in enumerate(split.queries):
        picks = rng.choice(n - 1, size=rand.shape[1], replace=False)
        rand[i] = picks + (picks >= q)
    out["random"] = rand
    out["popular"] = _popular_top(split.popularity, split.queries, k)
    out["charting_now"] = _charting_now_top(split.now, split.queries, k, rng)
    out["audio"] = _audio_top(catalog, q_rows, cand, k)
    singles = {mode: HybridWeights(**{s: (1.0 if s == signal else 0.0) for s in SIGNALS}, recency=0.0)
               for mode, signal in (("chart_profile", "chart"), ("genres", "genre"))}
    tops = chunked_tops(signals, q_rows, cand, [*singles.values(), weights], k)
    out.update({mode: tops[w] for mode, w in singles.items()})
    out["hybrid"] = tops[weights]
    return out


def evaluate_temporal(chart_rows: storage.Location, catalog: TemporalCatalog, cfg: CutConfig = CutConfig(),
                      params: ProfileParams = ProfileParams(), weights: HybridWeights | None = None) -> TemporalResult:
    """Every mode on the cut `cfg` names; the hybrid's weights chosen before the cut unless given."""
    start, end = chart_period(chart_rows)
    cut = cfg.cut or cut_date(start, end, cfg.fraction)
    if not start < cut <= end:
        raise ValueError(f"the cut {cut} is outside the charts' period {start}..{end}")
    stop = end + pd.Timedelta(days=1).to_pytimedelta()
    validation: list = []
    inner = cut_date(start, cut, cfg.fraction)
    if weights is None:
        weights, inner, validation = choose_hybrid_weights(chart_rows, catalog, start, cut, cfg, params)
    split = _split(chart_rows, catalog, start, cut, stop, cfg)
    signals = catalog.signals(chart_rows, cut, params)
    ranked = _rankings(split, catalog, signals, weights, cfg.k, cfg.seed)
    ids = np.asarray(list(catalog.track_ids), dtype=object)[split.candidates]
    cat = Catalog(genres=[catalog.genres[i] for i in split.candidates],
                  artists=[catalog.artists[i] for i in split.candidates],
                  popularity=split.popularity, features=np.asarray(catalog.scaled[split.candidates], dtype=np.float64))
    rows, per_query = [], {}
    for mode in TEMPORAL_MODES:
        lists = ranked[mode]
        per_query[mode] = query_hits([ids[r] for r in lists], split.relevant, cfg.k)
        by_query = {int(q): lists[i].tolist() for i, q in enumerate(split.queries)}
        beyond = evaluate_mode(cat, lambda q: by_query[int(q)], split.queries, cfg.k)
        cochart = ranking_metrics([ids[r] for r in lists], split.relevant, cfg.k)
        rows.append({"mode": mode, **cochart, **beyond})
    table = pd.DataFrame(rows, columns=["mode", *COCHART_METRICS, *METRICS])
    return TemporalResult(table, weights, start, cut, stop, inner, len(split.candidates), len(split.queries),
                          split.n_eligible, validation, per_query)


def temporal_winner(winner: str, temporal: dict, serving_modes: Sequence[str]) -> str:
    """Serving's default mode after the temporal evaluation: `hybrid` when it is a serving mode and
    names more songs the same listeners streamed than the audio mode (serving's `nearest`) without
    a lower genre hit rate; otherwise the genre-measured `winner` stays."""
    modes = temporal.get("modes", {}) if isinstance(temporal, dict) else {}
    hybrid, audio = modes.get("hybrid"), modes.get("audio")
    if "hybrid" not in serving_modes or not hybrid or not audio:
        return winner
    better = hybrid["cochart_lift_hit_at_10"] > audio["cochart_lift_hit_at_10"]
    as_coherent = hybrid["genre_hit_rate"] >= audio["genre_hit_rate"]
    return "hybrid" if better and as_coherent else winner
