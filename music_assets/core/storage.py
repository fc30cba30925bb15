"""Atomic writes of Parquet/JSON/text and the published-model pointer.

Every writer goes to a temporary name in the destination folder and then `os.replace`s it,
so a reader sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

LATEST_POINTER = "LATEST"


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success move it into place atomically."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(data: pd.DataFrame | pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write a frame or Arrow table as Parquet, atomically."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


@contextmanager
def parquet_writer(path: str | os.PathLike[str], schema: pa.Schema, **options: Any) -> Iterator[pq.ParquetWriter]:
    """Stream record batches into a Parquet file that appears atomically when the block ends.
    `options` go to pyarrow's ParquetWriter (e.g. write_statistics)."""
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema, **{"compression": "zstd", **options})
        try:
            yield writer
        finally:
            writer.close()


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"{path} does not exist: materialize the upstream asset first"
        )
    return pq.read_table(path, columns=columns).to_pandas()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (checksums of bundle and index files)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def publish_pointer(models_dir: str | os.PathLike[str], version: str) -> Path:
    """Point LATEST at `version` (atomically replacing the previous pointer)."""
    if not (Path(models_dir) / version).is_dir():
        raise FileNotFoundError(f"cannot publish {version}: {Path(models_dir) / version} is missing")
    return write_text(version + "\n", Path(models_dir) / LATEST_POINTER)


def read_pointer(models_dir: str | os.PathLike[str]) -> str | None:
    """The published version, or None when nothing has been published yet."""
    pointer = Path(models_dir) / LATEST_POINTER
    if not pointer.exists():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    return version or None
