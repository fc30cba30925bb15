"""The memory-mapped tracks cache (music_assets/model/tracks_cache.py): the same table as the
Parquet read, no decode once cached, damaged bundles still refused, bad cache files replaced,
an unusable folder tolerated, old copies pruned, and serving worker processes sharing one
mapped file across a publish with no failed request."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from music_assets import storage
from music_assets.model import registry
from music_assets.model import tracks_cache
from music_assets.model.bundle import META_FILE, TRACKS_FILE, BundleError, load_bundle
from tests.serving_support import copy_models, free_port, publish_variant

ROOT = Path(__file__).resolve().parents[1]


def _sha(models: Path) -> str:
    version = registry.read_pointer(models)
    return json.loads((models / version / META_FILE).read_text())["files"][TRACKS_FILE]


def test_a_cached_load_maps_the_same_table_and_decodes_nothing(demo_data_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    models, cache = demo_data_dir / "models", tmp_path / "cache"
    plain = load_bundle(models)
    first = load_bundle(models, cache_dir=cache)
    assert [p.name.split("-")[0] for p in cache.glob("*.arrow")] == [_sha(models)]

    def no_decode(*args, **kwargs):
        raise AssertionError("the Parquet file was decoded although its table is cached")

    monkeypatch.setattr(storage, "read_checked_table", no_decode)
    cached = load_bundle(models, cache_dir=cache)
    for bundle in (first, cached):
        pd.testing.assert_frame_equal(bundle.tracks, plain.tracks)
        assert np.array_equal(bundle.scaled, plain.scaled, equal_nan=True) and bundle.title_index.keys() == plain.title_index.keys()
        assert isinstance(bundle.tracks["genres"].iat[0], list)
    mapped = Path("/proc/self/maps").read_text()
    assert str(_copy(cache, _sha(models))) in mapped  # the columns point into the file


def test_a_damaged_bundle_is_refused_even_when_its_tracks_are_cached(demo_data_dir: Path, tmp_path: Path) -> None:
    models, cache = copy_models(demo_data_dir, tmp_path), tmp_path / "cache"
    load_bundle(models, cache_dir=cache)
    tracks_file = models / registry.read_pointer(models) / TRACKS_FILE
    data = tracks_file.read_bytes()
    tracks_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="checksum"):
        load_bundle(models, cache_dir=cache)
    tracks_file.unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(models, cache_dir=cache)


def _copy(cache: Path, sha: str) -> Path:
    found = tracks_cache.copies(cache, sha)
    assert len(found) == 1, found
    return found[0]


def _flip_a_data_byte(path: Path) -> None:
    """Change one byte in the middle of the file (inside a column's buffer, not its framing)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "one byte changed", "another table"])
def test_a_bad_cache_file_is_ignored_and_replaced(demo_data_dir: Path, tmp_path: Path, damage: str, caplog) -> None:
    models, cache = demo_data_dir / "models", tmp_path / "cache"
    sha = _sha(models)
    expected = load_bundle(models).tracks
    load_bundle(models, cache_dir=cache)
    path = _copy(cache, sha)
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an arrow file" * 100)
    elif damage == "one byte changed":
        _flip_a_data_byte(path)
    else:  # a valid, correctly named file of another tracks table under this checksum's name
        path.unlink()
        other = tracks_cache._write(pa.table({"x": [1, 2]}), cache, "0" * 64)
        other.rename(cache / other.name.replace("0" * 64, sha))
    assert tracks_cache.mapped(cache, sha) is None
    with caplog.at_level(logging.WARNING, logger="music_assets.model.tracks_cache"):
        pd.testing.assert_frame_equal(load_bundle(models, cache_dir=cache).tracks, expected)
    assert "ignoring the tracks cache file" in caplog.text
    assert _copy(cache, sha).read_bytes() == good  # rewritten whole, the bad one gone
    assert tracks_cache.mapped(cache, sha) is not None


def test_a_changed_byte_is_caught_on_a_table_written_by_this_module(tmp_path: Path) -> None:
    """Content checking at the file boundary: a valid-looking file with one changed value."""
    sha = "a" * 64
    values = list(range(100_000))
    assert tracks_cache.cached_table(tmp_path, sha, lambda: pa.table({"x": values})).column("x").to_pylist() == values
    path = _copy(tmp_path, sha)
    _flip_a_data_byte(path)
    import pyarrow.ipc as ipc
    assert ipc.open_file(str(path)).read_all().column("x").to_pylist() != values  # Arrow alone would serve it
    assert tracks_cache.mapped(tmp_path, sha) is None
    again = tracks_cache.cached_table(tmp_path, sha, lambda: pa.table({"x": values}))
    assert again.column("x").to_pylist() == values and str(_copy(tmp_path, sha)) in Path("/proc/self/maps").read_text()


def _race(cache: str, sha: str, n: int, barrier, out) -> None:
    """One of several processes finding no copy, decoding at the same time, then writing."""
    writes = []
    real_write = tracks_cache._write

    def counted(*args):
        writes.append(1)
        return real_write(*args)

    tracks_cache._write = counted

    def read() -> pa.Table:
        barrier.wait(timeout=60)  # every process has looked and found nothing: all try to write
        return pa.table({"x": list(range(n)), "s": [f"t{i}" for i in range(n)]})

    table = tracks_cache.cached_table(Path(cache), sha, read)
    maps = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
            if line.endswith(tracks_cache.SUFFIX)}
    out.put((os.getpid(), len(writes), table.column("x").to_pylist() == list(range(n)),
             table.column("s")[n - 1].as_py(), sorted(maps)))


def test_processes_writing_at_once_write_one_copy_and_all_map_it(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, as granian's workers are
    sha, n, k = "b" * 64, 300_000, 4
    barrier, out = ctx.Barrier(k), ctx.Queue()
    (tmp_path / f".{sha}.12345.tmp").write_bytes(b"left by a writer that was killed")
    procs = [ctx.Process(target=_race, args=(str(tmp_path), sha, n, barrier, out)) for _ in range(k)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    path = str(_copy(tmp_path, sha))
    assert sum(r[1] for r in results) == 1  # one process wrote; the others waited and mapped its file
    assert all(r[2] and r[3] == f"t{n - 1}" and r[4] == [path] for r in results), results
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", Path(path).name]  # no temporary file left


_CHILD = """
import json, resource, signal, sys
from pathlib import Path
import pyarrow as pa
from music_assets.model import tracks_cache
cache, sha, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if limit:  # files may not grow past `limit` bytes: a write fails as on a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
table = tracks_cache.cached_table(cache, sha, lambda: pa.table({"x": list(range(100_000))}))
maps = [l.split()[-1] for l in Path("/proc/self/maps").read_text().splitlines() if l.endswith(".arrow")]
print(json.dumps({"ok": table.column("x").to_pylist() == list(range(100_000)), "maps": maps}))
"""


def _without_root_powers() -> None:
    """In the child before exec: root without the capabilities that ignore file modes, so a
    folder's modes apply (prctl PR_CAPBSET_DROP of CAP_DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _child(folder: Path, sha: str, limit: int = 0) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), sha, str(limit)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
                          preexec_fn=_without_root_powers if os.geteuid() == 0 else None)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@pytest.mark.parametrize("holding", ["nothing", "a copy"])
def test_a_read_only_cache_folder_falls_back_or_is_read(tmp_path: Path, holding: str) -> None:
    """A folder the serving process cannot write: the Parquet read is served and nothing is
    written, or the copy already there is mapped."""
    folder, sha = tmp_path / "cache", "c" * 64
    folder.mkdir()
    if holding == "a copy":
        tracks_cache.cached_table(folder, sha, lambda: pa.table({"x": list(range(100_000))}))
        os.chmod(folder / ".lock", 0o444)
    folder.chmod(0o555)
    before = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    try:
        result, log = _child(folder, sha)
    finally:
        folder.chmod(0o755)
    assert result["ok"]
    if holding == "nothing":
        assert result["maps"] == [] and "unusable" in log
    else:
        assert result["maps"] == [str(_copy(folder, sha))] and log == ""
    assert sorted((p.name, p.stat().st_size) for p in folder.iterdir()) == before


def test_a_failed_write_serves_the_parquet_read(tmp_path: Path) -> None:
    """A write that fails midway (files limited to 64 KB, as a full disk): the decoded table is
    served, no partial file is left behind, and the next process with room writes the copy."""
    sha = "d" * 64
    result, log = _child(tmp_path, sha, limit=64 << 10)
    assert result == {"ok": True, "maps": []} and "cannot write the tracks cache" in log
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]
    result, log = _child(tmp_path, sha)
    assert result["ok"] and result["maps"] == [str(_copy(tmp_path, sha))]


def test_an_unusable_cache_folder_only_costs_the_sharing(demo_data_dir: Path, tmp_path: Path, caplog) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with caplog.at_level(logging.WARNING, logger="music_assets.model.tracks_cache"):
        bundle = load_bundle(demo_data_dir / "models", cache_dir=not_a_folder / "cache")
    assert len(bundle.tracks) == bundle.meta["n_tracks"]
    assert "unusable" in caplog.text


def test_only_the_most_recently_used_copies_are_kept(tmp_path: Path) -> None:
    shas = [f"{i:064x}" for i in range(5)]
    for i, sha in enumerate(shas):
        table = tracks_cache.cached_table(tmp_path, sha, lambda i=i: pa.table({"x": [i]}), keep=3)
        assert table.column("x").to_pylist() == [i]
        os.utime(_copy(tmp_path, sha), (1000 + i, 1000 + i))  # distinct mtimes
        if i == 2:
            assert tracks_cache.mapped(tmp_path, shas[0]) is not None  # a use counts, not only the write
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.arrow")) == [shas[0], shas[3], shas[4]]
    assert tracks_cache.cached_table(tmp_path, shas[4], lambda: pa.table({"x": [-1]})).column("x").to_pylist() == [4]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_worker_processes_share_one_mapped_table_across_publishes(demo_data_dir: Path, demo_bundle,
                                                                  tmp_path: Path) -> None:
    """`python -m serving --workers 2`: both workers map the same cache file, move to each newly
    published model without a failed request, and the cache keeps only the recent copies."""
    pytest.importorskip("granian")
    models, cache = copy_models(demo_data_dir, tmp_path), tmp_path / "cache"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--data-dir", str(tmp_path), "--port", str(port),
                             "--workers", "2", "--threads", "2", "--check-interval", "0.2", "--tracks-cache", str(cache)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base, errors, versions = f"http://127.0.0.1:{port}", [], []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                status, body = _get(base + "/healthz")
            except Exception as exc:  # a refused or reset connection is a failed request too
                errors.append(repr(exc))
                continue
            if status != 200:
                errors.append(f"HTTP {status}")
            else:
                versions.append(body["model_version"])

    def wait_for(version: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and versions[-40:].count(version) < 40:
            time.sleep(0.05)
        assert versions[-40:] == [version] * 40, versions[-5:]

    def mapping(pid: int) -> set[str]:
        return {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                if line.endswith(tracks_cache.SUFFIX)}

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
            time.sleep(0.2)
        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        wait_for(demo_bundle.version)
        published = []
        for cut in (10, 20, 30, 40):  # four new tracks files: more than the cache keeps
            published.append(publish_variant(models, demo_bundle, demo_bundle.tracks.iloc[:-cut]))
            wait_for(published[-1])
        stop.set()
        for t in threads:
            t.join(timeout=30)
        workers = _children(proc.pid)
        assert len(workers) == 2
        current = str(_copy(cache, _sha(models)))
        assert all(current in mapping(pid) for pid in workers)  # one file, mapped by both
    finally:
        stop.set()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert errors == [], errors[:5]
    assert "Traceback" not in out, out[-3000:]
    assert len(list(cache.glob("*.arrow"))) == tracks_cache.KEEP
    assert versions[0] == demo_bundle.version and versions[-1] == published[-1]
    shutil.rmtree(cache)
