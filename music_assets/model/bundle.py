"""The recommender model as data: a versioned folder of Parquet and JSON files, no pickles.
(One file over 300 lines: the writer and the loader must agree on every file name, field and
checksum, so the format lives in one place.)

    models/<version>/tracks.parquet   one row per track: metadata, features, PCA coords, cluster
    models/<version>/quality.json     offline quality per mode and the winner
    models/<version>/plots/*.png      elbow curve and PCA map
    models/<version>/ann_index.*      the ANN index, above a size threshold (model/ann.py)
    models/<version>/model.json       scaler, PCA, centroids, settings, the checksum of every file
    models/LATEST                     the published version (model/registry.py)

A bundle is built in steps, by several assets, and sealed once whole: `build_bundle` writes the
tracks and `build.json` (the parameters); the quality, plots and index steps add their files;
`seal_bundle` writes model.json last, recording every file's checksum. A folder is a bundle once
its model.json exists: a build whose checks failed, or a run cut short, never looks complete, and
a loader refuses a bundle whose files do not match their checksums. The folder may be local or on
an object store (storage.py): there model.json is uploaded after every file it vouches for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.model import ann as ann_lib
from music_assets import storage
from music_assets.model import registry
from music_assets.model import tracks_cache
from music_assets.schema import FEATURE_COLUMNS
from music_assets.text import TITLE_KEY_RULE, normalize_text
from music_assets.model.embedding import Embedding
from music_assets.model import lookups
from music_assets.model.lookups import KeyIndex

FORMAT_VERSION = 1
TRACKS_FILE = "tracks.parquet"
META_FILE = "model.json"  # written last: a folder is a bundle once this exists
BUILD_FILE = "build.json"  # the parameters of a build not sealed yet
QUALITY_FILE = "quality.json"
PLOTS_DIR = "plots"
PLOT_FILES = ("elbow.png", "pca_map.png")  # written by the model_pictures asset before publishing
log = logging.getLogger(__name__)
T = TypeVar("T")
# normalize_text(title), computed once when the bundle is written so loading needs no per-row Python.
TITLE_KEY = "title_key"
LIST_COLUMNS = ("genres", "alias_ids", "regions", "artist_ids")
IN_MODEL = "in_model"  # the model was built on the track: it has every feature used (never imputed)
NO_CLUSTER = -1  # the cluster of a track not in the model
BUNDLE_TRACK_COLUMNS = (
    "track_id", "title", "artist", "genres", "preview_url", "cover_url", "has_preview",
    "chart_appearances", "alias_ids", "n_missing", "cluster", IN_MODEL,
)
# Kept when the tracks have them (older bundles and catalogs lacking them still load: steer() and
# the /v1 API read None or empty lists): the chart regions a track charted in, the artists' ids,
# the album, popularity 0..100, and every audio feature the model was not built on (key, mode...),
# which min_/max_/target_ parameters filter and rank by.
OPTIONAL_TRACK_COLUMNS = ("regions", "artist_ids", "album", "popularity", *FEATURE_COLUMNS)


class BundleError(RuntimeError):
    """A model bundle that cannot be used (missing, corrupt, half-written or inconsistent)."""


def new_version(content_hash: str, now: datetime | None = None) -> str:
    """Sortable, unique version id: UTC time of the build plus a short hash of its content."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{content_hash[:8]}"


def build_bundle(
    models_dir: storage.Location,
    tracks: pd.DataFrame,
    embedding: Embedding,
    centroids: np.ndarray,
    settings: dict[str, Any],
    now: datetime | None = None,
    share_tracks_from: storage.Location | None = None,
    catalog: dict[str, Any] | None = None,
) -> tuple[str, storage.StorePath]:
    """Write a new build (tracks + build.json) and return (version, path); not yet a bundle.

    The files are assembled in a staging folder and moved into place (locally one rename; on an
    object store each file uploaded, build.json last). With `share_tracks_from` (another bundle),
    a tracks file with the same checksum is shared instead of stored again: a hard link locally,
    a server-side copy on an object store (nothing uploaded).
    """
    models_dir = storage.as_path(models_dir)
    tracks = _with_coverage(tracks, embedding.features)
    missing = [c for c in (*BUNDLE_TRACK_COLUMNS, *embedding.features) if c not in tracks]
    if missing:
        raise BundleError(f"bundle tracks lack column(s): {', '.join(missing)}")
    with storage.staging_folder(models_dir) as staging:
        optional = [c for c in OPTIONAL_TRACK_COLUMNS if c in tracks and c not in embedding.features]
        table_cols = [*BUNDLE_TRACK_COLUMNS, *embedding.features, *optional,
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
            "title_key_rule": TITLE_KEY_RULE,  # how title_key was computed (music_assets/text.py)
        }
        if catalog is not None:  # features used and dropped, tracks in the model, featureless share
            meta["catalog"] = catalog
        storage.write_json(meta, staging / BUILD_FILE)
        final = models_dir / version
        if share_tracks_from is not None and _tracks_sha256(share_tracks_from) == tracks_hash:
            previous = storage.as_path(share_tracks_from) / TRACKS_FILE
            if storage.is_local(final):
                storage.share_file(previous, staging / TRACKS_FILE)
            elif storage.share_file(previous, final / TRACKS_FILE):
                (staging / TRACKS_FILE).unlink()  # already in place: only build.json is uploaded
        storage.publish_folder(staging, final, last=BUILD_FILE)
        return version, final


def _with_coverage(tracks: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """`in_model` and `n_missing` derived from the features when a caller (a tool, a test) did not
    give them: in the model exactly when every feature used has a value and the track a cluster."""
    present = [f for f in features if f in tracks]
    if IN_MODEL not in tracks and "cluster" in tracks and present:
        tracks = tracks.assign(**{IN_MODEL: tracks[present].notna().all(axis=1).to_numpy() & (tracks["cluster"].to_numpy() >= 0)})
    if "n_missing" not in tracks and present:
        tracks = tracks.assign(n_missing=tracks[present].isna().sum(axis=1).astype("int16"))
    return tracks


def seal_bundle(bundle_dir: storage.Location) -> dict[str, Any]:
    """Make a build a bundle: write model.json (build.json plus the checksum of every other file
    now in the folder), after every file it vouches for. Sealing a sealed bundle changes nothing."""
    bundle_dir = storage.as_path(bundle_dir)
    if storage.exists(bundle_dir / META_FILE):
        return _read_meta(bundle_dir, bundle_dir.name)
    try:
        meta = storage.read_json(bundle_dir / BUILD_FILE)
    except FileNotFoundError as exc:
        raise BundleError(f"{bundle_dir} holds no build ({BUILD_FILE} is missing): nothing to seal") from exc
    files = dict(meta["files"])
    for name in storage.list_files(bundle_dir):
        if name not in files and name not in (BUILD_FILE, META_FILE):
            files[name] = storage.file_sha256(bundle_dir / name)
    meta = {**meta, "files": dict(sorted(files.items()))}
    storage.write_json(meta, bundle_dir / META_FILE)
    return meta


def write_bundle(models_dir: storage.Location, tracks: pd.DataFrame, embedding: Embedding, centroids: np.ndarray,
                 settings: dict[str, Any], now: datetime | None = None,
                 share_tracks_from: storage.Location | None = None) -> tuple[str, storage.StorePath]:
    """A whole bundle in one call (build, then seal): for tools and tests that add no other files."""
    version, path = build_bundle(models_dir, tracks, embedding, centroids, settings, now, share_tracks_from)
    seal_bundle(path)
    return version, path


def _read_meta(path: storage.StorePath, version: str, sealed: bool = True) -> dict[str, Any]:
    """model.json (or, for a build not sealed yet, build.json), checked for the format version."""
    name = META_FILE if sealed or storage.exists(path / META_FILE) else BUILD_FILE
    try:
        meta = storage.read_json(path / name)
    except FileNotFoundError as exc:
        raise BundleError(f"model {version} has no {name} in {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"model {version}: {name} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise BundleError(f"model {version}: format {found} is not {FORMAT_VERSION}")
    _check_meta(meta, f"model {version}: {name}")
    return meta


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _numbers(value: object, where: str, field_name: str, length: int | None = None) -> list[float]:
    """A list of finite numbers (of `length` when given), or a BundleError naming the field."""
    if not isinstance(value, list) or not all(_is_number(x) for x in value):
        raise BundleError(f"{where}: field {field_name!r} must be a list of finite numbers, got {_shown(value)}")
    if length is not None and len(value) != length:
        raise BundleError(f"{where}: field {field_name!r} holds {len(value)} numbers, expected {length}")
    return value


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_meta(meta: dict[str, Any], where: str) -> None:
    """Refuse a model.json (or build.json) whose fields have the wrong types or shapes, naming the
    file and the field: read as they are, they would fail deep inside the load with a TypeError
    (retried, with a traceback, at every check) or, worse, load a model that answers nonsense."""
    def whole(field_name: str, minimum: int) -> int:
        value = meta.get(field_name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise BundleError(f"{where}: field {field_name!r} must be a whole number >= {minimum}, got {_shown(value)}")
        return value

    whole("n_tracks", 0)
    k = whole("k", 1)
    files = meta.get("files")
    if not isinstance(files, dict) or not all(isinstance(n, str) and isinstance(h, str) for n, h in files.items()):
        raise BundleError(f"{where}: field 'files' must map file names to checksums, got {_shown(files)}")
    if not isinstance(meta.get("settings", {}), dict):
        raise BundleError(f"{where}: field 'settings' must be an object, got {_shown(meta.get('settings'))}")
    embedding = meta.get("embedding")
    if not isinstance(embedding, dict):
        raise BundleError(f"{where}: field 'embedding' must be an object, got {_shown(embedding)}")
    missing = [name for name in Embedding.__dataclass_fields__ if name not in embedding]
    if missing:
        raise BundleError(f"{where}: field 'embedding' lacks {', '.join(missing)}")
    features = embedding["features"]
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise BundleError(f"{where}: field 'embedding.features' must be a list of column names, got {_shown(features)}")
    _numbers(embedding["mean"], where, "embedding.mean", len(features))
    if any(x == 0 for x in _numbers(embedding["scale"], where, "embedding.scale", len(features))):
        raise BundleError(f"{where}: field 'embedding.scale' holds a zero (a division by zero when scaling)")
    components = embedding["components"]
    if not isinstance(components, list) or not components:
        raise BundleError(f"{where}: field 'embedding.components' must be a list of rows, got {_shown(components)}")
    for row in components:
        _numbers(row, where, "embedding.components", len(features))
    _numbers(embedding["explained_variance_ratio"], where, "embedding.explained_variance_ratio", len(components))
    centroids = meta.get("centroids")
    if not isinstance(centroids, list) or len(centroids) != k:
        raise BundleError(f"{where}: field 'centroids' must be a list of k={k} rows, got {_shown(centroids)}")
    for row in centroids:
        _numbers(row, where, "centroids", len(components))


def _tracks_sha256(bundle_dir: storage.Location) -> str | None:
    """The tracks checksum a bundle (or build) records, or None when unreadable."""
    path = storage.as_path(bundle_dir)
    try:
        return _read_meta(path, path.name, sealed=False)["files"][TRACKS_FILE]
    except (OSError, KeyError, TypeError, BundleError):
        return None


@dataclass
class ModelBundle:
    """A loaded bundle: its parameters, tracks, scaled features and lookups by id and title."""

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
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)  # not copied by replace()
    _derived_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)  # one build may ask for another

    @property
    def features(self) -> list[str]:
        return self.embedding.features

    @cached_property
    def in_model(self) -> np.ndarray:
        """Per row, whether the model was built on it (every feature used present): only those
        are ever recommended. Bundles from before issue 13 imputed every track: all True."""
        if IN_MODEL in self.tracks.columns:
            return self.tracks[IN_MODEL].to_numpy(dtype=bool)
        return np.ones(len(self.tracks), dtype=bool)

    @property
    def catalog(self) -> dict[str, Any]:
        """model.json's "catalog": features used and dropped, tracks in the model, featureless share."""
        found = self.meta.get("catalog")
        if isinstance(found, dict):
            return found
        n = len(self.tracks)
        return {"features_used": list(self.features), "features_dropped": {}, "tracks": n,
                "tracks_in_model": int(self.in_model.sum()), "tracks_without_features": n - int(self.in_model.sum()),
                "featureless_share": round((n - int(self.in_model.sum())) / n, 6) if n else 0.0}

    @property
    def default_mode(self) -> str:
        """The mode offline evaluation chose (quality.json "winner"), else the configured one."""
        winner = self.quality.get("winner")
        if isinstance(winner, str) and winner:
            return winner
        return str(self.meta.get("settings", {}).get("default_mode", "normal"))

    @cached_property
    def title_index(self) -> KeyIndex:
        """normalized title -> row indices (several when songs share a title)."""
        return lookups.title_index(self.tracks, TITLE_KEY)

    @cached_property
    def id_index(self) -> Mapping[str, int]:
        """track id (and every alias id) -> row index."""
        return lookups.id_index(self.tracks)

    def derived(self, name: str, build: Callable[["ModelBundle"], T]) -> T:
        """What another module builds from this bundle (the recommend index, the search index),
        built once per loaded bundle and kept with it, so it is freed with it. The bundle does not
        know what they are: the modules that need them do (model/recommend_index.py)."""
        found = self._derived.get(name)
        if found is None:
            with self._derived_lock:  # a second thread waits rather than builds twice
                found = self._derived.get(name)
                if found is None:
                    found = self._derived[name] = build(self)
        return found


def load_bundle(models_dir: storage.Location, version: str | None = None, verify: bool = True,
                cache_dir: os.PathLike[str] | str | None = None, sealed: bool = True) -> ModelBundle:
    """Load a bundle (the published one by default), refusing anything incomplete or corrupt.

    From an object store the tracks file is fetched once and parsed from memory (one GET, no
    per-row Python); an unreachable store raises storage.StorageError (an OSError). With a local
    `cache_dir`, the tracks table is memory-mapped from an Arrow copy there (model/tracks_cache.py),
    written by the first load of these tracks: no decode, and the pages are shared by every
    process mapping it. The tracks file is still checked against its checksum either way.
    `sealed=False` also loads a build not sealed yet (build.json): the steps that evaluate and
    index a build before it is published."""
    models_dir = storage.as_path(models_dir)
    version = version or registry.read_pointer(models_dir)
    if not version:
        raise BundleError(f"no published model in {models_dir} (no LATEST pointer): run the pipeline first")
    path = models_dir / version
    meta = _read_meta(path, version, sealed)
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
    missing = [c for c in (*meta["embedding"]["features"], "cluster") if c not in tracks.columns]
    if missing:
        raise BundleError(f"model {version}: {TRACKS_FILE} lacks the column(s) model.json names: {', '.join(missing)}")
    tracks = lookups.current_title_keys(tracks, TITLE_KEY, meta.get("title_key_rule"))
    embedding = Embedding.from_dict(meta["embedding"])
    scaled = embedding.scale_features(tracks.loc[:, embedding.features].to_numpy(dtype=np.float64)).astype(np.float32)
    bundle = ModelBundle(
        version=version, path=path, meta=meta, tracks=tracks, embedding=embedding,
        centroids=np.asarray(meta["centroids"], dtype=np.float64), scaled=np.ascontiguousarray(scaled),
        clusters=tracks["cluster"].to_numpy(dtype=np.int32),
        quality=_checked_quality(path, version, meta.get("files", {}).get(QUALITY_FILE) if verify else None),
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
    path = storage.as_path(bundle_dir)
    try:
        meta = _read_meta(path, path.name, sealed=False)
        parts = [meta["files"][TRACKS_FILE], meta["embedding"], meta["centroids"]]
    except (OSError, KeyError, TypeError, BundleError):
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _checked_quality(path: storage.StorePath, version: str, sha256: str | None) -> dict[str, Any]:
    """quality.json, refused when model.json records a checksum it does not match."""
    if sha256 is not None:
        try:
            data = storage.read_bytes(path / QUALITY_FILE)
        except FileNotFoundError as exc:
            raise BundleError(f"model {version}: {QUALITY_FILE} is missing") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BundleError(f"model {version}: {QUALITY_FILE} does not match its checksum (corrupt or half-written)")
    return read_quality(path)


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
