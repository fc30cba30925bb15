"""storage.py on a local folder and on fsspec's in-memory object store (same tests, both
stores): whole-file writes, the LATEST pointer, folders, sharing, and a bundle's upload order."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from music_assets.defs.sensors import incoming_files_sensor
from music_assets.model import ann
from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import BUILD_FILE, META_FILE, TRACKS_FILE, BundleError, content_key, load_bundle, write_bundle
from music_assets.ingest.charts.unique import unique_tracks_from_parquet
from music_assets.ingest.features.store import (STORE_COLUMNS, checkpoint_dir, checkpoint_rows, clear_checkpoints,
                                              load_store, write_checkpoint)
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


class Boom(RuntimeError):
    pass


def test_as_path_keeps_local_paths_plain_and_refuses_credentials_in_urls(tmp_path: Path) -> None:
    assert type(storage.as_path(str(tmp_path))) is type(tmp_path) and storage.is_local("data")
    assert storage.as_path(f"file://{tmp_path}") == tmp_path
    assert not storage.is_local("memory://bucket/data") and not storage.is_local("s3://bucket/data")
    with pytest.raises(ValueError, match="environment") as caught:
        storage.as_path("s3://AKIAKEY:hunter2@bucket/data")
    assert "hunter2" not in str(caught.value)


def test_writes_appear_whole_and_a_failed_write_leaves_the_old_file(data_root) -> None:
    path = data_root / "assets" / "t.parquet"
    storage.write_parquet(pd.DataFrame({"a": [1, 2, 3]}), path)
    assert storage.read_parquet(path)["a"].tolist() == [1, 2, 3]
    with pytest.raises(Boom):
        with storage.parquet_writer(path, pa.schema([("a", pa.int64())])) as writer:
            writer.write_table(pa.table({"a": [9] * 1000}))
            raise Boom("the source failed halfway")
    assert storage.read_parquet(path)["a"].tolist() == [1, 2, 3]  # the old file, not half a new one
    with pytest.raises(Boom):
        with storage.atomic_path(data_root / "assets" / "new.bin") as tmp:
            tmp.write_bytes(b"half")
            raise Boom()
    assert not storage.exists(data_root / "assets" / "new.bin")
    assert [n for n in storage.list_names(data_root / "assets")] == ["t.parquet"]  # no temporary left over
    storage.write_json({"b": 1}, data_root / "x.json")
    assert storage.read_json(data_root / "x.json") == {"b": 1}
    assert storage.file_sha256(path) == hashlib.sha256(storage.read_bytes(path)).hexdigest()
    assert storage.size(path) == len(storage.read_bytes(path))
    with storage.open_parquet(path) as parquet:
        assert parquet.metadata.num_rows == 3
    with pytest.raises(FileNotFoundError, match="materialize the upstream asset"):
        storage.read_parquet(data_root / "assets" / "missing.parquet")


def test_pointer_names_only_existing_versions_and_its_stamp_changes_with_it(data_root) -> None:
    models = data_root / "models"
    assert registry.read_pointer(models) is None and registry.pointer_stamp(models) is None
    with pytest.raises(FileNotFoundError):
        registry.publish_pointer(models, "20260101T000000000000Z-aaaaaaaa")
    for v in ("20260101T000000000000Z-aaaaaaaa", "20260102T000000000000Z-bbbbbbbb"):
        storage.write_json({"version": v}, models / v / META_FILE)
    registry.publish_pointer(models, "20260101T000000000000Z-aaaaaaaa")
    first = registry.pointer_stamp(models)
    assert registry.read_pointer(models) == "20260101T000000000000Z-aaaaaaaa" and first is not None
    registry.publish_pointer(models, "20260102T000000000000Z-bbbbbbbb")
    assert registry.read_pointer(models) == "20260102T000000000000Z-bbbbbbbb"
    assert registry.pointer_stamp(models) != first


def test_folders_list_delete_and_share(data_root) -> None:
    for name in ("b/one.txt", "a/two.txt", "a/deep/three.txt", "c.txt"):
        storage.write_text(name, data_root / name)
    assert storage.list_names(data_root) == ["a", "b", "c.txt"]
    assert storage.list_names(data_root / "nothing-here") == []
    storage.remove_tree(data_root / "a")
    assert storage.list_names(data_root) == ["b", "c.txt"] and not storage.exists(data_root / "a" / "two.txt")
    storage.remove_tree(data_root / "a")  # already gone: nothing to do
    storage.remove_file(data_root / "c.txt")
    storage.remove_file(data_root / "c.txt")
    assert storage.list_names(data_root) == ["b"]
    storage.write_text("other", data_root / "shared.txt")
    assert storage.share_file(data_root / "b" / "one.txt", data_root / "shared.txt")
    assert storage.read_text(data_root / "shared.txt") == "b/one.txt"
    if storage.is_local(data_root):  # a hard link: the same inode, no second copy on disk
        assert (data_root / "shared.txt").stat().st_ino == (data_root / "b" / "one.txt").stat().st_ino


def test_bundle_on_the_store_loads_like_the_local_one(data_root, demo_bundle, tmp_path: Path) -> None:
    models = data_root / "models"
    args = (demo_bundle.tracks, demo_bundle.embedding, demo_bundle.centroids, dict(demo_bundle.meta["settings"]))
    version, path = write_bundle(models, *args)
    registry.publish_pointer(models, version)
    _, reference = write_bundle(tmp_path / "reference", *args)
    loaded = load_bundle(models)
    assert loaded.version == version and str(loaded.path) == str(path)
    pd.testing.assert_frame_equal(loaded.tracks, load_bundle(reference.parent, reference.name).tracks)
    np.testing.assert_array_equal(loaded.scaled, demo_bundle.scaled)
    assert content_key(path) == content_key(reference)  # the same bytes, wherever they are stored
    assert storage.list_names(path) == [BUILD_FILE, META_FILE, TRACKS_FILE]  # no staging or temporary names left

    # A second build with the same tracks shares the first one's file instead of storing it again.
    again, again_path = write_bundle(models, demo_bundle.tracks, demo_bundle.embedding, demo_bundle.centroids,
                                     {"default_mode": "nearest"}, share_tracks_from=path)
    assert again != version and storage.read_bytes(again_path / TRACKS_FILE) == storage.read_bytes(path / TRACKS_FILE)
    if storage.is_local(data_root):
        assert (again_path / TRACKS_FILE).stat().st_ino == (path / TRACKS_FILE).stat().st_ino
    assert load_bundle(models, again).meta["settings"] == {"default_mode": "nearest"}


def test_a_bundle_cut_off_while_uploading_is_never_a_bundle(demo_bundle, monkeypatch) -> None:
    """On an object store the files go up one by one, model.json (with the checksums) last: a writer
    that dies before it leaves files no loader accepts, and LATEST still names the old model."""
    models = storage.as_path(f"memory://music-adviser-{uuid.uuid4().hex}/models")
    good, _ = write_bundle(models, demo_bundle.tracks, demo_bundle.embedding, demo_bundle.centroids, {})
    registry.publish_pointer(models, good)
    uploads: list[str] = []
    fs_type = type(models.fs)
    real_put, real_pipe = fs_type.put_file, fs_type.pipe_file

    def recorded(real):
        def upload(fs, first, rpath_or_data, *args, **kwargs):
            rpath = first if real is real_pipe else rpath_or_data
            uploads.append(rpath.rsplit("/", 1)[-1])
            if rpath.endswith(META_FILE):
                raise ConnectionResetError("the network went away")
            return real(fs, first, rpath_or_data, *args, **kwargs)
        return upload

    monkeypatch.setattr(fs_type, "put_file", recorded(real_put))
    monkeypatch.setattr(fs_type, "pipe_file", recorded(real_pipe))
    with pytest.raises(storage.StorageError, match="cannot write memory://.*model.json"):
        write_bundle(models, demo_bundle.tracks.iloc[:-5].reset_index(drop=True), demo_bundle.embedding,
                     demo_bundle.centroids, {})
    assert uploads == [TRACKS_FILE, BUILD_FILE, META_FILE]  # the checksums go last
    half = next(n for n in storage.list_names(models) if n not in (good, registry.LATEST_POINTER))
    with pytest.raises(BundleError, match="no model.json"):
        load_bundle(models, half)
    assert load_bundle(models).version == good
    storage.remove_tree(models.parent)


def test_duckdb_aggregates_chart_rows_on_the_store(data_root, tmp_path: Path) -> None:
    rows = pd.DataFrame({
        "title": ["A", "A", "B"], "rank": [1, 3, 2], "date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-01"]).date,
        "artist": ["X", "X", "Y"], "url": ["u1", "u1", "u2"], "region": ["Global", "France", "Global"],
        "chart": ["top200"] * 3, "trend": [""] * 3, "streams": [10, 20, 5],
        "track_id": ["0" * 22, "0" * 22, "1" * 22],
    })
    storage.write_parquet(rows, data_root / "assets" / "chart_rows.parquet")
    storage.write_parquet(rows, tmp_path / "local_rows.parquet")
    on_store = unique_tracks_from_parquet(data_root / "assets" / "chart_rows.parquet")
    assert on_store.equals(unique_tracks_from_parquet(tmp_path / "local_rows.parquet"))
    assert on_store.column("n_regions").to_pylist() == [2, 1] and on_store.column("total_streams").to_pylist() == [30, 5]


def test_ann_index_round_trips_through_the_store(data_root, demo_bundle) -> None:
    bundle_dir = data_root / "models" / "v"
    placed = np.flatnonzero(demo_bundle.in_model)  # the model's tracks: the others have no vector
    meta = ann.write_index(bundle_dir, demo_bundle.scaled, "tracks-sha", ann.AnnParams(ef_construction=40), rows=placed)
    assert storage.list_names(bundle_dir) == sorted([ann.INDEX_FILE, ann.DUPLICATES_FILE, ann.META_FILE])
    index = ann.load_index(bundle_dir, *demo_bundle.scaled.shape, tracks_sha256="tracks-sha")
    rows, _ = index.query(demo_bundle.scaled[placed[7]], 5)
    assert rows[0] == placed[7] and index.meta == meta
    storage.write_bytes(storage.read_bytes(bundle_dir / ann.INDEX_FILE)[:-100], bundle_dir / ann.INDEX_FILE)
    with pytest.raises(ann.AnnIndexError, match="checksum"):
        ann.load_index(bundle_dir, *demo_bundle.scaled.shape, tracks_sha256="tracks-sha")


def test_feature_checkpoints_on_the_store(data_root) -> None:
    store_path = data_root / "assets" / "track_features.parquet"
    parts = checkpoint_dir(store_path)
    assert checkpoint_rows(parts) == 0 and load_store(store_path, parts) is None
    full = pd.DataFrame({"track_id": ["a", "b"], "source": ["demo", "demo"]}).reindex(columns=list(STORE_COLUMNS))
    write_checkpoint(parts, full)
    write_checkpoint(parts, full.iloc[:1])
    assert checkpoint_rows(parts) == 3
    assert load_store(store_path, parts)["track_id"].tolist() == ["a", "b"]
    clear_checkpoints(parts)
    assert checkpoint_rows(parts) == 0 and not storage.exists(parts)


def test_incoming_sensor_asks_for_a_local_folder_when_the_data_folder_is_an_object_store(tmp_path) -> None:
    resources = {"store": DataStore(data_dir="s3://bucket/data"), "source": SourceResource(kind="demo")}
    with dg.build_sensor_context(resources=resources) as context:
        skipped = incoming_files_sensor(context)
    assert isinstance(skipped, dg.SkipReason) and "MUSIC_ADVISER_INCOMING_DIR" in skipped.skip_message
    resources["store"] = DataStore(data_dir="s3://bucket/data", incoming_dir=str(tmp_path))  # a local folder: watched as usual
    (tmp_path / "charts.csv").write_text("title\n")
    os.utime(tmp_path / "charts.csv", (1, 1))  # long settled
    with dg.build_sensor_context(resources=resources) as context:
        ran = incoming_files_sensor(context)
    assert isinstance(ran, dg.SensorResult) and len(ran.run_requests) == 1
