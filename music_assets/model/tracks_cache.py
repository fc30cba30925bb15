"""A local, memory-mapped Arrow IPC copy of a bundle's tracks table, shared by serving processes.

Each serving worker decoding the bundle's Parquet file holds its own copy of the table and pays
the decode (benchmarks/serving_cold_start.py measures both per worker). Mapped from
an uncompressed Arrow IPC file instead, the table needs no decode, and its pages are the
operating system's page cache, which every process mapping the file shares.

A copy is named `<tracks sha256>-<file sha256>.arrow`: the SHA-256 that the bundle's model.json
records for its tracks file (so it holds exactly that content whichever bundle or data folder
names it; a republished bundle with the same tracks reuses it), then the SHA-256 of the copy's
own bytes, checked on the file descriptor that is mapped before a table is taken from it: a
truncated, damaged or foreign file is never served, it is ignored and rewritten. The tracks
checksum is also stored in the schema metadata. Only what `read()` returned (the Parquet read,
verified against that checksum) is ever written.

A process that does not find a good copy decodes the Parquet file as before and, under an
exclusive flock on `<cache>/.lock`, writes it (temporary name, fsync, rename) unless another
process did meanwhile; either way it then maps that one file and drops its own decoded copy, so
processes starting together decode in parallel and end up sharing one copy. Under the lock no
other process is writing, so leftover temporary files (a writer killed mid-write) are deleted
there, and all but the `keep` most recently used copies are pruned; deleting a copy another
process still maps is safe (the mapping lives until it is closed). Any failure to read or
write the cache (unwritable or missing folder, full disk, no flock) falls back to the table
already read. Files are Arrow IPC only, never pickle. Pure logic: imports neither dagster nor flask.

Caveat: a copy is never modified in place once renamed; a process truncating a mapped file from
outside would make its readers fault (SIGBUS), as with any shared mapping. Keep the folder
writable by the serving user only (it is created 0700).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

log = logging.getLogger(__name__)
SUFFIX = ".arrow"
KEY = b"music_adviser.tracks_sha256"
KEEP = 3  # copies kept: the served model, the one before it (replicas may lag), one spare
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 8 << 20


def copies(cache_dir: Path, sha256: str) -> list[Path]:
    """The cache files claiming the tracks checksum `sha256`, most recently used first."""
    if not _HEX64.fullmatch(sha256):
        return []
    found = []
    try:
        for path in cache_dir.glob(f"{sha256}-*{SUFFIX}"):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:  # pruned meanwhile
                pass
    except OSError:
        return []
    return [p for _, p in sorted(found, reverse=True)]


def _fd_sha256(fd: int) -> str:
    """SHA-256 of the whole file open as `fd`, by position (the descriptor's offset is untouched)."""
    digest, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _open_verified(path: Path, sha256: str, check_bytes: bool = True) -> pa.Table:
    """The table in `path`, memory-mapped, if the mapped file's bytes match the name and its
    metadata names `sha256`; raises ValueError, OSError or ArrowException otherwise.
    `check_bytes=False`: the file was just written and hashed by this process, under the lock."""
    expected = path.name[len(sha256) + 1: -len(SUFFIX)]
    if not _HEX64.fullmatch(expected):
        raise ValueError("not a cache file name")
    source = pa.memory_map(str(path))  # the whole file is mapped now: the bytes checked are the bytes used
    try:
        if check_bytes and _fd_sha256(source.fileno()) != expected:
            raise ValueError("its bytes do not match its checksum (truncated or damaged)")
        reader = ipc.open_file(source)
        if (reader.schema.metadata or {}).get(KEY) != sha256.encode():
            raise ValueError("it holds another tracks table")
        table = reader.read_all()  # buffers point into the mapping
        table.validate()
    except BaseException:
        source.close()
        raise
    return table


def mapped(cache_dir: Path, sha256: str) -> pa.Table | None:
    """The cached table for `sha256`, memory-mapped (no copy), or None when there is no good copy."""
    for path in copies(cache_dir, sha256):
        try:
            table = _open_verified(path, sha256)
        except FileNotFoundError:  # pruned or replaced meanwhile
            continue
        except (OSError, ValueError, pa.ArrowException) as exc:
            log.warning("ignoring the tracks cache file %s: %s", path, exc)
            continue
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return table
    return None


def cached_table(cache_dir: Path, sha256: str, read: Callable[[], pa.Table], keep: int = KEEP,
                 look_first: bool = True) -> pa.Table:
    """The table with this checksum: mapped from the cache, else `read()` (the verified Parquet
    read), written to the cache unless another process did meanwhile, and mapped back.
    `look_first=False`: the caller has just looked (mapped() returned None)."""
    if look_first and (table := mapped(cache_dir, sha256)) is not None:
        return table
    table = read()  # outside the lock: processes starting together decode in parallel
    if not _HEX64.fullmatch(sha256):
        return table
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(cache_dir / ".lock", "a+b")
    except OSError as exc:
        log.warning("tracks cache %s unusable (%s): serving from the Parquet read", cache_dir, exc)
        return table
    with lock:  # closing it releases the lock; so does the kernel if this process dies
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        except OSError as exc:  # a file system without flock
            log.warning("cannot lock the tracks cache %s (%s): serving from the Parquet read", cache_dir, exc)
            return table
        shared = mapped(cache_dir, sha256)  # written by another process meanwhile: map that one
        if shared is None:
            _clean(cache_dir, sha256)  # bad copies of these tracks, writers' leftovers
            if (written := _write(table, cache_dir, sha256)) is not None:
                try:
                    shared = _open_verified(written, sha256, check_bytes=False)
                except (OSError, ValueError, pa.ArrowException) as exc:
                    log.warning("cannot map the tracks cache file %s just written: %s", written, exc)
                _prune(cache_dir, keep)
    return shared if shared is not None else table


def _write(table: pa.Table, cache_dir: Path, sha256: str) -> Path | None:
    """Write the table uncompressed (what makes it mappable), atomically; None on failure."""
    schema = table.schema.with_metadata({**(table.schema.metadata or {}), KEY: sha256.encode()})
    tmp = cache_dir / f".{sha256}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            sink = _HashingSink(fh)
            with pa.PythonFile(sink, mode="w") as out, ipc.new_file(out, schema) as writer:
                writer.write_table(table.replace_schema_metadata(schema.metadata))
            fh.flush()
            os.fsync(fh.fileno())  # a torn file after a crash would only fail its check; this keeps rewrites rare
        final = cache_dir / f"{sha256}-{sink.digest.hexdigest()}{SUFFIX}"
        os.replace(tmp, final)
        return final
    except (OSError, pa.ArrowException) as exc:  # disk full, read-only folder
        log.warning("cannot write the tracks cache in %s (%s): serving from the Parquet read", cache_dir, exc)
        return None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


class _HashingSink:
    """A binary file that hashes what is written through it (the file's name needs its hash:
    no second read of the file)."""

    def __init__(self, fh) -> None:
        self.fh, self.digest, self.closed = fh, hashlib.sha256(), False

    def write(self, data) -> int:
        self.digest.update(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:  # the caller closes the file itself, after fsync
        self.closed = True


def _clean(cache_dir: Path, sha256: str) -> None:
    """Under the lock: delete the copies of `sha256` that failed verification and any temporary
    file (no writer holds one while we hold the lock)."""
    for path in [*copies(cache_dir, sha256), *cache_dir.glob(".*.tmp")]:
        try:
            path.unlink()
        except OSError:
            pass


def _prune(cache_dir: Path, keep: int) -> None:
    """Delete all but the `keep` most recently used copies."""
    try:
        found = sorted(cache_dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in found[keep:]:
        try:
            old.unlink()
        except OSError:
            pass
