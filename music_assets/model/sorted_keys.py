"""Distinct string keys in sorted order, each with its run of rows: a dict-like lookup built
without a Python object per row.

A dict of a million keys (or a list of a million title strings) costs seconds and hundreds of MB
to build at model load; these arrays are built by one Arrow sort and a vectorised comparison of
neighbours (Arrow's hash kernels, `unique`/`count_distinct`, were slower than the sort in
benchmarks/serving_cold_start.py), and answer a lookup by binary search (about 20 probes at a
million keys).

Keys sort by code point, as Python sorts `str` (UTF-8 byte order is code point order), so a
prefix search walks keys in the order `sorted()` would give. Pure logic: imports neither dagster
nor flask.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def string_column(values: object) -> pa.Array | pa.ChunkedArray:
    """A string column (pandas, Arrow or a sequence) as Arrow strings, without a copy when it is
    Arrow-backed already: naming a type, e.g. `pa.array(col, pa.string())` of a large_string
    column, copies the whole column."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class ColumnReader:
    """Values of a few rows of an Arrow column, read where they are: `ChunkedArray.take` copies
    the column's chunks together on every call, and combining them once would copy the column
    (benchmarks/recommend_inprocess.py times a query's result building)."""

    def __init__(self, values: pa.Array | pa.ChunkedArray) -> None:
        self._chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        self._starts = np.cumsum([0, *(len(c) for c in self._chunks)])
        self._n = int(self._starts[-1])

    def __len__(self) -> int:
        return self._n

    def get(self, rows: list[int]) -> list[object]:
        chunk_of = (np.searchsorted(self._starts, rows, side="right") - 1).tolist()
        return [self._chunks[c][r - int(self._starts[c])].as_py() for r, c in zip(rows, chunk_of)]


class SortedKeys:
    """`keys[i]` (distinct, sorted) owns `rows[starts[i]:starts[i + 1]]`; within a key, rows keep
    the order they were given in (a stable sort). Null keys are left out: nothing can look them up."""

    def __init__(self, keys: pa.Array | pa.ChunkedArray, rows: np.ndarray | None = None) -> None:
        keys = _one_chunk(keys).cast(pa.large_string())
        rows = np.arange(len(keys), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if keys.null_count:
            valid = pc.is_valid(keys)
            rows, keys = rows[valid.to_numpy(zero_copy_only=False)], keys.filter(valid)
        order = pc.sort_indices(keys)  # stable: equal keys keep their rows' given order
        ordered = keys.take(order)
        self.rows = rows[order.to_numpy()]
        new = (np.r_[True, pc.not_equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)]
               if len(ordered) else np.zeros(0, dtype=bool))
        first = np.flatnonzero(new)
        self.starts = np.r_[first, len(ordered)].astype(np.int64)
        self.keys = pa.concat_arrays([ordered.take(pa.array(first))])  # own buffers, offsets from 0
        _, offsets, data = self.keys.buffers()
        self._offsets = np.frombuffer(offsets, dtype=np.int64, count=len(self.keys) + 1)
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def __len__(self) -> int:
        return len(self.keys)

    def _probe(self, i: int) -> bytes:
        offsets = self._offsets
        return self._data[offsets.item(i):offsets.item(i + 1)].tobytes()

    def key(self, i: int) -> str:
        """The i-th distinct key."""
        return self._probe(i).decode("utf-8")

    def lower_bound(self, key: str) -> int:
        """The first position whose key is >= `key` (len(self) when none is)."""
        wanted = key.encode("utf-8")
        lo, hi = 0, len(self.keys)
        while lo < hi:  # bisect_left over the UTF-8 bytes, without a list of Python strings
            mid = (lo + hi) // 2
            if self._probe(mid) < wanted:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def find(self, key: str) -> int:
        """The position of `key`, or -1."""
        i = self.lower_bound(key)
        return i if i < len(self.keys) and self._probe(i) == key.encode("utf-8") else -1

    def rows_of(self, i: int) -> np.ndarray:
        """The rows of the key at position i (a view, in their given order)."""
        return self.rows[self.starts[i]:self.starts[i + 1]]

    def sizes(self) -> np.ndarray:
        """Rows per key."""
        return np.diff(self.starts)

    def group_of_rows(self) -> np.ndarray:
        """For each entry of `rows`, the position of its key."""
        return np.repeat(np.arange(len(self.keys), dtype=np.int64), self.sizes())

    def reordered(self, tiebreak: np.ndarray) -> "SortedKeys":
        """The same keys with each key's rows re-sorted by `tiebreak[row]` ascending (stable, so
        equal values keep their order; NaN last, as numpy sorts), sharing the key arrays."""
        out = object.__new__(SortedKeys)
        out.__dict__.update(self.__dict__)
        values = np.asarray(tiebreak)[self.rows]
        out.rows = self.rows[np.lexsort((values, self.group_of_rows()))]
        return out

    def groups(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every (key, rows), in key order."""
        for i, key in enumerate(self.keys.to_pylist()):
            yield key, self.rows_of(i)
