"""`tracks` on Spark: `core.cleaning.clean_tracks` row for row and value for value.

The same steps as the local engine, each stated as what pandas does:
- join: unique tracks left-joined with features; the "first" row per id is the first in pandas'
  merge order (unique file order, then features file order), taken from Parquet row positions;
- songs: `dedup_key` is the local `dedup_key` itself, run in Python through an Arrow-backed
  pandas UDF. Not Spark SQL: NFKD, `unicodedata.combining` and Python's Unicode `\\w` and
  casefold have no exact Spark SQL equivalent (Java's normalizer and regex classes follow other
  Unicode versions and rules), and a key that differs on one character merges different songs.
- survivor: a window per key ordered as the local sort (has features, most charted, smallest id);
  the others' ids, sorted (UTF-8 byte order is code point order, as Python sorts), become alias_ids;
- means: over the surviving rows in track_id order, summed by numpy's own pairwise tree
  (engines/spark/pairwise.py), so each mean is the very float `Series.mean()` gives, not Spark's
  `avg` (whose last bits depend on partition order);
- output: Spark writes the rows, in track_id order, to part files with everything but the means
  filled in; the driver's pass that stitches them into the one Parquet file (parquet_out) fills
  missing features with the means and casts to the local file's schema (tracks_arrow). Filling
  there rather than in a third Spark job saves a re-sort: Spark's file scan does not keep the
  part files' order.
The CleaningReport's figures come from Spark observations of the same query (no extra pass).

Limits, all outside what the pipeline produces: each input is one Parquet file; track_id is never
null (unique_tracks' key); features hold only TRACK_FEATURE_COLUMNS (pandas would suffix a column
both inputs had; here that is an error); text columns are text or all-null.
"""

from __future__ import annotations

import shutil
import warnings
from functools import reduce
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from music_assets.ingest.cleaning import CleaningReport, dedup_key
from music_assets.schema import FEATURE_COLUMNS, TRACK_FEATURE_COLUMNS
from music_assets.engines.spark import pairwise
from music_assets.engines.spark.parquet_out import part_files, staging_dir, stitch
from music_assets.engines.spark.tracks_arrow import TEXT_COLUMNS, fill_and_cast, tracks_schema

LPOS, RPOS, POS, BLOCK, ROWS = "_lpos", "_rpos", "_pos", "_block", "_rows"
_NUMBER = (T.NumericType, T.BooleanType, T.NullType)

with warnings.catch_warnings():
    # pyspark 4.3 warns that it "does not yet fully support pandas >= 3" whenever a UDF is made;
    # these UDFs take and return plain Series of strings, numbers and floats, which it converts fine.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

    @F.pandas_udf(T.StringType())
    def dedup_keys(titles: pd.Series, artists: pd.Series) -> pd.Series:
        """core.cleaning.dedup_key, a batch of rows at a time."""
        return pd.Series([dedup_key(t, a) for t, a in zip(titles, artists)], dtype=object)

    @F.pandas_udf(T.DoubleType())
    def to_numeric(values: pd.Series) -> pd.Series:
        """pandas' own parse of a text feature column, as the local impute coerces it."""
        return pd.to_numeric(values, errors="coerce").astype("float64")


def _read(spark: SparkSession, path: Path, position: str) -> DataFrame:
    """A Parquet file with each row's position in it (pandas' row order)."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: the Spark tracks stage reads one Parquet file per input")
    return spark.read.parquet(str(path)).select("*", F.col("_metadata.row_index").alias(position))


def _raw_missing(df: DataFrame, name: str) -> Column:
    """pandas' isna on the column as read: null, or NaN in a float column."""
    col = F.col(name)
    if isinstance(df.schema[name].dataType, (T.FloatType, T.DoubleType)):
        return col.isNull() | F.isnan(col)
    return col.isNull()


def _as_double(df: DataFrame, name: str) -> Column:
    """`pd.to_numeric(errors="coerce").astype("float64")` with NaN as null (missing)."""
    if name not in df.columns:
        return F.lit(None).cast(T.DoubleType())
    dtype = df.schema[name].dataType
    if isinstance(dtype, T.StringType):
        value = to_numeric(F.col(name))
    elif isinstance(dtype, _NUMBER):
        value = F.col(name).cast(T.DoubleType())
    else:
        raise ValueError(f"feature {name!r} is {dtype.simpleString()}: neither a number nor text")
    return F.nanvl(value, F.lit(None).cast(T.DoubleType()))


def _text(df: DataFrame, name: str) -> Column:
    if name not in df.columns:
        return F.lit("")
    return F.coalesce(F.col(name).cast(T.StringType()), F.lit(""))


def _genres(df: DataFrame) -> Column:
    """A list stays a list, anything else (null, or not a list column at all) becomes []."""
    dtype = df.schema["genres"].dataType if "genres" in df.columns else None
    if isinstance(dtype, T.ArrayType):
        return F.coalesce(F.col("genres"), F.array().cast(dtype))
    return F.array().cast(T.ArrayType(T.StringType()))


def _joined(unique: DataFrame, features: DataFrame) -> tuple[DataFrame, list[str]]:
    """join_tracks: every unique track with its features, in pandas merge's column order."""
    left = [c for c in unique.columns if c != LPOS]
    right = [c for c in features.columns if c not in ("track_id", "title", "artist", RPOS)]
    both = sorted(set(left) & set(right))
    if both:
        raise ValueError(f"unique tracks and features both have {both}: pandas would suffix them, "
                         "the Spark tracks stage does not")
    joined = unique.join(features.select("track_id", *right, RPOS), on="track_id", how="left")
    return joined.select(*left, *right, LPOS, RPOS), left + right


def _output_columns(df: DataFrame, columns: list[str]) -> list[tuple[str, Column]]:
    """impute's columns, in its order: the joined ones (features as float64, text filled), the
    dedup key and aliases, then whatever it adds (absent features, n_imputed, text, genres)."""
    out: list[tuple[str, Column]] = []
    for name in columns:
        if name in FEATURE_COLUMNS:
            out.append((name, _as_double(df, name)))
        elif name in TEXT_COLUMNS:
            out.append((name, _text(df, name)))
        elif name == "genres":
            out.append((name, _genres(df)))
        else:
            out.append((name, F.col(name)))
    out += [("dedup_key", F.col("dedup_key")), ("alias_ids", F.col("alias_ids"))]
    out += [(name, _as_double(df, name)) for name in FEATURE_COLUMNS if name not in columns]
    n_imputed = reduce(lambda a, b: a + b, [_as_double(df, c).isNull().cast("int") for c in FEATURE_COLUMNS])
    out.append(("n_imputed", n_imputed.cast(T.ShortType())))
    out += [(name, F.lit("")) for name in TEXT_COLUMNS if name not in columns]
    if "genres" not in columns:
        out.append(("genres", _genres(df)))
    out.append(("has_preview", F.length(_text(df, "preview_url")) > 0))
    return out


def _count_if(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0))


def _survivors(joined: DataFrame, columns: list[str], observed: dict[str, Observation]) -> DataFrame:
    """deduplicate + the row-wise part of impute, observed for the report."""
    present = [c for c in FEATURE_COLUMNS if c in columns]
    no_features = reduce(lambda a, b: a & b, [_raw_missing(joined, c) for c in present]) if present else F.lit(True)
    ints = [c for c in columns if isinstance(joined.schema[c].dataType, T.IntegralType)]
    joined = joined.observe(observed["joined"], F.count(F.lit(1)).alias("rows"),
                            _count_if(no_features).alias("no_features"),
                            *[_count_if(F.col(c).isNull()).alias(f"null:{c}") for c in ints])
    first = Window.partitionBy("track_id").orderBy(F.col(LPOS).asc(), F.col(RPOS).asc_nulls_last())
    by_id = joined.withColumn("_rn", F.row_number().over(first)).filter(F.col("_rn") == 1)
    by_id = by_id.observe(observed["by_id"], F.count(F.lit(1)).alias("rows"))
    has = (~_raw_missing(by_id, "danceability")).cast("int") if "danceability" in columns else F.lit(1)
    pop = F.col("chart_appearances") if "chart_appearances" in columns else F.lit(0)
    keyed = by_id.withColumn("dedup_key", dedup_keys(F.col("title"), F.col("artist"))).withColumn("_has", has).withColumn("_pop", pop)
    song = Window.partitionBy("dedup_key")
    best = song.orderBy(F.col("_has").desc(), F.col("_pop").desc_nulls_last(), F.col("track_id").asc_nulls_last())
    survivors = (keyed.withColumn("_rn", F.row_number().over(best)).withColumn("_ids", F.collect_list("track_id").over(song))
                 .filter(F.col("_rn") == 1)
                 .withColumn("alias_ids", F.array_sort(F.array_remove(F.col("_ids"), F.col("track_id")))))
    out = survivors.select(*[value.alias(name) for name, value in _output_columns(survivors, columns)])
    return out.observe(
        observed["survivors"], F.count(F.lit(1)).alias("rows"),
        *[_count_if(F.col(c).isNull()).alias(f"missing:{c}") for c in FEATURE_COLUMNS],
        *[F.coalesce(F.max(F.size(F.filter(c, lambda x: x.isNotNull()))), F.lit(0)).alias(f"items:{c}")
          for c in ("genres", "alias_ids")],
    )


def _block_sums(spark: SparkSession, parts: list[Path], columns: list[str], n: int, max_block: int) -> dict[str, float]:
    """np.sum of each column over the written rows (track_id order), by pairwise blocks."""
    counts = [pq.ParquetFile(p).metadata.num_rows for p in parts]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    spans = pairwise.blocks(n, max_block)
    starts = np.array([s for s, _ in spans], dtype=np.int64)

    @F.pandas_udf(T.LongType())
    def block_of(positions: pd.Series) -> pd.Series:
        return pd.Series(np.searchsorted(starts, positions.to_numpy(), side="right") - 1)

    def sums(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.sort_values(POS)
        out = {BLOCK: [int(rows[BLOCK].iloc[0])], ROWS: [len(rows)]}
        out.update({c: [pairwise.block_sum(rows[c].to_numpy(dtype=np.float64, na_value=np.nan))] for c in columns})
        return pd.DataFrame(out)

    offset = F.create_map(*[x for p, o in zip(parts, offsets) for x in (F.lit(p.name), F.lit(int(o)))])
    df = spark.read.parquet(*[str(p) for p in parts])
    df = df.select(*columns, (offset[F.col("_metadata.file_name")] + F.col("_metadata.row_index")).alias(POS))
    schema = T.StructType([T.StructField(BLOCK, T.LongType()), T.StructField(ROWS, T.LongType())]
                          + [T.StructField(c, T.DoubleType()) for c in columns])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        rows = df.withColumn(BLOCK, block_of(F.col(POS))).groupBy(BLOCK).applyInPandas(sums, schema).toPandas()
    rows = rows.sort_values(BLOCK)
    if rows[ROWS].tolist() != [stop - start for start, stop in spans]:
        raise RuntimeError("the written rows do not cover the pairwise blocks: part files changed under Spark?")
    return {c: pairwise.combine(n, rows[c].tolist(), max_block) for c in columns}


def clean_tracks(spark: SparkSession, unique_path: Path, features_path: Path, path: Path,
                 feature_columns: Sequence[str] | None = TRACK_FEATURE_COLUMNS,
                 max_block: int = pairwise.DEFAULT_MAX_BLOCK) -> CleaningReport:
    """unique tracks + features files -> the `tracks` file at `path` and its CleaningReport, as
    `core.cleaning.clean_tracks` on the same files (read with `feature_columns`, None for all)."""
    unique = _read(spark, unique_path, LPOS)
    features = _read(spark, features_path, RPOS)
    if feature_columns is not None:
        features = features.select(*feature_columns, RPOS)
    joined, columns = _joined(unique, features)
    observed = {name: Observation(name) for name in ("joined", "by_id", "survivors")}
    out = _survivors(joined, columns, observed)
    staging = staging_dir(Path(path))
    try:
        out.orderBy(F.col("track_id").asc_nulls_last()).write.mode("overwrite").parquet(str(staging))
        seen = {name: obs.get for name, obs in observed.items()}
        n = int(seen["survivors"]["rows"])
        missing = {c: int(seen["survivors"][f"missing:{c}"]) for c in FEATURE_COLUMNS}
        for c in FEATURE_COLUMNS:  # impute's check, in its order and words
            if n and missing[c] == n:
                raise ValueError(f"feature {c!r} has no value for any track: cannot impute a mean")
        parts = part_files(staging)
        gaps = [c for c in FEATURE_COLUMNS if missing[c]]
        means = {c: pairwise.mean(total, n - missing[c])
                 for c, total in _block_sums(spark, parts, gaps, n, max_block).items()} if gaps else {}
        schema = tracks_schema(
            pq.read_schema(unique_path), {c[5:]: v > 0 for c, v in seen["joined"].items() if c.startswith("null:")},
            out.columns, {c: seen["survivors"][f"items:{c}"] > 0 for c in ("genres", "alias_ids")})
        stitch(parts, Path(path), schema, lambda table: fill_and_cast(table, means, schema))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rows = int(seen["joined"]["rows"])
    return CleaningReport(
        input_rows=rows, duplicate_ids=rows - int(seen["by_id"]["rows"]),
        duplicate_songs=int(seen["by_id"]["rows"]) - n, imputed_values=missing,
        tracks_without_features=int(seen["joined"]["no_features"]),
    )
