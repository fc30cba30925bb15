"""The whole pipeline and serving on a real S3-compatible server (moto's server mode on 127.0.0.1,
s3fs over HTTP): materialize into s3://<bucket>/data, serve from it, refuse half-written bundles,
and say clearly when the store cannot be reached."""

from __future__ import annotations

import json
import re

import logging
import os
import time
from pathlib import Path

import pytest
import s3fs

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import BUILD_FILE, META_FILE, TRACKS_FILE, BundleError, load_bundle
from music_assets.settings import ServingSettings
from serving import create_app
from serving.model_store import ModelStore
from tests.conftest import materialize_demo
from tests.s3_support import SECRET, moto_s3, new_bucket
from tests.serving_support import free_port, publish_variant

N_TRACKS = 1_000
PRUNE_ALL = {"ops": {"model_retention": {"config": {"keep_previous": 0, "min_age_hours": 0}}}}


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as endpoint:
        yield endpoint


def _record_uploads(mp: pytest.MonkeyPatch) -> list[str]:
    """Every object this process uploads (a local file or bytes), in order; server-side copies
    are not uploads."""
    uploads: list[str] = []
    real_put, real_pipe = s3fs.S3FileSystem._put_file, s3fs.S3FileSystem._pipe_file

    async def put_file(self, lpath, rpath, *args, **kwargs):
        uploads.append(rpath)
        return await real_put(self, lpath, rpath, *args, **kwargs)

    async def pipe_file(self, path, data, *args, **kwargs):
        uploads.append(path)
        return await real_pipe(self, path, data, *args, **kwargs)

    mp.setattr(s3fs.S3FileSystem, "_put_file", put_file)
    mp.setattr(s3fs.S3FileSystem, "_pipe_file", pipe_file)
    s3fs.S3FileSystem.clear_instance_cache()  # new instances bind the recording methods
    return uploads


@pytest.fixture(scope="module")
def graph_on_s3(s3, tmp_path_factory):
    """The demo graph materialized twice into one bucket (the second run prunes what it may)."""
    bucket = new_bucket()
    data = f"s3://{bucket}/data"
    workdir = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)  # anything written to a relative local path would land here
        first_uploads = _record_uploads(mp)
        first = materialize_demo(data, n_tracks=N_TRACKS)
        second_uploads = _record_uploads(mp)
        second = materialize_demo(data, n_tracks=N_TRACKS, run_config=PRUNE_ALL)
    s3fs.S3FileSystem.clear_instance_cache()
    return {"data": data, "bucket": bucket, "workdir": workdir, "runs": (first, second),
            "uploads": (first_uploads, second_uploads)}


def _metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def test_the_whole_graph_runs_on_the_bucket_and_nothing_lands_on_local_disk(graph_on_s3) -> None:
    first, second = graph_on_s3["runs"]
    assert first.success and second.success
    fs = storage.as_path(graph_on_s3["data"]).fs
    keys = {k.split("/data/", 1)[1] for k in fs.find(graph_on_s3["bucket"])}
    version = registry.read_pointer(f"{graph_on_s3['data']}/models")
    assert {"assets/chart_rows.parquet", "assets/unique_tracks.parquet", "assets/tracks.parquet",
            "assets/track_features.parquet", "assets/cluster_k.parquet", "assets/quality_history.parquet",
            "assets/pictures/genre_pie.png", "models/LATEST", f"models/{version}/{META_FILE}",
            f"models/{version}/{TRACKS_FILE}", f"models/{version}/quality.json",
            f"models/{version}/plots/elbow.png", f"models/{version}/plots/pca_map.png"} <= keys
    assert not any(".tmp" in k or ".staging" in k for k in keys)  # every object was written whole
    assert list(graph_on_s3["workdir"].iterdir()) == []
    meta = _metadata(second, "recommender_model")
    assert meta["path"] == f"{graph_on_s3['data']}/models/{version}"


def test_a_bundle_uploads_model_json_after_its_tracks_and_a_same_content_build_copies_server_side(graph_on_s3) -> None:
    first, second = graph_on_s3["runs"]
    v1, v2 = _metadata(first, "recommender_model")["version"], _metadata(second, "recommender_model")["version"]
    first_uploads, second_uploads = graph_on_s3["uploads"]
    own = [u.split(f"/models/{v1}/", 1)[1] for u in first_uploads if f"/models/{v1}/" in u]
    assert own.index(TRACKS_FILE) < own.index(BUILD_FILE) < own.index("quality.json")  # the build, then what later steps add
    assert own[-1] == META_FILE and {"plots/elbow.png", "plots/pca_map.png"} <= set(own)  # sealed last
    v2_folder = f"{graph_on_s3['data']}/models/{v2}"
    assert set(json.loads(storage.read_text(f"{v2_folder}/{META_FILE}"))["files"]) \
        == set(storage.list_files(v2_folder)) - {BUILD_FILE, META_FILE}  # model.json vouches for every file
    # The second run had the same tracks: its tracks file is a server-side copy, never uploaded.
    assert _metadata(second, "recommender_model")["same_content_as"] == v1
    assert not any(u.endswith(f"/models/{v2}/{TRACKS_FILE}") for u in second_uploads)
    assert any(u.endswith(f"/models/{v2}/{META_FILE}") for u in second_uploads)
    assert load_bundle(f"{graph_on_s3['data']}/models").version == v2  # checksum verified


def test_retention_pruned_the_first_version_from_the_bucket(graph_on_s3) -> None:
    first, second = graph_on_s3["runs"]
    v1, v2 = _metadata(first, "published_model")["version"], _metadata(second, "published_model")["version"]
    assert _metadata(first, "model_retention")["deleted_versions"] == []  # default: keep a day's worth
    assert _metadata(second, "model_retention")["deleted_versions"] == [v1]
    models = f"{graph_on_s3['data']}/models"
    assert storage.list_names(models) == [v2, registry.LATEST_POINTER, registry.PUBLISHED_DIR]
    assert registry.read_publications(models)["versions"] == [v1, v2]  # history outlives the pruned bundle
    assert registry.read_pointer(models) == v2


def test_no_credential_reaches_metadata_logs_or_objects(graph_on_s3) -> None:
    for result in graph_on_s3["runs"]:
        for event in result.all_events:
            assert SECRET not in repr(event)
    fs = storage.as_path(graph_on_s3["data"]).fs
    for key in fs.find(graph_on_s3["bucket"]):
        assert SECRET.encode() not in fs.cat_file(key)


def test_serving_from_the_bucket(graph_on_s3) -> None:
    data = graph_on_s3["data"]
    version = registry.read_pointer(f"{data}/models")
    client = create_app(data, live_lookup=None).test_client()
    health = client.get("/healthz").get_json()
    assert health["model_version"] == version and health["tracks"] > 900
    bundle = load_bundle(f"{data}/models")
    track = bundle.tracks["track_id"].iat[0]
    r = client.get("/api/recommend", query_string={"id": track, "k": 5})
    assert r.status_code == 200 and len(r.get_json()["results"]) == 5
    html = client.get("/model").get_data(as_text=True)
    assert version in html and 'src="/model/plots/elbow.png"' in html
    png = client.get("/model/plots/elbow.png")
    assert png.status_code == 200 and png.data == storage.read_bytes(f"{data}/models/{version}/plots/elbow.png")
    assert png.data.startswith(b"\x89PNG")


def _own_copy(graph_on_s3) -> storage.StorePath:
    """A bucket holding a copy of the published model (copied server-side): tests may change it."""
    bucket = new_bucket()
    src = storage.as_path(f"{graph_on_s3['data']}/models")
    version = registry.read_pointer(src)
    dst = storage.as_path(f"s3://{bucket}/data/models")
    src.fs.copy((src / version).path, (dst / version).path, recursive=True)
    registry.publish_pointer(dst, version)
    return dst


def test_half_written_or_corrupt_bundles_on_the_bucket_are_refused(graph_on_s3, caplog) -> None:
    models = _own_copy(graph_on_s3)
    good = registry.read_pointer(models)
    store = ModelStore(models, check_interval=0, retry_after=0, background=False)
    first = store.current()
    assert first.version == good

    # Only the tracks made it (the writer died before model.json), yet someone published it.
    half = "20991231T000000000000Z-halfdone"
    storage.write_bytes(storage.read_bytes(models / good / TRACKS_FILE), models / half / TRACKS_FILE)
    registry.publish_pointer(models, half)
    with caplog.at_level(logging.WARNING, logger="serving.model_store"):
        assert store.current() is first
    assert f"refused model {half}" in caplog.text and "no model.json" in caplog.text

    # model.json is there but the tracks file is not the one its checksum names.
    corrupt = "20991231T000000000001Z-corrupt0"
    storage.write_bytes(storage.read_bytes(models / good / META_FILE), models / corrupt / META_FILE)
    data = storage.read_bytes(models / good / TRACKS_FILE)
    storage.write_bytes(data[: len(data) // 2], models / corrupt / TRACKS_FILE)
    registry.publish_pointer(models, corrupt)
    with caplog.at_level(logging.WARNING, logger="serving.model_store"):
        assert store.current() is first
    assert f"refused model {corrupt}" in caplog.text and "checksum" in caplog.text
    with pytest.raises(BundleError, match="checksum"):
        load_bundle(models)

    new = publish_variant(models, first.bundle, first.bundle.tracks.iloc[:-10])
    assert store.current().version == new and store.stats.refusals == 2


@pytest.fixture
def dead_endpoint(monkeypatch, request):
    """The AWS environment pointing at a port where nothing listens."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    s3fs.S3FileSystem.clear_instance_cache()
    request.addfinalizer(s3fs.S3FileSystem.clear_instance_cache)


def test_an_unreachable_store_is_a_clear_error(s3, dead_endpoint, caplog) -> None:
    started = time.monotonic()
    with pytest.raises(storage.StorageError, match=r"cannot read s3://nowhere/data/models/LATEST: .*connect"):
        load_bundle("s3://nowhere/data/models")
    assert time.monotonic() - started < 30
    client = create_app(ServingSettings(data_dir="s3://nowhere/data", check_interval=0), live_lookup=None).test_client()
    with caplog.at_level(logging.WARNING):
        r = client.get("/healthz")
    message = r.get_json()["error"]["message"]
    # the operator reads the store and the cause in the log; the listener sees no bucket or prefix
    assert r.status_code == 503 and "No recommendation model" in message and "nowhere" not in message
    assert "cannot read s3://nowhere/data/models/LATEST" in caplog.text
    assert SECRET not in r.get_data(as_text=True) and SECRET not in caplog.text
    with pytest.raises(Exception) as failed:  # the run's first write: the data folder's lock
        materialize_demo("s3://nowhere/data", n_tracks=200, selection=["chart_rows"])
    assert isinstance(failed.value.__cause__, storage.StorageError)
    assert re.match(r"cannot create s3://nowhere/data/run.lock: .*connect", str(failed.value.__cause__))


def test_the_model_held_keeps_serving_when_the_store_goes_away(graph_on_s3, request, caplog) -> None:
    bundle = load_bundle(f"{graph_on_s3['data']}/models")
    request.getfixturevalue("dead_endpoint")  # once the server below is gone, nothing answers
    with moto_s3(own_process=True):  # a server of its own, killed when the block ends
        bucket = new_bucket()
        own = storage.as_path(f"s3://{bucket}/data/models")
        publish_variant(own, bundle)
        store = ModelStore(own, check_interval=0, retry_after=0)
        held = store.current()
    with caplog.at_level(logging.WARNING, logger="serving.model_store"):
        for _ in range(5):  # the check runs on a side thread: requests never wait for the network
            started = time.perf_counter()
            assert store.current() is held
            assert time.perf_counter() - started < 0.5
        assert store.wait_idle(timeout=60)
        assert store.current() is held
    assert "cannot read s3://" in caplog.text and f"still serving {held.version}" in caplog.text
    assert caplog.text.count("cannot read s3://") == 1  # one line per outage, not one per check


def test_python_m_serving_refuses_credentials_in_the_url() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "serving", "--data-dir", "s3://AKIA:topsecret@bucket/data"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1],
                         env={**os.environ})
    assert out.returncode == 2 and "environment" in out.stderr and "topsecret" not in out.stderr
