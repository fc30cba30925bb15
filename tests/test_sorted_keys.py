"""SortedKeys (music_assets/model/sorted_keys.py): a sorted-array lookup that must agree with a
dict and with Python's own string order."""

from __future__ import annotations

import bisect

import numpy as np
import pyarrow as pa

from music_assets.model.sorted_keys import ColumnReader, SortedKeys

KEYS = ["b", "a", "", "é", "b", "ab", None, "z", "é", "ß", "東京", "a", "Z", "e\u0301"]


def test_keys_sort_like_python_strings_and_own_their_rows_in_given_order() -> None:
    index = SortedKeys(pa.chunked_array([KEYS[:5], KEYS[5:]]))
    expected: dict[str, list[int]] = {}
    for row, key in enumerate(KEYS):
        if key is not None:  # a null key cannot be looked up: left out
            expected.setdefault(key, []).append(row)
    assert index.keys.to_pylist() == sorted(expected)
    assert {k: v.tolist() for k, v in index.groups()} == expected
    assert len(index) == len(expected) and index.sizes().sum() == len(KEYS) - 1
    for key, rows in expected.items():
        assert index.find(key) >= 0 and index.rows_of(index.find(key)).tolist() == rows
    for missing in ("c", "aa", "zz", "e", "\U0010ffff", " "):
        assert index.find(missing) == -1
    for probe in ("", "a", "aa", "zzz", "e", "ü", "\U0010ffff"):
        assert index.lower_bound(probe) == bisect.bisect_left(sorted(expected), probe)


def test_reordered_sorts_rows_within_each_key_stably_nan_last() -> None:
    keys = pa.array(["x", "y", "x", "x", "y", "x"])
    rows = np.array([10, 11, 12, 13, 14, 15])
    tiebreak = np.zeros(16)
    tiebreak[[10, 12, 13, 15]] = [2.0, np.nan, 1.0, 1.0]
    tiebreak[[11, 14]] = [5.0, -1.0]
    index = SortedKeys(keys, rows).reordered(tiebreak)
    assert index.rows_of(index.find("x")).tolist() == [13, 15, 10, 12]
    assert index.rows_of(index.find("y")).tolist() == [14, 11]
    assert SortedKeys(pa.array([], pa.string())).find("x") == -1


def test_column_reader_reads_rows_across_chunks() -> None:
    column = pa.chunked_array([["a", None], [], ["c", "d", "é"]])
    reader = ColumnReader(column)
    assert len(reader) == 5
    assert reader.get([4, 0, 1, 2, 3, 2]) == ["é", "a", None, "c", "d", "c"]
    assert ColumnReader(pa.array(["q"])).get([0]) == ["q"]
