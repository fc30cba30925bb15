"""Metadata every asset records, so the Dagster UI reads the same everywhere: path, row count, the
column schema with a description per column, a preview, numbers rounded for people."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from music_assets import storage
from music_assets.schema import FEATURE_RANGES
from music_assets.training.plots import markdown_image

# Who to ask about an asset, shown in the UI's asset pages.
OWNERS = ["team:music-adviser"]

# Every asset writes the shared data folder, so every asset is in this pool. dagster.yaml sets
# pools to run granularity with a limit of 1: a run (scheduled, sensed, or an ad hoc selection
# from the UI) waits in the queue while another run that writes the folder is in progress.
DATA_FOLDER_POOL = "data_folder"


def tags(stage: str) -> dict[str, str]:
    """Tags for the UI's filters: which part of the pipeline an asset belongs to."""
    return {"pipeline_stage": stage}


# Shown beside each column in the UI's schema tab; one place, because the same column names run
# through every stage (a chart row's `track_id` is the bundle's `track_id`).
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "track_id": "Spotify track id (22 base62 characters)",
    "title": "song title as the source spells it",
    "artist": "artist name(s) as the source spells them",
    "rank": "chart position (1 = top)",
    "date": "chart date",
    "url": "Spotify track URL the id was parsed from",
    "region": "chart region (country or Global)",
    "chart": "chart name: top200 or viral50",
    "trend": "movement since the previous chart",
    "streams": "streams that day (empty on viral charts)",
    "reason": "why the row was rejected",
    "raw": "the rejected row as read",
    "first_date": "first chart date of the track",
    "last_date": "last chart date of the track",
    "chart_appearances": "chart rows the track appears in",
    "regions": "regions the track charted in",
    "best_rank": "best chart position reached",
    "total_streams": "streams summed over its chart rows",
    "genres": "genres of the track's artists",
    "preview_url": "30 s preview URL (https), a synthesized demo preview, or empty",
    "cover_url": "album cover image URL",
    "found": "the source knew the id",
    "source": "source that answered for the id",
    "fetched_at": "when the source was asked",
    "alias_ids": "other ids merged into this track (re-releases)",
    "n_missing": "audio feature values the track lacks (never imputed)",
    "in_model": "the model was built on the track (every feature used present); only these are recommended",
    "column": "the feature column of a rejected value",
    "value": "the rejected value as read",
    "row": "1-based data row in the source file (-1: unknown)",
    "has_preview": "the track has a playable preview",
    "cluster": "KMeans cluster, numbered by size (0 = largest)",
    "k": "number of clusters tried",
    "inertia": "KMeans within-cluster sum of squares",
    "chosen": "the k the elbow rule chose",
    **{f: f"Spotify audio feature, documented range {lo:g}..{hi:g}" for f, (lo, hi) in FEATURE_RANGES.items()},
}


def describe_column(name: str) -> str:
    if name.startswith("pc_"):
        return f"PCA coordinate {name[3:]} (standardized features)"
    return COLUMN_DESCRIPTIONS.get(name, "")


def rounded(value: float, digits: int = 4) -> dg.MetadataValue:
    """A float for people: metadata shows every digit it is given."""
    return dg.MetadataValue.float(round(float(value), digits))


def markdown_table(df: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    shown = df.head(rows).copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = shown[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
        elif pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].round(4)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type), description=describe_column(f.name) or None)
                                   for f in schema])


def parquet_metadata(path: storage.Location, preview: pd.DataFrame | None = None, **extra: Any) -> dict[str, Any]:
    """Describe a written Parquet file without loading it all: schema and count come from its footer."""
    with storage.open_parquet(path) as parquet:
        if preview is None:
            preview = next(parquet.iter_batches(batch_size=5), pa.RecordBatch.from_pylist([], parquet.schema_arrow)).to_pandas()
        num_rows, schema = parquet.metadata.num_rows, parquet.schema_arrow
    return {
        "path": dg.MetadataValue.path(str(path)),
        "dagster/row_count": dg.MetadataValue.int(num_rows),
        "dagster/column_schema": column_schema(schema),
        "preview": markdown_table(preview),
        **{k: rounded(v) if isinstance(v, float) else v for k, v in extra.items()},
    }


def pictures_metadata(paths: dict[str, storage.StorePath]) -> dict[str, dg.MetadataValue]:
    """Each picture inline in the UI (a markdown image) and its path."""
    meta: dict[str, dg.MetadataValue] = {}
    for name, path in paths.items():
        meta[name] = dg.MetadataValue.md(markdown_image(path, name))
        meta[f"{name}_path"] = dg.MetadataValue.path(str(path))
    return meta
