"""The Arrow side of `tracks` on Spark: the schema the local engine's file has, applied while the
driver stitches Spark's part files into that file.

The local engine writes `pa.Table.from_pandas(clean_tracks(...))`, so its schema is what pandas
makes of the inputs: text becomes pandas' string dtype (`large_string`), an integer column with a
null anywhere in its input file becomes float64, every feature is float64, and a column of Python
lists is `list<string>`, or `list<null>` when no list holds anything. These rules restate that
round trip for the columns `tracks` can hold; tests check them against pandas itself.

Pure pyarrow: importing this module does not import pyspark.
"""

from __future__ import annotations

from typing import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from music_assets.ingest.cleaning import TEXT_COLUMNS  # noqa: F401 - the text columns, as the local engine fills them
from music_assets.schema import FEATURE_COLUMNS

LIST_COLUMNS: tuple[str, ...] = ("genres", "alias_ids", "regions", "artist_ids")
STRING_LIST = pa.list_(pa.string())
NULL_LIST = pa.list_(pa.null())


def pandas_round_trip(dtype: pa.DataType, has_nulls: bool) -> pa.DataType:
    """The Arrow type a column of `dtype` has after to_pandas() and back (from_pandas)."""
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pa.large_string()
    if pa.types.is_integer(dtype) and has_nulls:
        return pa.float64()  # pandas holds an integer column with missing values as float64
    return dtype


def tracks_schema(unique: pa.Schema, int_nulls: Mapping[str, bool], columns: list[str],
                  non_empty_lists: Mapping[str, bool]) -> pa.Schema:
    """The local `tracks` file's schema for output `columns` (in order), given the unique tracks'
    schema, which of its integer columns hold a null, and which list columns hold any element."""
    fields = []
    for name in columns:
        if name in FEATURE_COLUMNS:
            dtype = pa.float64()
        elif name in TEXT_COLUMNS or name == "dedup_key":
            dtype = pa.large_string()
        elif name in LIST_COLUMNS:
            dtype = STRING_LIST if non_empty_lists.get(name, False) else NULL_LIST
        elif name == "n_missing":
            dtype = pa.int16()
        elif name == "has_preview":
            dtype = pa.bool_()
        elif name == "popularity":  # a detail from track_features (schema.TRACK_DETAIL_COLUMNS): float64 there
            dtype = pa.float64()
        else:
            dtype = pandas_round_trip(unique.field(name).type, int_nulls.get(name, False))
        fields.append(pa.field(name, dtype))
    return pa.schema(fields)


def _as_null_list(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A list column whose lists hold only nulls, as list<null> (Arrow casts no string to null)."""
    chunks = []
    for chunk in column.chunks:
        chunk = chunk.cast(pa.list_(chunk.type.value_type))  # large offsets would not fit ListArray
        chunks.append(pa.ListArray.from_arrays(chunk.offsets, pa.nulls(len(chunk.values)), mask=chunk.is_null()))
    return pa.chunked_array(chunks, type=NULL_LIST)


def cast_to(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Every column in `schema`'s type (missing values stay missing: nothing is imputed)."""
    columns = []
    for field in schema:
        column = table[field.name]
        if field.type == NULL_LIST and column.type != NULL_LIST:
            column = _as_null_list(column)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
