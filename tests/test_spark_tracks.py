"""Spark's `tracks` against `core.cleaning.clean_tracks` on hand-made files holding every tricky
case: the same file (schema, rows, order, values to the last bit) and the same CleaningReport."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.core import storage
from music_assets.core.cleaning import clean_tracks as local_clean_tracks
from music_assets.core.cleaning import dedup_key
from music_assets.core.schema import FEATURE_COLUMNS, TRACK_FEATURE_COLUMNS
from tests.spark_support import spark  # noqa: F401 - the session fixture

pytestmark = pytest.mark.spark

UNIQUE_SCHEMA = pa.schema([("track_id", pa.string()), ("title", pa.string()), ("artist", pa.string()),
                           ("chart_appearances", pa.int64()), ("best_rank", pa.int32())])
# (id, title, artist, chart appearances); ids are out of order on purpose.
UNIQUE = [
    ("id09", "Déjà Vu", "Beyoncé", 5),  # one song in four spellings; 05 and 09 tie on charts...
    ("id05", "DEJA VU!", "beyonce", 5),
    ("id01", "Deja  Vu", "Beyoncé ", 9),  # ...01 is the most charted but has no features: it loses
    ("id07", "déjà-vu", "BEYONCÉ", 5),
    ("id12", "<script>alert('x')</script> & Co", "Ｍａｘ", 2),  # HTML; fullwidth letters (NFKD)
    ("id02", "script alert x script co", "max", 2),  # the same key as id12
    ("id03", "ﬁre", "Strasse", 1),  # a ligature...
    ("id04", "FIRE", "Straße", None),  # ...and ß casefold to the same key; no chart count: loses
    ("id06", "!!!", "A", 3),  # a title that normalizes to nothing
    ("id08", "...", "A", 3),  # the same empty title: ties on charts, both with features
    ("id10", None, "Nobody", 1),  # no title at all
    ("id11", "Lonely", "Solo", 4),  # no features and no twin
    ("id11", "Lonely (dup row)", "Solo", 4),  # a repeated id: the first row counts
    ("id13", "e\u0301te\u0301", "Ι\u0345", 1),  # combining accents; U+0345 casefolds to a letter
    ("id14", "été", "ΙΙ", 2),
]


def _features() -> pa.Table:
    """Features for most ids (not id01, id11), one id twice, one id nobody charted, NaN as well as
    null gaps, an empty and a missing genres list, a column (cover_url) with no value at all."""
    rows = ["id09", "id05", "id07", "id12", "id02", "id03", "id04", "id06", "id08", "id10", "id13", "id14",
            "id05", "id99"]
    rng = np.random.default_rng(11)
    cols: dict[str, pa.Array] = {"track_id": pa.array(rows, pa.string())}
    for i, name in enumerate(FEATURE_COLUMNS):
        values = rng.uniform(0.1, 0.9, len(rows))
        if name == "danceability":  # says "has features": present except id10's, a NaN
            values[rows.index("id10")], mask = np.nan, np.zeros(len(rows), bool)
        else:
            values[(np.arange(len(rows)) + i) % 5 == 0] = np.nan  # NaN stored as NaN (not null) in Parquet
            mask = (np.arange(len(rows)) + i) % 7 == 0  # and some stored as null
        cols[name] = pa.array(values, pa.float64(), mask=mask, from_pandas=False)
    cols["genres"] = pa.array([["pop", "r&b"], [], None, ["k-pop"], ["pop"], [], ["rock"], None, [], ["x"], [], [],
                               ["late"], ["never"]], pa.list_(pa.string()))
    cols["preview_url"] = pa.array(["https://p.scdn.co/a", None, "", "https://p.scdn.co/b"] + [None] * 10, pa.large_string())
    cols["cover_url"] = pa.nulls(len(rows))
    cols["found"] = pa.array([True] * len(rows))  # a column the asset does not read
    return pa.table(cols)


def _write(tmp: Path, unique: pa.Table, features: pa.Table) -> tuple[Path, Path]:
    paths = tmp / "unique_tracks.parquet", tmp / "track_features.parquet"
    pq.write_table(unique, paths[0])
    pq.write_table(features, paths[1])
    return paths


def both_engines(spark, tmp: Path, unique: pa.Table, features: pa.Table, **kwargs):  # noqa: F811
    """The local file and report (as the local asset makes them) and Spark's."""
    from music_assets.core.spark.cleaning import clean_tracks as spark_clean_tracks

    u, f = _write(tmp, unique, features)
    local, report = local_clean_tracks(storage.read_parquet(u), storage.read_parquet(f, columns=list(TRACK_FEATURE_COLUMNS)))
    storage.write_parquet(local, tmp / "local.parquet")
    spark_report = spark_clean_tracks(spark, u, f, tmp / "spark.parquet", TRACK_FEATURE_COLUMNS, **kwargs)
    return (pq.read_table(tmp / "local.parquet"), report), (pq.read_table(tmp / "spark.parquet"), spark_report)


def assert_identical(a: pa.Table, b: pa.Table) -> None:
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)  # a readable diff first
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert a.replace_schema_metadata(None).equals(b.replace_schema_metadata(None))


def test_every_tricky_case_gives_the_local_file_and_report(spark, tmp_path: Path) -> None:  # noqa: F811
    unique = pa.Table.from_pylist([dict(zip(["track_id", "title", "artist", "chart_appearances"], r), best_rank=1)
                                   for r in UNIQUE], schema=UNIQUE_SCHEMA)
    (local, report), (on_spark, spark_report) = both_engines(spark, tmp_path, unique, _features())
    assert_identical(local, on_spark)
    assert spark_report == report
    # the cases happened (so equality is not vacuous), as the local rules say they should
    rows = {r["track_id"]: r for r in on_spark.to_pylist()}
    assert rows["id05"]["alias_ids"] == ["id01", "id07", "id09"]  # features, then charts, then smallest id
    assert rows["id03"]["alias_ids"] == ["id04"] and rows["id06"]["alias_ids"] == ["id08"]
    assert rows["id02"]["alias_ids"] == ["id12"] and rows["id14"]["alias_ids"] == ["id13"]
    assert "id11" in rows and rows["id11"]["title"] == "Lonely" and rows["id11"]["n_imputed"] == len(FEATURE_COLUMNS)
    assert report.duplicate_ids == 2 and report.duplicate_songs == 7  # id11 twice, id05 twice in features
    assert on_spark.schema.field("cover_url").type == pa.large_string() and set(on_spark["cover_url"].to_pylist()) == {""}
    assert on_spark.schema.field("chart_appearances").type == pa.float64()  # a null in the file: pandas' float64
    assert on_spark["genres"].to_pylist()[list(rows).index("id11")] == []


def test_a_large_catalog_in_many_pairwise_blocks_gives_the_local_means(spark, tmp_path: Path) -> None:  # noqa: F811
    """1,500 ids over a few hundred spellings of few songs; means summed in blocks of 128 rows."""
    rng = np.random.default_rng(5)
    n = 1_500
    words = ["Butterflies", "Black", "Swan", "Dynamite", "Café", "Noir", "Ñandú", "Straße", "Love", "Night"]
    base = [f"{a} {b}" for a, b in zip(rng.choice(words, n), rng.choice(words, n))]  # 100 songs
    spell = rng.integers(0, 4, n)
    titles = [[t, t.upper(), f" {t.lower()}!", t.replace("a", "á")][s] for t, s in zip(base, spell)]
    ids = [f"{i:06d}{rng.integers(0, 1 << 30):010d}" for i in rng.permutation(n)]
    unique = pa.table({"track_id": ids, "title": titles, "artist": rng.choice(["MAX", "max", "BTS", "Rosalía", "rosalia"], n),
                       "chart_appearances": rng.integers(1, 6, n), "best_rank": pa.array(rng.integers(1, 200, n), pa.int32())},
                      schema=UNIQUE_SCHEMA)
    has = rng.random(n) < 0.8
    features = {"track_id": pa.array(np.array(ids)[has])}
    for name in FEATURE_COLUMNS:
        values = rng.standard_normal(has.sum()) * 10.0 ** rng.uniform(-3, 6, has.sum())
        features[name] = pa.array(values, mask=rng.random(has.sum()) < 0.1)
    features |= {"genres": pa.array([["pop"]] * int(has.sum())), "preview_url": pa.nulls(int(has.sum()), pa.string()),
                 "cover_url": pa.nulls(int(has.sum()), pa.string())}
    (local, report), (on_spark, spark_report) = both_engines(spark, tmp_path, unique, pa.table(features), max_block=128)
    assert report.duplicate_songs > 1_000 and local.num_rows > 2 * 128
    assert_identical(local, on_spark)
    assert spark_report == report


def test_no_twins_and_no_genres_give_the_same_null_lists(spark, tmp_path: Path) -> None:  # noqa: F811
    unique = pa.table({"track_id": ["b", "a"], "title": ["One", "Two"], "artist": ["X", "Y"],
                       "chart_appearances": [1, 2], "best_rank": pa.array([1, 2], pa.int32())}, schema=UNIQUE_SCHEMA)
    features = pa.table({"track_id": ["a", "b"], **{c: [0.5, None] for c in FEATURE_COLUMNS},
                         "genres": pa.array([[], None], pa.list_(pa.string())), "preview_url": ["", None], "cover_url": [None, None]})
    (local, report), (on_spark, spark_report) = both_engines(spark, tmp_path, unique, features)
    assert pa.types.is_null(local.schema.field("alias_ids").type.value_type)  # what pandas infers from []
    assert_identical(local, on_spark)
    assert spark_report == report


def test_a_feature_with_no_value_fails_as_locally_and_writes_nothing(spark, tmp_path: Path) -> None:  # noqa: F811
    from music_assets.core.spark.cleaning import clean_tracks as spark_clean_tracks

    unique = pa.table({"track_id": ["a", "b"], "title": ["One", "Two"], "artist": ["X", "Y"],
                       "chart_appearances": [1, 2], "best_rank": pa.array([1, 2], pa.int32())}, schema=UNIQUE_SCHEMA)
    features = pa.table({"track_id": ["a", "b"], **{c: [0.5, 0.25] for c in FEATURE_COLUMNS},
                         "tempo": pa.nulls(2, pa.float64()), "genres": pa.array([[], []], pa.list_(pa.string())),
                         "preview_url": ["", ""], "cover_url": ["", ""]})
    u, f = _write(tmp_path, unique, features)
    with pytest.raises(ValueError) as local_error:
        local_clean_tracks(storage.read_parquet(u), storage.read_parquet(f))
    with pytest.raises(ValueError) as spark_error:
        spark_clean_tracks(spark, u, f, tmp_path / "tracks.parquet")
    assert str(spark_error.value) == str(local_error.value) and "'tempo'" in str(local_error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["track_features.parquet", "unique_tracks.parquet"]


@settings(max_examples=4, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(), st.text(alphabet=string.punctuation + "éÉ ßﬁ\u0301\u0345Σς")),
                min_size=50, max_size=120))
def test_the_pandas_udf_gives_the_local_dedup_key_on_any_text(spark, texts: list[str | None]) -> None:  # noqa: F811
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from music_assets.core.spark.cleaning import dedup_keys

    pairs = list(zip(texts, reversed(texts)))
    schema = T.StructType([T.StructField("t", T.StringType()), T.StructField("a", T.StringType())])
    got = spark.createDataFrame(pairs, schema).select(dedup_keys(F.col("t"), F.col("a")).alias("k")).collect()
    assert [r["k"] for r in got] == [dedup_key(t, a) for t, a in pairs]
