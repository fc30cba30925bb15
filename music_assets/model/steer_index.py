"""What steer() reads for every request, built once per loaded bundle (model/steer.py).

- every tunable value as a float64 column (NaN where the catalog has none), with the mean and
  standard deviation that make a target's distance "standardized": the model's scaler for the
  features it was built on, the catalog's own for the others;
- popularity 0..100: the catalog's own column where the bundle has one, else derived from chart
  appearances (`chart_popularity`);
- the markets: per chart region, its rows (sorted) and a row mask, and the scan matrix of its
  recommendable rows (built on first use, as the recommend index builds genre groups);
- artists by id and by normalized name (built on first use: normalizing a million names costs
  seconds, and most requests name no artist);
- a fixed sample of rows, to estimate which share of the catalog a min/max filter keeps.

Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.model.bundle import ModelBundle
from music_assets.model.recommend_index import Group, recommend_index
from music_assets.schema import FEATURE_RANGES
from music_assets.text import normalize_text

TUNABLE: tuple[str, ...] = ("acousticness", "danceability", "duration_ms", "energy",
                            "instrumentalness", "key", "liveness", "loudness", "mode", "popularity", "speechiness",
                            "tempo", "time_signature", "valence")
RANGES: dict[str, tuple[float, float]] = {**FEATURE_RANGES, "popularity": (0.0, 100.0)}
SAMPLE_ROWS = 4_096


def chart_popularity(appearances: np.ndarray) -> np.ndarray:
    """Popularity 0..100 from chart appearances, for catalogs without a popularity column:
    100 * log(1 + a) / log(1 + max a), rounded. Logarithmic because chart days are heavy-tailed
    (a few songs chart for years): linear, nearly every track would sit at 0."""
    a = np.nan_to_num(np.asarray(appearances, dtype=np.float64), nan=0.0).clip(min=0)
    top = float(a.max()) if len(a) else 0.0
    if top <= 0:
        return np.zeros(len(a))
    return np.round(100.0 * np.log1p(a) / np.log1p(top))


def _floats(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing: a view of the bundle's own array where it
    is one already (no second copy of every feature per loaded bundle)."""
    try:
        return np.asarray(column.to_numpy(dtype=np.float64, copy=False), dtype=np.float64)
    except (TypeError, ValueError):  # a nullable dtype with pd.NA
        return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _list_parts(values: object) -> tuple[np.ndarray, pa.Array]:
    """(parent row of each item, the items) of a list column."""
    arr = pa.array(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.list_parent_indices(arr).to_numpy().astype(np.int64), pc.list_flatten(arr)


def _grouped(parents: np.ndarray, items: pa.Array) -> dict[str, np.ndarray]:
    """item -> sorted distinct rows."""
    if not len(items):
        return {}
    encoded = pc.dictionary_encode(items.cast(pa.string()))
    names = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.lexsort((parents, codes))
    codes, parents = codes[order], parents[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out = {}
    for chunk_codes, rows in zip(np.split(codes, bounds), np.split(parents, bounds)):
        name = names[int(chunk_codes[0])]
        if name is None or not str(name).strip():
            continue
        out[str(name)] = np.unique(rows)
    return out


class SteerIndex:
    """Per-bundle arrays for steer(); see the module docstring."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.ix = recommend_index(bundle)
        tracks = bundle.tracks
        n = self.n = len(tracks)
        emb = bundle.embedding
        self.values: dict[str, np.ndarray] = {}
        self.center: dict[str, float] = {}
        self.spread: dict[str, float] = {}
        for name in TUNABLE:
            if name in tracks.columns:
                col = _floats(tracks[name])
            elif name == "popularity" and "chart_appearances" in tracks.columns:
                col = chart_popularity(tracks["chart_appearances"].to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                continue
            if not np.isfinite(col).any():
                continue
            self.values[name] = col
            if name in emb.features:
                j = emb.features.index(name)
                self.center[name], self.spread[name] = float(emb.mean[j]), float(emb.scale[j])
            else:
                std = float(np.nanstd(col))
                self.center[name], self.spread[name] = float(np.nanmean(col)), std if std > 0 else 1.0
        self.embedded = {f: j for j, f in enumerate(emb.features)}
        self.recommendable = self.ix.recommendable
        self.n_recommendable = int(self.recommendable.sum())
        self.markets: dict[str, np.ndarray] = (_grouped(*_list_parts(tracks["regions"]))
                                               if "regions" in tracks.columns else {})
        self._market_lookup = {m.casefold(): m for m in self.markets}
        self._market_groups: dict[str, tuple[Group, np.ndarray, int]] = {}
        self._artists: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
        self._centroids: dict[tuple[str, str, str], np.ndarray | None] = {}
        self._sorted: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        rng = np.random.default_rng(0)
        rec_rows = np.flatnonzero(self.recommendable)
        self.sample = np.sort(rng.choice(rec_rows, min(SAMPLE_ROWS, len(rec_rows)), replace=False)) if len(rec_rows) else rec_rows

    def count_between(self, name: str, lo: float, hi: float) -> int:
        """Recommendable tracks with lo <= value <= hi, from the values sorted once per feature."""
        found = self._sorted.get(name)
        if found is None:
            found = self._sorted[name] = np.sort(self.values[name][self.recommendable])  # NaN sorts last
        return int(np.searchsorted(found, hi, side="right") - np.searchsorted(found, lo, side="left"))

    # -- markets ----------------------------------------------------------------------------------
    def market_name(self, code: str) -> str | None:
        """The region as the catalog spells it, for a name in any case or an ISO code."""
        found = self._market_lookup.get(code.strip().casefold())
        if found is None:
            from music_assets.model.markets import region_for_code  # a small table, read on demand

            name = region_for_code(code)
            found = self._market_lookup.get(name.casefold()) if name else None
        return found

    def market(self, name: str) -> tuple[Group, np.ndarray, int]:
        """(scan group of the market's recommendable rows, a row mask of them, their count)."""
        found = self._market_groups.get(name)
        if found is None:
            with self._lock:
                found = self._market_groups.get(name)
                if found is None:
                    rows = self.markets[name]
                    rows = rows[self.recommendable[rows]]
                    mask = np.zeros(self.n, dtype=bool)
                    mask[rows] = True
                    found = (self.ix.subset_group(rows), mask, len(rows))
                    self._market_groups[name] = found
        return found

    def market_sizes(self) -> list[tuple[str, int]]:
        return sorted(((m, len(r)) for m, r in self.markets.items()), key=lambda x: (-x[1], x[0]))

    # -- artists ----------------------------------------------------------------------------------
    def artists(self, bundle: ModelBundle) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(artist id -> rows, normalized artist name -> rows); a credit "A, B" is indexed whole
        and by each name."""
        if self._artists is None:
            with self._lock:
                if self._artists is None:
                    tracks = bundle.tracks
                    by_id = _grouped(*_list_parts(tracks["artist_ids"])) if "artist_ids" in tracks.columns else {}
                    # each distinct credit normalized once (a catalog repeats an artist per track)
                    codes, credits = pd.factorize(tracks["artist"].astype(str), use_na_sentinel=False)
                    order = np.argsort(codes, kind="stable")
                    rows_of = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if len(order) else []
                    keys: dict[str, list[int]] = {}
                    for code, credit in enumerate(credits):
                        whole = normalize_text(credit)
                        keys.setdefault(whole, []).append(code)
                        if "," in credit:
                            for part in credit.split(","):
                                key = normalize_text(part)
                                if key and key != whole:
                                    keys.setdefault(key, []).append(code)
                    by_name = {k: rows_of[v[0]] if len(v) == 1 else np.unique(np.concatenate([rows_of[c] for c in v]))
                               for k, v in keys.items() if k}
                    self._artists = (by_id, by_name)
        return self._artists

    def centroid(self, key: tuple[str, str, str], rows: np.ndarray, vectors: np.ndarray) -> np.ndarray | None:
        """Mean vector of `rows` (recommendable only), cached per (mode, kind, name)."""
        if key not in self._centroids:
            rows = rows[self.recommendable[rows]]
            self._centroids[key] = vectors[rows].mean(axis=0, dtype=np.float64) if len(rows) else None
        return self._centroids[key]


def steer_index(bundle: ModelBundle) -> SteerIndex:
    """The bundle's SteerIndex, built on first use and kept with the bundle."""
    return bundle.derived("steer_index", SteerIndex)


def warm(bundle: ModelBundle) -> None:
    """Build the steer index and the artist lookup now (serving calls this before it swaps a new
    model in, so the first steered request does not pay for them). Markets' scan matrices stay
    lazy: each costs memory, and most requests name one market or none."""
    steer_index(bundle).artists(bundle)
