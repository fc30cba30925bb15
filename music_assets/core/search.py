"""Finding the song a listener means: query forms, shared titles, autocomplete, did-you-mean.

A listener types "black swan", "Black Swan BTS", "Black Swan by BTS" or "BTS Black Swan", with
any case and accents. Titles and artists are compared in `normalize_text` form (the same form
the pipeline deduplicates on). Closest-title suggestions use rapidfuzz (C++, a few ms over
20,000 titles) rather than difflib, whose pure-Python ratio is ~100x slower at catalog size.
Pure logic: imports neither flask nor dagster.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from rapidfuzz import fuzz, process

from music_assets.core.cleaning import normalize_text

MAX_QUERY_CHARS = 200  # longest title + artist a person types; longer input is refused, not searched
_BY = re.compile(r"\s+by\s+", re.IGNORECASE)


class QueryError(ValueError):
    """A query that cannot be searched (empty or too long); the message is fit to show a listener."""


def check_query(text: str | None, what: str = "song title") -> str:
    """The stripped query, or QueryError when it is empty or longer than MAX_QUERY_CHARS."""
    text = (text or "").strip()
    if not text:
        raise QueryError(f"Type a {what} to search for.")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"That {what} is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS}.")
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
    """Title/artist lookup over one catalog; built once per loaded model."""

    def __init__(self, titles: Sequence[str], artists: Sequence[str], popularity: Sequence[float]) -> None:
        self._titles = [normalize_text(t) for t in titles]
        self._artists = [normalize_text(a) for a in artists]
        order = np.argsort(-np.asarray(popularity, dtype=np.float64), kind="stable")
        rows: dict[str, list[int]] = {}
        for i in order:  # most charted first within each title
            rows.setdefault(self._titles[i], []).append(int(i))
        self._rows = rows
        self._keys = sorted(k for k in rows if k)  # for prefix search by bisection

    @classmethod
    def from_tracks(cls, tracks) -> "SearchIndex":
        """From a bundle's tracks frame (title, artist, chart_appearances)."""
        pop = tracks["chart_appearances"] if "chart_appearances" in tracks else np.zeros(len(tracks))
        return cls(list(tracks["title"]), list(tracks["artist"]), np.asarray(pop, dtype=np.float64))

    def __len__(self) -> int:
        return len(self._titles)

    # -- exact lookup -------------------------------------------------------------------------
    def lookup(self, title: str, artist: str | None = None) -> list[int]:
        """Rows titled `title`, optionally only those whose artist contains `artist` as whole words."""
        rows = self._rows.get(normalize_text(title), [])
        if artist:
            wanted = f" {normalize_text(artist)} "
            rows = [i for i in rows if wanted in f" {self._artists[i]} "]
        return list(rows)

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
    def suggest(self, text: str, limit: int = 5) -> list[int]:
        """Did-you-mean: the most charted row of each of the `limit` closest titles."""
        key = normalize_text(text)
        if not key or not self._keys:
            return []
        found = process.extract(key, self._keys, scorer=fuzz.WRatio, limit=limit, score_cutoff=60)
        return [self._rows[k][0] for k, _score, _pos in found]

    def complete(self, text: str, limit: int = 10) -> list[int]:
        """Autocomplete: rows whose title starts with `text`, then titles containing it."""
        key = normalize_text(text)
        if not key:
            return []
        out: list[int] = []
        seen: set[str] = set()
        start = bisect.bisect_left(self._keys, key)
        for title in self._keys[start:]:
            if not title.startswith(key) or len(out) >= limit:
                break
            seen.add(title)
            out.extend(self._rows[title][: limit - len(out)])
        if len(out) < limit:
            for title in self._keys:  # linear, but only when prefixes are scarce
                if title not in seen and key in title:
                    out.extend(self._rows[title][: limit - len(out)])
                    if len(out) >= limit:
                        break
        return out
