"""The published recommender model: a versioned folder of data (Parquet + JSON), no pickles.

    models/<version>/tracks.parquet   one row per track: metadata, features, PCA coords, cluster
    models/<version>/model.json       scaler, PCA, centroids, settings, file checksums
    models/<version>/quality.json     offline quality per mode and the winner (written before publishing)
    models/<version>/plots/*.png      elbow curve and PCA map (written before publishing)
    models/LATEST                     the published version (replaced atomically)

A bundle is written under a temporary folder name and renamed into place (on an object store,
uploaded file by file with model.json last), and checksums in model.json let a loader refuse a
bundle that was corrupted or only half written. The folder may be local or on an object store
(core/storage.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.core import ann as ann_lib
from music_assets.core import storage, tracks_cache
from music_assets.core.cleaning import normalize_text
from music_assets.core.embedding import Embedding
from music_assets.core.recommend_index import RecommendIndex
from music_assets.core.sorted_keys import SortedKeys, string_column

FORMAT_VERSION = 1
TRACKS_FILE = "tracks.parquet"
META_FILE = "model.json"
QUALITY_FILE = "quality.json"
PLOTS_DIR = "plots"
PLOT_FILES = ("elbow.png", "pca_map.png")  # written by the model_pictures asset before publishing
log = logging.getLogger(__name__)
# normalize_text(title), computed once when the bundle is written so loading needs no per-row Python.
TITLE_KEY = "title_key"
LIST_COLUMNS = ("genres", "alias_ids")
BUNDLE_TRACK_COLUMNS = (
    "track_id", "title", "artist", "genres", "preview_url", "cover_url", "has_preview",
    "chart_appearances", "alias_ids", "n_imputed", "cluster",
)


class BundleError(RuntimeError):
    """A model bundle that cannot be used (missing, corrupt, half-written or inconsistent)."""


def new_version(content_hash: str, now: datetime | None = None) -> str:
    """Sortable, unique version id: UTC time of the build plus a short hash of its content."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{content_hash[:8]}"


def write_bundle(
    models_dir: storage.Location,
    tracks: pd.DataFrame,
    embedding: Embedding,
    centroids: np.ndarray,
    settings: dict[str, Any],
    now: datetime | None = None,
    share_tracks_from: storage.Location | None = None,
) -> tuple[str, storage.StorePath]:
    """Write a complete bundle folder and return (version, path). Does not publish it.

    The folder is assembled in a staging folder and moved into place (locally one rename; on an
    object store each file uploaded, model.json last). With `share_tracks_from` (the previous
    bundle), a tracks file with the same checksum is shared instead of stored again: a hard link
    locally, a server-side copy on an object store (nothing uploaded).
    """
    models_dir = storage.as_path(models_dir)
    missing = [c for c in (*BUNDLE_TRACK_COLUMNS, *embedding.features) if c not in tracks]
    if missing:
        raise BundleError(f"bundle tracks lack column(s): {', '.join(missing)}")
    with storage.staging_folder(models_dir) as staging:
        table_cols = [*BUNDLE_TRACK_COLUMNS, *embedding.features,
                      *[c for c in tracks.columns if c.startswith("pc_")]]
        table = tracks.loc[:, table_cols].assign(**{TITLE_KEY: [normalize_text(t) for t in tracks["title"]]})
        storage.write_parquet(table, staging / TRACKS_FILE)
        tracks_hash = storage.file_sha256(staging / TRACKS_FILE)
        version = new_version(tracks_hash, now)
        meta = {
            "format_version": FORMAT_VERSION,
            "version": version,
            "created_at": (now or datetime.now(timezone.utc)).isoformat(),
            "n_tracks": int(len(tracks)),
            "embedding": embedding.to_dict(),
            "k": int(len(centroids)),
            "centroids": np.asarray(centroids).tolist(),
            "settings": settings,
            "files": {TRACKS_FILE: tracks_hash},
        }
        storage.write_json(meta, staging / META_FILE)
        final = models_dir / version
        if share_tracks_from is not None and _tracks_sha256(share_tracks_from) == tracks_hash:
            previous = storage.as_path(share_tracks_from) / TRACKS_FILE
            if storage.is_local(final):
                storage.share_file(previous, staging / TRACKS_FILE)
            elif storage.share_file(previous, final / TRACKS_FILE):
                (staging / TRACKS_FILE).unlink()  # already in place: only model.json is uploaded
        storage.publish_folder(staging, final, last=META_FILE)
        return version, final


def _tracks_sha256(bundle_dir: storage.Location) -> str | None:
    """The tracks checksum a bundle's model.json records, or None when unreadable."""
    try:
        return storage.read_json(storage.as_path(bundle_dir) / META_FILE)["files"][TRACKS_FILE]
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _list_array(series: pd.Series) -> pa.Array:
    """A list column as one Arrow array, without a Python object per row when it is Arrow-backed."""
    arr = pa.array(series)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


class _KeyIndex(Mapping[str, np.ndarray]):
    """key -> row indices, over SortedKeys (sorted Arrow arrays, binary-searched), so building
    the index creates no Python object per row, unlike a dict, which cost seconds at load for 1M
    tracks."""

    def __init__(self, keys: pa.Array | pa.ChunkedArray, rows: np.ndarray):
        self.sorted = SortedKeys(keys, rows)

    def __getitem__(self, key: str) -> np.ndarray:
        i = self.sorted.find(key) if isinstance(key, str) else -1
        if i < 0:
            raise KeyError(key)
        return self.sorted.rows_of(i)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.sorted.find(key) >= 0

    def groups(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every (key, rows), in key order."""
        return self.sorted.groups()

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.groups())

    def __len__(self) -> int:
        return len(self.sorted)


class _FirstIndex(Mapping[str, int]):
    """key -> the first row listed for it (track ids are listed before alias ids)."""

    def __init__(self, index: _KeyIndex):
        self._index = index

    def __getitem__(self, key: str) -> int:
        return int(self._index[key][0])

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


@dataclass
class ModelBundle:
    """A loaded bundle with the arrays recommendation needs, computed once at load."""

    version: str
    path: storage.StorePath  # the bundle folder, local or on an object store
    meta: dict[str, Any]
    tracks: pd.DataFrame
    embedding: Embedding
    centroids: np.ndarray
    scaled: np.ndarray = field(repr=False)  # n x f, float32, StandardScaler space
    clusters: np.ndarray = field(repr=False)
    quality: dict[str, Any] = field(default_factory=dict, repr=False)  # quality.json; {} for older bundles
    ann: ann_lib.AnnIndex | None = field(default=None, repr=False)  # present above the size threshold

    @property
    def features(self) -> list[str]:
        return self.embedding.features

    @property
    def default_mode(self) -> str:
        """The mode offline evaluation chose (quality.json "winner"), else the configured one."""
        winner = self.quality.get("winner")
        if isinstance(winner, str) and winner:
            return winner
        return str(self.meta.get("settings", {}).get("default_mode", "normal"))

    @cached_property
    def genre_index(self) -> dict[str, np.ndarray]:
        """genre -> sorted row indices of tracks that carry it (the recommend index's inverted
        index by genre, rather than a second sort of every genre string)."""
        return self.recommend_index.genre_rows()

    @cached_property
    def title_index(self) -> Mapping[str, np.ndarray]:
        """normalized title -> row indices (several when songs share a title)."""
        if TITLE_KEY in self.tracks:
            keys = string_column(self.tracks[TITLE_KEY])
        else:  # a bundle written before title keys were stored
            keys = pa.array([normalize_text(t) for t in self.tracks["title"]], pa.string())
        return _KeyIndex(keys, np.arange(len(self.tracks), dtype=np.int64))

    @cached_property
    def id_index(self) -> Mapping[str, int]:
        """track id (and every alias id) -> row index."""
        aliases = _list_array(self.tracks["alias_ids"])
        ids = pa.array(self.tracks["track_id"], pa.large_string())
        # the chunks themselves: pa.chunked_array([a ChunkedArray, ...]) converts it through Python
        # objects, which cost 3 s at 1M tracks
        keys = pa.chunked_array([*_chunks(ids), pc.list_flatten(aliases).cast(pa.large_string())])
        rows = np.concatenate([np.arange(len(self.tracks), dtype=np.int64),
                               pc.list_parent_indices(aliases).to_numpy().astype(np.int64)])
        return _FirstIndex(_KeyIndex(keys, rows))

    @cached_property
    def recommend_index(self) -> RecommendIndex:
        """The arrays recommend() reads per query (scan matrices, genre codes, result columns),
        built once per bundle on first use."""
        return RecommendIndex(self)


def load_bundle(models_dir: storage.Location, version: str | None = None, verify: bool = True,
                cache_dir: os.PathLike[str] | str | None = None) -> ModelBundle:
    """Load a bundle (the published one by default), refusing anything incomplete or corrupt.

    From an object store the tracks file is fetched once and parsed from memory (one GET, no
    per-row Python); an unreachable store raises storage.StorageError (an OSError). With a local
    `cache_dir`, the tracks table is memory-mapped from an Arrow copy there (core/tracks_cache.py),
    written by the first load of these tracks: no decode, and the pages are shared by every
    process mapping it. The tracks file is still checked against its checksum either way."""
    models_dir = storage.as_path(models_dir)
    version = version or storage.read_pointer(models_dir)
    if not version:
        raise BundleError(f"no published model in {models_dir} (no LATEST pointer): run the pipeline first")
    path = models_dir / version
    try:
        meta = storage.read_json(path / META_FILE)
    except FileNotFoundError as exc:
        raise BundleError(f"model {version} has no {META_FILE} in {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"model {version}: {META_FILE} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise BundleError(f"model {version}: format {found} is not {FORMAT_VERSION}")
    expected = meta.get("files", {}).get(TRACKS_FILE)
    try:
        table = _read_tracks(path / TRACKS_FILE, expected if verify else None, cache_dir)
        # split_blocks: numeric columns stay views of the Arrow buffers (no copy; from the cache,
        # of the shared mapping) instead of being consolidated into new 2-D blocks
        tracks = table.to_pandas(types_mapper=_arrow_lists, split_blocks=True)
    except FileNotFoundError as exc:
        raise BundleError(f"model {version}: {TRACKS_FILE} is missing") from exc
    except storage.ChecksumMismatch as exc:
        raise BundleError(f"model {version}: {TRACKS_FILE} does not match its checksum (corrupt or half-written)") from exc
    except storage.StorageError:
        raise
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise BundleError(f"model {version}: cannot read {TRACKS_FILE}: {exc}") from exc
    if len(tracks) != meta.get("n_tracks"):
        raise BundleError(f"model {version}: {len(tracks)} tracks, model.json says {meta.get('n_tracks')}")
    embedding = Embedding.from_dict(meta["embedding"])
    scaled = embedding.scale_features(tracks.loc[:, embedding.features].to_numpy(dtype=np.float64)).astype(np.float32)
    bundle = ModelBundle(
        version=version, path=path, meta=meta, tracks=tracks, embedding=embedding,
        centroids=np.asarray(meta["centroids"], dtype=np.float64), scaled=np.ascontiguousarray(scaled),
        clusters=tracks["cluster"].to_numpy(dtype=np.int32), quality=read_quality(path),
        ann=_load_ann(path, scaled.shape, expected, verify),
    )
    return bundle


def _read_tracks(location: storage.StorePath, sha256: str | None, cache_dir: os.PathLike[str] | str | None) -> pa.Table:
    """The bundle's tracks table, verified against `sha256` (None: not verified)."""
    def read() -> pa.Table:
        return _fill_empty_lists(storage.read_checked_table(location, sha256))

    if cache_dir is None or sha256 is None:  # an unverified table is never cached
        return read()
    table = tracks_cache.mapped(Path(cache_dir), sha256)
    if table is None:
        return tracks_cache.cached_table(Path(cache_dir), sha256, read, look_first=False)
    if storage.file_sha256(location) != sha256:
        # the cached copy holds the right content, but this bundle's own file is damaged: refuse
        # the bundle, as a replica without the cache does
        raise storage.ChecksumMismatch(f"{location.name} does not match its checksum")
    return table


def content_key(bundle_dir: storage.Location) -> str | None:
    """A hash of what a bundle recommends with (tracks file, scaler + PCA, centroids), blind to
    when and by which run it was built; None when the bundle is unreadable. Two bundles with the
    same key serve identical recommendations, so a refresh on unchanged input can keep the old one."""
    try:
        meta = storage.read_json(storage.as_path(bundle_dir) / META_FILE)
        parts = [meta["files"][TRACKS_FILE], meta["embedding"], meta["centroids"]]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def read_quality(bundle_dir: storage.Location) -> dict[str, Any]:
    """quality.json of a bundle, or {} when absent or unreadable (older bundles have none; the
    model stays usable without it, only the default mode falls back to its setting)."""
    try:
        quality = storage.read_json(storage.as_path(bundle_dir) / QUALITY_FILE)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return quality if isinstance(quality, dict) else {}


def write_quality(bundle_dir: storage.Location, report: dict[str, Any]) -> storage.StorePath:
    """Add quality.json to a built bundle; call it before the bundle is published."""
    return storage.write_json(report, storage.as_path(bundle_dir) / QUALITY_FILE)


def _fill_empty_lists(table: pa.Table) -> pa.Table:
    """Null genre/alias lists become empty lists, as the pipeline writes them."""
    for name in LIST_COLUMNS:
        if name in table.column_names and table.column(name).null_count:
            col = table.column(name)
            i = table.column_names.index(name)
            table = table.set_column(i, name, pc.if_else(pc.is_null(col), pa.scalar([], col.type), col))
    return table


def _arrow_lists(dtype: pa.DataType) -> pd.ArrowDtype | None:
    """List columns stay Arrow-backed in pandas (a cell still reads as a Python list), instead of
    one numpy array per row, which cost seconds and a gigabyte at 1M tracks."""
    return pd.ArrowDtype(dtype) if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) else None


def _load_ann(path: storage.StorePath, shape: tuple[int, int], tracks_sha256: str | None, verify: bool) -> ann_lib.AnnIndex | None:
    """The bundle's ANN index when it has one; a broken or foreign index is skipped with a warning,
    because exact search still answers correctly (only slower)."""
    if not ann_lib.has_index(path):
        return None
    try:
        return ann_lib.load_index(path, n=shape[0], dim=shape[1], tracks_sha256=tracks_sha256, verify=verify)
    except ann_lib.AnnIndexError as exc:
        log.warning("model %s: ignoring its ANN index, searching exactly instead: %s", path.name, exc)
        return None
