"""The hybrid mode's vectors: audio, chart co-listening and genres in one vector per track.

Each signal is a block of unit-length rows (cosine = inner product). A track's vector is the
blocks side by side, block i scaled by sqrt(w_i / W_t) where W_t sums the weights of the signals
the track has (a track without chart history or genres is compared on what it has, at full
strength), plus one last component sqrt(w_prior) * prior_t. The query's vector is the same with
that last component set to sqrt(w_prior): so query . track = sum_i w_i cos_i / sqrt(W_q W_t)
+ w_prior * prior_t, the weighted sum of cosines plus a recency prior, one inner product (exact as
a matrix-vector product, or through an inner-product ANN index).

The weights are chosen on a validation period that precedes the evaluated one
(training/hybrid_weights.py); the vectors are data in the bundle (hybrid.parquet).
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from music_assets import storage

SIGNALS: tuple[str, ...] = ("audio", "chart", "genre")
PRIOR = "recency"


class HybridError(ValueError):
    """Hybrid vectors that cannot be used (shapes or weights that do not fit)."""


@dataclass(frozen=True)
class HybridWeights:
    audio: float = 0.2
    chart: float = 1.0
    genre: float = 0.1
    recency: float = 0.3

    def of(self, name: str) -> float:
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "HybridWeights":
        unknown = set(d) - set(SIGNALS) - {PRIOR}
        if unknown:
            raise HybridError(f"unknown hybrid weight(s): {', '.join(sorted(unknown))}")
        values = {k: float(v) for k, v in d.items()}
        if any(not np.isfinite(v) or v < 0 for v in values.values()):
            raise HybridError(f"hybrid weights must be finite and >= 0, got {d}")
        return cls(**values)


@dataclass(frozen=True)
class Layout:
    """Where each block sits in a hybrid vector: name -> (start, stop); the prior is the last column."""

    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return max((stop for _, stop in self.spans.values()), default=0) + 1

    def to_dict(self) -> dict[str, list[int]]:
        return {k: [int(a), int(b)] for k, (a, b) in self.spans.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls({k: (int(v[0]), int(v[1])) for k, v in d.items()})


def blend(blocks: dict[str, np.ndarray], present: dict[str, np.ndarray], prior: np.ndarray,
          weights: HybridWeights) -> tuple[np.ndarray, Layout]:
    """n x D float32 vectors (see the module docstring) and where each block sits.

    `blocks[name]` is n x d_name with unit (or zero) rows; `present[name]` says which tracks have
    that signal. A track with none of them keeps only its prior."""
    n = len(prior)
    spans: dict[str, tuple[int, int]] = {}
    parts, total = [], np.zeros(n, dtype=np.float64)
    for name in SIGNALS:
        if name not in blocks:
            continue
        b = np.asarray(blocks[name], dtype=np.float32)
        if b.shape[0] != n:
            raise HybridError(f"signal {name!r} has {b.shape[0]} rows, expected {n}")
        start = sum(p.shape[1] for p in parts)
        spans[name] = (start, start + b.shape[1])
        parts.append(b)
        total += weights.of(name) * np.asarray(present[name], dtype=bool)
    scale = np.divide(1.0, total, out=np.zeros(n), where=total > 0)
    out = np.empty((n, sum(p.shape[1] for p in parts) + 1), dtype=np.float32)
    for name, b in zip(spans, parts):
        a, z = spans[name]
        has = np.asarray(present[name], dtype=bool)
        out[:, a:z] = b * (np.sqrt(weights.of(name) * scale) * has)[:, None].astype(np.float32)
    out[:, -1] = np.sqrt(weights.recency) * np.asarray(prior, dtype=np.float32)
    return out, Layout(spans)


def query_vector(vectors: np.ndarray, row: int, weights: HybridWeights) -> np.ndarray:
    """The query side of row's vector: its blocks as they are, the prior column at sqrt(w_prior)."""
    q = np.array(vectors[row], dtype=np.float32, copy=True)
    q[-1] = np.sqrt(weights.recency)
    return q


def contributions(vectors: np.ndarray, query: np.ndarray, rows: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Each signal's part of the score of `rows` (what placed them: the explanation's source)."""
    return {name: vectors[rows, a:z] @ query[a:z] for name, (a, z) in layout.spans.items()}


def similarity(scores: np.ndarray, weights: HybridWeights) -> np.ndarray:
    """Scores as a similarity in [0, 1] for people (the CLI, the API, the page): the score over its
    largest possible value 1 + w_prior (the cosine part is at most 1, the prior part at most
    w_prior, the prior being in [0, 1]), a negative score (a song unlike the query) shown as 0.
    Monotone in the score, so a list keeps its order; the ranking itself uses the raw score, which
    the prior can push over 1 (1 - score was a negative "distance")."""
    return np.clip(np.asarray(scores, dtype=np.float64) / (1.0 + weights.recency), 0.0, 1.0)


def top_k(vectors: np.ndarray, query: np.ndarray, k: int, excluded: np.ndarray,
          rows: np.ndarray | None = None, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k rows (of `rows`, default all; only those `allowed`, a mask over all rows) with the
    highest score, best first, ties by row number. A mask, not `rows`, for most of the catalog:
    `vectors[rows]` would copy the matrix per query (benchmarks/hybrid_ann.py, "hybrid exact")."""
    candidates = np.arange(len(vectors)) if rows is None else rows
    scores = (vectors @ query) if rows is None else (vectors[rows] @ query)
    if allowed is not None:
        keep = np.asarray(allowed, dtype=bool)[candidates]
        candidates, scores = candidates[keep], scores[keep]
    if len(excluded):
        keep = ~np.isin(candidates, excluded)
        candidates, scores = candidates[keep], scores[keep]
    n_keep = min(k, len(scores))
    if n_keep == 0:
        return candidates[:0], scores[:0]
    part = np.argpartition(-scores, n_keep - 1)[:n_keep] if n_keep < len(scores) else np.arange(len(scores))
    order = np.lexsort((candidates[part], -scores[part]))
    pick = part[order]
    return candidates[pick], scores[pick]


# ---- the hybrid files of a bundle (beside tracks.parquet; sealed with it) ----
VECTORS_FILE = "hybrid.parquet"  # row-aligned with tracks.parquet: h_0..h_{D-1}, explanation columns
META_FILE = "hybrid.json"  # weights, layout, how the weights were chosen
EXPLAIN_COLUMNS = ("top_region", "peak_year", "chart_source")


@dataclass
class HybridModel:
    """A bundle's hybrid vectors (n x D float32), their layout, weights and what explains them."""

    vectors: np.ndarray
    layout: Layout
    weights: HybridWeights
    top_region: np.ndarray  # object; "" where unknown
    peak_year: np.ndarray  # int; 0 where unknown
    meta: dict
    index: object | None = None  # model/ann.AnnIndex (inner product, model/hybrid_ann.py) for large catalogs


def write_hybrid(bundle_dir: storage.Location, track_ids: np.ndarray, vectors: np.ndarray, layout: Layout, weights: HybridWeights,
                 explain: dict[str, np.ndarray], meta: dict) -> storage.StorePath:
    """Add hybrid.parquet and hybrid.json to a build (before it is sealed)."""
    path = storage.as_path(bundle_dir)
    cols = {f"h_{j}": vectors[:, j] for j in range(vectors.shape[1])}
    frame = pd.DataFrame({"track_id": track_ids, **cols, **{c: explain[c] for c in EXPLAIN_COLUMNS}})
    storage.write_parquet(frame, path / VECTORS_FILE)
    storage.write_json({**meta, "weights": weights.to_dict(), "layout": layout.to_dict(), "dim": int(vectors.shape[1])},
                       path / META_FILE)
    return path / VECTORS_FILE


def read_hybrid(bundle_dir: storage.Location, track_ids: np.ndarray, files: dict[str, str] | None) -> HybridModel | None:
    """The bundle's hybrid model, or None when it has none (older bundles: the mode says so).

    Refused (HybridError) when its files do not match the checksums model.json records or its rows
    are not the tracks' rows."""
    path = storage.as_path(bundle_dir)
    if not storage.exists(path / META_FILE) or not storage.exists(path / VECTORS_FILE):
        return None
    raw_meta = storage.read_bytes(path / META_FILE)
    if files:
        for name, data in ((META_FILE, raw_meta), (VECTORS_FILE, None)):
            expected = files.get(name)
            if expected is None:
                raise HybridError(f"{name} is not among the files model.json vouches for")
            got = hashlib.sha256(data).hexdigest() if data is not None else storage.file_sha256(path / name)
            if got != expected:
                raise HybridError(f"{name} does not match its checksum (corrupt or half-written)")
    meta = json.loads(raw_meta)
    table = storage.read_table(path / VECTORS_FILE)
    dim = int(meta["dim"])
    ids = table.column("track_id").to_numpy(zero_copy_only=False)
    if len(ids) != len(track_ids) or not np.array_equal(ids.astype(object), np.asarray(track_ids, dtype=object)):
        raise HybridError(f"{VECTORS_FILE} rows are not the bundle's tracks")
    vectors = np.ascontiguousarray(np.column_stack(
        [table.column(f"h_{j}").to_numpy(zero_copy_only=False) for j in range(dim)]).astype(np.float32))
    return HybridModel(
        vectors=vectors, layout=Layout.from_dict(meta["layout"]), weights=HybridWeights.from_dict(meta["weights"]),
        top_region=table.column("top_region").to_numpy(zero_copy_only=False).astype(object),
        peak_year=table.column("peak_year").to_numpy(zero_copy_only=False).astype(np.int64), meta=meta)
