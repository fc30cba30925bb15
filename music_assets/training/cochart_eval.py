"""Temporal evaluation: do the recommendations name songs the same listeners go on to stream?

The charts are cut at a date (default: 80% of their period before, 20% after). Every signal
(chart profiles, the recency prior, popularity) is computed from the rows before the cut only;
the rows after it are the answer key:

- candidates: the catalog's tracks that chart before the cut (what the model could know);
- queries: a seeded sample (500) of the candidates that chart before and after the cut and have
  at least one relevant track (a query without one scores 0 in every mode: it cannot tell modes
  apart, only dilute the differences; how many there were is reported);
- relevant to query q: tracks t by another artist that chart with q in the same region on the
  same date at least `min_co` (7) times after the cut and more often than chance,
  lift = co(q, t) * S / (n_q * n_t) >= `min_lift` (2), S the (region, date) slots after the cut,
  n_q and n_t the slots each charts in. Raw co-charting would be won by recommending the
  evergreen hits to everybody; lift asks for the songs *this* song's audience streams.

Per mode: cochart_lift_hit_at_10 (share of the k result slots holding a relevant track, as
genre_hit_rate counts slots; an empty slot is a miss) and cochart_lift_ndcg_at_10 (binary gains,
ideal = min(k, |relevant|) hits first), beside evaluate.py's genre hit rate and beyond-accuracy
metrics on the same lists. The hybrid's weights are chosen on a validation period *before* the
cut (the same procedure one level down: an inner cut at `fraction` of the training period), never
on the test period (training/hybrid_weights.py). Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Sequence

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from music_assets import storage
from music_assets.training.signals.chart_profile import chart_period

QUERIES = 500
NOW_DAYS = 7  # "charting now": a chart row in the week before the cut (weekly charts: one date a week)
MIN_CO = 7
MIN_LIFT = 2.0
DEFAULT_FRACTION = 0.8


@dataclass(frozen=True)
class CutConfig:
    """Where the charts are cut: an explicit date, else `fraction` of the period before it."""

    fraction: float = DEFAULT_FRACTION
    cut: date | None = None
    n_queries: int = QUERIES
    k: int = 10
    seed: int = 0
    min_co: int = MIN_CO
    min_lift: float = MIN_LIFT

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise ValueError(f"cut fraction must be between 0 and 1 (exclusive), got {self.fraction}")


def cut_date(start: date, end: date, fraction: float) -> date:
    """The date `fraction` of the way from `start` to `end` (rows dated before it are "before")."""
    return start + timedelta(days=int(round((end - start).days * fraction)))


@dataclass
class Presence:
    """Which (region, date) slots each track charts in over a period: binary, tracks x slots."""

    track_ids: np.ndarray  # sorted
    matrix: sp.csr_matrix
    n_slots: int

    def rows_of(self, track_ids: Sequence[str]) -> np.ndarray:
        return pd.Index(self.track_ids).get_indexer(list(track_ids))


_SLOTS_SQL = """
SELECT DISTINCT track_id, region, date FROM read_parquet(?)
WHERE date >= DATE '{start}' AND date < DATE '{stop}' AND track_id IS NOT NULL
"""
_DAYS_SQL = """
SELECT track_id, CAST(count(DISTINCT (region, date)) AS BIGINT) AS chart_days, max(date) AS last_date
FROM read_parquet(?)
WHERE date >= DATE '{start}' AND date < DATE '{stop}' AND track_id IS NOT NULL GROUP BY track_id
"""


def _query(chart_rows: storage.Location, sql: str, memory_limit: str = "2GB") -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="cochart-spill-") as spill:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit='{memory_limit}'")
            con.execute("SET temp_directory='" + spill.replace("'", "''") + "'")
            return con.sql(sql, params=[storage.duckdb_path(con, chart_rows)]).to_arrow_table().to_pandas()
        finally:
            con.close()


def presence(chart_rows: storage.Location, start: date, stop: date) -> Presence:
    """Slots of every track charting in [start, stop), aggregated out of core by DuckDB."""
    df = _query(chart_rows, _SLOTS_SQL.format(start=start.isoformat(), stop=stop.isoformat()))
    tracks, track_ids = pd.factorize(df["track_id"], sort=True)
    slots, slot_keys = pd.factorize(pd.MultiIndex.from_arrays([df["region"], df["date"]]), sort=True)
    m = sp.csr_matrix((np.ones(len(df), dtype=np.float32), (tracks, slots)),
                      shape=(len(track_ids), len(slot_keys)))
    return Presence(np.asarray(track_ids, dtype=object), m, len(slot_keys))


def chart_days(chart_rows: storage.Location, start: date, stop: date) -> pd.DataFrame:
    """Per track charting in [start, stop) (the index): `chart_days`, its distinct (region, date)
    slots (popularity as of `stop`), and `last_date`, its last chart date (charting now or not)."""
    df = _query(chart_rows, _DAYS_SQL.format(start=start.isoformat(), stop=stop.isoformat()))
    return df.set_index("track_id")


def lift_relevance(after: Presence, query_ids: Sequence[str], artist_of: pd.Series,
                   min_co: int = MIN_CO, min_lift: float = MIN_LIFT) -> list[set[str]]:
    """Per query, the track ids by another artist that co-chart >= min_co times with lift >= min_lift."""
    rows = after.rows_of(query_ids)
    if (rows < 0).any():
        raise ValueError("every query must chart after the cut")
    n = np.asarray(after.matrix.sum(axis=1)).ravel()
    co = (after.matrix[rows] @ after.matrix.T).tocsr()
    out: list[set[str]] = []
    artists = artist_of.reindex(after.track_ids).to_numpy(dtype=object)
    for i, q in enumerate(rows):
        start, stop = co.indptr[i], co.indptr[i + 1]
        cols, counts = co.indices[start:stop], co.data[start:stop]
        lift = counts * after.n_slots / (n[q] * n[cols])
        keep = (counts >= min_co) & (lift >= min_lift) & (cols != q) & (artists[cols] != artists[q])
        out.append(set(after.track_ids[cols[keep]].tolist()))
    return out


def ranking_metrics(results: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> dict[str, float]:
    """cochart_lift_hit_at_k (share of the k slots that hold a relevant track), the share of queries
    with at least one (any_hit), and nDCG@k with binary gains."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = any_hit = 0
    ndcg = []
    for res, rel in zip(results, relevant):
        gains = np.array([1.0 if t in rel else 0.0 for t in list(res)[:k]])
        hits += int(gains.sum())
        any_hit += bool(gains.sum())
        ideal = discounts[:min(k, len(rel))].sum()
        ndcg.append(float((gains * discounts[:len(gains)]).sum() / ideal) if ideal > 0 else 0.0)
    n = max(len(relevant), 1)
    return {f"cochart_lift_hit_at_{k}": hits / (n * k), f"cochart_lift_ndcg_at_{k}": float(np.mean(ndcg)) if ndcg else 0.0,
            "cochart_lift_any_hit": any_hit / n}


def query_hits(results: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> np.ndarray:
    """Per query, how many of its first k results are relevant (the unit the bootstrap resamples)."""
    return np.array([sum(1 for t in list(res)[:k] if t in rel) for res, rel in zip(results, relevant)], dtype=np.int64)


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, level: float = 0.95, n_boot: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """Ratio of two modes' hit totals over the same queries, with a paired percentile bootstrap
    interval (queries resampled with replacement, both modes with the same draw): on a hundred or
    two queries a ratio's noise is a tenth either way, so a bar like 1.1x is read against it.
    (nan, nan, nan) when the denominator's total is 0; the upper end is inf when more than the
    tail's share of resamples hold no denominator hit (too few hits to bound it)."""
    num, den = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"paired per-query hits must be two equal 1-d arrays, got {num.shape} and {den.shape}")
    if den.sum() <= 0:
        return float("nan"), float("nan"), float("nan")
    draws = np.random.default_rng(seed).integers(0, len(num), size=(n_boot, len(num)))
    n_sum, d_sum = num[draws].sum(axis=1), den[draws].sum(axis=1)
    ratios = np.divide(n_sum, d_sum, out=np.full(n_boot, np.inf), where=d_sum > 0)
    tail = (1 - level) / 2
    # inverted_cdf: quantiles are drawn ratios, so a draw with no denominator hit (inf) gives an
    # unbounded upper end rather than interpolating inf - inf into nan
    lo, hi = np.quantile(ratios, [tail, 1 - tail], method="inverted_cdf")
    return float(num.sum() / den.sum()), float(lo), float(hi)


@dataclass
class Split:
    """One temporal split: what the model may know (before `cut`) and the answer key (after)."""

    start: date
    cut: date
    stop: date  # exclusive end of the answer period
    candidates: np.ndarray  # catalog rows charting before the cut
    popularity: np.ndarray  # chart days before the cut, per candidate
    queries: np.ndarray  # positions in `candidates`
    relevant: list[set[str]] = field(repr=False)
    n_eligible: int = 0  # candidates charting after the cut too; those with a relevant track are sampled
    now: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=bool))  # per candidate: charting now


def make_split(chart_rows: storage.Location, track_ids: Sequence[str], artists: Sequence[str], start: date,
               cut: date, stop: date, n_queries: int, seed: int, min_co: int = MIN_CO,
               min_lift: float = MIN_LIFT) -> Split:
    """Candidates, seeded queries and their relevant tracks for the cut at `cut`."""
    ids = pd.Index(list(track_ids))
    before = chart_days(chart_rows, start, cut)
    candidates = np.flatnonzero(ids.isin(before.index))
    if not len(candidates):
        raise ValueError(f"no catalog track charts before {cut}: move the cut later")
    after = presence(chart_rows, cut, stop)
    in_after = ids[candidates].isin(after.track_ids)
    eligible = np.flatnonzero(in_after)
    if not len(eligible):
        raise ValueError(f"no catalog track charts both before and after {cut}: no query to evaluate")
    artist_of = pd.Series(list(artists), index=ids).groupby(level=0).first()
    relevant = lift_relevance(after, ids[candidates[eligible]].tolist(), artist_of, min_co, min_lift)
    scorable = np.flatnonzero([bool(r) for r in relevant])
    if not len(scorable):
        raise ValueError(f"no query has a relevant track after {cut} (>= {min_co} co-chartings with lift >= {min_lift}): "
                         "the period after the cut is too short or the charts too small")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(scorable, size=min(n_queries, len(scorable)), replace=False))
    known = before.reindex(ids[candidates])
    # charting now: a chart row in the NOW_DAYS before the cut (the charting_now baseline's pool)
    now = pd.to_datetime(known["last_date"]) >= pd.Timestamp(cut - timedelta(days=NOW_DAYS))
    return Split(start, cut, stop, candidates, known["chart_days"].to_numpy(dtype=np.float64),
                 eligible[picked], [relevant[i] for i in picked], len(eligible), np.asarray(now, dtype=bool))


# A ranker gets the query's position among the candidates and returns candidate positions, best first.
Ranker = Callable[[int], Sequence[int]]
