"""The published recommender model: a versioned folder of data (Parquet + JSON), no pickles.

    models/<version>/tracks.parquet   one row per track: metadata, features, PCA coords, cluster
    models/<version>/model.json       scaler, PCA, centroids, settings, file checksums
    models/<version>/quality.json     offline quality per mode and the winner (written before publishing)
    models/<version>/plots/*.png      elbow curve and PCA map (written before publishing)
    models/LATEST                     the published version (replaced atomically)

A bundle is written under a temporary folder name and renamed into place, and checksums in
model.json let a loader refuse a bundle that was corrupted or only half written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from music_assets.core import storage
from music_assets.core.cleaning import normalize_text
from music_assets.core.model import Embedding

FORMAT_VERSION = 1
TRACKS_FILE = "tracks.parquet"
META_FILE = "model.json"
QUALITY_FILE = "quality.json"
PLOTS_DIR = "plots"
BUNDLE_TRACK_COLUMNS = (
    "track_id", "title", "artist", "genres", "preview_url", "cover_url", "has_preview",
    "chart_appearances", "alias_ids", "n_imputed", "cluster",
)


class BundleError(RuntimeError):
    """A model bundle that cannot be used (missing, corrupt, half-written or inconsistent)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def new_version(content_hash: str, now: datetime | None = None) -> str:
    """Sortable, unique version id: UTC time of the build plus a short hash of its content."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{content_hash[:8]}"


def write_bundle(
    models_dir: str | os.PathLike[str],
    tracks: pd.DataFrame,
    embedding: Embedding,
    centroids: np.ndarray,
    settings: dict[str, Any],
    now: datetime | None = None,
) -> tuple[str, Path]:
    """Write a complete bundle folder and return (version, path). Does not publish it."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    missing = [c for c in (*BUNDLE_TRACK_COLUMNS, *embedding.features) if c not in tracks]
    if missing:
        raise BundleError(f"bundle tracks lack column(s): {', '.join(missing)}")
    staging = models_dir / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        table_cols = [*BUNDLE_TRACK_COLUMNS, *embedding.features,
                      *[c for c in tracks.columns if c.startswith("pc_")]]
        storage.write_parquet(tracks.loc[:, table_cols], staging / TRACKS_FILE)
        tracks_hash = _sha256(staging / TRACKS_FILE)
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
        os.replace(staging, final)
        return version, final
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


@dataclass
class ModelBundle:
    """A loaded bundle with the arrays recommendation needs, computed once at load."""

    version: str
    path: Path
    meta: dict[str, Any]
    tracks: pd.DataFrame
    embedding: Embedding
    centroids: np.ndarray
    scaled: np.ndarray = field(repr=False)  # n x f, float32, StandardScaler space
    clusters: np.ndarray = field(repr=False)
    quality: dict[str, Any] = field(default_factory=dict, repr=False)  # quality.json; {} for older bundles

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
        """genre -> sorted row indices of tracks that carry it."""
        exploded = self.tracks["genres"].explode().dropna()
        return {g: np.sort(idx.to_numpy()) for g, idx in exploded.groupby(exploded, sort=True).groups.items()}

    @cached_property
    def title_index(self) -> dict[str, np.ndarray]:
        """normalized title -> row indices (several when songs share a title)."""
        keys = pd.Series([normalize_text(t) for t in self.tracks["title"]])
        return {k: idx.to_numpy() for k, idx in keys.groupby(keys, sort=False).groups.items()}

    @cached_property
    def id_index(self) -> dict[str, int]:
        """track id (and every alias id) -> row index."""
        index = {tid: i for i, tid in enumerate(self.tracks["track_id"])}
        for i, aliases in enumerate(self.tracks["alias_ids"]):
            for alias in aliases:
                index.setdefault(alias, i)
        return index


def load_bundle(models_dir: str | os.PathLike[str], version: str | None = None, verify: bool = True) -> ModelBundle:
    """Load a bundle (the published one by default), refusing anything incomplete or corrupt."""
    models_dir = Path(models_dir)
    version = version or storage.read_pointer(models_dir)
    if not version:
        raise BundleError(f"no published model in {models_dir} (no LATEST pointer): run the pipeline first")
    path = models_dir / version
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"model {version} has no {META_FILE} in {path}") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"model {version}: {META_FILE} is not valid JSON ({exc})") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"model {version}: format {meta.get('format_version')} is not {FORMAT_VERSION}")
    tracks_path = path / TRACKS_FILE
    if not tracks_path.exists():
        raise BundleError(f"model {version}: {TRACKS_FILE} is missing")
    if verify and _sha256(tracks_path) != meta.get("files", {}).get(TRACKS_FILE):
        raise BundleError(f"model {version}: {TRACKS_FILE} does not match its checksum (corrupt or half-written)")
    try:
        tracks = pq.read_table(tracks_path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise BundleError(f"model {version}: cannot read {TRACKS_FILE}: {exc}") from exc
    if len(tracks) != meta.get("n_tracks"):
        raise BundleError(f"model {version}: {len(tracks)} tracks, model.json says {meta.get('n_tracks')}")
    embedding = Embedding.from_dict(meta["embedding"])
    for col in ("genres", "alias_ids"):
        tracks[col] = [list(v) if v is not None else [] for v in tracks[col]]
    scaled = embedding.scale_features(tracks.loc[:, embedding.features].to_numpy(dtype=np.float64)).astype(np.float32)
    return ModelBundle(
        version=version, path=path, meta=meta, tracks=tracks, embedding=embedding,
        centroids=np.asarray(meta["centroids"], dtype=np.float64), scaled=np.ascontiguousarray(scaled),
        clusters=tracks["cluster"].to_numpy(dtype=np.int32), quality=read_quality(path),
    )


def content_key(bundle_dir: str | os.PathLike[str]) -> str | None:
    """A hash of what a bundle recommends with (tracks file, scaler + PCA, centroids), blind to
    when and by which run it was built; None when the bundle is unreadable. Two bundles with the
    same key serve identical recommendations, so a refresh on unchanged input can keep the old one."""
    try:
        meta = json.loads((Path(bundle_dir) / META_FILE).read_text(encoding="utf-8"))
        parts = [meta["files"][TRACKS_FILE], meta["embedding"], meta["centroids"]]
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def read_quality(bundle_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """quality.json of a bundle, or {} when absent or unreadable (older bundles have none; the
    model stays usable without it, only the default mode falls back to its setting)."""
    try:
        quality = json.loads((Path(bundle_dir) / QUALITY_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return quality if isinstance(quality, dict) else {}


def write_quality(bundle_dir: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    """Add quality.json to a built bundle; call it before the bundle is published."""
    return storage.write_json(report, Path(bundle_dir) / QUALITY_FILE)
