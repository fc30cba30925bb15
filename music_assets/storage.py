"""Every read and write of the data folder, on a local disk or an object store (fsspec/UPath).
(One file over 300 lines on purpose: each operation's local and object-store paths sit side by
side, so they cannot drift apart.)

The data folder is a local path (the default) or a URL such as `s3://bucket/prefix`, `gs://...`
or `memory://...`, so Dagster steps on several machines and several serving replicas share one
set of Parquet files and one published model. Callers hold `StorePath`s (a plain `pathlib.Path`
locally, a `UPath` for a URL; both join with `/`) and call the functions here, which keep the
local code paths exactly as they were (temporary name + `os.replace`, `os.stat`, hard links)
and use the fsspec filesystem only for URLs.

Atomic writes keep their meaning on both:
- local: write to a temporary name in the destination folder, then `os.replace` it;
- object store: a PUT is already atomic (a reader sees the old object or the new one), so each
  object is written whole. Writers that need a real file (pyarrow's streaming writer, matplotlib,
  Voyager) write a local temporary file, uploaded in one piece only when they succeed: a failure
  halfway leaves nothing behind, as the local rename does.
- a folder (a model bundle) cannot be renamed on an object store: its files are uploaded under
  their final names with the one a reader checks (model.json, carrying the checksums) last, and
  it is published only afterwards, by replacing the LATEST pointer object.

Credentials never appear here: s3fs/gcsfs take them from their normal environment chains
(AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS...). A URL
carrying a user or password is refused, so a secret cannot leak into logs or asset metadata.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

Location = str | os.PathLike[str] | UPath
StorePath = pathlib.Path | UPath  # a local path, or a UPath over an object store


class StorageError(OSError):
    """The data store could not be read or written (unreachable, refused, misconfigured): the
    message names the location and the cause, never a credential."""


class DiskFull(StorageError):
    """The disk (or quota) holding the data folder is full; the message names the file being
    written and says what to do."""


class ChecksumMismatch(ValueError):
    """A file's bytes do not match the checksum recorded for them (corrupt or half-written)."""


# -- locations ------------------------------------------------------------------------------------

def as_path(location: Location) -> StorePath:
    """A local `pathlib.Path` (behaviour unchanged) or a UPath over an fsspec filesystem.

    Listing caches are off for object stores: other processes write the same folder, so a cached
    listing would go stale, and we read a handful of named objects, where it saves nothing.
    """
    if isinstance(location, (pathlib.Path, UPath)):
        return location
    text = os.fspath(location)
    if "://" not in text:
        return pathlib.Path(text)
    parts = urlsplit(text)
    if parts.scheme in ("file", "local"):
        return pathlib.Path(parts.path)
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"{parts.scheme}:// data folder URL carries credentials: put them in the "
                         "environment (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), not in the URL")
    return UPath(text, use_listings_cache=False)


def is_local(location: Location) -> bool:
    return isinstance(as_path(location), pathlib.Path)


@contextmanager
def _remote(path: UPath, action: str) -> Iterator[None]:
    """Turn an object store's own exceptions (botocore's connection errors are not OSErrors)
    into StorageError naming what failed; a missing object stays FileNotFoundError."""
    try:
        yield
    except (FileNotFoundError, StorageError):
        raise
    except Exception as exc:  # noqa: BLE001 - each fsspec backend raises its own types
        raise StorageError(f"cannot {action} {path}: {type(exc).__name__}: {exc}") from exc


# -- writes ---------------------------------------------------------------------------------------

def _temp_name(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: OSError) -> bool:
    """ENOSPC/EDQUOT, also when a library (pyarrow) reports it only in its message."""
    return exc.errno in _DISK_FULL or "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def disk_full_error(path: Location, exc: OSError) -> DiskFull:
    """The error for a write that ran out of space: which file, on which folder, and what to do."""
    return DiskFull(errno.ENOSPC, f"cannot write {path}: no space left on the disk holding {as_path(path).parent} "
                    f"({exc.strerror or exc}). Free space there (old model versions go with the model_retention "
                    "asset) or point MUSIC_ADVISER_DATA_DIR at a larger disk, then re-run")


@contextmanager
def atomic_path(location: Location) -> Iterator[pathlib.Path]:
    """Yield a local temporary file path; when the block succeeds it becomes `location` at once
    (local: `os.replace`; object store: one upload of the whole file). On failure nothing appears,
    and a full disk raises DiskFull naming `location` (the temporary name would tell nobody anything)."""
    final = as_path(location)
    if isinstance(final, pathlib.Path):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(final)
        try:
            yield tmp
            if tmp.is_file():
                with open(tmp, "rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        except DiskFull:
            raise
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(final, exc) from exc
            raise
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    with tempfile.TemporaryDirectory(prefix="music-adviser-") as folder:
        tmp = pathlib.Path(folder) / final.name
        yield tmp
        with _remote(final, "write"):
            final.fs.put_file(str(tmp), final.path)


def write_bytes(data: bytes, location: Location) -> StorePath:
    """Write a small object whole (local: temp + replace; object store: a single PUT)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    else:
        with _remote(path, "write"):
            path.fs.pipe_file(path.path, data)
    return path


def create_exclusive(data: bytes, location: Location) -> bool:
    """Write a small object only if nothing is there yet: True when written, False when it already
    existed. Locally O_CREAT|O_EXCL (the file appears empty for an instant; readers of a lock
    object treat empty as "being written"); on S3 a conditional PUT (`If-None-Match: *`), atomic
    on the server; other fsspec stores check then write (see data_lock.py for what that means)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise disk_full_error(path, exc) if is_disk_full(exc) else exc
        os.close(fd)
        return True
    with _remote(path, "create"):
        try:
            path.fs.pipe_file(path.path, data, mode="create")
        except FileExistsError:
            return False
    return True


def sync_folder(location: Location) -> None:
    """Make the names in a local folder durable (fsync of the directory), so a file renamed into
    it survives a power cut before the next write; nothing to do on an object store."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(text: str, location: Location) -> StorePath:
    return write_bytes(text.encode("utf-8"), location)


def write_json(obj: Any, location: Location) -> StorePath:
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), location)


def write_parquet(data: pd.DataFrame | pa.Table, location: Location) -> StorePath:
    """Write a frame or Arrow table as Parquet, atomically."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    with atomic_path(location) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return as_path(location)


@contextmanager
def parquet_writer(location: Location, schema: pa.Schema, **options: Any) -> Iterator[pq.ParquetWriter]:
    """Stream record batches into a Parquet file that appears atomically when the block ends.
    `options` go to pyarrow's ParquetWriter (e.g. write_statistics)."""
    with atomic_path(location) as tmp:
        writer = pq.ParquetWriter(tmp, schema, **{"compression": "zstd", **options})
        try:
            yield writer
        finally:
            writer.close()


# -- reads ----------------------------------------------------------------------------------------

def exists(location: Location) -> bool:
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return path.exists()
    with _remote(path, "look up"):
        return path.fs.exists(path.path)


def read_bytes(location: Location) -> bytes:
    """A whole file (one GET on an object store); FileNotFoundError when it does not exist."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return path.read_bytes()
    with _remote(path, "read"):
        return path.fs.cat_file(path.path)


def read_text(location: Location) -> str:
    return read_bytes(location).decode("utf-8")


def read_json(location: Location) -> Any:
    return json.loads(read_text(location))


def read_table(location: Location, columns: list[str] | None = None) -> pa.Table:
    """A Parquet file as an Arrow table (pyarrow reads an object store through fsspec)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return pq.read_table(path, columns=columns)
    with _remote(path, "read"):
        return pq.read_table(path.path, columns=columns, filesystem=path.fs)


def read_parquet(location: Location, columns: list[str] | None = None) -> pd.DataFrame:
    if not exists(location):
        raise FileNotFoundError(f"{location} does not exist: materialize the upstream asset first")
    return read_table(location, columns).to_pandas()


def read_checked_table(location: Location, sha256: str | None) -> pa.Table:
    """A Parquet file whose bytes must hash to `sha256` (None: not verified). On an object store
    the file is fetched once and both hashed and parsed from memory; locally it is hashed from
    disk and read by pyarrow's native reader (the page cache serves the second read)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        if sha256 is not None and file_sha256(path) != sha256:
            raise ChecksumMismatch(f"{path.name} does not match its checksum")
        return pq.read_table(path)
    data = read_bytes(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ChecksumMismatch(f"{path.name} does not match its checksum")
    return pq.read_table(pa.BufferReader(data))


@contextmanager
def open_parquet(location: Location) -> Iterator[pq.ParquetFile]:
    """A ParquetFile for its footer (row count, schema) and first batches, without reading it all."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        with pq.ParquetFile(path) as parquet:
            yield parquet
        return
    with _remote(path, "read"), path.fs.open(path.path, "rb") as fh, pq.ParquetFile(fh) as parquet:
        yield parquet


def file_sha256(location: Location) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checksums of bundle and index files)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    with _remote(path, "read"), path.fs.open(path.path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def modified_time(location: Location) -> float | None:
    """When a file or folder was last written (seconds since the epoch), or None when the store
    does not say (or it is gone)."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            return None
    try:
        with _remote(path, "look up"):
            return path.fs.modified(path.path).timestamp()
    except (FileNotFoundError, NotImplementedError, StorageError, AttributeError, IsADirectoryError):
        return None


def size(location: Location) -> int:
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return path.stat().st_size
    with _remote(path, "look up"):
        return int(path.fs.size(path.path))


def duckdb_path(con: Any, location: Location) -> str:
    """The path DuckDB should read `location` by: a local path as is; for an object store, the URL,
    after registering its fsspec filesystem with the connection (DuckDB's own httpfs extension
    would need a download and a second set of credentials)."""
    path = as_path(location)
    if not isinstance(path, pathlib.Path):
        con.register_filesystem(path.fs)
    return str(path)


# -- folders --------------------------------------------------------------------------------------

def list_names(location: Location) -> list[str]:
    """Names directly inside a folder (prefix), sorted; [] when it does not exist."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return sorted(os.listdir(path)) if path.is_dir() else []
    with _remote(path, "list"):
        try:
            entries = path.fs.ls(path.path, detail=False)
        except FileNotFoundError:
            return []
    base = path.path.rstrip("/")
    return sorted({e.rstrip("/").rsplit("/", 1)[-1] for e in entries if e.rstrip("/") != base})


def list_files(location: Location) -> list[str]:
    """Every file below a folder (prefix), as sorted relative paths such as 'plots/elbow.png'."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    with _remote(path, "list"):
        try:
            found = path.fs.find(path.path, detail=False)
        except FileNotFoundError:
            return []
    base = path.path.rstrip("/") + "/"
    return sorted(f[len(base):] for f in found if f.startswith(base))


def remove_tree(location: Location) -> None:
    """Delete a folder (prefix) and everything under it; nothing when it does not exist."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        if path.is_dir():
            shutil.rmtree(path)
        return
    with _remote(path, "delete"):
        try:
            path.fs.rm(path.path, recursive=True)
        except FileNotFoundError:
            pass


def remove_file(location: Location) -> None:
    """Delete one file (object); nothing when it does not exist."""
    path = as_path(location)
    if isinstance(path, pathlib.Path):
        path.unlink(missing_ok=True)
        return
    with _remote(path, "delete"):
        try:
            path.fs.rm_file(path.path)
        except FileNotFoundError:
            pass


@contextmanager
def staging_folder(parent: Location) -> Iterator[pathlib.Path]:
    """A local folder to assemble files in before `publish_folder` moves them under `parent`:
    beside the destination locally (so the rename is atomic), a temporary folder otherwise."""
    parent = as_path(parent)
    if isinstance(parent, pathlib.Path):
        parent.mkdir(parents=True, exist_ok=True)
        folder = parent / f".staging-{uuid.uuid4().hex}"
        folder.mkdir()
        try:
            yield folder
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        return
    with tempfile.TemporaryDirectory(prefix="music-adviser-") as folder:
        yield pathlib.Path(folder)


def publish_folder(staging: pathlib.Path, final: Location, last: str) -> StorePath:
    """Move a staged folder to `final`: locally one `os.replace` of the folder; on an object store
    every file is uploaded whole, `last` (the file a reader trusts, e.g. model.json) after all the
    others, so a reader that finds `last` finds everything it vouches for."""
    final = as_path(final)
    if isinstance(final, pathlib.Path):
        os.replace(staging, final)
        return final
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    for file in sorted(files, key=lambda p: p.relative_to(staging).as_posix() == last):
        target = final.joinpath(*file.relative_to(staging).parts)
        with _remote(target, "write"):
            target.fs.put_file(str(file), target.path)
    return final


def share_file(source: Location, target: Location) -> bool:
    """Make `target` the same bytes as `source` without writing them again: a hard link locally
    (False, keeping the copy, on a filesystem without hard links), a server-side copy on an
    object store (no upload from this machine)."""
    source, target = as_path(source), as_path(target)
    if isinstance(target, pathlib.Path):
        tmp = target.with_name(f".{target.name}.link")
        try:
            os.link(source, tmp)
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            return False
        return True
    with _remote(target, "copy to"):
        target.fs.copy(source.path, target.path)
    return True
