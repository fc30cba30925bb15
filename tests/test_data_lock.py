"""The data folder's lock (music_assets/data_lock.py) between real processes on a local folder,
and on object stores (fsspec's memory store, and a real S3-compatible server with its
conditional PUT): a second run is refused naming the holder, or waits for it; a holder killed
with -9 never blocks the folder; a stale object-store lock is taken over, a live one renewed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from music_assets import data_lock, storage
from tests.s3_support import moto_s3, new_bucket

HOLD = """
import sys, time
from music_assets import data_lock
with data_lock.hold_folder(sys.argv[1], sys.argv[2], wait_seconds=float(sys.argv[3]), log=print):
    print("held", flush=True)
    time.sleep(float(sys.argv[4]))
print("released", flush=True)
"""


def holder(data: Path, owner: str, seconds: float, wait: float = 0.0) -> subprocess.Popen:
    """Another process holding the folder for `seconds`, once it has printed "held"."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(data), owner, str(wait), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    other = holder(tmp_path, "run-a", seconds=60)
    try:
        with pytest.raises(data_lock.FolderBusy) as busy:
            with data_lock.hold_folder(tmp_path, "run-b"):
                pytest.fail("took a folder another process holds")
        message = str(busy.value)
        assert f"run run-a (pid {other.pid} on " in message and str(tmp_path / "run.lock") in message
        assert "MUSIC_ADVISER_LOCK_WAIT" in message and busy.value.holder.owner == "run-a"
    finally:
        other.kill()
        other.wait()


def test_a_waiting_run_gets_the_folder_when_the_holder_is_done(tmp_path: Path) -> None:
    other = holder(tmp_path, "run-a", seconds=2)
    logged: list[str] = []
    started = time.monotonic()
    with data_lock.hold_folder(tmp_path, "run-b", wait_seconds=60, log=logged.append, poll_seconds=0.1) as held:
        waited = time.monotonic() - started
        assert data_lock.read_holder(tmp_path) == held and held.owner == "run-b"
    assert 1.0 < waited < 30 and other.wait(timeout=30) == 0
    assert logged and "waiting up to 60 s" in logged[0] and "run run-a" in logged[0]
    assert not any("recovered" in line for line in logged)  # the other released it cleanly
    assert data_lock.read_holder(tmp_path) is None  # released: the file names nobody


def test_a_holder_killed_with_sigkill_never_blocks_the_folder(tmp_path: Path) -> None:
    other = holder(tmp_path, "run-a", seconds=600)
    os.kill(other.pid, signal.SIGKILL)
    other.wait()
    logged: list[str] = []
    with data_lock.hold_folder(tmp_path, "run-b", log=logged.append):  # no wait: the kernel freed it
        pass
    assert len(logged) == 1 and "run run-a" in logged[0] and f"pid {other.pid}" in logged[0]
    assert "ended without releasing it" in logged[0]


def test_a_waiting_process_takes_over_from_a_killed_one(tmp_path: Path) -> None:
    """Two processes and a kill: the waiter gets the folder as soon as the holder dies."""
    first = holder(tmp_path, "run-a", seconds=600)
    second = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "run-b", "120", "0"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert second.poll() is None  # waiting
    first.kill()
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0 and "recovered" in out and "held" in out and "released" in out


@pytest.fixture(params=["memory", "s3"])
def store_folder(request):
    if request.param == "memory":
        yield f"memory://lock-{uuid.uuid4().hex}/data"
        return
    with moto_s3() as _:
        yield f"s3://{new_bucket()}/data"


def test_on_an_object_store_the_lock_is_an_object_created_only_when_absent(store_folder: str) -> None:
    with data_lock.hold_folder(store_folder, "run-a") as held:
        assert data_lock.read_holder(store_folder) == held
        with pytest.raises(data_lock.FolderBusy, match="in use by run run-a"):
            with data_lock.hold_folder(store_folder, "run-b"):
                pytest.fail("two holders")
        assert not storage.create_exclusive(b"x", data_lock.lock_path(store_folder))  # S3: If-None-Match: *
    assert not storage.exists(data_lock.lock_path(store_folder))  # released
    with data_lock.hold_folder(store_folder, "run-b"):
        pass


def test_a_stale_object_store_lock_is_taken_over_and_a_live_one_renewed(store_folder: str) -> None:
    path = data_lock.lock_path(store_folder)
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    dead = data_lock.Holder(owner="run-dead", host="elsewhere", pid=1, since=long_ago, token="t", heartbeat=long_ago)
    storage.write_bytes(dead.to_bytes(), path)
    logged: list[str] = []
    with data_lock.hold_folder(store_folder, "run-b", log=logged.append, heartbeat=0.2, stale_after=60) as held:
        assert any("taking over" in line and "run run-dead" in line for line in logged)
        first = data_lock.read_holder(store_folder)
        time.sleep(1.0)
        renewed = data_lock.read_holder(store_folder)
        assert renewed.token == held.token and renewed.heartbeat > first.heartbeat  # alive: renewed
        # someone else took it (this holder was silent too long): the next beat says so
        thief = data_lock.Holder(**{**renewed.__dict__, "owner": "run-c", "token": "other"})
        storage.write_bytes(thief.to_bytes(), path)
        time.sleep(0.6)
        assert any("lost the data folder's lock" in line and "run run-c" in line for line in logged)
    assert data_lock.read_holder(store_folder).owner == "run-c"  # not ours to delete
