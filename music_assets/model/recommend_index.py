"""What `recommend()` reads for every query, computed once per loaded bundle.

A query must cost little more than one pass over the rows it may recommend from (the numpy
floor: a matrix-vector product and an argpartition). Anything per query beyond that is paid
here instead, once per bundle:

- scan matrices, (f+1) x rows float32: -2 * X^T stacked on |x|^2, so [q, 1] @ scan is
  |x|^2 - 2 x.q in one BLAS call with no temporaries; one for the whole catalog and one per
  KMeans cluster and per genre, each over that group's rows only, so cluster and genre modes
  scan a contiguous tenth of the catalog instead of gathering it from the whole matrix;
- per-row genres as integer codes (an inverted index by genre, and the reasons' shared genres);
- which rows share a normalized title, so the rows each track must never be recommended with
  (same normalized title and artist) are found on first use;
- the result columns as Arrow string buffers, sliced per result (no pandas, no Arrow scalars).

Memory: about (1 + 1 + genres per track) x the feature matrix.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import threading
from typing import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.model.bundle import ModelBundle
from music_assets.model.sorted_keys import ColumnReader, string_column
from music_assets.text import has_version_note, normalize_text, song_key

STRING_COLUMNS = ("track_id", "title", "artist", "preview_url", "cover_url")
VERSION_SCAN = 64  # title keys read when looking for a song's other versions (RecommendIndex._versions)
VERSION_CACHE = 50_000  # rows whose versions are kept (a few arrays of a few rows each)


@dataclass(frozen=True)
class Group:
    """Rows a mode may recommend from (sorted; None = every row) and their scan matrix."""

    rows: np.ndarray | None
    scan: np.ndarray  # (f+1) x len(rows), float32, C order

    def __len__(self) -> int:
        return self.scan.shape[1]

    def row_numbers(self, positions: np.ndarray) -> np.ndarray:
        return positions if self.rows is None else self.rows[positions]


def _dense(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)


def _distinct_sorted(rows: np.ndarray) -> np.ndarray:
    """Sorted rows without repeats (a genre listed twice for one track), in O(n)."""
    return rows[np.r_[True, rows[1:] != rows[:-1]]] if len(rows) else rows


def _one_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


class Records:
    """Some string columns of every row, read back for a few rows at a time.

    The columns are joined per row with a separator no value contains, into one Arrow string
    array read through (UTF-8 buffer, offsets) views: ten rows cost one offsets gather and a
    slice + decode + split each, far less than an Arrow take per column or a pandas lookup per
    value (benchmarks/recommend_inprocess.py); and no Python object is kept per row (those cost
    seconds and memory at load for a large catalog). If every candidate separator occurs in the
    data, each column is read on its own (slower, same values)."""

    SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x1c")

    def __init__(self, columns: list[pa.Array | pa.ChunkedArray]) -> None:
        columns = [pc.fill_null(_one_chunk(c).cast(pa.large_string()), "") for c in columns]
        self.width = len(columns)
        self.sep = next((sep for sep in self.SEPARATORS
                         if not any(pc.any(pc.match_substring(c, sep)).as_py() for c in columns)), None)
        if self.sep is not None:
            columns = [pc.binary_join_element_wise(*columns, pa.scalar(self.sep, pa.large_string()))]
        self._arrays = [pa.concat_arrays([c]) if c.offset else c for c in columns]  # own the buffers; offsets from 0
        n = len(self._arrays[0])
        # per column, (start, end) of each row's bytes: one fancy index gives both for many rows
        self._spans, self._data = [], []
        for values in self._arrays:
            _, offsets, data = values.buffers()
            offsets = np.frombuffer(offsets, dtype=np.int64, count=n + 1)
            self._spans.append(np.stack([offsets[:-1], offsets[1:]], axis=1))
            self._data.append(memoryview(data) if data is not None else memoryview(b""))

    def get(self, rows: np.ndarray) -> list[list[str]]:
        """For each row, its values in column order."""
        if self.sep is not None:
            data, sep = self._data[0], self.sep
            return [str(data[a:b], "utf-8").split(sep) for a, b in self._spans[0][rows].tolist()]
        per_column = [[str(data[a:b], "utf-8") for a, b in spans[rows].tolist()]
                      for data, spans in zip(self._data, self._spans)]
        return [list(values) for values in zip(*per_column)]


class RecommendIndex:
    """Per-bundle arrays for recommend(); see the module docstring."""

    def __init__(self, bundle: ModelBundle) -> None:
        scaled = np.array(bundle.scaled, dtype=np.float32, order="C")
        # Only the model's tracks are ever recommended (model/bundle.py in_model): the others have
        # no features (NaN here, zeroed so no sum meets a NaN) and sit in no group.
        self.recommendable = np.asarray(bundle.in_model, dtype=bool) & np.isfinite(scaled).all(axis=1)
        scaled[~self.recommendable] = 0.0
        self.scaled = scaled
        self.n, self.f = scaled.shape
        self.sq_norms = np.einsum("ij,ij->i", scaled, scaled)
        self.max_sq_norm = float(self.sq_norms.max()) if self.n else 0.0
        everyone = self.recommendable.all()
        rows = None if everyone else np.flatnonzero(self.recommendable).astype(np.int64)
        full_scan = self._scan(scaled, self.sq_norms)
        self.all = Group(rows, full_scan if everyone else np.ascontiguousarray(full_scan[:, rows]))
        self._full_scan = full_scan
        self.clusters = np.asarray(bundle.clusters)
        self._cluster_groups = self._groups(np.where(self.recommendable, self.clusters, -1).astype(np.int64))
        self._cluster_groups.pop(-1, None)
        self._build_genres(bundle)
        self._cluster_cache: dict[int, Group] = {}
        self._genre_cache: dict[int, Group] = {}
        self._lock = threading.Lock()
        self._title_groups(bundle)
        tracks = bundle.tracks
        self.records = Records([string_column(tracks[c]) if c in tracks else pa.nulls(self.n, pa.string())
                                for c in STRING_COLUMNS])
        features = list(bundle.features)
        self.features = features
        # "close on A and B" for every pair of feature columns, so a reason is one lookup.
        self.close_on = [[f"close on {a} and {b}" for b in features] for a in features]

    # -- building -------------------------------------------------------------------------------
    @staticmethod
    def _scan(x: np.ndarray, sq: np.ndarray) -> np.ndarray:
        scan = np.empty((x.shape[1] + 1, len(x)), dtype=np.float32)
        scan[:-1] = x.T
        scan[:-1] *= -2.0  # a power of two: exact; the one dot product rounds within recommend's _ROUNDING
        scan[-1] = sq
        return scan

    @staticmethod
    def _groups(keys: np.ndarray) -> dict[int, np.ndarray]:
        """key -> sorted rows, from one stable argsort."""
        if not len(keys):
            return {}
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        return {int(keys[g[0]]): g.astype(np.int64) for g in np.split(order, bounds)}

    def _build_genres(self, bundle: ModelBundle) -> None:
        genres = _one_chunk(pa.array(bundle.tracks["genres"]))
        flat = pc.list_flatten(genres)
        parents = pc.list_parent_indices(genres).to_numpy().astype(np.int64)
        encoded = pc.dictionary_encode(flat)
        self.genre_names: list[str] = [str(g) for g in encoded.dictionary.to_pylist()]
        codes = _dense(encoded.indices).astype(np.int32)
        # Per-row codes in list order: row i's genres are codes[offsets[i]:offsets[i+1]].
        self.genre_offsets = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(parents, minlength=self.n), out=self.genre_offsets[1:])
        self.genre_spans = np.stack([self.genre_offsets[:-1], self.genre_offsets[1:]], axis=1)
        self.genre_codes = codes
        self.genre_code_list: list[int] = codes.tolist()  # slicing a list beats a numpy slice + tolist
        by_code = self._groups(codes.astype(np.int64))
        self._genre_rows = {c: rows for c, pos in by_code.items()
                            if len(rows := _distinct_sorted(parents[pos][self.recommendable[parents[pos]]]))}

    def _title_groups(self, bundle: ModelBundle) -> None:
        """Which rows share their normalized title with another row (vectorised, from the bundle's
        title index), so that excluded() can find a row's twins, same title and artist, when it
        is first asked: none exist after the pipeline's dedupe, and normalizing the artists of
        every shared title at load cost seconds of a large catalog's load (benchmarks/
        serving_cold_start.py) for an answer almost always empty."""
        titles = bundle.title_index.sorted
        sizes = titles.sizes()
        shared = np.repeat(sizes > 1, sizes)
        self._titles = titles
        self._title_group = np.full(self.n, -1, dtype=np.int32)
        self._title_group[titles.rows[shared]] = titles.group_of_rows()[shared]
        self._key_pos = np.full(self.n, -1, dtype=np.int32)  # row -> its title key's position (versions)
        self._key_pos[titles.rows] = titles.group_of_rows()
        self._artists = ColumnReader(string_column(bundle.tracks["artist"]))
        self._twin_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._version_cache: dict[int, np.ndarray] = {}
        self._noted = np.zeros(self.n, dtype=np.int8)  # per row: 0 unknown, 1 no version note, 2 one (filled lazily)

    def _twins(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows sorted, their normalized artists' codes) of one shared title, computed once."""
        found = self._twin_cache.get(group)
        if found is None:
            rows = np.sort(self._titles.rows_of(group))
            names = [normalize_text(a) for a in self._artists.get(rows.tolist())]
            codes = {name: i for i, name in enumerate(dict.fromkeys(names))}
            found = (rows, np.array([codes[name] for name in names]))
            self._twin_cache[group] = found  # a race computes the same value twice, harmlessly
        return found

    def _group(self, cache: dict[int, Group], rows: np.ndarray, key: int) -> Group:
        group = cache.get(key)
        if group is None:
            with self._lock:  # built on first use; a second thread waits rather than builds twice
                group = cache.get(key)
                if group is None:
                    group = Group(rows, np.ascontiguousarray(self._full_scan[:, rows]))
                    cache[key] = group
        return group

    def subset_group(self, rows: np.ndarray) -> Group:
        """A scan group over any sorted rows (a market's, for steer()), not cached here."""
        return Group(rows, np.ascontiguousarray(self._full_scan[:, rows]))

    def warm(self) -> None:
        """Build every cluster and genre scan matrix now (the model store does this before it
        serves a new model, so no request pays for it)."""
        for key, rows in self._cluster_groups.items():
            self._group(self._cluster_cache, rows, key)
        for code, rows in self._genre_rows.items():
            self._group(self._genre_cache, rows, code)

    # -- per query ------------------------------------------------------------------------------
    def cluster_group(self, query: int) -> Group:
        key = int(self.clusters[query])
        return self._group(self._cluster_cache, self._cluster_groups[key], key)

    def has_group(self, query: int) -> bool:
        """The query's cluster exists (False for a track outside the model)."""
        return int(self.clusters[query]) in self._cluster_groups

    def genres_of(self, row: int) -> np.ndarray:
        return self.genre_codes[self.genre_offsets[row]:self.genre_offsets[row + 1]]

    def genre_group(self, code: int) -> Group:
        return self._group(self._genre_cache, self._genre_rows[int(code)], int(code))

    def track(self, row: int) -> tuple[list[str], list[str]]:
        """(the STRING_COLUMNS values, the genres) of one row, without pandas."""
        return self.records.get(np.array([row]))[0], [self.genre_names[c] for c in self.genres_of(row).tolist()]

    def excluded(self, query: int) -> np.ndarray:
        """The query, every row with its normalized title and artist, and the other versions of
        its song by its artist (text.song_key: "Dynamite - Tropical Remix" for "Dynamite"), sorted."""
        group = self._title_group[query]
        if group < 0:
            twins = np.array([query], dtype=np.int64)
        else:
            rows, artists = self._twins(int(group))
            twins = rows[artists == artists[np.searchsorted(rows, query)]]
        versions = self._versions(query)
        return np.union1d(twins, versions) if len(versions) else twins

    def _versions(self, query: int) -> np.ndarray:
        """Rows by the query's artist whose song_key is the query's, other than the query: the
        titles that start with the song's key are one contiguous run of the title index, read
        from its start (at most VERSION_SCAN keys: a one-word song's run can hold thousands of
        other titles; its versions sort among the first). Cached per row: a song asked for once
        is often asked for again."""
        found = self._version_cache.get(query)
        if found is not None:
            return found
        _, title, artist, *_ = self.records.get(np.array([query]))[0]
        titles, found = self._titles, np.zeros(0, dtype=np.int64)
        own = int(self._key_pos[query])
        if own >= 0 and not has_version_note(title):
            # most songs: the stored title key is the song key, found without a search; and
            # unless another row shares it or the next key extends it, there is no version
            base, start = titles.key(own), own
            alone = len(titles.rows_of(own)) == 1
            if alone and not (own + 1 < len(titles) and titles.key(own + 1).startswith(base + " ")):
                base = ""
        else:
            base = song_key(title)
            start = titles.lower_bound(base)
        if base:
            prefix = base + " "
            runs = []
            for i in range(start, min(len(titles), start + VERSION_SCAN)):
                key = titles.key(i)
                if key != base and not key.startswith(prefix):
                    break
                runs.append(titles.rows_of(i))
            rows = np.concatenate(runs) if runs else found
            rows = rows[rows != query]
            if len(rows):
                wanted = normalize_text(artist)
                same = [normalize_text(r[2]) == wanted and song_key(r[1]) == base for r in self.records.get(rows)]
                found = np.sort(rows[np.asarray(same, dtype=bool)])
        if len(self._version_cache) >= VERSION_CACHE:
            self._version_cache.clear()  # bounded; a race clears or fills twice, harmlessly
        self._version_cache[query] = found
        return found

    def repeated_songs(self, rows: np.ndarray) -> np.ndarray:
        """Mask of `rows` that are another version of an earlier row's song (same artist, same
        text.song_key): a list should hold a song once, not "MORE & MORE" and "MORE & MORE -
        English Version". Without a version note among the rows none can repeat (twins without
        one are merged by dedupe or are distinct recordings it kept), which is known from a
        per-row flag: most lists cost one array lookup."""
        rows = np.asarray(rows, dtype=np.int64)
        unknown = rows[self._noted[rows] == 0]
        if len(unknown):
            self._noted[unknown] = [2 if has_version_note(r[1]) else 1 for r in self.records.get(unknown)]
        if not (self._noted[rows] == 2).any():
            return np.zeros(len(rows), dtype=bool)
        seen: set[tuple[str, str]] = set()
        repeated = []
        for _, title, artist, *_ in self.records.get(rows):
            song = (normalize_text(artist), song_key(title))
            repeated.append(song in seen)
            seen.add(song)
        return np.array(repeated, dtype=bool)

    def genre_rows(self) -> dict[str, np.ndarray]:
        """genre name -> sorted rows of the tracks that carry it."""
        return {self.genre_names[code]: rows for code, rows in self._genre_rows.items()}


def recommend_index(bundle: ModelBundle) -> RecommendIndex:
    """The bundle's RecommendIndex, built on first use and kept with the bundle."""
    return bundle.derived("recommend_index", RecommendIndex)


def genre_index(bundle: ModelBundle) -> dict[str, np.ndarray]:
    """genre -> sorted row indices of the tracks that carry it (the recommend index's inverted
    index by genre, rather than a second sort of every genre string)."""
    return bundle.derived("genre_index", lambda b: recommend_index(b).genre_rows())


def one_per_song(ix: RecommendIndex, rank: Callable[[int], tuple[np.ndarray, np.ndarray]], k: int,
                 rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`rank(n)` -> (rows, values) of the n best, best first; the k best with each song once
    (RecommendIndex.repeated_songs), ranking deeper only when a song repeated: the common list
    is ranked once, as before."""
    want = k
    rows, values = rank(want)
    for _ in range(rounds):
        repeated = ix.repeated_songs(rows)
        if not repeated.any():
            return rows[:k], values[:k]
        kept_rows, kept_values = rows[~repeated], values[~repeated]
        if len(kept_rows) >= k or len(rows) < want:  # enough, or nothing more to rank
            break
        want += int(repeated.sum()) + 2
        rows, values = rank(want)
    else:
        repeated = ix.repeated_songs(rows)
        kept_rows, kept_values = rows[~repeated], values[~repeated]
    return kept_rows[:k], kept_values[:k]
