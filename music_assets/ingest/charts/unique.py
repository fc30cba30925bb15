"""Unique tracks: chart rows collapsed to one row per track id with its chart history.

One SQL text for both engines: DuckDB runs it locally (`unique_tracks_from_parquet`), Spark SQL on
the Spark engine (engines/spark/charts.unique_tracks). It keeps to what both dialects read alike:
`min_by` with a row constructor `(a, b, ...)` as the ordering (a struct in both, compared field by
field), `CAST(... AS INT|BIGINT|DOUBLE)`, `count(DISTINCT ...)`, `array_sort(array_agg(DISTINCT ...))`
(region is never null in chart rows: the rules reject a blank one, so neither engine's null
handling of array_agg matters). tests/test_engine_parity.py runs
it on both engines against a plain-Python aggregation of the same rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from music_assets import storage

UNIQUE_TRACKS_SCHEMA = pa.schema([
    ("track_id", pa.string()), ("title", pa.string()), ("artist", pa.string()),
    ("first_date", pa.date32()), ("last_date", pa.date32()), ("chart_appearances", pa.int64()),
    ("n_regions", pa.int32()), ("best_rank", pa.int32()), ("total_streams", pa.float64()),
    ("regions", pa.list_(pa.string())),
])
# Title and artist come from a track's first chart row: earliest date, then region, chart and
# rank; title and artist last, so that two rows tied on all four give the same answer on every
# engine and every run (the smallest title, then artist), not whichever row a thread saw first.
UNIQUE_TRACKS_SQL = """
SELECT
    track_id,
    min_by(title, (date, region, chart, rank, title, artist)) AS title,
    min_by(artist, (date, region, chart, rank, title, artist)) AS artist,
    min(date) AS first_date,
    max(date) AS last_date,
    CAST(count(*) AS BIGINT) AS chart_appearances,
    CAST(count(DISTINCT region) AS INT) AS n_regions,
    CAST(min(rank) AS INT) AS best_rank,
    CAST(coalesce(sum(streams), 0) AS DOUBLE) AS total_streams,
    array_sort(array_agg(DISTINCT region)) AS regions
FROM {chart_rows}
GROUP BY track_id
ORDER BY track_id
"""


def unique_tracks_sql(chart_rows: str) -> str:
    """The query over `chart_rows`: a table or view name, or a table function such as read_parquet(?)."""
    return UNIQUE_TRACKS_SQL.format(chart_rows=chart_rows)


def unique_tracks_from_parquet(chart_rows_path: str | Path, memory_limit: str = "2GB") -> pa.Table:
    """One row per track id with its chart history, aggregated out of core by DuckDB.

    DuckDB streams the Parquet file and spills past `memory_limit`, so the full 26M-row Kaggle
    file fits in a few GB, which pandas' groupby would not (benchmarks/ingest_charts.py times it). It spills to a temporary folder of its own: its default, `.tmp` in the
    working directory, would put spill files wherever Dagster happens to run.
    """
    with tempfile.TemporaryDirectory(prefix="unique-tracks-spill-") as spill:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit='{memory_limit}'")
            con.execute("SET temp_directory='" + spill.replace("'", "''") + "'")
            query = unique_tracks_sql("read_parquet(?)")
            table = con.sql(query, params=[storage.duckdb_path(con, chart_rows_path)]).to_arrow_table()
            return table.cast(UNIQUE_TRACKS_SCHEMA)
        finally:
            con.close()


def catalog_unique_tracks(catalog: pd.DataFrame) -> tuple[pa.Table, str]:
    """Without charts, one row per catalog track in UNIQUE_TRACKS_SCHEMA: no chart history, and
    the catalog's popularity (0-100, where the file has one; else 0) as `chart_appearances`, the
    column search and recommendation fallbacks order by; no chart regions (empty lists). Returns the table and where popularity came from."""

    frame = catalog.drop_duplicates("track_id").sort_values("track_id", kind="stable")
    popularity = pd.to_numeric(frame["popularity"], errors="coerce")
    said = "the catalog's popularity column" if popularity.notna().any() else "none (the catalog has no popularity: 0)"
    n = len(frame)
    table = pa.table({
        "track_id": pa.array(frame["track_id"].astype(str).tolist(), pa.string()),
        "title": pa.array(frame["title"].fillna("").astype(str).tolist(), pa.string()),
        "artist": pa.array(frame["artist"].fillna("").astype(str).tolist(), pa.string()),
        "first_date": pa.nulls(n, pa.date32()), "last_date": pa.nulls(n, pa.date32()),
        "chart_appearances": pa.array(popularity.fillna(0).round().astype("int64").tolist(), pa.int64()),
        "n_regions": pa.array([0] * n, pa.int32()), "best_rank": pa.nulls(n, pa.int32()),
        "total_streams": pa.array([0.0] * n, pa.float64()),
        "regions": pa.array([[] for _ in range(n)], pa.list_(pa.string())),
    }, schema=UNIQUE_TRACKS_SCHEMA)
    return table, said
