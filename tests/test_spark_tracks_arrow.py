"""The two pieces of Spark's `tracks` that restate numpy and pandas, checked against them: the
pairwise blocks give `np.sum` and `Series.mean()` bit for bit, and the schema rules give what
pandas' round trip gives. Pure numpy/pyarrow: these run without pyspark."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.engines.spark import pairwise
from music_assets.engines.spark.tracks_arrow import NULL_LIST, STRING_LIST, fill_and_cast, pandas_round_trip, tracks_schema


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 6_000), max_block=st.sampled_from([128, 136, 300, 1024]), seed=st.integers(0, 2**32 - 1))
def test_blocks_tile_the_range_and_combine_to_numpys_sum_and_pandas_mean(n: int, max_block: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 9, n)  # magnitudes that make order matter
    values[rng.random(n) < 0.2] = np.nan
    spans = pairwise.blocks(n, max_block)
    assert spans[0][0] == 0 and spans[-1][1] == n and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(stop - start <= max_block for start, stop in spans)
    total = pairwise.combine(n, [pairwise.block_sum(values[a:b]) for a, b in spans], max_block)
    assert total == np.sum(np.where(np.isnan(values), 0.0, values))  # exact, not approximately
    count = int((~np.isnan(values)).sum())
    if count:
        assert pairwise.mean(total, count) == pd.Series(values).mean()


def test_a_large_column_in_many_blocks_gives_pandas_mean_where_a_plain_sum_does_not() -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal(300_001) * 10.0 ** rng.uniform(-6, 9, 300_001)
    spans = pairwise.blocks(len(values), 1_000)
    assert len(spans) > 256
    total = pairwise.combine(len(values), [pairwise.block_sum(values[a:b]) for a, b in spans], 1_000)
    assert pairwise.mean(total, len(values)) == pd.Series(values).mean()
    assert sum(values.tolist()) != np.sum(values)  # a sequential sum (Spark's avg) would differ


def test_combine_refuses_too_many_sums_and_blocks_refuse_a_block_smaller_than_numpys() -> None:
    with pytest.raises(ValueError, match="more block sums"):
        pairwise.combine(10, [1.0, 2.0], 128)
    with pytest.raises(ValueError, match="at least 128"):
        pairwise.blocks(1_000, 64)


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
    out = fill_and_cast(table, {}, schema)
    assert out.schema == schema and out["alias_ids"].to_pylist() == [[], []]


def test_fill_and_cast_fills_only_missing_features_with_the_mean() -> None:
    table = pa.table({"track_id": ["a", "b", "c"], "energy": [0.25, None, 0.75], "tempo": [None, 100.0, 120.0]})
    schema = tracks_schema(pa.schema([("track_id", pa.string())]), {}, ["track_id", "energy", "tempo"], {})
    out = fill_and_cast(table, {"energy": 0.5}, schema)
    assert out["energy"].to_pylist() == [0.25, 0.5, 0.75]
    assert out["tempo"].to_pylist() == [None, 100.0, 120.0]  # no mean given: untouched
    assert out.schema.field("track_id").type == pa.large_string()
