"""A Spark DataFrame written as one Parquet file, atomically, in the schema the local engine writes.

Why one file rather than Spark's folder of part files: every reader of an asset (DuckDB's
read_parquet, pyarrow's ParquetFile for metadata, pandas in the downstream stages, serving) takes
a file path, and both engines then write the same thing at the same path, so switching engines
needs no cleanup and no reader changes. Spark still does the work in parallel and writes its part
files to a staging folder beside the target; the driver then streams them, batch by batch (memory
bounded by a batch, not the data), into the final file and `os.replace`s it into place.
The price is one sequential pass on the driver (benchmarks/spark_engine.py times it); at a scale
where that pass matters the asset should become a folder of part files read by glob.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from music_assets import storage

BATCH_ROWS = 256_000


def staging_dir(path: Path) -> Path:
    """A hidden folder beside `path` for Spark's part files (same filesystem: cheap to clean)."""
    return path.parent / f".{path.name}.spark-{uuid.uuid4().hex[:12]}"


def part_files(folder: Path) -> list[Path]:
    """Spark's part files in partition order (part-00000, part-00001, ...): an orderBy before the
    write is a global order across them."""
    return sorted(p for p in folder.glob("part-*") if p.name.endswith(".parquet"))


def stitch(parts: list[Path], path: Path, schema: pa.Schema,
           transform: Callable[[pa.Table], pa.Table] | None = None) -> int:
    """Stream `parts` into one zstd Parquet file at `path` in `schema`; returns the row count.

    `transform`, when given, maps each batch (as a table) to `schema` instead of a plain cast."""
    rows = 0
    with storage.parquet_writer(path, schema) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS, columns=schema.names):
                table = pa.Table.from_batches([batch])
                table = transform(table) if transform else table.select(schema.names).cast(schema)
                writer.write_table(table)
                rows += table.num_rows
    return rows


def write_single_parquet(df, path: Path, schema: pa.Schema) -> int:
    """Write the Spark DataFrame `df` to `path` as one Parquet file in `schema`; returns the rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path)
    try:
        df.write.mode("overwrite").parquet(str(staging))
        return stitch(part_files(staging), path, schema)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
