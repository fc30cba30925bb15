"""The published bundle: data only, checksummed, refused when damaged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import BundleError, load_bundle


@pytest.fixture
def models(tmp_path: Path, demo_data_dir: Path) -> Path:
    dst = tmp_path / "models"
    shutil.copytree(demo_data_dir / "models", dst)
    return dst


def test_bundle_round_trips_its_parameters(models: Path, demo_bundle) -> None:
    bundle = load_bundle(models)
    assert bundle.version == demo_bundle.version
    meta = json.loads((models / bundle.version / "model.json").read_text())
    assert meta["k"] == len(bundle.centroids) and meta["n_tracks"] == len(bundle.tracks)
    assert {p.suffix for p in (models / bundle.version).rglob("*") if p.is_file()} <= {".parquet", ".json", ".png", ".bin", ".ann", ".index", ".voy"}


def test_half_written_tracks_file_is_refused(models: Path) -> None:
    version = registry.read_pointer(models)
    tracks = models / version / "tracks.parquet"
    tracks.write_bytes(tracks.read_bytes()[: tracks.stat().st_size // 2])
    with pytest.raises(BundleError, match="checksum"):
        load_bundle(models)


def test_missing_or_garbled_metadata_is_refused(models: Path) -> None:
    version = registry.read_pointer(models)
    (models / version / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(models)
    (models / version / "model.json").unlink()
    with pytest.raises(BundleError, match="model.json"):
        load_bundle(models)


def test_no_pointer_means_nothing_published(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no published model"):
        load_bundle(tmp_path)


def test_pointer_cannot_name_a_missing_version(models: Path) -> None:
    with pytest.raises(FileNotFoundError):
        registry.publish_pointer(models, "19990101T000000000000Z-deadbeef")
    assert load_bundle(models)  # the old pointer still works
