"""The temporal evaluation on the real Philippine daily charts (../shared/data/ph_daily_charts):
the issue's done-when, and no look at the test period when the weights are chosen."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from benchmarks.hybrid_quality import ph_chart_rows, temporal_catalog
from music_assets.training.cochart_eval import CutConfig, cut_date
from music_assets.training.signals.chart_profile import ProfileParams, chart_period
from music_assets.training.temporal_quality import choose_hybrid_weights, evaluate_temporal


@pytest.fixture(scope="module")
def ph(tmp_path_factory: pytest.TempPathFactory, ) -> tuple[Path, object]:
    from tests.conftest import SHARED_DATA
    folder = SHARED_DATA / "ph_daily_charts"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (real-data samples live beside the project in CI)")
    path = tmp_path_factory.mktemp("ph") / "chart_rows.parquet"
    return path, temporal_catalog(ph_chart_rows(folder, path))


@pytest.fixture(scope="module")
def default_cut(ph):
    path, catalog = ph
    result = evaluate_temporal(path, catalog, CutConfig())
    assert result.cut.isoformat() == "2020-07-04" and result.n_queries >= 100
    return result


@pytest.fixture(scope="module")
def default_table(default_cut):
    return default_cut.table.set_index("mode")


def test_hybrid_beats_audio_popular_and_every_single_signal_on_the_philippine_charts(default_table) -> None:
    t = default_table
    hit = t["cochart_lift_hit_at_10"]
    assert hit["hybrid"] >= 5 * hit["audio"]
    assert hit["hybrid"] >= 2 * hit["popular"]
    assert hit["hybrid"] > max(hit["audio"], hit["chart_profile"], hit["genres"])
    assert t.loc["hybrid", "genre_hit_rate"] >= t.loc["audio", "genre_hit_rate"]
    assert t.loc["random", "cochart_lift_hit_at_10"] < hit["popular"] < hit["chart_profile"]
    assert t.loc["hybrid", "answered"] == 1.0


def test_the_hybrids_margin_over_chart_profiles_is_more_than_noise(default_cut) -> None:
    """Paired bootstrap over the queries: the hybrid names more co-listened songs than chart
    profiles alone beyond the resampling noise (its 95% interval lies above 1), and beats the
    'still charting' floor too."""
    ratios = default_cut.hybrid_ratios()
    assert ratios["best_single"]["mode"] == "chart_profile"
    assert ratios["best_single"]["low"] > 1.0
    assert ratios["charting_now"]["low"] > 1.0 and ratios["popular"]["low"] >= 1.5


@pytest.mark.xfail(strict=True, reason="issue 15's 1.1x margin over the best single signal is not met: 1.09x at the "
                   "default cut here (95% interval 1.03-1.16x over its 142 queries; chart_profile 0.2085, not the "
                   "0.1951 first recorded), 0.89-1.05x on held-out cuts; three pre-registered attempts to raise it "
                   "(docs/hybrid.md); strict: a change that reaches it must say so")
def test_hybrid_beats_the_best_single_signal_by_the_issues_margin(default_table) -> None:
    hit = default_table["cochart_lift_hit_at_10"]
    assert hit["hybrid"] >= 1.1 * max(hit["audio"], hit["chart_profile"], hit["genres"])


def test_the_weights_are_chosen_without_the_rows_after_the_cut(ph, tmp_path: Path) -> None:
    path, catalog = ph
    start, end = chart_period(path)
    cut = cut_date(start, end, 0.8)
    before_only = tmp_path / "before_cut.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{path}') WHERE date < DATE '{cut}') TO '{before_only}' (FORMAT parquet)")
    con.close()
    full = choose_hybrid_weights(path, catalog, start, cut, CutConfig(), ProfileParams())
    truncated = choose_hybrid_weights(before_only, catalog, start, cut, CutConfig(), ProfileParams())
    assert full[0] == truncated[0]
    # the same scores for every weight set (up to the last bits of DuckDB's parallel sums)
    assert [w for w, *_ in full[2]] == [w for w, *_ in truncated[2]]
    flat = lambda scored: [x for _, hit, genre in scored for x in (hit, genre)]  # noqa: E731
    assert flat(full[2]) == pytest.approx(flat(truncated[2]), abs=2e-3)


def test_what_a_listener_gets_for_tadhana_and_dynamite(ph) -> None:
    """The issue's complaint, on the real charts: "Tadhana" and "Dynamite" bring songs their
    listeners streamed (that charted on the same days as they did), where sound alone brings songs
    that mostly never charted with them; neither list holds another version of the song asked for."""
    from benchmarks.hybrid_quality import example_lists
    from music_assets.text import song_key
    from tests.conftest import SHARED_DATA

    path, _ = ph
    tracks = ph_chart_rows(SHARED_DATA / "ph_daily_charts", path)
    _, found = example_lists(path, tracks, ["Tadhana", "Dynamite"])
    con = duckdb.connect()
    days = con.execute(f"SELECT track_id, list(DISTINCT date) FROM read_parquet('{path}') GROUP BY 1").fetchall()
    con.close()
    charted = {t: set(d) for t, d in days}
    ids = tracks["track_id"].tolist()
    together = lambda q, rows: float(np.median([len(charted.get(ids[q], set()) & charted.get(ids[r], set())) for r in rows]))  # noqa: E731
    for title in ("Tadhana", "Dynamite"):
        q, hybrid, nearest = found[title]
        assert len(hybrid) == 10 and q not in hybrid
        assert together(q, hybrid) >= 30 and together(q, hybrid) > 3 * together(q, nearest)
        assert not [r for r in hybrid if song_key(tracks["title"].iat[r]) == song_key(title)
                    and tracks["artist"].iat[r] == tracks["artist"].iat[q]]
