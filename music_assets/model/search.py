"""Finding the song a listener means: query forms, shared titles, autocomplete, did-you-mean.

A listener types "black swan", "Black Swan BTS", "Black Swan by BTS" or "BTS Black Swan", with
any case and accents. Titles and artists are compared in `normalize_text` form (the same form
the pipeline deduplicates on). Closest-title suggestions use rapidfuzz (C++) rather than
difflib, whose pure-Python ratio is far too slow at catalog size (tests/test_search_reference.py
checks the answers agree; benchmarks/serving_cold_start.py times the first did-you-mean).
The index holds sorted arrays, not a Python object per track (see SearchIndex). Pure logic: imports neither flask nor dagster.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process

from music_assets.text import normalize_text
from music_assets.model.sorted_keys import ColumnReader, SortedKeys, string_column

if TYPE_CHECKING:
    from music_assets.model.bundle import ModelBundle

MAX_QUERY_CHARS = 200  # longest title + artist a person types; longer input is refused, not searched
_BY = re.compile(r"\s+by\s+", re.IGNORECASE)
_CONTAINS_BLOCK = 65_536  # titles per Arrow substring scan in autocomplete
TITLE_KEY = "title_key"  # bundle.TITLE_KEY: normalize_text(title), stored in the bundle


class QueryError(ValueError):
    """A query that cannot be searched (empty or too long); the message is fit to show a listener."""


def check_query(text: str | None, what: str = "song title") -> str:
    """The stripped query, or QueryError when it is empty or longer than MAX_QUERY_CHARS."""
    text = (text or "").strip()
    if not text:
        raise QueryError(f"Type a {what} to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"That {what} is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS} "
                         "characters. Shorten it and search again.")
    if not normalize_text(text):
        raise QueryError(f"That {what} has no letters or digits to search for.")
    return text


@dataclass(frozen=True)
class Resolution:
    """What a query resolved to: matching rows (most charted first) or closest-title suggestions."""

    query: str
    matches: list[int] = field(default_factory=list)
    suggestions: list[int] = field(default_factory=list)
    artist_ignored: bool = False  # an artist was given but no song of that title is by them

    @property
    def status(self) -> str:
        """'found' (one song), 'ambiguous' (several songs share the title) or 'not_found'."""
        if not self.matches:
            return "not_found"
        return "found" if len(self.matches) == 1 else "ambiguous"


class SearchIndex:
    """Title/artist lookup over one catalog; built once per loaded model.

    Titles are kept as SortedKeys (distinct normalized titles, sorted, each with its rows most
    charted first): exact and prefix lookups binary-search them and "contains" scans them with
    Arrow, so a million-track model builds its index in a sort instead of a Python dict and
    lists, which took most of a cold start (benchmarks/serving_cold_start.py). Artists are
    normalized only for the rows of a matched title, at
    query time (a handful, where the whole catalog cost seconds at load). The list of titles
    rapidfuzz compares with is built on the first did-you-mean, not at load.
    """

    def __init__(self, titles: Sequence[str] | pa.Array | pa.ChunkedArray,
                 artists: Sequence[str] | pa.Array | pa.ChunkedArray, popularity: Sequence[float],
                 title_keys: SortedKeys | None = None) -> None:
        """`title_keys`, when given, are the normalized titles already indexed (rows in any order
        within a title, e.g. the bundle's title index); otherwise titles are normalized here."""
        if title_keys is None:
            titles = titles.to_pylist() if isinstance(titles, (pa.Array, pa.ChunkedArray)) else titles
            title_keys = SortedKeys(pa.array([normalize_text(t) for t in titles], pa.large_string()))
        # most charted first within each title; equal counts keep row order
        self._titles = title_keys.reordered(-np.asarray(popularity, dtype=np.float64))
        if not isinstance(artists, (pa.Array, pa.ChunkedArray)):  # a plain sequence (tests, tools)
            artists = pa.array([a if isinstance(a, str) else None for a in artists], pa.string())
        self._artists = ColumnReader(artists)
        self._n = len(self._artists)
        self._choices: list[str] | None = None
        self._choices_lock = threading.Lock()

    @classmethod
    def from_tracks(cls, tracks) -> "SearchIndex":
        """From a bundle's tracks frame (title, artist, chart_appearances; title_key when stored)."""
        pop = tracks["chart_appearances"] if "chart_appearances" in tracks else np.zeros(len(tracks))
        keys = SortedKeys(string_column(tracks[TITLE_KEY])) if TITLE_KEY in tracks else None
        return cls(string_column(tracks["title"]), string_column(tracks["artist"]),
                   np.asarray(pop, dtype=np.float64), title_keys=keys)

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> "SearchIndex":
        """From a loaded bundle, sharing its title index (one sort of the titles, not two)."""
        tracks = bundle.tracks
        pop = tracks["chart_appearances"] if "chart_appearances" in tracks else np.zeros(len(tracks))
        return cls(string_column(tracks["title"]), string_column(tracks["artist"]),
                   np.asarray(pop, dtype=np.float64), title_keys=bundle.title_index.sorted)

    def __len__(self) -> int:
        return self._n

    def _rows(self, key: str) -> np.ndarray:
        i = self._titles.find(key)
        return self._titles.rows_of(i) if i >= 0 else np.zeros(0, dtype=np.int64)

    # -- exact lookup -------------------------------------------------------------------------
    def lookup(self, title: str, artist: str | None = None) -> list[int]:
        """Rows titled `title`, optionally only those whose artist contains `artist` as whole words."""
        rows = self._rows(normalize_text(title)).tolist()
        if artist and rows:
            wanted = f" {normalize_text(artist)} "
            names = self._artists.get(rows)
            rows = [i for i, name in zip(rows, names) if wanted in f" {normalize_text(name)} "]
        return rows

    def resolve(self, query: str, artist: str | None = None) -> Resolution:
        """Interpret a typed query; `artist` (a separate field) narrows songs sharing a title."""
        query = check_query(query)
        if artist and artist.strip():
            check_query(artist, "artist")
            hits = self.lookup(query, artist)
            if hits:
                return Resolution(query, matches=hits)
            hits = self.lookup(query)
            if hits:
                return Resolution(query, matches=hits, artist_ignored=True)
            return Resolution(query, suggestions=self.suggest(query))
        for title, who in self._readings(query):
            hits = self.lookup(title, who)
            if hits:
                return Resolution(query, matches=hits)
        return Resolution(query, suggestions=self.suggest(_BY.split(query)[0] if _BY.search(query) else query))

    @staticmethod
    def _readings(query: str) -> list[tuple[str, str | None]]:
        """Ways to read a query, most literal first: 'T by A', 'T', 'T A...', 'A... T'."""
        readings: list[tuple[str, str | None]] = []
        parts = _BY.split(query)
        if len(parts) >= 2:  # split at the last " by " ("Stand by Me by Ben E. King")
            readings.append((" by ".join(parts[:-1]), parts[-1]))
        readings.append((query, None))
        words = normalize_text(query).split()
        for i in range(len(words) - 1, 0, -1):
            readings.append((" ".join(words[:i]), " ".join(words[i:])))
        for i in range(1, len(words)):
            readings.append((" ".join(words[i:]), " ".join(words[:i])))
        return readings

    # -- fuzzy --------------------------------------------------------------------------------
    def _fuzzy_choices(self) -> list[str]:
        """The distinct titles as a list, which rapidfuzz needs; built once, on first use, so only a
        listener who misspells pays for it (benchmarks/serving_cold_start.py). A title that
        normalizes to "" scores 0 against any key, so it is never suggested."""
        if self._choices is None:
            with self._choices_lock:
                if self._choices is None:
                    self._choices = self._titles.keys.to_pylist()
        return self._choices

    def suggest(self, text: str, limit: int = 5) -> list[int]:
        """Did-you-mean: the most charted row of each of the `limit` closest titles."""
        key = normalize_text(text)
        if not key or not len(self._titles):
            return []
        found = process.extract(key, self._fuzzy_choices(), scorer=fuzz.WRatio, limit=limit, score_cutoff=60)
        return [int(self._titles.rows_of(pos)[0]) for _title, _score, pos in found]

    def complete(self, text: str, limit: int = 10) -> list[int]:
        """Autocomplete: rows whose title starts with `text`, then titles containing it."""
        key = normalize_text(text)
        if not key:
            return []
        titles, out = self._titles, []
        first = i = titles.lower_bound(key)
        while i < len(titles) and len(out) < limit and titles.key(i).startswith(key):
            out.extend(titles.rows_of(i)[: limit - len(out)].tolist())
            i += 1
        if len(out) < limit:  # titles containing it (those starting with it are first..i-1)
            for j in self._containing(key, skip=(first, i)):
                out.extend(titles.rows_of(j)[: limit - len(out)].tolist())
                if len(out) >= limit:
                    break
        return out

    def _containing(self, key: str, skip: tuple[int, int]) -> Iterator[int]:
        """Positions of the titles containing `key`, in title order, outside `skip`; scanned by
        Arrow a block at a time, so a common substring stops after the first block."""
        keys = self._titles.keys
        for start in range(0, len(keys), _CONTAINS_BLOCK):
            hits = pc.match_substring(keys.slice(start, _CONTAINS_BLOCK), key)
            for j in (np.flatnonzero(hits.to_numpy(zero_copy_only=False)) + start).tolist():
                if not skip[0] <= j < skip[1]:
                    yield j
