"""Recommendation modes over the published demo bundle."""

from __future__ import annotations

import numpy as np
import pytest

from music_assets.text import normalize_text
from music_assets.model.recommend import MODES, RecommendationError, find_tracks, recommend


def popular_queries(bundle, n: int = 25) -> list[int]:
    """The most charted tracks the model holds (a track without features gets no recommendations:
    tests/test_featureless.py)."""
    order = np.argsort(-bundle.tracks["chart_appearances"].to_numpy(), kind="stable")
    return [int(i) for i in order if bundle.in_model[i]][:n]


@pytest.mark.parametrize("mode", MODES)
def test_results_exclude_the_query_and_its_duplicates(demo_bundle, mode: str) -> None:
    t = demo_bundle.tracks
    for q in popular_queries(demo_bundle):
        if mode == "genre" and not t["genres"].iat[q]:
            continue
        results = recommend(demo_bundle, q, mode, 10)
        assert 0 < len(results) <= 10
        query_key = (normalize_text(t["title"].iat[q]), normalize_text(t["artist"].iat[q]))
        for r in results:
            assert r.index != q and r.track_id not in t["alias_ids"].iat[q]
            assert (normalize_text(r.title), normalize_text(r.artist)) != query_key
        distances = [r.distance for r in results]
        assert distances == sorted(distances)


def test_normal_mode_stays_in_the_query_cluster(demo_bundle) -> None:
    for q in popular_queries(demo_bundle):
        for r in recommend(demo_bundle, q, "normal", 10):
            assert demo_bundle.clusters[r.index] == demo_bundle.clusters[q]


def test_genre_mode_shares_a_genre(demo_bundle) -> None:
    t = demo_bundle.tracks
    for q in popular_queries(demo_bundle):
        if not t["genres"].iat[q]:
            with pytest.raises(RecommendationError, match="no genre information"):
                recommend(demo_bundle, q, "genre", 10)
            continue
        for r in recommend(demo_bundle, q, "genre", 10):
            assert set(r.genres) & set(t["genres"].iat[q])
            assert r.reason.startswith("shares ")


def test_nearest_mode_is_the_exact_nearest_neighbour_list(demo_bundle) -> None:
    q = popular_queries(demo_bundle, 1)[0]
    d = np.linalg.norm(demo_bundle.scaled - demo_bundle.scaled[q], axis=1)
    d[q] = np.inf
    expected = np.argsort(d, kind="stable")[:10]
    got = [r.index for r in recommend(demo_bundle, q, "nearest", 10)]
    assert np.allclose(sorted(d[got]), sorted(d[expected]), atol=1e-5)


def test_find_tracks_is_case_and_accent_insensitive(demo_bundle) -> None:
    q = popular_queries(demo_bundle, 1)[0]
    title, artist = demo_bundle.tracks["title"].iat[q], demo_bundle.tracks["artist"].iat[q]
    assert q in find_tracks(demo_bundle, f"  {title.upper()} ")
    assert find_tracks(demo_bundle, title, artist.lower())[0] == q
    assert find_tracks(demo_bundle, "no such song anywhere") == []


def test_a_shared_title_finds_every_artist(demo_bundle) -> None:
    shared = [idx for idx in demo_bundle.title_index.values() if len(idx) > 1]
    assert shared, "the demo catalog should have titles shared by different artists"
    idx = shared[0]
    assert sorted(find_tracks(demo_bundle, demo_bundle.tracks["title"].iat[idx[0]])) == sorted(idx.tolist())


def test_bad_requests_raise_a_readable_error(demo_bundle) -> None:
    with pytest.raises(RecommendationError, match="unknown mode"):
        recommend(demo_bundle, 0, "psychic", 10)
    with pytest.raises(RecommendationError, match="k must be"):
        recommend(demo_bundle, 0, "normal", 0)


@pytest.mark.parametrize("mode", MODES)
def test_result_fields_and_reasons_match_the_catalog_row(demo_bundle, mode: str) -> None:
    """recommend() reads results from per-bundle arrays; they must say what the tracks frame says,
    and each reason what explain() (pandas lookups, the reference) says."""
    from music_assets.model.recommend import explain

    t = demo_bundle.tracks
    rng = np.random.default_rng(11)
    shared_title = [int(r) for rows in demo_bundle.title_index.values() if len(rows) > 1
                    for r in rows[:1] if demo_bundle.in_model[r]][:10]
    for q in [*map(int, rng.choice(np.flatnonzero(demo_bundle.in_model), 30, replace=False)), *shared_title]:
        if mode == "genre" and not len(t["genres"].iat[q]):
            continue
        for r in recommend(demo_bundle, q, mode, 10):
            i = r.index
            assert (r.track_id, r.title, r.artist, r.preview_url, r.cover_url) == (
                t["track_id"].iat[i], t["title"].iat[i], t["artist"].iat[i], t["preview_url"].iat[i], t["cover_url"].iat[i])
            assert r.genres == list(t["genres"].iat[i])
            if mode == "hybrid":  # ranked by blended vectors, explained by its signals: test_hybrid_mode.py
                continue
            assert r.reason == explain(demo_bundle, q, i)
            assert r.distance == pytest.approx(float(np.linalg.norm(demo_bundle.scaled[i] - demo_bundle.scaled[q])), abs=1e-5)


def test_a_twin_under_another_id_is_never_recommended(demo_bundle) -> None:
    """Two rows with the same normalized title and artist (spelled differently) exclude each
    other, even when one is the other's nearest neighbour; a same-titled song by someone else stays."""
    import dataclasses

    t = demo_bundle.tracks.copy()
    q, twin, other = 0, 1, 2
    title, artist = t["title"].iat[q], t["artist"].iat[q]
    t.loc[twin, ["title", "title_key", "artist"]] = [f"  {title.upper()}!", normalize_text(title), f"{artist.lower()}."]
    t.loc[other, ["title", "title_key"]] = [title, normalize_text(title)]
    scaled = demo_bundle.scaled.copy()
    scaled[[twin, other]] = scaled[q] + 1e-4  # both would be the nearest neighbours
    bundle = dataclasses.replace(demo_bundle, tracks=t, scaled=scaled)
    for a, b in ((q, twin), (twin, q)):
        got = [r.index for r in recommend(bundle, a, "nearest", 10)]
        assert b not in got and a not in got and other in got


def test_other_versions_of_the_asked_song_by_its_artist_are_never_recommended(demo_bundle) -> None:
    """"Dynamite - Acoustic Remix" is not a recommendation for "Dynamite" (nor the other way
    round); the same song by another artist and a longer title that is another song stay."""
    import dataclasses

    from music_assets.text import song_key

    assert song_key("Dynamite - Tropical Remix") == song_key("Dynamite (feat. X)") == song_key("Dynamite [Live]") == "dynamite"
    assert song_key("(I Can't Get No) Satisfaction") == "i cant get no satisfaction" and song_key("Half-Life") == "half life"
    t = demo_bundle.tracks.copy()
    q, remix, feat, cover, longer = 0, 1, 2, 3, 4
    title, artist = t["title"].iat[q], t["artist"].iat[q]
    rows = {remix: (f"{title} - Acoustic Remix", artist), feat: (f"{title.upper()} (feat. Somebody)", f"{artist.lower()}."),
            cover: (f"{title} - Live", "Somebody Else"), longer: (f"{title} Forever", artist)}
    for row, (new_title, new_artist) in rows.items():
        t.loc[row, ["title", "title_key", "artist"]] = [new_title, normalize_text(new_title), new_artist]
    scaled = demo_bundle.scaled.copy()
    scaled[list(rows)] = scaled[q] + 1e-4  # all would be the nearest neighbours
    bundle = dataclasses.replace(demo_bundle, tracks=t, scaled=scaled)
    for asked, versions in ((q, {remix, feat}), (remix, {q, feat})):
        got = {r.index for r in recommend(bundle, asked, "nearest", 10)}
        assert not got & versions and asked not in got
        assert {cover, longer} <= got


@pytest.mark.parametrize("mode", ["nearest", "hybrid"])
def test_a_list_holds_each_song_once(demo_bundle, mode: str) -> None:
    """Three versions of one song by one artist among the query's best results ("Song", "Song -
    Live", "SONG (Remastered)"): the list keeps the best placed one and still has k results; the
    same title by another artist stays."""
    import dataclasses

    q = int(np.flatnonzero(demo_bundle.in_model)[0])
    before = [r.index for r in recommend(demo_bundle, q, mode, 10)]
    first, second, third, other = before[1], before[3], before[5], before[7]
    t = demo_bundle.tracks.copy()
    versions = {first: ("Paper Lanterns - Live", "The Versions"), second: ("Paper Lanterns", "the versions"),
                third: ("PAPER LANTERNS (Remastered 2011)", "The Versions"), other: ("Paper Lanterns", "Someone Else")}
    for row, (title, artist) in versions.items():
        t.loc[row, ["title", "title_key", "artist"]] = [title, normalize_text(title), artist]
    bundle = dataclasses.replace(demo_bundle, tracks=t)
    bundle.derived("hybrid_model", lambda b: demo_bundle.derived("hybrid_model", lambda _: None))
    got = [r.index for r in recommend(bundle, q, mode, 10)]
    assert len(got) == 10
    assert first in got and second not in got and third not in got and other in got
    assert [r for r in before if r not in (second, third)] == got[:8]  # the rest keeps its order
