"""Metadata every asset records: path, row count, column schema, a preview."""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def markdown_table(df: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    shown = df.head(rows).copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = shown[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def _schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def parquet_metadata(path: Path, preview: pd.DataFrame | None = None, **extra: Any) -> dict[str, Any]:
    """Describe a written Parquet file without loading it all: schema and count come from its footer."""
    parquet = pq.ParquetFile(path)
    if preview is None:
        preview = next(parquet.iter_batches(batch_size=5), pa.RecordBatch.from_pylist([], parquet.schema_arrow)).to_pandas()
    return {
        "path": dg.MetadataValue.path(str(path)),
        "dagster/row_count": dg.MetadataValue.int(parquet.metadata.num_rows),
        "dagster/column_schema": _schema(parquet.schema_arrow),
        "preview": markdown_table(preview),
        **extra,
    }
