"""Serving replicas: two real `python -m serving` processes on one shared data folder (a local one,
and a bucket on a moto S3 server) pick up one newly published model, with no failed request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from music_assets import storage
from music_assets.model import registry
from tests.s3_support import SECRET, moto_s3, new_bucket
from tests.serving_support import free_port, publish_variant

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def start_replica(data_dir: str, stack: ExitStack) -> str:
    """`python -m serving` on a free port, as an operator would start each replica; its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--data-dir", data_dir, "--port", str(port),
                             "--check-interval", "0.2", "--threads", "4"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            # three clients on one address send far more than a listener would
                            env={**os.environ, "MUSIC_ADVISER_RATE_LIMIT": "off"})

    def stop() -> None:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
        assert "Traceback" not in out, out[-3000:]
        assert SECRET not in out  # the replica's log never shows the store's credentials

    stack.callback(stop)
    return f"http://127.0.0.1:{port}"


def wait_healthy(base: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, data = _get(base + "/healthz")
            if status == 200:
                return data["model_version"]
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{base} did not become healthy")
        time.sleep(0.2)


@pytest.fixture(params=["local", "s3"])
def shared_data_dir(request, demo_data_dir: Path, tmp_path: Path):
    """A data folder holding the demo's published model, shared by the replicas."""
    src = demo_data_dir / "models"
    version = registry.read_pointer(src)
    if request.param == "local":
        target = str(tmp_path / "data")
        models = storage.as_path(target) / "models"
        models.mkdir(parents=True)
        (models / version).symlink_to(src / version, target_is_directory=True)  # read-only use
        registry.publish_pointer(models, version)
        yield target
        return
    with moto_s3():  # the replicas inherit the AWS environment pointing at it
        target = f"s3://{new_bucket()}/data"
        models = storage.as_path(target) / "models"
        models.fs.put(str(src / version), (models / version).path, recursive=True)
        registry.publish_pointer(models, version)
        yield target


def test_two_replicas_pick_up_one_newly_published_model_without_a_failed_request(shared_data_dir, demo_bundle) -> None:
    old = demo_bundle.version
    row = demo_bundle.tracks.sort_values("chart_appearances").iloc[-1]
    paths = [f"/api/recommend?id={row['track_id']}&k=5", "/healthz"]
    errors: list[str] = []
    seen: dict[tuple[int, str], list[str]] = {}  # (client, replica) -> versions in answer order
    stop = threading.Event()
    with ExitStack() as stack:
        replicas = [start_replica(shared_data_dir, stack) for _ in range(2)]
        assert [wait_healthy(base) for base in replicas] == [old, old]
        seen = {(n, base): [] for n in range(3) for base in replicas}

        def client(n: int) -> None:  # a load balancer's view: requests alternate between replicas
            i = n
            while not stop.is_set():
                base, path = replicas[i % 2], paths[(i // 2) % 2]
                i += 1
                try:
                    status, data = _get(base + path)
                except Exception as exc:  # a refused or reset connection is a failed request too
                    errors.append(f"{base}{path}: {exc!r}")
                    continue
                if status != 200:
                    errors.append(f"{base}{path}: HTTP {status}")
                else:
                    seen[(n, base)].append(data["model_version"])

        workers = [threading.Thread(target=client, args=(n,)) for n in range(3)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        new_tracks = demo_bundle.tracks.iloc[:-25].reset_index(drop=True)
        new = publish_variant(storage.as_path(shared_data_dir) / "models", demo_bundle, new_tracks)
        published = time.monotonic()
        while time.monotonic() - published < 30 and not all(new in versions for versions in seen.values()):
            time.sleep(0.05)
        picked_up = time.monotonic() - published
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(timeout=30)
        healths = [_get(base + "/healthz")[1] for base in replicas]

    assert errors == [], errors[:5]
    assert [h["model_version"] for h in healths] == [new, new]
    assert [h["tracks"] for h in healths] == [len(new_tracks)] * 2
    for versions in seen.values():  # each client on each replica: the old model, then the new, never back
        assert versions[0] == old and versions[-1] == new
        assert set(versions) == {old, new} and versions == sorted(versions, key=lambda v: v == new)
    print(f"\n[replicas on {'a bucket' if '://' in shared_data_dir else 'a local folder'}] {sum(map(len, seen.values()))} requests, 0 errors; "
          f"both on the new model {picked_up:.2f} s after publishing")
