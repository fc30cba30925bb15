"""Chart profiles: which audience streams a track, read from where and when it charts.

Two tracks that chart in the same regions in the same weeks are streamed by the same listeners.
A track's profile is its row of the track x (region, week) matrix, each cell the track's chart
presence that week weighted by rank and decayed by age (recent listening says more about today's
audience), then PPMI (how much more often than chance the track is in that slot, so evergreen
hits present everywhere do not look like everybody's neighbour) and a truncated SVD to a few
dozen dimensions (U * S), rows normalized: the inner product of two profiles is their cosine.
The profile's cells are not decayed by default (a track's whole audience history places it;
decaying them did worse on the Philippine charts, benchmarks/hybrid_quality.py); recency enters
through a separate prior, the track's chart presence decayed with a half-life of 8 weeks.

Out of core: DuckDB streams the chart_rows Parquet and returns one row per (track, region, week)
cell, a few times fewer than the chart rows (the full 26M-row Kaggle charts give a few million
cells); everything after is sparse (scipy) and randomized SVD, linear in the cells.
benchmarks/hybrid_quality.py measures it on the Philippine charts and on a synthetic larger chart.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from music_assets import storage

PERIOD_DAYS = 7  # a slot is a (region, week): daily slots are too sparse for tracks that chart little
DEFAULT_DIMS = 64
DEFAULT_HALF_LIFE_WEEKS = 8.0


@dataclass(frozen=True)
class ProfileParams:
    """How profiles are computed; recorded in asset metadata and the bundle."""

    dims: int = DEFAULT_DIMS
    half_life_weeks: float = 0.0  # decay of the profile's cells; 0: none
    prior_half_life_weeks: float = DEFAULT_HALF_LIFE_WEEKS  # decay of the recency prior's chart presence
    period_days: int = PERIOD_DAYS
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ProfileParams":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown chart profile parameter(s): {', '.join(sorted(unknown))}")
        cast = {"int": int, "float": float}  # the field types (annotations are strings here)
        return cls(**{f.name: cast[f.type](d[f.name]) for f in fields(cls) if f.name in d})  # absent: the default


# chart_profiles.parquet records the parameters it was computed with (Parquet key-value metadata),
# so hybrid_vectors' validation folds and model_quality's evaluation recompute profiles the same
# way: chart_profiles' config is read in one place.
PARAMS_KEY = b"music_assets.chart_profile_params"


def with_params(table: pa.Table, params: ProfileParams) -> pa.Table:
    """`table` carrying `params` in its schema metadata (kept beside pandas' own)."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), PARAMS_KEY: json.dumps(params.to_dict()).encode()})


def read_params(location: storage.Location) -> ProfileParams:
    """The parameters a chart_profiles file was computed with; ValueError naming the file when it
    records none (written before they were recorded: rematerialize chart_profiles)."""
    with storage.open_parquet(location) as parquet:
        raw = (parquet.schema_arrow.metadata or {}).get(PARAMS_KEY)
    if raw is None:
        raise ValueError(f"{storage.as_path(location).name} records no chart profile parameters "
                         "(written by an older version): rematerialize chart_profiles")
    try:
        return ProfileParams.from_dict(json.loads(raw))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{storage.as_path(location).name}: unreadable chart profile parameters ({exc})") from exc


class NoChartRows(ValueError):
    """A catalog brought without charts (features alone): there is no chart profile to compute."""


@dataclass
class ChartProfiles:
    """Row-aligned with `track_ids`: the reduced profile, the recency prior and where the track charts."""

    track_ids: np.ndarray  # object, sorted
    vectors: np.ndarray  # n x d float32, rows unit length
    recency: np.ndarray  # n, in [0, 1]: decayed chart presence, log-scaled, 1 = the most present track
    top_region: np.ndarray  # object: the region where the track charts most
    peak_year: np.ndarray  # int: the year of its most chart rows
    singular_values: np.ndarray

    @classmethod
    def empty(cls, dims: int) -> "ChartProfiles":
        """No track charts: every catalog track gets chart_source "none" and the blend leaves the
        chart signal out for it (a catalog brought without charts)."""
        return cls(np.array([], dtype=object), np.zeros((0, dims), dtype=np.float32), np.zeros(0, dtype=np.float32),
                   np.array([], dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0))

    def frame(self) -> pd.DataFrame:
        cols = {f"chart_{j}": self.vectors[:, j] for j in range(self.vectors.shape[1])}
        return pd.DataFrame({"track_id": self.track_ids, **cols, "recency": self.recency,
                             "top_region": self.top_region, "peak_year": self.peak_year})


def _connect(memory_limit: str, spill: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute("SET temp_directory='" + spill.replace("'", "''") + "'")
    return con


def chart_period(chart_rows: storage.Location) -> tuple[date, date]:
    """First and last chart date of a chart_rows file."""
    con = duckdb.connect()
    try:
        lo, hi = con.execute("SELECT min(date), max(date) FROM read_parquet(?)",
                             [storage.duckdb_path(con, chart_rows)]).fetchone()
    finally:
        con.close()
    if lo is None:
        raise NoChartRows(f"{chart_rows} holds no chart rows: no chart profile can be computed")
    return lo, hi


# Rank weight: a top-10 presence says more about the audience than position 190. 1 + ln(200/rank)
# gives 1 at the bottom of a top 200 and ~6.3 at the top: gentle, so long runs low in the chart
# still count (streams are missing on viral charts, rank is always there).
CELLS_SQL = """
WITH rows AS (
    SELECT track_id, region, date,
           (1.0 + ln(200.0 / greatest(least(rank, 200), 1))) AS w
    FROM read_parquet(?)
    WHERE date < DATE '{before}' AND track_id IS NOT NULL
)
SELECT track_id, region,
       CAST(floor(date_diff('day', DATE '{origin}', date) / {period}) AS INTEGER) AS period,
       sum(w * {decay}) AS weight,
       sum(w * {prior_decay}) AS recent
FROM rows GROUP BY ALL
"""
WHERE_SQL = """
SELECT track_id, arg_max(region, n) AS top_region, arg_max(year, n) AS peak_year FROM (
    SELECT track_id, region, year(date) AS year, count(*) AS n FROM read_parquet(?)
    WHERE date < DATE '{before}' AND track_id IS NOT NULL GROUP BY ALL
) GROUP BY track_id
"""


def chart_cells(chart_rows: storage.Location, before: date, params: ProfileParams,
                memory_limit: str = "2GB") -> tuple[pa.Table, pa.Table]:
    """(track, region, period, weight) cells of the chart rows dated before `before`, decayed to
    `before`; and per track its top region and peak year. Aggregated out of core by DuckDB."""
    if not isinstance(before, date):
        raise TypeError(f"before must be a date, got {before!r}")
    day = before.isoformat()  # a date object's ISO text: safe to inline

    def decay(half_life_weeks: float) -> str:
        days = float(half_life_weeks) * 7.0
        return f"pow(0.5, date_diff('day', date, DATE '{day}') / {days!r})" if days > 0 else "1.0"

    origin = date(2000, 1, 3)  # a Monday: weeks run Monday to Sunday
    sql = CELLS_SQL.format(period=int(params.period_days), decay=decay(params.half_life_weeks),
                           prior_decay=decay(params.prior_half_life_weeks), before=day, origin=origin.isoformat())
    with tempfile.TemporaryDirectory(prefix="chart-profile-spill-") as spill:
        con = _connect(memory_limit, spill)
        try:
            path = storage.duckdb_path(con, chart_rows)
            cells = con.sql(sql, params=[path]).to_arrow_table()
            where = con.sql(WHERE_SQL.format(before=day), params=[path]).to_arrow_table()
        finally:
            con.close()
    return cells, where


def ppmi(m: sp.csr_matrix) -> sp.csr_matrix:
    """Positive pointwise mutual information of a nonnegative count matrix (sparse in, sparse out)."""
    m = m.tocoo()
    total = float(m.sum())
    rows = np.asarray(m.sum(axis=1)).ravel()
    cols = np.asarray(m.sum(axis=0)).ravel()
    with np.errstate(divide="ignore"):
        pmi = np.log(m.data * total / (rows[m.row] * cols[m.col]))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (m.row[keep], m.col[keep])), shape=m.shape)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (a track with nothing to say)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def reduce(m: sp.csr_matrix, dims: int, seed: int, power: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Truncated SVD (randomized, sparse input): U * S**power, rows normalized, and S.

    power 1 keeps the inner products of the projected rows; 0.5, the usual choice for PPMI
    matrices, lets the weaker components (narrower audiences) count more."""
    k = max(1, min(dims, min(m.shape) - 1))
    u, s, _ = randomized_svd(m, n_components=k, n_iter=5, random_state=seed)
    return normalize_rows((u * s ** power).astype(np.float32)), s


def compute_profiles(chart_rows: storage.Location, before: date, params: ProfileParams = ProfileParams(),
                     memory_limit: str = "2GB") -> ChartProfiles:
    """Profiles of every track charting before `before`, from those rows only."""
    cells, where = chart_cells(chart_rows, before, params, memory_limit)
    if cells.num_rows == 0:
        raise ValueError(f"{chart_rows} has no chart rows before {before}: no chart profile can be computed")
    track_codes, track_ids = pd.factorize(cells["track_id"].to_numpy(zero_copy_only=False), sort=True)
    # sorted codes: the randomized SVD's columns (and so its result) must not depend on the order
    # DuckDB's threads return the cells in
    slot_keys = pd.MultiIndex.from_arrays([cells["region"].to_numpy(zero_copy_only=False),
                                           cells["period"].to_numpy(zero_copy_only=False)])
    slot_codes, _ = pd.factorize(slot_keys, sort=True)
    weight = cells["weight"].to_numpy(zero_copy_only=False).astype(np.float64)
    m = sp.csr_matrix((weight, (track_codes, slot_codes)), shape=(len(track_ids), int(slot_codes.max()) + 1))
    vectors, s = reduce(ppmi(m), params.dims, params.seed, power=1.0)
    recent = sp.csr_matrix((cells["recent"].to_numpy(zero_copy_only=False).astype(np.float64), (track_codes, slot_codes)),
                           shape=m.shape)
    presence = np.log1p(np.asarray(recent.sum(axis=1)).ravel())
    recency = (presence / presence.max()).astype(np.float32) if presence.max() > 0 else presence.astype(np.float32)
    w = where.to_pandas().set_index("track_id").reindex(track_ids)
    return ChartProfiles(track_ids=np.asarray(track_ids, dtype=object), vectors=vectors, recency=recency,
                         top_region=w["top_region"].to_numpy(dtype=object),
                         peak_year=w["peak_year"].to_numpy(dtype=np.int64), singular_values=s)


def align(profiles: ChartProfiles, track_ids: np.ndarray | list[str], artists: np.ndarray | list[str]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Profiles row-aligned with a catalog: (vectors, recency, source, row in profiles or -1).

    `source` per track: "track" (its own chart history), "artist" (none of its own: the mean
    profile of its artist's other tracks, normalized, and half their mean recency: new, from an
    artist with an audience) or "none" (neither: the blend leaves this signal out for it).
    """
    pos = pd.Index(profiles.track_ids).get_indexer(list(track_ids))
    n, d = len(pos), profiles.vectors.shape[1]
    vectors = np.zeros((n, d), dtype=np.float32)
    recency = np.zeros(n, dtype=np.float32)
    have = pos >= 0
    vectors[have] = profiles.vectors[pos[have]]
    recency[have] = profiles.recency[pos[have]]
    source = np.where(have, "track", "none").astype(object)
    artists = pd.Series(list(artists), dtype=object)
    if (~have).any():
        frame = pd.DataFrame(vectors[have], index=artists[have].to_numpy())
        means = frame.groupby(level=0).mean()
        rec = pd.Series(recency[have], index=artists[have].to_numpy()).groupby(level=0).mean()
        missing = np.flatnonzero(~have)
        found = means.index.get_indexer(artists.iloc[missing].to_numpy())
        ok = found >= 0
        vectors[missing[ok]] = normalize_rows(means.to_numpy(dtype=np.float32)[found[ok]])
        recency[missing[ok]] = 0.5 * rec.to_numpy(dtype=np.float32)[found[ok]]
        source[missing[ok]] = "artist"
    return vectors, recency, source, pos
