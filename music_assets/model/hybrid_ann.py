"""An inner-product ANN index over the hybrid vectors, for catalogs where an exact scan is slow.

The hybrid score is one inner product (model/hybrid.py): the query's vector differs from its
stored vector only in the prior component, so an HNSW graph in inner-product space over the
stored vectors answers it. Voyager, as for the audio modes (model/ann.py says why); duplicate
vectors are folded the same way. The index fetches a shortlist a few times longer than asked,
which is re-ranked exactly (a few hundred inner products), so the scores reported are exact.
benchmarks/hybrid_ann.py measures recall and latency at 1M tracks beside `nearest`.

Files in the bundle (sealed with it): hybrid_index.voy, hybrid_index_duplicates.parquet,
hybrid_index.json (params, n, dim; written last).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from music_assets import storage
from music_assets.model.ann import AnnParams, Duplicates, unique_rows

INDEX_FILE = "hybrid_index.voy"
DUPLICATES_FILE = "hybrid_index_duplicates.parquet"
META_FILE = "hybrid_index.json"


@dataclass(frozen=True)
class HybridIndexMeta:
    n: int
    dim: int
    n_indexed: int
    params: AnnParams

    def to_dict(self) -> dict:
        return asdict(self)


class HybridIndex:
    """Row numbers of about the `fetch` best-scoring rows for a query vector."""

    def __init__(self, index, duplicates: Duplicates, meta: HybridIndexMeta):  # index: voyager.Index
        self._index, self.duplicates, self.meta = index, duplicates, meta

    def query(self, vector: np.ndarray, fetch: int) -> np.ndarray:
        fetch = max(1, min(int(fetch), self.meta.n_indexed))
        labels, _ = self._index.query(np.asarray(vector, dtype=np.float32), k=fetch,
                                      query_ef=max(self.meta.params.ef_search, fetch))
        return self.duplicates.expand(labels.astype(np.int64))


def build(vectors: np.ndarray, params: AnnParams = AnnParams(), threads: int = -1) -> HybridIndex:
    import voyager

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    reps, duplicates = unique_rows(x)
    index = voyager.Index(voyager.Space.InnerProduct, num_dimensions=x.shape[1], M=params.m,
                          ef_construction=params.ef_construction, random_seed=params.seed, max_elements=len(reps))
    index.add_items(x[reps], ids=reps, num_threads=threads)
    return HybridIndex(index, duplicates, HybridIndexMeta(len(x), x.shape[1], len(reps), params))


def write(bundle_dir: storage.Location, built: HybridIndex) -> None:
    """Store an index in a build; the JSON sidecar last."""
    path = storage.as_path(bundle_dir)
    with storage.atomic_path(path / INDEX_FILE) as tmp:
        built._index.save(str(tmp))
    with storage.atomic_path(path / DUPLICATES_FILE) as tmp:
        pq.write_table(pa.table({"label": built.duplicates.label, "row": built.duplicates.row}), tmp)
    storage.write_json(built.meta.to_dict(), path / META_FILE)


def load(bundle_dir: storage.Location, n: int, dim: int) -> HybridIndex | None:
    """The build's hybrid index, or None when it has none or it was built for other vectors
    (the caller's exact search still answers; checksums are model.json's, checked by the caller)."""
    import voyager

    path = storage.as_path(bundle_dir)
    if not storage.exists(path / META_FILE):
        return None
    raw = storage.read_json(path / META_FILE)
    meta = HybridIndexMeta(int(raw["n"]), int(raw["dim"]), int(raw["n_indexed"]), AnnParams(**raw["params"]))
    if meta.n != n or meta.dim != dim:
        return None
    index = voyager.Index.load(io.BytesIO(storage.read_bytes(path / INDEX_FILE)))
    dups = pq.read_table(io.BytesIO(storage.read_bytes(path / DUPLICATES_FILE)))
    duplicates = Duplicates(dups.column("label").to_numpy().astype(np.int64), dups.column("row").to_numpy().astype(np.int64))
    return HybridIndex(index, duplicates, meta)
