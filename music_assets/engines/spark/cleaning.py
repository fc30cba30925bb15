"""`tracks` on Spark: `ingest.cleaning.clean_tracks` row for row and value for value.

The same steps as the local engine, each stated as what pandas does:
- range: each feature value outside FEATURE_RANGES becomes null; the rejected values (few) are
  collected to the driver and written as reject rows exactly as the local rule words them;
- join: unique tracks left-joined with features; the "first" row per id is the first in pandas'
  merge order (unique file order, then features file order), taken from Parquet row positions;
- songs: `dedup_key` is the local `dedup_key` itself, run in Python through an Arrow-backed
  pandas UDF. Not Spark SQL: NFKD, `unicodedata.combining` and Python's Unicode `\\w` and
  casefold have no exact Spark SQL equivalent (Java's normalizer and regex classes follow other
  Unicode versions and rules), and a key that differs on one character merges different songs.
- survivor: a window per key ordered as the local sort (most model features, most charted,
  smallest id); each other twin is compared with the survivor (the window's first row) by the
  local `same_recording` rules, stated in SQL (scaled distance over the features both have, the
  catalog's population standard deviations as scales, with or without the same duration;
  duration alone; ISRC when the file has one);
  the merged twins' ids, sorted, become the survivor's alias_ids, the others stay;
- output: Spark writes the rows, in track_id order, to part files; the driver's pass that
  stitches them into the one Parquet file (parquet_out) casts to the local file's schema
  (tracks_arrow). Nothing is imputed.
The CleaningReport's figures come from Spark observations of the same query (no extra pass).

Limits, all outside what the pipeline produces: each input is one Parquet file; track_id is never
null (unique_tracks' key); features hold only TRACK_FEATURE_COLUMNS (pandas would suffix a column
both inputs had; here that is an error); text columns are text or all-null.
"""

from __future__ import annotations

import math
import shutil
import warnings
from functools import reduce
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from music_assets.ingest.cleaning import (
    SAME_DURATION_MS, SAME_RECORDING_DISTANCE, SAME_RECORDING_DISTANCE_WITH_DURATION, CleaningReport, dedup_key, range_reason, range_rejects_frame, shown_value,
)
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS, FEATURE_RANGES, MIN_MODEL_FEATURES, TRACK_FEATURE_COLUMNS
from music_assets.engines.spark.parquet_out import part_files, staging_dir, stitch
from music_assets.engines.spark.tracks_arrow import LIST_COLUMNS, TEXT_COLUMNS, cast_to, tracks_schema

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
        """pandas' own parse of a text feature column, as the local cleaning coerces it."""
        return pd.to_numeric(values, errors="coerce").astype("float64")


def _read(spark: SparkSession, path: Path, position: str) -> DataFrame:
    """A Parquet file with each row's position in it (pandas' row order)."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: the Spark tracks stage reads one Parquet file per input")
    return spark.read.parquet(str(path)).select("*", F.col("_metadata.row_index").alias(position))


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
    """finish's columns, in its order: the joined ones (features as float64, text filled), the
    dedup key and aliases, then whatever it adds (absent features, n_missing, text, genres)."""
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
    n_missing = reduce(lambda a, b: a + b, [_as_double(df, c).isNull().cast("int") for c in FEATURE_COLUMNS])
    out.append(("n_missing", n_missing.cast(T.ShortType())))
    out += [(name, F.lit("")) for name in TEXT_COLUMNS if name not in columns]
    if "genres" not in columns:
        out.append(("genres", _genres(df)))
    out.append(("has_preview", F.length(_text(df, "preview_url")) > 0))
    return out


def _count_if(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0))


def _range_checked(features: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(features with each out-of-range value null, the rows holding such a value with the values
    as doubles) — reject_out_of_range's rule; the second frame is small and collected."""
    present = [c for c in FEATURE_COLUMNS if c in features.columns]
    values = {c: _as_double(features, c) for c in present}
    outside = {c: values[c].isNotNull() & ~values[c].between(*FEATURE_RANGES[c]) for c in present}
    checked = features.select(*[F.when(~outside[c], values[c]).alias(c) if c in values else F.col(c)
                                for c in features.columns])
    if not present:
        return checked, features.limit(0).select("track_id", RPOS)
    bad = features.select("track_id", RPOS, *[F.when(outside[c], values[c]).alias(c) for c in present])
    return checked, bad.filter(reduce(lambda a, b: a | b, [F.col(c).isNotNull() for c in present]))


def _reject_rows(bad: DataFrame, source: str) -> pd.DataFrame:
    rows = []
    for r in bad.collect():
        for c in FEATURE_COLUMNS:
            if c in r.asDict() and r[c] is not None:
                rows.append((source, int(r[RPOS]) + 1, str(r["track_id"]), c, shown_value(r[c]), range_reason(c)))
    return range_rejects_frame(rows).sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _scales(by_id: DataFrame, present: list[str]) -> dict[str, float]:
    """feature_scales: population standard deviation per model feature (1.0 when constant or absent)."""
    if not present:
        return {}
    row = by_id.agg(*[F.stddev_pop(F.col(c)).alias(c) for c in present]).collect()[0]
    return {c: (float(row[c]) if row[c] is not None and math.isfinite(row[c]) and row[c] > 0 else 1.0) for c in present}


def _same_recording(keyed: DataFrame, whole: Window, scales: dict[str, float]) -> Column:
    """same_recording(twin, survivor) in SQL: ISRC when both have one, else the scaled distance over
    the features both have (at least MIN_MODEL_FEATURES), else durations within 2 s."""
    def survivor(c: str) -> Column:
        return F.first(F.col(c)).over(whole)

    terms, counts = [], []
    for c, s in scales.items():
        a, b = F.col(c) / F.lit(s), survivor(c) / F.lit(s)
        both = F.col(c).isNotNull() & survivor(c).isNotNull()
        terms.append(F.when(both, (a - b) * (a - b)).otherwise(F.lit(0.0)))
        counts.append(both.cast("int"))
    if terms:
        n = reduce(lambda x, y: x + y, counts)
        dist = F.when(n >= MIN_MODEL_FEATURES, F.sqrt(reduce(lambda x, y: x + y, terms) * F.lit(float(len(DEFAULT_MODEL_FEATURES))) / n))
    else:
        dist = F.lit(None).cast(T.DoubleType())
    if "duration_ms" in keyed.columns:
        d = F.col("duration_ms")
        dur_known = d.isNotNull() & survivor("duration_ms").isNotNull()
        dur_close = dur_known & (F.abs(d - survivor("duration_ms")) <= F.lit(SAME_DURATION_MS))
    else:
        dur_known, dur_close = F.lit(False), F.lit(False)
    close = (dist <= F.lit(SAME_RECORDING_DISTANCE)) | ((dist <= F.lit(SAME_RECORDING_DISTANCE_WITH_DURATION)) & dur_close)
    same = F.when(dist.isNotNull(), close).otherwise(dur_close)
    if "isrc" in keyed.columns:
        isrc = F.upper(F.trim(F.coalesce(F.col("isrc").cast(T.StringType()), F.lit(""))))
        other = F.first(isrc).over(whole)
        same = F.when((isrc != "") & (other != ""), (isrc == other) & (dur_close | ~dur_known)).otherwise(same)
    return same


def _survivors(joined: DataFrame, columns: list[str], observed: dict[str, Observation]) -> DataFrame:
    """deduplicate + the row-wise part of finish, observed for the report."""
    ints = [c for c in columns if isinstance(joined.schema[c].dataType, T.IntegralType)]
    joined = joined.observe(observed["joined"], F.count(F.lit(1)).alias("rows"),
                            *[_count_if(F.col(c).isNull()).alias(f"null:{c}") for c in ints])
    first = Window.partitionBy("track_id").orderBy(F.col(LPOS).asc(), F.col(RPOS).asc_nulls_last())
    by_id = joined.withColumn("_rn", F.row_number().over(first)).filter(F.col("_rn") == 1).drop("_rn")
    by_id = by_id.observe(observed["by_id"], F.count(F.lit(1)).alias("rows"))
    present = [c for c in DEFAULT_MODEL_FEATURES if c in columns]
    scales = _scales(by_id, present)
    has = reduce(lambda a, b: a + b, [F.col(c).isNotNull().cast("int") for c in present]) if present else F.lit(0)
    pop = F.col("chart_appearances") if "chart_appearances" in columns else F.lit(0)
    keyed = by_id.withColumn("dedup_key", dedup_keys(F.col("title"), F.col("artist"))).withColumn("_has", has).withColumn("_pop", pop)
    song = Window.partitionBy("dedup_key")
    best = song.orderBy(F.col("_has").desc(), F.col("_pop").desc_nulls_last(), F.col("track_id").asc_nulls_last())
    whole = best.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    ranked = keyed.withColumn("_rn", F.row_number().over(best)).withColumn("_same", _same_recording(keyed, whole, scales))
    ranked = ranked.withColumn("_merged", (F.col("_rn") > 1) & F.col("_same"))
    ranked = ranked.withColumn("_ids", F.collect_list(F.when(F.col("_merged"), F.col("track_id"))).over(song))
    ranked = ranked.observe(observed["twins"], _count_if(F.col("_merged")).alias("merged"),
                            _count_if((F.col("_rn") > 1) & ~F.col("_merged")).alias("kept"))
    survivors = (ranked.filter(~F.col("_merged"))
                 .withColumn("alias_ids", F.when(F.col("_rn") == 1, F.array_sort(F.col("_ids")))
                             .otherwise(F.array().cast(T.ArrayType(T.StringType())))))
    out = survivors.select(*[value.alias(name) for name, value in _output_columns(survivors, columns)])
    return out.observe(
        observed["survivors"], F.count(F.lit(1)).alias("rows"),
        *[_count_if(F.col(c).isNull()).alias(f"missing:{c}") for c in FEATURE_COLUMNS],
        _count_if(reduce(lambda a, b: a & b, [F.col(c).isNull() for c in FEATURE_COLUMNS])).alias("featureless"),
        *[F.coalesce(F.max(F.size(F.filter(c, lambda x: x.isNotNull()))), F.lit(0)).alias(f"items:{c}")
          for c in LIST_COLUMNS if c in out.columns],
    )


def clean_tracks(spark: SparkSession, unique_path: Path, features_path: Path, path: Path,
                 feature_columns: Sequence[str] | None = TRACK_FEATURE_COLUMNS) -> CleaningReport:
    """unique tracks + features files -> the `tracks` file at `path` and its CleaningReport, as
    `ingest.cleaning.clean_tracks` on the same files (read with `feature_columns`, None for all)."""
    unique = _read(spark, unique_path, LPOS)
    features = _read(spark, features_path, RPOS)
    if feature_columns is not None:
        features = features.select(*feature_columns, RPOS)
    features, bad = _range_checked(features)
    rejects = _reject_rows(bad, Path(features_path).name)
    joined, columns = _joined(unique, features)
    observed = {name: Observation(name) for name in ("joined", "by_id", "twins", "survivors")}
    out = _survivors(joined, columns, observed)
    staging = staging_dir(Path(path))
    try:
        out.orderBy(F.col("track_id").asc_nulls_last()).write.mode("overwrite").parquet(str(staging))
        seen = {name: obs.get for name, obs in observed.items()}
        n = int(seen["survivors"]["rows"])
        missing = {c: int(seen["survivors"][f"missing:{c}"]) for c in FEATURE_COLUMNS}
        parts = part_files(staging)
        schema = tracks_schema(
            pq.read_schema(unique_path), {c[5:]: v > 0 for c, v in seen["joined"].items() if c.startswith("null:")},
            out.columns, {c: seen["survivors"][f"items:{c}"] > 0 for c in LIST_COLUMNS if c in out.columns})
        stitch(parts, Path(path), schema, lambda table: cast_to(table, schema))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rows = int(seen["joined"]["rows"])
    return CleaningReport(
        input_rows=rows, duplicate_ids=rows - int(seen["by_id"]["rows"]),
        duplicate_songs=int(seen["twins"]["merged"]), missing_values=missing,
        tracks_without_features=int(seen["survivors"]["featureless"]), twins_kept=int(seen["twins"]["kept"]),
        output_rows=n, rejects=rejects,
    )
