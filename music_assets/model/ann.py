"""Approximate nearest-neighbour index over a bundle's scaled float32 feature matrix.

Exact search scans every track per query, which grows with the catalog and is too slow under
load at a million tracks. Above a configurable catalog size the pipeline builds an HNSW graph
with Spotify's Voyager, chosen by measurement (benchmarks/ann.py compares it with hnswlib and
FAISS-HNSW on recall@10, build time and query latency; figures in benchmarks/README.md): with
duplicates handled (below) all three reach full recall, and Voyager built fastest with the lowest
p50; it installs as a wheel (hnswlib compiles from source here), is maintained, and takes the
search depth per query, so concurrent queries share no mutable state.

Duplicate vectors break HNSW graphs: in bundles from before issue 13 every track whose features
were all imputed had the same vector (now such tracks are not indexed at all: only the model's
tracks are), and thousands of identical points form a clique the search cannot leave, which cut
recall@10 well below 1 at a million tracks (benchmarks/ann.py). So the graph holds one
representative row per distinct vector, and a small table maps each representative to its
duplicate rows.

Stored inside the bundle folder (local or on an object store, storage.py) as data, no pickle:
    models/<version>/ann_index.voy        the graph and vectors (Voyager's own file format)
    models/<version>/ann_duplicates.parquet  representative row -> duplicate row
    models/<version>/ann_index.json       library, parameters, space, n, dim, checksums (written last)

The same helper (a space, any number of dimensions, its own file names) serves the hybrid
mode's inner-product index over its blended vectors (model/hybrid_ann.py).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from music_assets import storage

LIBRARY = "voyager"
FORMAT_VERSION = 1
SPACES = ("euclidean", "inner_product")  # the audio modes' distance; the hybrid's score


@dataclass(frozen=True)
class IndexFiles:
    """The names an index's three files take in a bundle folder."""

    index: str
    duplicates: str
    meta: str


AUDIO_FILES = IndexFiles("ann_index.voy", "ann_duplicates.parquet", "ann_index.json")
INDEX_FILE, DUPLICATES_FILE, META_FILE = AUDIO_FILES.index, AUDIO_FILES.duplicates, AUDIO_FILES.meta


class AnnIndexError(RuntimeError):
    """An index that cannot be used with this bundle (missing, corrupt or built for other data)."""


@dataclass(frozen=True)
class AnnParams:
    """Graph parameters; the defaults reached recall@10 1.000 on the 1M-track demo catalog."""

    m: int = 16
    ef_construction: int = 100
    ef_search: int = 64
    seed: int = 1


@dataclass(frozen=True)
class AnnMeta:
    format_version: int
    library: str
    library_version: str
    n: int  # rows of the bundle
    dim: int
    n_indexed: int  # distinct vectors in the graph
    params: AnnParams
    index_sha256: str
    duplicates_sha256: str
    tracks_sha256: str  # the tracks file it was built from ("" for the hybrid's: model.json vouches)
    space: str = "euclidean"  # indexes written before the hybrid's have no field: Euclidean

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AnnMeta":
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["params"] = AnnParams(**fields["params"])
        return cls(**fields)


def _library_version() -> str:
    from importlib.metadata import version

    return version(LIBRARY)


@dataclass(frozen=True)
class Duplicates:
    """Rows that share a vector with an earlier row: `label` (the representative, sorted) -> `row`."""

    label: np.ndarray  # int64, sorted, repeated once per duplicate
    row: np.ndarray  # int64, ascending within each label

    @classmethod
    def empty(cls) -> "Duplicates":
        return cls(np.array([], np.int64), np.array([], np.int64))

    def expand(self, labels: np.ndarray) -> np.ndarray:
        """labels in search order, each followed by the rows that duplicate it."""
        if not len(self.label):
            return labels
        lo = np.searchsorted(self.label, labels, side="left")
        hi = np.searchsorted(self.label, labels, side="right")
        counts = hi - lo
        total = int(counts.sum())
        if not total:
            return labels
        # Vectorized (a Python loop over every fetched label showed in a query's time): each label
        # goes to `at`, its duplicates right after it.
        at = np.arange(len(labels)) + np.concatenate([[0], np.cumsum(counts)[:-1]])
        out = np.empty(len(labels) + total, dtype=np.int64)
        out[at] = labels
        owner = np.repeat(np.arange(len(labels)), counts)
        within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        out[at[owner] + 1 + within] = self.row[lo[owner] + within]
        return out


def unique_rows(x: np.ndarray) -> tuple[np.ndarray, Duplicates]:
    """(representative rows, ascending; their duplicates). The representative is the first row."""
    if not len(x):
        return np.array([], np.int64), Duplicates.empty()
    _, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    rep_of_row = first[inverse.ravel()].astype(np.int64)
    dup_rows = np.flatnonzero(rep_of_row != np.arange(len(x)))
    dup_labels = rep_of_row[dup_rows]
    order = np.lexsort((dup_rows, dup_labels))
    return np.sort(first).astype(np.int64), Duplicates(dup_labels[order], dup_rows[order].astype(np.int64))


class AnnIndex:
    """A loaded index answering k-nearest queries with row numbers of the bundle's tracks."""

    def __init__(self, index, duplicates: Duplicates, meta: AnnMeta):  # index: voyager.Index
        self._index = index
        self.duplicates = duplicates
        self.meta = meta

    def __len__(self) -> int:
        return self.meta.n

    def query(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (int64) of about the k nearest rows, nearest first, and the squared
        distances of their distinct vectors (duplicate rows are listed after their representative,
        so more than k rows may come back)."""
        k = max(1, min(int(k), self.meta.n_indexed))
        ef = max(self.meta.params.ef_search, k)
        labels, dist = self._index.query(np.asarray(vector, dtype=np.float32), k=k, query_ef=ef)
        labels = labels.astype(np.int64)
        return self.duplicates.expand(labels), dist


def _space(space: str):
    import voyager

    if space not in SPACES:
        raise AnnIndexError(f"unknown index space {space!r}: one of {', '.join(SPACES)}")
    return voyager.Space.Euclidean if space == "euclidean" else voyager.Space.InnerProduct


def build_index(scaled: np.ndarray, params: AnnParams = AnnParams(), threads: int = -1,
                rows: np.ndarray | None = None, space: str = "euclidean"):
    """(Voyager index in `space` over the distinct rows of `scaled`, labelled by row number;
    duplicates). With `rows`, only those rows are indexed (the model's tracks: the others have no
    features)."""
    import voyager

    x = np.ascontiguousarray(scaled, dtype=np.float32)
    if x.ndim != 2 or not len(x):
        raise AnnIndexError(f"need a non-empty n x d matrix, got shape {x.shape}")
    if rows is None:
        if not np.isfinite(x).all():
            raise AnnIndexError("rows without a finite vector (tracks outside the model): pass the model's rows")
        reps, duplicates = unique_rows(x)
    else:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            raise AnnIndexError("no rows to index")
        local_reps, local_dups = unique_rows(x[rows])
        reps = rows[local_reps]
        duplicates = Duplicates(rows[local_dups.label], rows[local_dups.row])
    index = voyager.Index(_space(space), num_dimensions=x.shape[1], M=params.m,
                          ef_construction=params.ef_construction, random_seed=params.seed,
                          max_elements=len(reps))
    index.add_items(x[reps], ids=reps, num_threads=threads)
    return index, duplicates


def in_memory(vectors: np.ndarray, params: AnnParams = AnnParams(), threads: int = -1,
              rows: np.ndarray | None = None, space: str = "euclidean") -> AnnIndex:
    """An index built and queried without a bundle (benchmarks; no files, so no checksums)."""
    index, duplicates = build_index(vectors, params, threads, rows, space)
    meta = AnnMeta(FORMAT_VERSION, LIBRARY, _library_version(), int(vectors.shape[0]), int(vectors.shape[1]),
                   int(index.num_elements), params, "", "", "", space)
    return AnnIndex(index, duplicates, meta)


def write_index(bundle_dir: storage.Location, scaled: np.ndarray, tracks_sha256: str,
                params: AnnParams = AnnParams(), threads: int = -1, rows: np.ndarray | None = None,
                space: str = "euclidean", files: IndexFiles = AUDIO_FILES) -> AnnMeta:
    """Build an index for `scaled` and store it in `bundle_dir` (local or object store); each file
    appears whole (storage.atomic_path) and the JSON sidecar comes last, so a reader never pairs a
    new sidecar with an old index."""
    bundle_dir = storage.as_path(bundle_dir)
    index, duplicates = build_index(scaled, params, threads, rows, space)
    with storage.atomic_path(bundle_dir / files.index) as tmp:
        index.save(str(tmp))  # Voyager writes a local file; storage moves or uploads it
        index_sha256 = storage.file_sha256(tmp)
    with storage.atomic_path(bundle_dir / files.duplicates) as tmp:
        pq.write_table(pa.table({"label": duplicates.label, "row": duplicates.row}), tmp, compression="zstd")
        duplicates_sha256 = storage.file_sha256(tmp)
    meta = AnnMeta(
        format_version=FORMAT_VERSION, library=LIBRARY, library_version=_library_version(),
        n=int(scaled.shape[0]), dim=int(scaled.shape[1]), n_indexed=int(index.num_elements), params=params,
        index_sha256=index_sha256, duplicates_sha256=duplicates_sha256, tracks_sha256=tracks_sha256, space=space,
    )
    storage.write_json(meta.to_dict(), bundle_dir / files.meta)
    return meta


def has_index(bundle_dir: storage.Location, files: IndexFiles = AUDIO_FILES) -> bool:
    return storage.exists(storage.as_path(bundle_dir) / files.meta)


def _load_voyager(path: storage.StorePath, sha256: str | None):
    """Voyager's index from `path`, its bytes checked against `sha256` (None: not checked).
    Locally Voyager reads the file in native code; from an object store it is fetched once and
    loaded from memory (Voyager takes a file-like object)."""
    import voyager

    if storage.is_local(path):
        if sha256 is not None and storage.file_sha256(path) != sha256:
            raise storage.ChecksumMismatch(f"{path.name} does not match its checksum")
        return voyager.Index.load(str(path))
    data = storage.read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise storage.ChecksumMismatch(f"{path.name} does not match its checksum")
    return voyager.Index.load(io.BytesIO(data))


def load_index(bundle_dir: storage.Location, n: int, dim: int, tracks_sha256: str | None,
               verify: bool = True, space: str = "euclidean", files: IndexFiles = AUDIO_FILES) -> AnnIndex:
    """Load the bundle's index, refusing one that does not match the bundle it sits in."""
    bundle_dir = storage.as_path(bundle_dir)
    try:
        meta = AnnMeta.from_dict(storage.read_json(bundle_dir / files.meta))
    except FileNotFoundError as exc:
        raise AnnIndexError(f"no {files.meta} in {bundle_dir}") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise AnnIndexError(f"{files.meta} in {bundle_dir} is unreadable: {exc}") from exc
    if meta.format_version != FORMAT_VERSION or meta.library != LIBRARY:
        raise AnnIndexError(f"index format {meta.library} v{meta.format_version} is not {LIBRARY} v{FORMAT_VERSION}")
    if meta.space != space:
        raise AnnIndexError(f"{files.meta} is a {meta.space} index, expected {space}")
    if (meta.n, meta.dim) != (n, dim):
        raise AnnIndexError(f"index covers {meta.n} x {meta.dim}, the bundle has {n} x {dim}")
    if tracks_sha256 is not None and meta.tracks_sha256 != tracks_sha256:
        raise AnnIndexError("index was built from another tracks file than this bundle's")
    path, dup_path = bundle_dir / files.index, bundle_dir / files.duplicates
    try:
        index = _load_voyager(path, meta.index_sha256 if verify else None)
        dups = storage.read_checked_table(dup_path, meta.duplicates_sha256 if verify else None)
    except FileNotFoundError as exc:
        raise AnnIndexError(f"{files.index} or {files.duplicates} is missing from {bundle_dir}") from exc
    except storage.ChecksumMismatch as exc:
        raise AnnIndexError(f"{files.index} or {files.duplicates} does not match its checksum (corrupt or half-written)") from exc
    except storage.StorageError:
        raise
    except Exception as exc:  # both libraries raise several types for damaged files
        raise AnnIndexError(f"cannot read the ANN index in {bundle_dir}: {exc}") from exc
    if index.num_elements != meta.n_indexed or index.num_dimensions != dim:
        raise AnnIndexError(f"{files.index} holds {index.num_elements} x {index.num_dimensions}, "
                            f"expected {meta.n_indexed} x {dim}")
    duplicates = Duplicates(dups.column("label").to_numpy().astype(np.int64), dups.column("row").to_numpy().astype(np.int64))
    return AnnIndex(index, duplicates, meta)
