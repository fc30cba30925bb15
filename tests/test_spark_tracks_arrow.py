"""The piece of Spark's `tracks` that restates pandas, checked against it: the schema rules give
what pandas' round trip gives. Pure pyarrow: these run without pyspark."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from music_assets.engines.spark.tracks_arrow import NULL_LIST, STRING_LIST, cast_to, pandas_round_trip, tracks_schema


def _via_pandas(table: pa.Table) -> pa.Schema:
    return pa.Table.from_pandas(table.to_pandas(), preserve_index=False).schema.remove_metadata()


def test_the_schema_rules_are_pandas_round_trip() -> None:
    unique = pa.table({
        "track_id": pa.array(["a", "b"], pa.string()), "title": pa.array(["x", None], pa.large_string()),
        "first_date": pa.array([dt.date(2020, 1, 1), None], pa.date32()),
        "chart_appearances": pa.array([3, 4], pa.int64()), "best_rank": pa.array([1, None], pa.int32()),
        "total_streams": pa.array([1.5, None], pa.float64()), "explicit": pa.array([True, None], pa.bool_()),
    })
    expected = _via_pandas(unique)
    nulls = {name: unique[name].null_count > 0 for name in unique.column_names}
    got = pa.schema([pa.field(f.name, pandas_round_trip(f.type, nulls[f.name])) for f in unique.schema])
    assert got == expected
    assert expected.field("best_rank").type == pa.float64() and expected.field("chart_appearances").type == pa.int64()


def test_list_columns_are_string_lists_or_null_lists_as_pandas_infers() -> None:
    assert _via_pandas(pa.table({"g": pa.array([[], []], STRING_LIST)})).field("g").type == NULL_LIST
    unique = pa.schema([("track_id", pa.string())])
    schema = tracks_schema(unique, {}, ["track_id", "genres", "alias_ids", "n_missing", "has_preview"],
                           {"genres": True, "alias_ids": False})
    assert schema.field("genres").type == STRING_LIST and schema.field("alias_ids").type == NULL_LIST
    table = pa.table({"track_id": ["a", "b"], "genres": pa.array([["pop"], []], STRING_LIST),
                      "alias_ids": pa.array([[], []], STRING_LIST), "n_missing": pa.array([0, 1], pa.int16()),
                      "has_preview": [True, False]})
    out = cast_to(table, schema)
    assert out.schema == schema and out["alias_ids"].to_pylist() == [[], []]


def test_cast_to_keeps_missing_features_missing() -> None:
    table = pa.table({"track_id": ["a", "b", "c"], "energy": [0.25, None, 0.75], "tempo": [None, 100.0, 120.0]})
    schema = tracks_schema(pa.schema([("track_id", pa.string())]), {}, ["track_id", "energy", "tempo"], {})
    out = cast_to(table, schema)
    assert out["energy"].to_pylist() == [0.25, None, 0.75] and out["tempo"].to_pylist() == [None, 100.0, 120.0]
    assert out.schema.field("track_id").type == pa.large_string()