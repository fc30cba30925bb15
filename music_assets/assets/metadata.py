"""Metadata every asset records: path, row count, column schema, a preview."""

from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from music_assets.core import storage


def markdown_table(df: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    shown = df.head(rows).copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = shown[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def _schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in schema])


def parquet_metadata(path: storage.Location, preview: pd.DataFrame | None = None, **extra: Any) -> dict[str, Any]:
    """Describe a written Parquet file without loading it all: schema and count come from its footer."""
    with storage.open_parquet(path) as parquet:
        if preview is None:
            preview = next(parquet.iter_batches(batch_size=5), pa.RecordBatch.from_pylist([], parquet.schema_arrow)).to_pandas()
        num_rows, schema = parquet.metadata.num_rows, parquet.schema_arrow
    return {
        "path": dg.MetadataValue.path(str(path)),
        "dagster/row_count": dg.MetadataValue.int(num_rows),
        "dagster/column_schema": _schema(schema),
        "preview": markdown_table(preview),
        **extra,
    }
