"""Chart profiles, genre vectors, the blend and the co-chart relevance, on chart_rows Parquet files
written to disk (the shape the chart_rows asset writes), checked against plain-Python oracles."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from music_assets import storage
from music_assets.ingest.charts.rows import CHART_ROW_SCHEMA
from music_assets.model.hybrid import SIGNALS, HybridWeights, blend, query_vector, top_k
from music_assets.training.cochart_eval import lift_relevance, make_split, presence, query_hits, ranking_metrics, \
    ratio_interval
from music_assets.training.hybrid_weights import ScoreParts, score_parts
from music_assets.training.signals.catalog_signals import CatalogSignals
from music_assets.training.signals.chart_profile import ProfileParams, align, compute_profiles
from music_assets.training.signals.genre_vectors import genre_vectors

START = date(2020, 1, 6)


def chart_file(path: Path, rows: list[tuple[str, str, str, date, int]]) -> Path:
    """(track_id, artist, region, date, rank) rows as a chart_rows Parquet file."""
    df = pd.DataFrame(rows, columns=["track_id", "artist", "region", "date", "rank"])
    table = pa.table({
        "title": "t " + df["track_id"], "rank": df["rank"].astype("int32"), "date": df["date"],
        "artist": df["artist"], "url": "https://open.spotify.com/track/" + df["track_id"],
        "region": df["region"], "chart": ["top200"] * len(df), "trend": ["SAME_POSITION"] * len(df),
        "streams": (1000.0 / df["rank"]).astype("float64"), "track_id": df["track_id"],
    }, schema=CHART_ROW_SCHEMA)
    storage.write_parquet(table, path)
    return path


def two_audiences(days: int = 120, seed: int = 0) -> list[tuple[str, str, str, date, int]]:
    """Tracks a* chart in Korea and the Philippines, b* in Brazil and Mexico; within an audience,
    each track charts on a random 60% of days."""
    rng = np.random.default_rng(seed)
    rows = []
    groups = {"a": ("South Korea", "Philippines"), "b": ("Brazil", "Mexico")}
    for g, regions in groups.items():
        for t in range(6):
            for d in range(days):
                for region in regions:
                    if rng.random() < 0.6:
                        rows.append((f"{g}{t}", f"artist {g}{t % 3}", region, START + timedelta(days=d),
                                     int(rng.integers(1, 200))))
    return rows


def test_chart_profiles_put_one_audience_together_and_ignore_rows_after_the_cut(tmp_path: Path) -> None:
    rows = two_audiences()
    path = chart_file(tmp_path / "rows.parquet", rows)
    cut = START + timedelta(days=90)
    profiles = compute_profiles(path, cut, ProfileParams(dims=4))
    assert list(profiles.track_ids) == sorted({r[0] for r in rows})
    v = dict(zip(profiles.track_ids, profiles.vectors))
    assert np.allclose(np.linalg.norm(profiles.vectors, axis=1), 1, atol=1e-5)
    within = np.mean([v[f"a{i}"] @ v[f"a{j}"] for i, j in itertools.combinations(range(6), 2)])
    across = np.mean([v[f"a{i}"] @ v[f"b{j}"] for i in range(6) for j in range(6)])
    assert within > across + 0.5
    assert set(profiles.top_region[:6]) <= {"South Korea", "Philippines"}
    # rows after the cut change nothing: only what was known before it counts
    changed = rows + [("a0", "artist a0", "Brazil", cut + timedelta(days=d), 1) for d in range(20)]
    again = compute_profiles(chart_file(tmp_path / "changed.parquet", changed), cut, ProfileParams(dims=4))
    assert np.array_equal(again.vectors, profiles.vectors) and np.array_equal(again.recency, profiles.recency)


def test_a_track_without_chart_history_gets_its_artists_profile(tmp_path: Path) -> None:
    path = chart_file(tmp_path / "rows.parquet", two_audiences())
    profiles = compute_profiles(path, START + timedelta(days=90), ProfileParams(dims=4))
    vectors, recency, source, _ = align(profiles, ["a0", "new", "lonely", "a3"],
                                        ["artist a0", "artist a0", "nobody", "artist a0"])
    assert list(source) == ["track", "artist", "none", "track"]
    a_tracks = [i for i, t in enumerate(profiles.track_ids) if t in ("a0", "a3")]  # artist a0's tracks
    expected = profiles.vectors[a_tracks].mean(axis=0)
    assert np.allclose(vectors[1], expected / np.linalg.norm(expected), atol=1e-5)
    assert np.all(vectors[2] == 0) and recency[2] == 0 and 0 < recency[1] < recency[0] + 1e-6


def test_genre_vectors_meet_on_shared_words_and_weigh_rare_genres() -> None:
    g = genre_vectors([["pinoy indie"], ["pinoy rock"], ["album rock"], [], ["opm", "pinoy indie"], ["pop"], ["pop"]])
    assert np.allclose(np.linalg.norm(g[[0, 1, 2, 4]], axis=1), 1, atol=1e-5) and np.all(g[3] == 0)
    assert g[0] @ g[1] > g[0] @ g[2] and g[1] @ g[2] > 0 and g[0] @ g[4] > g[0] @ g[1]


def random_signals(n: int, seed: int) -> CatalogSignals:
    rng = np.random.default_rng(seed)
    blocks, present = {}, {}
    for name, d in zip(SIGNALS, (5, 7, 3)):
        x = rng.normal(size=(n, d)).astype(np.float32)
        blocks[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
        present[name] = rng.random(n) < 0.7
        blocks[name][~present[name]] = 0
    return CatalogSignals(blocks, present, rng.random(n).astype(np.float32), np.array(["track"] * n), None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_blended_inner_product_is_the_weighted_sum_of_cosines_over_shared_signals(seed: int) -> None:
    s = random_signals(40, seed)
    w = HybridWeights(audio=0.3, chart=1.0, genre=0.2, recency=0.4)
    vectors, layout = blend(s.blocks, s.present, s.prior, w)
    for q, t in [(0, 1), (2, 3), (5, 9), (7, 7)]:
        wq = sum(w.of(n) for n in SIGNALS if s.present[n][q])
        wt = sum(w.of(n) for n in SIGNALS if s.present[n][t])
        cos = sum(w.of(n) * float(s.blocks[n][q] @ s.blocks[n][t]) for n in SIGNALS if s.present[n][q] and s.present[n][t])
        expected = (cos / np.sqrt(wq * wt) if wq and wt else 0.0) + w.recency * s.prior[t]
        assert query_vector(vectors, q, w) @ vectors[t] == pytest.approx(expected, abs=1e-5)
    # the evaluation's fast path ranks exactly as the served vectors do
    rows = np.arange(40)
    parts = score_parts(s, rows[:10], rows)
    fast = parts.scores(w)
    for q in range(10):
        top, scores = top_k(vectors, query_vector(vectors, q, w), 5, np.array([q]))
        assert np.allclose(np.sort(fast[q])[::-1][:5], scores, atol=1e-5)


def oracle_relevance(rows, cut, queries, min_co=7, min_lift=2.0):
    after = [(t, a, r, d) for t, a, r, d, _ in rows if d >= cut]
    slots_of: dict[str, set] = {}
    artist = {}
    for t, a, r, d in after:
        slots_of.setdefault(t, set()).add((r, d))
        artist[t] = a
    S = len({(r, d) for _, _, r, d in after})
    out = []
    for q in queries:
        rel = set()
        for t, slots in slots_of.items():
            co = len(slots & slots_of[q])
            if t != q and artist[t] != artist[q] and co >= min_co and co * S / (len(slots) * len(slots_of[q])) >= min_lift:
                rel.add(t)
        out.append(rel)
    return out


def test_co_chart_lift_relevance_matches_a_plain_python_count(tmp_path: Path) -> None:
    rows = two_audiences(seed=3)
    rng = np.random.default_rng(5)  # an evergreen hit everywhere, every day: frequent, never lifted
    rows += [("hit", "big star", r, START + timedelta(days=d), 1) for d in range(120)
             for r in ("South Korea", "Philippines", "Brazil", "Mexico")]
    rows += [("rare", "x", "Brazil", START + timedelta(days=int(d)), 50) for d in rng.choice(np.arange(90, 120), 5)]
    path = chart_file(tmp_path / "rows.parquet", rows)
    cut = START + timedelta(days=90)
    queries = ["a0", "b1", "hit", "a4"]
    artist_of = pd.Series({t: a for t, a, *_ in rows})
    got = lift_relevance(presence(path, cut, START + timedelta(days=200)), queries, artist_of)
    assert got == oracle_relevance(rows, cut, queries)
    assert got[0] and "hit" not in got[0] and all(t.startswith("a") for t in got[0])
    assert "a3" not in got[0]  # same artist as a0: never relevant
    assert got[2] == set()  # charts everywhere: with everybody, more than chance with nobody


def test_split_candidates_and_popularity_come_from_rows_before_the_cut(tmp_path: Path) -> None:
    rows = two_audiences(seed=4) + [("late", "newcomer", "Brazil", START + timedelta(days=100 + d), 1) for d in range(15)]
    rows += [("gone", "one-season act", "Mexico", START + timedelta(days=d), 9) for d in range(30)]  # off the chart by the cut
    path = chart_file(tmp_path / "rows.parquet", rows)
    ids = sorted({r[0] for r in rows})
    artists = [dict((t, a) for t, a, *_ in rows)[t] for t in ids]
    cut = START + timedelta(days=90)
    split = make_split(path, ids, artists, START, cut, START + timedelta(days=200), n_queries=500, seed=0)
    cand = [ids[i] for i in split.candidates]
    assert "late" not in cand and len(cand) == 13
    before = pd.Series([t for t, _, r, d, _ in rows if d < cut]).value_counts()
    days = {t: len({(r, d) for tt, _, r, d, _ in rows if tt == t and d < cut}) for t in cand}
    assert list(split.popularity) == [days[t] for t in cand] and set(before.index) == set(cand)
    assert all(rel for rel in split.relevant) and len(split.queries) <= split.n_eligible
    # charting now: a row in the 7 days before the cut (the charting_now baseline's pool)
    last = {t: max(d for tt, _, _, d, _ in rows if tt == t and d < cut) for t in cand}
    assert split.now.tolist() == [last[t] >= cut - timedelta(days=7) for t in cand]
    assert 0 < split.now.sum() < len(cand)  # the fixture has both, so the check can fail


def test_the_charting_now_baseline_picks_tracks_charting_now_first(tmp_path: Path) -> None:
    from music_assets.training.temporal_quality import _charting_now_top
    now = np.array([False, True, False, True, True, False])
    top = _charting_now_top(now, np.array([1, 0]), 4, np.random.default_rng(0))
    assert set(top[0][:2]) == {3, 4} and 1 not in top[0]  # the query itself left out
    assert set(top[1][:3]) == {1, 3, 4} and 0 not in top[1]


def test_ranking_metrics_count_slots_and_discount_ranks() -> None:
    m = ranking_metrics([["x", "r1", "y"], ["z", "z", "z"]], [{"r1", "r2"}, {"q"}], k=3)
    assert m["cochart_lift_hit_at_3"] == pytest.approx(1 / 6)
    assert m["cochart_lift_any_hit"] == pytest.approx(0.5)
    ideal = 1 + 1 / np.log2(3)
    assert m["cochart_lift_ndcg_at_3"] == pytest.approx((1 / np.log2(3)) / ideal / 2)


def test_query_hits_and_the_paired_bootstrap_ratio_interval() -> None:
    assert query_hits([["a", "r", "b"], ["r", "s", "x"], []], [{"r"}, {"r", "s"}, {"q"}], k=2).tolist() == [1, 2, 0]
    rng = np.random.default_rng(3)
    den = rng.integers(0, 4, 150)
    # the same hits twice: exactly 1, no spread; double the hits: exactly 2 whatever is drawn
    assert ratio_interval(den, den) == (1.0, 1.0, 1.0)
    assert ratio_interval(2 * den, den) == pytest.approx((2.0, 2.0, 2.0))
    # independent noise: the interval holds the point ratio and narrows as queries grow
    num = rng.integers(0, 4, 150)
    r, lo, hi = ratio_interval(num, den)
    assert lo < r < hi and r == pytest.approx(num.sum() / den.sum())
    big_num, big_den = np.tile(num, 16), np.tile(den, 16)
    _, lo16, hi16 = ratio_interval(big_num, big_den)
    assert hi16 - lo16 < (hi - lo) / 2
    assert all(np.isnan(ratio_interval(num, np.zeros_like(num))))
    with pytest.raises(ValueError, match="equal 1-d arrays"):
        ratio_interval(num, den[:-1])


def test_a_ratio_over_a_mode_with_few_hits_has_an_unbounded_upper_end() -> None:
    den = np.zeros(100, dtype=np.int64)
    den[0] = 1  # one hit in a hundred queries: most resamples miss it
    r, lo, hi = ratio_interval(np.ones(100, dtype=np.int64), den)
    assert r == 100 and np.isfinite(lo) and hi == np.inf
