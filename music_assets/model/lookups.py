"""Lookups a loaded bundle answers: a track by id (or alias id), the rows of a normalized title.

Built over SortedKeys (sorted Arrow arrays, binary-searched), so building them creates no Python
object per row, unlike a dict, which took seconds of a large catalog's load
(benchmarks/serving_cold_start.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.model.sorted_keys import SortedKeys, string_column
from music_assets.text import APOSTROPHES, TITLE_KEY_RULE, normalize_text


def _list_array(series: pd.Series) -> pa.Array:
    """A list column as one Arrow array, without a Python object per row when it is Arrow-backed."""
    arr = pa.array(series)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


class KeyIndex(Mapping[str, np.ndarray]):
    """key -> row indices, over SortedKeys (sorted Arrow arrays, binary-searched), so building
    the index creates no Python object per row, unlike a dict, which cost seconds at load for 1M
    tracks."""

    def __init__(self, keys: pa.Array | pa.ChunkedArray, rows: np.ndarray):
        self.sorted = SortedKeys(keys, rows)

    def __getitem__(self, key: str) -> np.ndarray:
        i = self.sorted.find(key) if isinstance(key, str) else -1
        if i < 0:
            raise KeyError(key)
        return self.sorted.rows_of(i)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.sorted.find(key) >= 0

    def groups(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every (key, rows), in key order."""
        return self.sorted.groups()

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.groups())

    def __len__(self) -> int:
        return len(self.sorted)


class FirstIndex(Mapping[str, int]):
    """key -> the first row listed for it (track ids are listed before alias ids)."""

    def __init__(self, index: KeyIndex):
        self._index = index

    def __getitem__(self, key: str) -> int:
        return int(self._index[key][0])

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def current_title_keys(tracks: pd.DataFrame, title_key: str, rule: object) -> pd.DataFrame:
    """The tracks with title keys under today's TITLE_KEY_RULE. A bundle written under an older
    rule (`rule`, from its model.json) keeps "won t" for "Won't", which no query finds any more:
    only the titles holding an apostrophe can differ, so only those are normalized again (an
    Arrow scan finds them; no per-row Python for the rest), and no rebuild is needed."""
    if rule == TITLE_KEY_RULE or title_key not in tracks:
        return tracks
    found = pc.match_substring_regex(string_column(tracks["title"]), f"[{''.join(APOSTROPHES)}]")
    rows = np.flatnonzero(pc.fill_null(found, False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return tracks
    keys = tracks[title_key].to_numpy(dtype=object, copy=True)
    keys[rows] = [normalize_text(t) for t in tracks["title"].iloc[rows]]
    return tracks.assign(**{title_key: pd.array(keys, dtype=tracks[title_key].dtype)})


def title_index(tracks: pd.DataFrame, title_key: str) -> KeyIndex:
    """normalized title -> row indices, from the stored keys (or computed for an older bundle)."""
    if title_key in tracks:
        keys = string_column(tracks[title_key])
    else:  # a bundle written before title keys were stored
        keys = pa.array([normalize_text(t) for t in tracks["title"]], pa.string())
    return KeyIndex(keys, np.arange(len(tracks), dtype=np.int64))


def id_index(tracks: pd.DataFrame) -> FirstIndex:
    """track id (and every alias id) -> row index; a track's own id comes before any alias."""
    aliases = _list_array(tracks["alias_ids"])
    ids = pa.array(tracks["track_id"], pa.large_string())
    # the chunks themselves: pa.chunked_array([a ChunkedArray, ...]) converts it through Python
    # objects, seconds of a large catalog's load (benchmarks/serving_cold_start.py)
    keys = pa.chunked_array([*_chunks(ids), pc.list_flatten(aliases).cast(pa.large_string())])
    rows = np.concatenate([np.arange(len(tracks), dtype=np.int64),
                           pc.list_parent_indices(aliases).to_numpy().astype(np.int64)])
    return FirstIndex(KeyIndex(keys, rows))
