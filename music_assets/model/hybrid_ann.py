"""An inner-product ANN index over the hybrid vectors, for catalogs where an exact scan is slow.

The hybrid score is one inner product (model/hybrid.py): the query's vector differs from its
stored vector only in the prior component, so an HNSW graph in inner-product space over the
stored vectors answers it. The index is model/ann.py's (Voyager, duplicate vectors folded), in
inner-product space and under its own file names; the mode fetches a shortlist a few times
longer than asked and re-ranks it exactly (model/recommend_hybrid.py), so the scores reported
are exact. benchmarks/hybrid_ann.py measures recall and latency at 1M tracks beside `nearest`.

Files in the bundle (sealed with it: model.json vouches for them): hybrid_index.voy,
hybrid_index_duplicates.parquet, hybrid_index.json (params, space, n, dim; written last).
"""

from __future__ import annotations

import numpy as np

from music_assets import storage
from music_assets.model import ann
from music_assets.model.ann import AnnIndex, AnnIndexError, AnnParams

SPACE = "inner_product"
FILES = ann.IndexFiles("hybrid_index.voy", "hybrid_index_duplicates.parquet", "hybrid_index.json")
INDEX_FILE, DUPLICATES_FILE, META_FILE = FILES.index, FILES.duplicates, FILES.meta


def build(vectors: np.ndarray, params: AnnParams = AnnParams(), threads: int = -1) -> AnnIndex:
    """An in-memory index over `vectors` (benchmarks); `write` stores one in a build."""
    return ann.in_memory(vectors, params, threads, space=SPACE)


def write(bundle_dir: storage.Location, vectors: np.ndarray, params: AnnParams = AnnParams(), threads: int = -1) -> None:
    """Build the index over `vectors` and store it in a build (the JSON sidecar last)."""
    ann.write_index(bundle_dir, vectors, "", params, threads, space=SPACE, files=FILES)


def load(bundle_dir: storage.Location, n: int, dim: int, verify: bool = True) -> AnnIndex | None:
    """The build's hybrid index; None when it has none. AnnIndexError when it does not fit the
    vectors (n x dim) or is damaged; `verify=False` when model.json's checksums were checked."""
    if not ann.has_index(bundle_dir, FILES):
        return None
    return ann.load_index(bundle_dir, n, dim, None, verify, space=SPACE, files=FILES)


__all__ = ["AnnIndexError", "FILES", "SPACE", "build", "load", "write"]
