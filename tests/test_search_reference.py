"""The array-backed SearchIndex answers exactly like the plain dict-and-list index it replaced
(kept here as the reference), on a catalog made to catch the differences: shared titles with
equal and NaN chart counts, accents and case, "by" inside titles, titles that are prefixes of
others, titles that normalize to nothing, missing artists, and non-Latin scripts."""

from __future__ import annotations

import bisect
import random

import numpy as np
import pandas as pd
import pytest
from rapidfuzz import fuzz, process

from music_assets.text import normalize_text
from music_assets.model.search import _BY, QueryError, SearchIndex, check_query


class ReferenceIndex:
    """The straightforward index: a dict of title -> rows (most charted first) and a sorted list."""

    def __init__(self, titles, artists, popularity) -> None:
        self.titles = [normalize_text(t) for t in titles]
        self.artists = [normalize_text(a) for a in artists]
        order = np.argsort(-np.asarray(popularity, dtype=np.float64), kind="stable")
        self.rows: dict[str, list[int]] = {}
        for i in order:
            self.rows.setdefault(self.titles[i], []).append(int(i))
        self.keys = sorted(k for k in self.rows if k)

    def lookup(self, title, artist=None):
        rows = self.rows.get(normalize_text(title), [])
        if artist:
            wanted = f" {normalize_text(artist)} "
            rows = [i for i in rows if wanted in f" {self.artists[i]} "]
        return list(rows)

    def resolve(self, query, artist=None):
        query = check_query(query)
        if artist and artist.strip():
            check_query(artist, "artist")
            hits = self.lookup(query, artist)
            if hits:
                return hits, [], False
            hits = self.lookup(query)
            if hits:
                return hits, [], True
            return [], self.suggest(query), False
        for title, who in SearchIndex._readings(query):
            hits = self.lookup(title, who)
            if hits:
                return hits, [], False
        return [], self.suggest(_BY.split(query)[0] if _BY.search(query) else query), False

    def suggest(self, text, limit=5):
        key = normalize_text(text)
        if not key or not self.keys:
            return []
        found = process.extract(key, self.keys, scorer=fuzz.WRatio, limit=limit, score_cutoff=60)
        return [self.rows[k][0] for k, _s, _p in found]

    def complete(self, text, limit=10):
        key = normalize_text(text)
        if not key:
            return []
        out, seen = [], set()
        for title in self.keys[bisect.bisect_left(self.keys, key):]:
            if not title.startswith(key) or len(out) >= limit:
                break
            seen.add(title)
            out.extend(self.rows[title][: limit - len(out)])
        if len(out) < limit:
            for title in self.keys:
                if title not in seen and key in title:
                    out.extend(self.rows[title][: limit - len(out)])
                    if len(out) >= limit:
                        break
        return out


CATALOG = [  # title, artist, chart appearances
    ("Black Swan", "BTS", 50), ("Black Swan", "Thom Yorke", 80), ("black  swan!", "Athlete", 80),
    ("Black Swan", "BTS feat. Someone", 50), ("Black", "Pearl Jam", 30), ("Black Swan Song", "Athlete", 7),
    ("Señorita", "Shawn Mendes", 90), ("Senorita", "Justin Timberlake", 40), ("SEÑORITA", "Camila", np.nan),
    ("Stand by Me", "Ben E. King", 10), ("Stand by Me", "Oasis", 10), ("Stand", "R.E.M.", 3),
    ("Bye Bye Bye", "NSYNC", 60), ("By the Way", "Red Hot Chili Peppers", 20), ("by", "Nobody Special", 1),
    ("Straße", "Rammstein", 5), ("Strasse", "Somebody", 5), ("Ça plane pour moi", "Plastic Bertrand", 9),
    ("Ωμέγα", "Άλφα", 4), ("東京", "宇多田ヒカル", 6), ("!!!", "Chk Chk Chk", 12), ("", "Untitled Artist", 2),
    ("Intro", None, 3), ("Intro", "The xx", 3), ("Intro", "M83", np.nan), ("Intro", "Alt-J", 3),
    ("Blue", "Eiffel 65", 5), ("Blue (Da Ba Dee)", "Eiffel 65", 25), ("Blinding Lights", "The Weeknd", 99),
    ("Dynamite", "BTS", 70), ("Dynamite", "Taio Cruz", 70), ("Naïve", "The Kooks", 15), ("naive", "Kooks", 15),
    ("Love by Grace", "Lara Fabian", 8), ("Love", "Lana Del Rey", 8), ("Love Story", "Taylor Swift", 55),
    ("Swan Lake", "Tchaikovsky", 2), ("Lake", "Swan", 2), ("A B", "C D", 1), ("A", "B C D", 1),
]


def queries(rng: random.Random) -> list[str]:
    out = ["black swan", "Black Swan BTS", "Black Swan by BTS", "BTS Black Swan", "black swan by thom yorke",
           "Stand by Me by Ben E. King", "stand by me by oasis", "by", "by by", "Bye by NSYNC", "Love by Grace",
           "love by grace by lara fabian", "Love by Lana Del Rey", "senorita", "SEÑORITA by camila", "strasse",
           "straße rammstein", "ca plane pour moi", "ωμεγα αλφα", "東京", "intro", "intro the xx", "intro by m83",
           "Intro Nobody", "a b c d", "c d a b", "swan lake", "lake swan", "Blinding Light", "Dinamite by BTS",
           "zzzzqqqq", "<script>alert(1)</script>", "blue b", "blue eiffel 65", "Black Swan — BTS"]
    for title, artist, _ in CATALOG:
        if not normalize_text(title):
            continue
        words = title.split()
        out += [title, title.upper(), f"{title} {artist or ''}", f"{title} by {artist}", f"{artist} {title}",
                title[:-1], title[1:], " ".join(words[:1]), " ".join(reversed(words))]
    letters = "abcdeilnorstuwy ñéß"
    out += ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(60)]
    return [q for q in out if q.strip()]


def prefixes(rng: random.Random) -> list[str]:
    out = ["b", "bl", "bla", "black s", "sw", "swan", "lake", "in", "e", "s", "st", "stra", "ç", "ω", "東",
           "by", "love", "o", "!!!", "", "   ", "zz", "a"]
    for title, _, _ in CATALOG:
        key = normalize_text(title)
        out += [key[:n] for n in (1, 2, 3)] + [key[1:4], key[2:]]
    return out


def same_answers(index: SearchIndex, ref: ReferenceIndex, qs: list[str], ps: list[str], artists: list[str]) -> None:
    for q in qs:
        for artist in (None, *artists):
            try:
                want = ref.resolve(q, artist)
            except QueryError as exc:
                with pytest.raises(QueryError, match=str(exc)[:20]):
                    index.resolve(q, artist)
                continue
            got = index.resolve(q, artist)
            assert (got.matches, got.suggestions, got.artist_ignored) == want, (q, artist)
        assert index.lookup(q) == ref.lookup(q), q
        assert index.suggest(q) == ref.suggest(q), q
    for p in ps:
        for limit in (1, 2, 3, 10):
            assert index.complete(p, limit) == ref.complete(p, limit), (p, limit)


def test_same_answers_as_the_reference_on_a_tricky_catalog() -> None:
    rng = random.Random(7)
    titles, artists, pops = zip(*CATALOG)
    index, ref = SearchIndex(titles, artists, pops), ReferenceIndex(titles, artists, pops)
    assert len(index) == len(CATALOG)
    same_answers(index, ref, queries(rng), prefixes(rng), ["bts", "Thom Yorke", "nobody", "the", "oasis", "  "])
    # one key per normalized title, "" included, with its rows most charted first (NaN last)
    assert ref.rows["intro"] == [22, 23, 25, 24] and index.lookup("INTRO!") == [22, 23, 25, 24]
    assert index.lookup("!!!") == ref.lookup("!!!") == [20, 21]


def test_from_tracks_with_and_without_stored_title_keys_answers_alike() -> None:
    rng = random.Random(3)
    frame = pd.DataFrame(CATALOG, columns=["title", "artist", "chart_appearances"])
    ref = ReferenceIndex(frame["title"], frame["artist"], frame["chart_appearances"])
    keyed = frame.assign(title_key=[normalize_text(t) for t in frame["title"]])
    for tracks in (frame, keyed):
        same_answers(SearchIndex.from_tracks(tracks), ref, queries(rng)[:80], prefixes(rng), ["bts"])


def test_from_bundle_answers_like_the_reference_on_the_demo_bundle(demo_bundle) -> None:
    """The index serving builds (sharing the bundle's title index) on a real 3,000-track bundle."""
    rng = random.Random(11)
    tracks = demo_bundle.tracks
    index = SearchIndex.from_bundle(demo_bundle)
    ref = ReferenceIndex(list(tracks["title"]), list(tracks["artist"]), tracks["chart_appearances"].to_numpy())
    shared = [k for k, rows in ref.rows.items() if len(rows) > 1]
    assert shared, "the demo catalog has shared titles"
    picks = rng.sample(range(len(tracks)), 40)
    qs = [*shared[:20], *(f"{tracks['title'].iat[i]} by {tracks['artist'].iat[i]}" for i in picks),
          *(f"{tracks['artist'].iat[i]} {tracks['title'].iat[i]}" for i in picks[:10]),
          *(tracks["title"].iat[i][:-2] for i in picks[:10])]
    ps = [k[:n] for k in rng.sample(ref.keys, 30) for n in (1, 2, 4)] + [k[2:5] for k in rng.sample(ref.keys, 10)]
    same_answers(index, ref, qs, ps, [tracks["artist"].iat[picks[0]]])
