"""Finding the song a listener means (music_assets/model/search.py), on a small hand-made catalog."""

from __future__ import annotations

import pytest

from music_assets.model.search import MAX_QUERY_CHARS, QueryError, SearchIndex, check_query

CATALOG = [  # title, artist, chart appearances
    ("Black Swan", "BTS", 50),
    ("Black Swan", "Thom Yorke", 80),
    ("Señorita", "Shawn Mendes", 90),
    ("Stand by Me", "Ben E. King", 10),
    ("Blinding Lights", "The Weeknd", 99),
    ("Blue", "Eiffel 65", 5),
    ("Dynamite", "BTS", 70),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    titles, artists, pops = zip(*CATALOG)
    return SearchIndex(titles, artists, pops)


def title_artist(i: int) -> tuple[str, str]:
    return CATALOG[i][0], CATALOG[i][1]


@pytest.mark.parametrize("query", ["Black Swan BTS", "Black Swan by BTS", "black swan by bts", "BTS Black Swan",
                                   "  BLACK   SWAN -- bts ", "Black Swan — BTS"])
def test_artist_in_the_query_decides(index: SearchIndex, query: str) -> None:
    found = index.resolve(query)
    assert found.status == "found"
    assert title_artist(found.matches[0]) == ("Black Swan", "BTS")


def test_shared_title_without_artist_is_ambiguous_most_charted_first(index: SearchIndex) -> None:
    found = index.resolve("black swan")
    assert found.status == "ambiguous"
    assert [title_artist(i)[1] for i in found.matches] == ["Thom Yorke", "BTS"]


def test_separate_artist_field_narrows_or_is_reported_ignored(index: SearchIndex) -> None:
    assert title_artist(index.resolve("Black Swan", artist="thom yorke").matches[0])[1] == "Thom Yorke"
    nobody = index.resolve("Black Swan", artist="Nobody")
    assert nobody.artist_ignored and nobody.status == "ambiguous"


@pytest.mark.parametrize("query", ["senorita", "SEÑORITA", "Señorita", "señorita by shawn mendes"])
def test_accents_and_case_do_not_matter(index: SearchIndex, query: str) -> None:
    assert title_artist(index.resolve(query).matches[0]) == ("Señorita", "Shawn Mendes")


def test_by_inside_a_title_is_kept(index: SearchIndex) -> None:
    assert title_artist(index.resolve("Stand by Me").matches[0])[0] == "Stand by Me"
    assert title_artist(index.resolve("stand by me by ben e king").matches[0])[0] == "Stand by Me"


def test_artist_words_must_match_whole_words(index: SearchIndex) -> None:
    # "Blue B" is not "Blue" by an artist containing the letter b.
    assert index.resolve("Blue B").status == "not_found"


def test_unknown_song_gets_closest_titles(index: SearchIndex) -> None:
    found = index.resolve("Blinding Light")
    assert found.status == "not_found"
    assert title_artist(found.suggestions[0])[0] == "Blinding Lights"
    assert title_artist(index.resolve("Dinamite by BTS").suggestions[0])[0] == "Dynamite"
    assert index.resolve("zzzzqqqq").suggestions == []


def test_autocomplete_prefix_then_contains(index: SearchIndex) -> None:
    titles = [title_artist(i) for i in index.complete("bl")]
    assert titles[:4] == [("Black Swan", "Thom Yorke"), ("Black Swan", "BTS"), ("Blinding Lights", "The Weeknd"),
                          ("Blue", "Eiffel 65")]
    assert [title_artist(i)[0] for i in index.complete("swan")] == ["Black Swan", "Black Swan"]
    assert len(index.complete("b", limit=2)) == 2
    assert index.complete("") == [] and index.complete("!!!") == []


@pytest.mark.parametrize("bad", ["", "   ", "x" * (MAX_QUERY_CHARS + 1), "x" * 10_240, "!!!"])
def test_empty_huge_or_symbol_only_queries_are_refused(index: SearchIndex, bad: str) -> None:
    with pytest.raises(QueryError):
        check_query(bad)
    with pytest.raises(QueryError):
        index.resolve(bad)


def test_html_in_a_query_is_just_text(index: SearchIndex) -> None:
    found = index.resolve("<script>alert(1)</script>")
    assert found.status == "not_found"
