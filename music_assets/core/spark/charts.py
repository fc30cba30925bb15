"""Chart ingestion on Spark: read chart files (CSV plain or gzip, Parquet, a folder of them) or a
driver-side source, validate every row with the rules of `core.charts.validate_chart_batch`, and
aggregate unique tracks with the SQL of `core.charts.UNIQUE_TRACKS_SQL`.

The rules are the same checks in the same order (the first failing one names the row's reason),
written as Spark SQL expressions over Java regexes. Known differences from the local engine:
- A rank or streams value with surrounding spaces (" 12") passes both engines' regexes; Spark's
  cast trims it and keeps the row, where pyarrow's cast fails the whole load.
- A line with the wrong number of fields is reported as "a line has N fields, expected M":
  Spark's CSV reader does not say which line it was (pyarrow sometimes does: "line 17 has ...").
  N counts commas outside double quotes.
- Java's `\\s` also matches a vertical tab (RE2's does not); the blank tests use Unicode
  whitespace like pyarrow's utf8_trim_whitespace.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from music_assets.core import storage
from music_assets.core.charts import CHART_ROW_SCHEMA, REJECTED_ROW_SCHEMA, ChartLoadReport
from music_assets.core.schema import CHART_COLUMNS, CHART_KINDS
from music_assets.core.sources.chart_inputs import PARQUET_SUFFIXES, is_chart_file
from music_assets.core.sources.files_charts import (
    CHART_LAYOUTS, TRACK_URL_PREFIX, ChartFileConfig, ChartFileError, detect_layout, is_gzip, read_header,
    resolve_layout,
)
from music_assets.core.spark.parquet_out import BATCH_ROWS, part_files, staging_dir, write_single_parquet

CORRUPT = "_corrupt_record"  # Spark's column for a CSV line it could not split into the header's fields
EXPECTED = "_expected_fields"
REASON = "reason"

# Java regexes for the rules of core.charts (RE2 there). \z: Java's $ also matches before a
# final line terminator, RE2's only at the very end.
BLANK_RE = r"(?U)^\s*\z"
RANK_RE = r"^\s*[1-9]\d{0,5}(\.0+)?\s*\z"
DATE_RE = r"^\d{4}-\d{2}-\d{2}\z"
STREAMS_RE = r"^\s*\d+(\.\d*)?\s*\z"
TRIM_RE = r"(?U)^\s+|\s+\z"
URL_RE = (r"^\s*(?:https?://open\.spotify\.com/(?:intl-[a-z]{2}/)?track/|spotify:track:)"
          r"([0-9A-Za-z]{22})(?:[?#].*)?\s*\z")
QUOTED_RE = r'"([^"]|"")*"'

UNIQUE_TRACKS_SCHEMA = pa.schema([
    ("track_id", pa.string()), ("title", pa.string()), ("artist", pa.string()),
    ("first_date", pa.date32()), ("last_date", pa.date32()), ("chart_appearances", pa.int64()),
    ("n_regions", pa.int32()), ("best_rank", pa.int32()), ("total_streams", pa.float64()),
])
# min_by over (date, region, chart, rank) is DuckDB's first(... ORDER BY date, region, chart, rank).
UNIQUE_TRACKS_SQL = """
SELECT
    track_id,
    min_by(title, struct(date, region, chart, rank)) AS title,
    min_by(artist, struct(date, region, chart, rank)) AS artist,
    min(date) AS first_date,
    max(date) AS last_date,
    CAST(count(*) AS BIGINT) AS chart_appearances,
    CAST(count(DISTINCT region) AS INT) AS n_regions,
    CAST(min(rank) AS INT) AS best_rank,
    CAST(coalesce(sum(streams), 0) AS DOUBLE) AS total_streams
FROM {table}
GROUP BY track_id
ORDER BY track_id
"""


# ---------------------------------------------------------------------------------------------
# Reading: every input becomes raw chart-layout strings ("" for empty, as pyarrow reads them),
# plus the corrupt-line text and the header's field count for lines that did not parse.
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CsvGroup:
    """CSV files sharing one header (so one Spark read) and so one layout."""

    names: tuple[str, ...]
    layout: str
    mapping: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]


def _chart_files(config: ChartFileConfig) -> list[Path]:
    path = Path(config.path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and is_chart_file(p))
        if not files:
            raise ChartFileError(f"chart folder {path} holds no chart file (.csv, .csv.gz, .parquet)")
        return files
    if not path.exists():
        raise ChartFileError(f"chart file {path} does not exist")
    return [path]


def _spark_readable(path: Path, links: Path, index: int) -> str:
    """A path whose suffix tells Spark the compression the content really has.

    The local engine detects gzip from the first bytes; Hadoop picks the codec from the name. A
    gzip file without `.gz` (or a plain one with it) is read through a symlink named to match.
    """
    gz = is_gzip(path)
    if gz == path.name.lower().endswith(".gz"):
        return str(path)
    links.mkdir(parents=True, exist_ok=True)
    link = links / f"{index:06d}-{path.name.removesuffix('.gz')}{'.gz' if gz else ''}"
    os.symlink(path.resolve(), link)
    return str(link)


def _layout_columns(cols: dict[str, Column], layout: str, config: ChartFileConfig) -> list[Column]:
    """The chart columns from a file's columns (chart column -> file column), as in files_charts."""
    out = []
    for col in CHART_COLUMNS:
        if col in cols:
            value = cols[col]
            if col == "url" and layout == "daily":
                value = F.concat(F.lit(TRACK_URL_PREFIX), value)
        else:
            value = F.lit({"region": config.region, "chart": config.chart}.get(col, ""))
        out.append(value.alias(col))
    return out


def _read_csv_group(spark: SparkSession, group: _CsvGroup, config: ChartFileConfig) -> DataFrame:
    # The header's own names (so Spark's header check agrees), quoted where they are used.
    schema = T.StructType([T.StructField(name, T.StringType()) for name in group.names]
                          + [T.StructField(CORRUPT, T.StringType())])
    df = spark.read.csv(
        list(group.paths), schema=schema, header=True, enforceSchema=True, mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT, escape='"', encoding="UTF-8", multiLine=False,
    )
    cols = {chart: F.coalesce(_quoted(src), F.lit("")) for chart, src in group.mapping}
    return df.select(*_layout_columns(cols, group.layout, config), F.col(CORRUPT),
                     F.lit(len(group.names)).alias(EXPECTED))


def _quoted(name: str) -> Column:
    """A column by its exact name, even with dots or spaces in it."""
    return F.col("`" + name.replace("`", "``") + "`")


def _plain_string(field: T.StructField) -> Column:
    """A typed Parquet column as the text a CSV would hold (chart_inputs.as_plain_strings)."""
    col = _quoted(field.name)
    if isinstance(field.dataType, (T.TimestampType, T.TimestampNTZType)):
        col = F.to_date(col)
    return F.coalesce(col.cast("string"), F.lit(""))


def _read_parquet_file(spark: SparkSession, path: Path, config: ChartFileConfig) -> DataFrame:
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise ChartFileError(f"chart file {path} is not a readable Parquet file ({exc}): half-written or corrupt?") from exc
    layout, mapping = resolve_layout(names, config.layout, CHART_LAYOUTS, detect_layout, f"chart file {path}", "chart")
    df = spark.read.parquet(str(path))
    fields = {f.name: f for f in df.schema.fields}
    cols = {chart: _plain_string(fields[src]) for chart, src in mapping.items()}
    return df.select(*_layout_columns(cols, layout, config), F.lit(None).cast("string").alias(CORRUPT),
                     F.lit(None).cast("int").alias(EXPECTED))


def read_chart_files(spark: SparkSession, config: ChartFileConfig, staging: Path) -> DataFrame:
    """Raw chart rows from `config.path` (a file or a folder; CSV, gzip CSV or Parquet).

    Headers are read and layouts resolved on the driver with the local engine's own functions,
    so a missing column fails the same way, naming the file and the layout.
    """
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    mappings: dict[tuple[tuple[str, ...], str], dict[str, str]] = {}
    frames: list[DataFrame] = []
    for index, path in enumerate(_chart_files(config)):
        if path.name.lower().endswith(PARQUET_SUFFIXES):
            frames.append(_read_parquet_file(spark, path, config))
            continue
        names = read_header(path)
        layout, mapping = resolve_layout(names, config.layout, CHART_LAYOUTS, detect_layout, f"chart file {path}", "chart")
        key = (tuple(names), layout)
        groups.setdefault(key, []).append(_spark_readable(path, staging / "links", index))
        mappings[key] = mapping
    for (names, layout), paths in groups.items():
        group = _CsvGroup(names, layout, tuple(sorted(mappings[(names, layout)].items())), tuple(paths))
        frames.append(_read_csv_group(spark, group, config))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def stage_batches(spark: SparkSession, batches: Iterable[pa.Table], staging: Path) -> DataFrame:
    """Raw chart rows from a driver-side source (the demo catalog, a test's fixture): its batches
    are written to a staging Parquet file that Spark then reads like any chart file."""
    path = staging / "source.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in CHART_COLUMNS])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_table(pa.table({c: pc.fill_null(pc.cast(batch[c], pa.string()), "") for c in CHART_COLUMNS},
                                        schema=schema))
    df = spark.read.parquet(str(path))
    return df.select(*[F.coalesce(F.col(c), F.lit("")).alias(c) for c in CHART_COLUMNS],
                     F.lit(None).cast("string").alias(CORRUPT), F.lit(None).cast("int").alias(EXPECTED))


# ---------------------------------------------------------------------------------------------
# Validation: core.charts.validate_chart_batch as Spark SQL.
# ---------------------------------------------------------------------------------------------

def _blank(col: str) -> Column:
    return F.coalesce(F.col(col).rlike(BLANK_RE), F.lit(True))


def _matches(col: str, pattern: str) -> Column:
    return F.coalesce(F.col(col).rlike(pattern), F.lit(False))


def _field_count(line: Column) -> Column:
    """Fields on a CSV line: commas outside double-quoted sections, plus one."""
    return F.size(F.split(F.regexp_replace(line, QUOTED_RE, ""), ",", -1))


def validate(raw: DataFrame) -> DataFrame:
    """`reason` (null for a good row), the typed columns of CHART_ROW_SCHEMA prefixed `t_` (null
    for a rejected row) and the raw columns (null for a good row: only rejects need the text)."""
    date = F.when(F.col("date").rlike(DATE_RE), F.try_to_date(F.col("date"), "yyyy-MM-dd"))
    date = F.when(F.year(date) >= 1, date)  # Python's date (the local rule) has no year 0
    track_id = F.nullif(F.regexp_extract(F.col("url"), URL_RE, 1), F.lit(""))
    checks = [
        ("empty title", ~_blank("title")),
        ("empty artist", ~_blank("artist")),
        ("rank is not a positive integer", _matches("rank", RANK_RE)),
        ("date is not a real YYYY-MM-DD date", date.isNotNull()),
        ("url has no Spotify track id", track_id.isNotNull()),
        ("empty region", ~_blank("region")),
        ("chart is not top200/viral50", F.coalesce(F.col("chart").isin(*sorted(CHART_KINDS)), F.lit(False))),
        ("streams is not a number", _blank("streams") | _matches("streams", STREAMS_RE)),
    ]
    wrong_fields = F.concat(F.lit("a line has "), _field_count(F.col(CORRUPT)).cast("string"),
                            F.lit(" fields, expected "), F.col(EXPECTED).cast("string"))
    reason = F.when(F.col(CORRUPT).isNotNull(), wrong_fields)
    for message, ok in checks:  # the first failing check wins
        reason = reason.when(~ok, F.lit(message))
    good = reason.isNull()
    typed = {
        "title": F.regexp_replace(F.col("title"), TRIM_RE, ""),
        "rank": F.col("rank").try_cast("double").cast("int"),
        "date": date,
        "artist": F.regexp_replace(F.col("artist"), TRIM_RE, ""),
        "url": F.col("url"), "region": F.col("region"), "chart": F.col("chart"), "trend": F.col("trend"),
        "streams": F.when(~_blank("streams"), F.col("streams").try_cast("double")),
        "track_id": track_id,
    }
    return raw.select(
        *[F.when(~good, F.col(c)).alias(c) for c in (*CHART_COLUMNS, CORRUPT)], reason.alias(REASON),
        *[F.when(good, value).alias(f"t_{name}") for name, value in typed.items()],
    )


def _rejected_rows(table: pa.Table) -> pa.Table:
    """Rejected rows in the rejected-row schema; a line that did not parse shows its fields by
    position, as the local engine's ParseRejects does."""
    rows = table.select([*CHART_COLUMNS, CORRUPT, REASON]).to_pylist()
    for row in rows:
        line = row.pop(CORRUPT)
        if line is not None:
            fields = next(csv.reader([line]), [])
            row.update({c: (fields[i] if i < len(fields) else "") for i, c in enumerate(CHART_COLUMNS)})
    return pa.Table.from_pylist(rows, schema=REJECTED_ROW_SCHEMA)


@dataclass
class SparkChartLoad:
    report: ChartLoadReport
    rejected: pa.Table  # the first `keep` rejected rows


def split_validated(parts: list[Path], path: Path, keep_rejected: int) -> SparkChartLoad:
    """Stream Spark's validated part files into the chart_rows file (good rows, CHART_ROW_SCHEMA),
    counting every reject by reason and keeping the first `keep_rejected` of them."""
    report, kept_rejects = ChartLoadReport(), []
    typed = [f"t_{name}" for name in CHART_ROW_SCHEMA.names]
    with storage.parquet_writer(path, CHART_ROW_SCHEMA) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS):
                table = pa.Table.from_batches([batch])
                good_mask = pc.is_null(table[REASON])
                good = table.filter(good_mask).select(typed).rename_columns(CHART_ROW_SCHEMA.names).cast(CHART_ROW_SCHEMA)
                writer.write_table(good)
                bad = table.filter(pc.invert(good_mask))
                report.rows_read += table.num_rows
                report.rows_kept += good.num_rows
                report.rows_rejected += bad.num_rows
                for row in (pc.value_counts(bad[REASON]).to_pylist() if bad.num_rows else []):
                    report.reasons[row["values"]] = report.reasons.get(row["values"], 0) + row["counts"]
                room = keep_rejected - sum(t.num_rows for t in kept_rejects)
                if bad.num_rows and room > 0:
                    kept_rejects.append(_rejected_rows(bad.slice(0, room)))
    report.reasons = dict(sorted(report.reasons.items(), key=lambda kv: -kv[1]))
    rejected = pa.concat_tables(kept_rejects) if kept_rejects else REJECTED_ROW_SCHEMA.empty_table()
    return SparkChartLoad(report=report, rejected=rejected)


def load_chart_rows(raw: DataFrame, path: Path, keep_rejected: int, describe: str) -> SparkChartLoad:
    """Validate `raw`, write the good rows to `path` (CHART_ROW_SCHEMA) and count every reason.

    One Spark pass parses and validates every row and writes it to a staging folder (typed values
    of a good row, the raw text of a rejected one); the driver's pass that makes the single file
    also counts the reasons and keeps the rejected sample. Persisting the validated rows for three
    Spark actions instead was 3x slower here (the driver's 1-2 GB heap spilled them to disk).
    """
    staging = staging_dir(path)
    try:
        try:
            validate(raw).write.mode("overwrite").parquet(str(staging))
        except Exception as exc:  # noqa: BLE001 - a Java exception from the reader, e.g. a truncated gzip
            raise ChartFileError(f"{describe} cannot be read to the end ({_first_line(exc)}): "
                                 "it looks half-written or truncated") from exc
        return split_validated(part_files(staging), path, keep_rejected)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    for line in text:
        if "Exception" in line or "Error" in line:
            return line.strip()[:300]
    return (text[0] if text else type(exc).__name__)[:300]


def unique_tracks(spark: SparkSession, chart_rows_path: Path, path: Path) -> int:
    """One row per track id with its chart history (the local engine's SQL, in Spark SQL)."""
    spark.read.parquet(str(chart_rows_path)).createOrReplaceTempView("chart_rows")
    return write_single_parquet(spark.sql(UNIQUE_TRACKS_SQL.format(table="chart_rows")), path, UNIQUE_TRACKS_SCHEMA)
