"""The publication history cannot lose a record (music_assets/model/registry.py): publishers in
separate processes, publishing at once, keep every record; a publisher killed with -9 at any step
leaves LATEST's version in the history; crash leftovers go once older than the safe age and never
before; a full disk is an error naming the file, with LATEST untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from music_assets import storage
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.model import registry
from music_assets.model.bundle import BUILD_FILE, META_FILE, TRACKS_FILE, new_version
from tests.conftest import materialize_demo

PUBLISH_MANY = """
import sys
from music_assets.model import registry
models, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # both start together
for i in range(n):
    registry.publish_pointer(models, f"{prefix}{i:04d}")
"""

PUBLISH_AND_STOP = """
import os, signal, sys
from music_assets.model import registry
models, version, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = [0]
def pausing(real):
    def call(*args, **kwargs):
        if seen[0] == stop_at:  # stop here, to be killed: every replace and fsync is a step
            print("stopped", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        seen[0] += 1
        return real(*args, **kwargs)
    return call
os.replace, os.fsync = pausing(os.replace), pausing(os.fsync)
registry.publish_pointer(models, version)
print("done", flush=True)
"""

N_EACH = 200


def versions(prefix_day: int, n: int) -> list[str]:
    base = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=prefix_day)
    return [new_version(f"{i:08x}" * 8, base + timedelta(seconds=i)) for i in range(n)]


def test_two_processes_publishing_at_once_lose_no_record(tmp_path: Path) -> None:
    models = tmp_path / "models"
    prefixes = ("20261101T000000000000Z-a", "20261101T000000000000Z-b")
    for prefix in prefixes:
        for i in range(N_EACH):
            (models / f"{prefix}{i:04d}").mkdir(parents=True)
    publishers = [subprocess.Popen([sys.executable, "-c", PUBLISH_MANY, str(models), p, str(N_EACH)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for p in prefixes]
    for p in publishers:
        assert p.stdout.readline().strip() == "ready"
    for p in publishers:
        p.stdin.write("go\n")
        p.stdin.flush()
    assert [p.wait(timeout=300) for p in publishers] == [0, 0]
    published = registry.read_publications(models)["versions"]
    expected = {f"{p}{i:04d}" for p in prefixes for i in range(N_EACH)}
    assert len(published) == 2 * N_EACH and set(published) == expected  # before: 166 of 400 lost
    assert len(storage.list_names(models / registry.PUBLISHED_DIR)) == 2 * N_EACH
    assert registry.read_pointer(models) in {f"{p}{N_EACH - 1:04d}" for p in prefixes}


def test_a_publisher_killed_at_any_step_leaves_latest_in_the_history(tmp_path: Path) -> None:
    """Killed with -9 before each os.replace and os.fsync of a publication in turn (the record,
    its folder, LATEST, its folder), then once more after the last: whatever LATEST names is in
    the history every time."""
    stop_at, outcomes = 0, []
    while True:
        models = tmp_path / f"try{stop_at}" / "models"
        old, new = versions(0, 2)
        for v in (old, new):
            (models / v).mkdir(parents=True)
        registry.publish_pointer(models, old)
        child = subprocess.Popen([sys.executable, "-c", PUBLISH_AND_STOP, str(models), new, str(stop_at)],
                                 stdout=subprocess.PIPE, text=True)
        said = child.stdout.readline().strip()
        if said == "stopped":
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        latest = registry.read_pointer(models)
        assert latest in registry.read_publications(models)["versions"], (stop_at, latest)
        outcomes.append(latest)
        if said == "done":
            break
        stop_at += 1
    assert stop_at >= 4  # the record (fsync, replace, folder) and LATEST (fsync, replace) at least
    assert outcomes[0] == outcomes[1] == versions(0, 2)[0] and outcomes[-1] == versions(0, 2)[1]


# -- crash leftovers ---------------------------------------------------------------------------------

def aged(path: Path, hours: float) -> Path:
    stamp = (datetime.now(timezone.utc) - timedelta(hours=hours)).timestamp()
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (stamp, stamp))
    return path


def unsealed_build(models, hours_ago: float) -> str:
    version = new_version(f"{int(hours_ago * 100):08x}" * 8, datetime.now(timezone.utc) - timedelta(hours=hours_ago))
    storage.write_bytes(b"tracks", models / version / TRACKS_FILE)
    storage.write_json({"version": version}, models / version / BUILD_FILE)
    return version


def sealed(models, version: str) -> None:
    storage.write_bytes(b"x", models / version / TRACKS_FILE)
    storage.write_json({"version": version}, models / version / META_FILE)


def retention_removed(data_root, leftover_hours: float | None = None) -> list[str]:
    run_config = {"ops": {"model_retention": {"config": {"keep_previous": 99, "min_age_hours": 0}}}}
    if leftover_hours is not None:
        run_config["resources"] = {"store": {"config": {"data_dir": str(data_root), "leftover_age_hours": leftover_hours}}}
    result = materialize_demo(data_root, selection=["model_retention"], run_config=run_config)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization.metadata["leftovers_removed"].value


def test_crash_leftovers_go_once_older_than_the_safe_age_and_never_younger(tmp_path: Path) -> None:
    data = tmp_path / "data"
    models = data / "models"
    published = new_version("ab" * 32, datetime.now(timezone.utc) - timedelta(days=10))
    sealed(models, published)
    registry.publish_pointer(models, published)
    old_build, young_build = unsealed_build(models, 30), unsealed_build(models, 2)
    old_staging = models / f".staging-{'1' * 32}"
    old_staging.mkdir()
    (old_staging / TRACKS_FILE).write_bytes(b"half a bundle")
    aged(old_staging, 30)
    young_staging = models / f".staging-{'2' * 32}"
    young_staging.mkdir()
    old_tmp = aged(_touch(data / "assets" / ".tracks.parquet.tmp-4242-0123abcd"), 30)
    old_link = aged(_touch(models / published / f".{TRACKS_FILE}.link"), 30)
    old_record_tmp = aged(_touch(models / registry.PUBLISHED_DIR / ".x.json.tmp-7-89abcdef"), 30)
    young_tmp = aged(_touch(data / "assets" / ".tracks.parquet.tmp-4343-0123abcd"), 1)
    for not_leftover in (data / "assets" / "notes.tmp", data / "incoming" / ".charts.csv.tmp-1-0123abcd"):
        aged(_touch(not_leftover), 30)

    removed = retention_removed(data)
    for gone in (old_build, old_staging.name, old_tmp.name, old_link.name, old_record_tmp.name):
        assert any(gone in r for r in removed), (gone, removed)
    assert len(removed) == 5
    assert not (models / old_build).exists() and not old_staging.exists() and not old_tmp.exists()
    for kept in (models / young_build, young_staging, young_tmp, data / "assets" / "notes.tmp",
                 data / "incoming" / ".charts.csv.tmp-1-0123abcd", models / published / META_FILE):
        assert kept.exists(), kept
    assert registry.read_pointer(models) == published

    removed = retention_removed(data, leftover_hours=0.5)  # a shorter safe age: the 1-2 h old ones go too
    assert {r.split(": ", 1)[0] for r in removed} == {"unsealed build", "temporary file"}
    assert not (models / young_build).exists() and not young_tmp.exists()


def test_an_unsealed_build_is_a_leftover_on_an_object_store_too(data_root) -> None:
    models = data_root / "models"
    published = new_version("cd" * 32, datetime.now(timezone.utc) - timedelta(days=3))
    sealed(models, published)
    registry.publish_pointer(models, published)
    old_build, young_build = unsealed_build(models, 48), unsealed_build(models, 1)
    assert [r.split("/")[-1] for r in retention_removed(data_root)] == [old_build]
    assert storage.exists(models / young_build / BUILD_FILE) and not storage.exists(models / old_build / BUILD_FILE)


def test_the_published_version_is_never_a_leftover_even_unsealed(tmp_path: Path) -> None:
    """LATEST should never name an unsealed folder; if a hand-made rollback does, it stays."""
    models = tmp_path / "data" / "models"
    version = unsealed_build(models, 100)
    storage.write_text(version + "\n", models / registry.LATEST_POINTER)
    assert retention_removed(tmp_path / "data") == []
    assert (models / version / TRACKS_FILE).exists()


def test_a_build_killed_while_staging_leaves_a_leftover_the_next_retention_removes(tmp_path: Path, demo_bundle) -> None:
    """A real crash: a bundle write killed with -9 just before its staging folder is renamed."""
    data = tmp_path / "data"
    script = f"""
import os, signal, sys
import pandas as pd
from music_assets.model import bundle
from music_assets.model.bundle import load_bundle
real = os.replace
def replace(src, dst):
    if os.path.basename(str(src)).startswith(".staging-"):
        print("stopped", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
    return real(src, dst)
os.replace = replace
b = load_bundle({str(demo_bundle.path.parent)!r}, {demo_bundle.version!r})
bundle.build_bundle({str(data / 'models')!r}, b.tracks, b.embedding, b.centroids, {{}})
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "stopped"
    child.kill()
    child.wait()
    (staging,) = (data / "models").glob(".staging-*")
    assert (staging / TRACKS_FILE).exists()
    assert retention_removed(data) == []  # young: it might be a build in flight
    aged(staging, 25)
    assert retention_removed(data) == [f"staging folder: {staging}"]


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


# -- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs (needs root, as in CI); skipped where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_names_the_file_being_written_and_what_to_do(small_disk: Path) -> None:
    target = small_disk / "data" / "assets" / "tracks.parquet"
    noise = pd.DataFrame({"x": np.random.default_rng(1).random(400_000)})  # ~3 MB: does not fit
    with pytest.raises(storage.DiskFull) as full:
        storage.write_parquet(noise, target)
    message = str(full.value)
    assert f"cannot write {target}: no space left on the disk holding {target.parent}" in message
    assert "Free space there" in message and "MUSIC_ADVISER_DATA_DIR" in message
    assert list(target.parent.iterdir()) == []  # no temporary file left behind

    models = small_disk / "data" / "models"
    (models / "20261101T000000000000Z-aaaaaaaa").mkdir(parents=True)
    registry.publish_pointer(models, "20261101T000000000000Z-aaaaaaaa")
    (models / "20261102T000000000000Z-bbbbbbbb").mkdir()
    filler = small_disk / "filler"
    with pytest.raises(OSError):
        with open(filler, "wb") as fh:
            fh.write(b"\0" * (2 << 20))  # fill what is left
    with pytest.raises(storage.DiskFull, match=rf"cannot write {models}/published/.*-20261102T000000000000Z-bbbbbbbb\.json"):
        registry.publish_pointer(models, "20261102T000000000000Z-bbbbbbbb")
    assert registry.read_pointer(models) == "20261101T000000000000Z-aaaaaaaa"  # untouched


def test_a_run_on_a_full_disk_fails_naming_the_file(small_disk: Path) -> None:
    data = small_disk / "data"
    result = dg.materialize(ALL_ASSETS, selection=["chart_rows", "unique_tracks", "track_features", "tracks"],
                            resources={"store": DataStore(data_dir=str(data)), "engine": EngineResource(),
                                       "source": SourceResource(kind="demo", demo_tracks=20_000)}, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    text = str(failure.step_failure_data.error)
    assert f"cannot write {data / 'assets'}/" in text and "no space left on the disk" in text, text
