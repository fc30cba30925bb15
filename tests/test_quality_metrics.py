"""training/evaluate.py against values computed by hand on a five-track catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from music_assets.training.evaluate import (
    RANDOM_MODE, Catalog, append_history, evaluate_mode, evaluate_modes, genre_share, pick_winner, quality_report,
    random_recommender, regression, sample_queries,
)

# row:        0      1          2      3      4
GENRES = [["a"], ["a", "b"], ["b"], ["c"], []]
ARTISTS = ["x", "x", "y", "z", "y"]
POPULARITY = np.array([1.0, 2.0, 3.0, 4.0, 10.0])  # catalog mean 4.0
FEATURES = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
TINY = Catalog(GENRES, ARTISTS, POPULARITY, FEATURES)


def fixed(results: dict[int, list[int]]):
    return lambda q: results.get(q, [])


def test_metrics_match_hand_computed_values() -> None:
    # q0 -> [1, 2]: 1 shares genre a and artist x; 2 shares neither.
    # q2 -> [1, 4]: 1 shares genre b (not the artist); 4 has no genre but the same artist y.
    m = evaluate_mode(TINY, fixed({0: [1, 2], 2: [1, 4]}), queries=[0, 2], k=2)
    assert m["genre_hit_rate"] == pytest.approx(2 / 4)
    assert m["artist_hit_rate"] == pytest.approx(2 / 4)
    assert m["coverage"] == pytest.approx(3 / 5)  # tracks 1, 2, 4 were shown
    assert m["diversity"] == pytest.approx((abs(1 - 3) + abs(1 - 10)) / 2)  # 2 and 9
    assert m["popularity_bias"] == pytest.approx(((2 + 3 + 2 + 10) / 4) / 4.0)
    assert m["answered"] == 1.0


def test_short_lists_count_empty_slots_as_misses() -> None:
    # q0 gets one good result out of k=2, q3 gets nothing at all.
    m = evaluate_mode(TINY, fixed({0: [1]}), queries=[0, 3], k=2)
    assert m["genre_hit_rate"] == pytest.approx(1 / 4)
    assert m["answered"] == 0.0
    assert m["diversity"] == 0.0  # no list with two results
    assert m["coverage"] == pytest.approx(1 / 5)


def test_results_beyond_k_are_ignored() -> None:
    m = evaluate_mode(TINY, fixed({0: [1, 2, 3]}), queries=[0], k=1)
    assert m["genre_hit_rate"] == 1.0 and m["coverage"] == pytest.approx(1 / 5)


def test_no_queries_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no query"):
        evaluate_mode(TINY, fixed({}), queries=[], k=2)


def test_queries_only_tracks_with_a_genre_and_are_seeded() -> None:
    q = sample_queries(TINY, n=10, seed=1)
    assert list(q) == [0, 1, 2, 3]  # track 4 has no genre
    assert list(sample_queries(TINY, 2, seed=7)) == list(sample_queries(TINY, 2, seed=7))
    unlabelled = Catalog([[], []], ["x", "y"], np.ones(2), np.zeros((2, 1)))
    assert list(sample_queries(unlabelled, 5, 0)) == [0, 1]  # other metrics still measurable
    assert genre_share(unlabelled) == 0.0 and genre_share(TINY) == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match="empty"):
        sample_queries(Catalog([], [], np.ones(0), np.zeros((0, 1))), 5, 0)


def test_random_floor_never_returns_the_query_and_is_distinct() -> None:
    rec = random_recommender(n_tracks=5, k=3, seed=0)
    for q in range(5):
        for _ in range(20):
            out = rec(q)
            assert q not in out and len(set(out)) == 3 and all(0 <= r < 5 for r in out)
    assert random_recommender(5, 10, 0)(2) and len(random_recommender(5, 10, 0)(2)) == 4  # k capped by catalog


def test_evaluate_modes_adds_the_random_floor() -> None:
    table = evaluate_modes(TINY, {"perfect": fixed({0: [1], 1: [0], 2: [1], 3: [0]})}, [0, 1, 2, 3], k=1)
    assert list(table["mode"]) == ["perfect", RANDOM_MODE]
    assert table.loc[0, "genre_hit_rate"] == pytest.approx(3 / 4)  # q3 (genre c) has no genre mate


def table(rows: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"mode": m, "genre_hit_rate": g, "coverage": c, "answered": a, "artist_hit_rate": 0.0,
                          "diversity": 1.0, "popularity_bias": 1.0} for m, (g, c, a) in rows.items()])


def test_winner_is_best_genre_hit_rate_among_eligible_modes() -> None:
    t = table({"normal": (0.30, 0.5, 1.0), "nearest": (0.35, 0.4, 1.0), "genre": (1.0, 0.9, 1.0),
               "partial": (0.9, 0.9, 0.5), RANDOM_MODE: (0.05, 0.9, 1.0)})
    assert pick_winner(t) == "nearest"  # genre filters on the scored label; partial misses queries
    tie = table({"normal": (0.30, 0.5, 1.0), "nearest": (0.30, 0.6, 1.0), RANDOM_MODE: (0.05, 0.9, 1.0)})
    assert pick_winner(tie) == "nearest"  # wider coverage breaks the tie
    hopeless = table({"nearest": (0.04, 0.6, 1.0), RANDOM_MODE: (0.05, 0.9, 1.0)})
    assert pick_winner(hopeless) == "normal"


def test_quality_report_and_regression() -> None:
    t = table({"normal": (0.30, 0.5, 1.0), "nearest": (0.35, 0.4, 1.0), RANDOM_MODE: (0.05, 0.9, 1.0)})
    report = quality_report(t, "v1", k=10, n_queries=4, seed=0)
    assert report["winner"] == "nearest" and report["modes"]["normal"]["genre_hit_rate"] == 0.3
    assert regression(report, None, 0.03) == []
    better_before = {"modes": {"normal": {"genre_hit_rate": 0.40}, "nearest": {"genre_hit_rate": 0.36},
                               RANDOM_MODE: {"genre_hit_rate": 0.9}}}
    problems = regression(report, better_before, 0.03)
    assert len(problems) == 1 and problems[0].startswith("normal")  # nearest within tolerance, random ignored
    assert regression({**report, "genre_labelled_share": 0.0}, better_before, 0.03) == []  # not comparable


def test_history_keeps_versions_and_replaces_a_reevaluated_one() -> None:
    t1 = table({"normal": (0.3, 0.5, 1.0), RANDOM_MODE: (0.05, 0.9, 1.0)})
    h = append_history(None, t1, "v1", "2026-01-01T00:00:00")
    h = append_history(h, t1.assign(genre_hit_rate=0.4), "v2", "2026-01-02T00:00:00")
    h = append_history(h, t1.assign(genre_hit_rate=0.5), "v2", "2026-01-02T01:00:00")
    assert sorted(h["version"].unique()) == ["v1", "v2"] and len(h) == 4
    assert set(h.loc[h["version"] == "v2", "genre_hit_rate"]) == {0.5}
