"""steer(): several seeds, targets, min/max, markets, exclusions, diversity, on a bundle the real
pipeline built (the session's 3,000-track demo, tests/conftest.py)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from music_assets.model import ann as ann_lib
from music_assets.model.bundle import load_bundle, write_bundle
from music_assets.model.steer import (
    SteerError, SteerRequest, UnknownSeed, available_genres, markets, steer, track_record, track_records,
)
from music_assets.model.recommend_hybrid import hybrid_model
from music_assets.model.recommend_index import recommend_index
from music_assets.model.steer_index import steer_index
from music_assets.text import normalize_text


@pytest.fixture(scope="module")
def bundle(demo_bundle):
    return demo_bundle


@pytest.fixture(scope="module")
def seeds(bundle) -> list[str]:
    """Five tracks of the model with chart regions, spread over the catalog."""
    rows = np.flatnonzero(bundle.in_model)
    return [str(bundle.tracks["track_id"].iat[int(r)]) for r in rows[::len(rows) // 5][:5]]


def values(bundle, name: str, rows) -> np.ndarray:
    return steer_index(bundle).values[name][np.asarray(rows, dtype=int)]


def rows_of(result) -> list[int]:
    return [s.row for s in result.results]


def allowed_count(bundle, market=None, lo=None, hi=None, excluded=()) -> int:
    """The pool by brute force over every row: what pool_size must say."""
    si = steer_index(bundle)
    ok = si.recommendable.copy()
    if market:
        ok &= np.array([market in list(r) for r in bundle.tracks["regions"]])
    for name, v in (lo or {}).items():
        ok &= si.values[name] >= v
    for name, v in (hi or {}).items():
        ok &= si.values[name] <= v
    ok[list(excluded)] = False
    return int(ok.sum())


def test_min_and_max_hold_for_every_result_and_the_pool_is_counted_exactly(bundle, seeds) -> None:
    lo, hi = {"tempo": 110.0, "popularity": 5.0}, {"energy": 0.7, "key": 5.0}
    result = steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:3]), minimum=lo, maximum=hi, limit=50))
    rows = rows_of(result)
    assert len(rows) == 50
    assert (values(bundle, "tempo", rows) >= 110).all() and (values(bundle, "popularity", rows) >= 5).all()
    assert (values(bundle, "energy", rows) <= 0.7).all() and (values(bundle, "key", rows) <= 5).all()
    ix = recommend_index(bundle)
    excluded = set().union(*(ix.excluded(bundle.id_index[s]).tolist() for s in seeds[:3]))
    assert result.pool_size == allowed_count(bundle, lo=lo, hi=hi, excluded=excluded)
    for report in result.seeds:
        assert report.type == "TRACK" and report.after_filtering_size == report.after_relinking_size == result.pool_size
        assert report.initial_pool_size > report.after_filtering_size


@pytest.mark.parametrize("lo, hi, market", [({"tempo": 120.0}, {}, None), ({}, {"popularity": 30.0}, None),
                                             ({"energy": 0.4}, {"energy": 0.8}, "Global"), ({"mode": 1.0}, {}, None)])
def test_the_pool_size_is_exact_for_one_range_with_or_without_a_market(bundle, seeds, lo, hi, market) -> None:
    result = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), minimum=lo, maximum=hi, market=market, limit=5))
    excluded = recommend_index(bundle).excluded(bundle.id_index[seeds[0]]).tolist()
    assert result.pool_size == allowed_count(bundle, market=market, lo=lo, hi=hi, excluded=excluded) > 0


def test_targets_move_results_toward_the_target_and_report_adherence(bundle, seeds) -> None:
    base = SteerRequest(seed_tracks=tuple(seeds), limit=20)
    plain = steer(bundle, base)
    aimed = steer(bundle, replace(base, target={"energy": 0.95, "tempo": 90.0, "popularity": 60.0}))
    for name, goal in (("energy", 0.95), ("tempo", 90.0), ("popularity", 60.0)):
        before = np.mean(np.abs(values(bundle, name, rows_of(plain)) - goal))
        after = np.mean(np.abs(values(bundle, name, rows_of(aimed)) - goal))
        assert after < before, name
        assert aimed.adherence[name] == pytest.approx(after)
    assert plain.adherence == {}
    assert any("close to your target" in s.reason for s in aimed.results)
    # listeners see `match`, what the list is ranked by: it falls down the list even where the
    # pure similarity does not (targets re-rank), and equals the similarity without targets
    matches = [s.match for s in aimed.results]
    assert matches == sorted(matches, reverse=True) and all(0 < m <= 1 for m in matches)
    assert [s.match for s in plain.results] == pytest.approx([s.score for s in plain.results])


def test_a_market_keeps_only_tracks_that_charted_there_by_name_or_iso_code(bundle, seeds) -> None:
    assert "Philippines" in markets(bundle)
    counts = [steer_index(bundle).market_sizes()[i][1] for i in range(3)]
    assert counts == sorted(counts, reverse=True)
    by_name = steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:2]), market="philippines", limit=30))
    by_code = steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:2]), market="PH", limit=30))
    assert rows_of(by_name) == rows_of(by_code) and by_code.market == "Philippines"
    assert all("Philippines" in list(bundle.tracks["regions"].iat[r]) for r in rows_of(by_code))
    assert all("charted in Philippines" in s.reason for s in by_code.results)
    ix = recommend_index(bundle)
    excluded = set().union(*(ix.excluded(bundle.id_index[s]).tolist() for s in seeds[:2]))
    assert by_code.pool_size == allowed_count(bundle, market="Philippines", excluded=excluded)
    with pytest.raises(SteerError) as err:
        steer(bundle, SteerRequest(seed_tracks=(seeds[0],), market="Atlantis"))
    assert err.value.field == "market" and "Global" in str(err.value)


def test_negative_seeds_move_results_away(bundle, seeds) -> None:
    x = recommend_index(bundle).scaled
    away = bundle.id_index[seeds[1]]
    plain = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), limit=20))
    pushed = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), negative_tracks=(seeds[1],), limit=20))
    dist = lambda rows: np.linalg.norm(x[rows] - x[away], axis=1).mean()  # noqa: E731
    assert dist(rows_of(pushed)) > dist(rows_of(plain))
    assert away not in rows_of(pushed)


def test_seeds_their_twins_exclusions_and_featureless_tracks_never_come_back(bundle, seeds) -> None:
    plain = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), limit=30))
    banned_track = bundle.tracks["track_id"].iat[rows_of(plain)[0]]
    banned_artist = bundle.tracks["artist"].iat[rows_of(plain)[1]]
    result = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), exclude_tracks=(banned_track, "not-an-id"),
                                        exclude_artists=(banned_artist,), limit=100))
    rows = rows_of(result)
    assert len(rows) == 100 and len(set(rows)) == 100
    seed_row = bundle.id_index[seeds[0]]
    assert not set(recommend_index(bundle).excluded(seed_row).tolist()) & set(rows)
    assert bundle.id_index[banned_track] not in rows
    assert all(normalize_text(bundle.tracks["artist"].iat[r]) != normalize_text(banned_artist) for r in rows)
    assert bundle.in_model[rows].all()
    # a genre seed pulls from every track of the genre: the featureless ones are still never recommended
    genre = available_genres(bundle)[0]
    assert bundle.in_model[rows_of(steer(bundle, SteerRequest(seed_genres=(genre,), limit=100)))].all()


def test_a_seed_twin_with_the_same_title_and_artist_is_never_recommended(bundle, seeds, tmp_path) -> None:
    """A second id of the seed's song (same title and artist, spelled in another case, same
    features) would be the nearest result of all: it must not come back, nor the seed itself."""
    import pandas as pd

    seed_row = bundle.id_index[seeds[0]]
    twin = bundle.tracks.iloc[[seed_row]].copy()
    twin["track_id"] = "twin-of-the-seed"
    twin["title"] = twin["title"].str.upper()
    tracks = pd.concat([bundle.tracks.drop(columns=["title_key"]), twin], ignore_index=True)
    _, path = write_bundle(tmp_path / "models", tracks, bundle.embedding, bundle.centroids, {})
    doubled = load_bundle(tmp_path / "models", path.name)
    result = steer(doubled, SteerRequest(seed_tracks=(seeds[0],), limit=20))
    assert doubled.id_index["twin-of-the-seed"] not in rows_of(result) and seed_row not in rows_of(result)


def test_max_per_artist_and_diversity(bundle, seeds) -> None:
    artist = lambda r: normalize_text(bundle.tracks["artist"].iat[r])  # noqa: E731
    capped = steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:2]), limit=40, max_per_artist=1))
    names = [artist(r) for r in rows_of(capped)]
    assert len(names) == 40 and len(set(names)) == 40
    plain = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), limit=20))
    varied = steer(bundle, SteerRequest(seed_tracks=(seeds[0],), limit=20, diversity=0.7))
    assert set(rows_of(varied)) != set(rows_of(plain))
    x = recommend_index(bundle).scaled
    spread = lambda rows: np.mean([np.linalg.norm(x[a] - x[b]) for a in rows for b in rows if a < b])  # noqa: E731
    assert spread(rows_of(varied)) > spread(rows_of(plain))
    assert all(0.0 <= s.score <= 1.0 for s in varied.results)


def test_artist_and_genre_seeds(bundle) -> None:
    row = int(np.flatnonzero(bundle.in_model)[10])
    name = bundle.tracks["artist"].iat[row]
    by_name = steer(bundle, SteerRequest(seed_artists=(name.upper(),), limit=10))
    assert by_name.seeds[0].type == "ARTIST" and len(by_name.results) == 10
    artist_id = track_record(bundle, row).artists[0][0]  # the demo source gives stable artist ids
    assert artist_id and track_record(bundle, row).artists == [(artist_id, name)]
    by_id = steer(bundle, SteerRequest(seed_artists=(artist_id,), limit=10))
    assert rows_of(by_id) == rows_of(by_name)
    genre = available_genres(bundle)[3]
    result = steer(bundle, SteerRequest(seed_genres=(genre.upper(),), limit=50))
    assert result.seeds[0].id == genre
    share = np.mean([genre in list(bundle.tracks["genres"].iat[r]) for r in rows_of(result)])
    everyone = np.mean([genre in list(g) for g in bundle.tracks["genres"]])
    assert share > 2 * everyone


@pytest.mark.parametrize("request_kwargs, field", [
    (dict(seed_tracks=("nope",)), "seed_tracks"),
    (dict(seed_artists=("Nobody At All 123",)), "seed_artists"),
    (dict(seed_genres=("polka-metal",)), "seed_genres"),
    (dict(negative_tracks=("nope",)), "negative_tracks"),
    (dict(minimum={"loudnes": -10}), "min_loudnes"),
    (dict(minimum={"tempo": 130}, maximum={"tempo": 120}), "min_tempo"),
    (dict(target={"energy": 1.5}), "target_energy"),
    (dict(maximum={"popularity": float("nan")}), "max_popularity"),
    (dict(limit=101), "limit"),
    (dict(limit=0), "limit"),
    (dict(diversity=2.0), "diversity"),
    (dict(max_per_artist=0), "max_per_artist"),
    (dict(mode="normal"), "mode"),
])
def test_bad_requests_name_the_field(bundle, seeds, request_kwargs, field) -> None:
    kwargs = {"seed_tracks": (seeds[0],), **request_kwargs}
    with pytest.raises(SteerError) as err:
        steer(bundle, SteerRequest(**kwargs))
    assert err.value.field == field
    if field.startswith("seed_"):
        assert isinstance(err.value, UnknownSeed)


def test_no_seeds_and_only_featureless_seeds_are_refused(bundle) -> None:
    with pytest.raises(SteerError) as err:
        steer(bundle, SteerRequest())
    assert err.value.field == "seed_tracks"
    featureless = bundle.tracks["track_id"].iat[int(np.flatnonzero(~bundle.in_model)[0])]
    with pytest.raises(SteerError, match="audio features"):
        steer(bundle, SteerRequest(seed_tracks=(featureless,)))


def test_hybrid_mode_uses_the_hybrid_vectors(bundle, seeds) -> None:
    assert hybrid_model(bundle) is not None
    result = steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:3]), mode="hybrid", limit=20, market="Global",
                                        minimum={"energy": 0.3}))
    rows = rows_of(result)
    assert len(rows) == 20 and bundle.in_model[rows].all() and (values(bundle, "energy", rows) >= 0.3).all()
    assert rows != rows_of(steer(bundle, SteerRequest(seed_tracks=tuple(seeds[:3]), limit=20, market="Global",
                                                      minimum={"energy": 0.3})))
    assert all(0.0 <= s.score <= 1.0 and s.reason for s in result.results)


@pytest.fixture(scope="module")
def indexed_bundle(bundle, tmp_path_factory):
    """The demo bundle with an ANN index written beside it, as the pipeline does for large catalogs."""
    folder = tmp_path_factory.mktemp("indexed") / "models"
    shutil.copytree(bundle.path.parent if hasattr(bundle.path, "parent") else bundle.path, folder)
    copy = load_bundle(folder, bundle.version)
    ann_lib.write_index(copy.path, copy.scaled, copy.meta["files"]["tracks.parquet"],
                        rows=np.flatnonzero(copy.in_model))
    indexed = load_bundle(folder, bundle.version)
    assert indexed.ann is not None
    return indexed


@pytest.mark.parametrize("extra", [{}, {"market": "Global"}, {"target": {"energy": 0.8}, "market": "Mexico"},
                                   {"minimum": {"tempo": 100}}])
def test_the_ann_path_and_the_exact_path_agree_on_the_top_results(indexed_bundle, seeds, extra) -> None:
    request = SteerRequest(seed_tracks=tuple(seeds), limit=10, **extra)
    by_ann = steer(indexed_bundle, request, search="ann")
    exact = steer(indexed_bundle, request, search="exact")
    assert by_ann.search == "ann" and exact.search == "exact"
    assert len(set(rows_of(by_ann)) & set(rows_of(exact))) >= 9
    assert by_ann.pool_size == exact.pool_size


def test_track_record_and_a_bundle_without_the_optional_columns(bundle, tmp_path) -> None:
    row = int(np.flatnonzero(bundle.in_model)[0])
    record = track_record(bundle, row)
    assert record.track_id == bundle.tracks["track_id"].iat[row] and record.in_model
    assert record.regions and record.popularity is not None and 0 <= record.popularity <= 100
    assert record.duration_ms and record.features["key"] is not None and set(record.features) >= {"tempo", "mode"}
    old = bundle.tracks.drop(columns=["regions", "popularity", "key", "mode", "time_signature", "duration_ms"])
    _, path = write_bundle(tmp_path / "models", old, bundle.embedding, bundle.centroids, {})
    older = load_bundle(tmp_path / "models", path.name)
    assert markets(older) == []
    with pytest.raises(SteerError) as err:
        steer(older, SteerRequest(seed_tracks=(record.track_id,), market="PH"))
    assert err.value.field == "market"
    with pytest.raises(SteerError) as err:
        steer(older, SteerRequest(seed_tracks=(record.track_id,), target={"key": 3}))
    assert err.value.field == "target_key"
    aged = track_record(older, row)
    assert aged.regions == [] and aged.duration_ms is None and aged.popularity is not None
    assert len(steer(older, SteerRequest(seed_tracks=(record.track_id,), target={"popularity": 50})).results) == 20


def test_track_records_for_many_rows_read_each_row_in_order(bundle) -> None:
    rows = [int(r) for r in np.random.default_rng(3).choice(len(bundle.tracks), 40, replace=False)]
    rows += rows[:3]  # a row twice (two answers may name one track)
    records = track_records(bundle, rows)
    t = bundle.tracks
    assert [r.track_id for r in records] == [t["track_id"].iat[r] for r in rows]
    assert [r.title for r in records] == [t["title"].iat[r] for r in rows]
    assert [r.regions for r in records] == [list(t["regions"].iat[r]) for r in rows]
    assert [r.in_model for r in records] == [bool(bundle.in_model[r]) for r in rows]
    assert [r.features["energy"] for r in records] == pytest.approx(
        [None if pd.isna(t["energy"].iat[r]) else float(t["energy"].iat[r]) for r in rows], nan_ok=True)
    assert track_records(bundle, []) == []


def test_hybrid_mode_through_its_own_index_agrees_with_the_exact_scan(indexed_bundle, seeds) -> None:
    from music_assets.model import hybrid_ann

    model = hybrid_model(indexed_bundle)
    model.index = hybrid_ann.build(model.vectors)  # as the pipeline builds it for large catalogs
    request = SteerRequest(seed_tracks=tuple(seeds[:3]), mode="hybrid", limit=10, market="Global")
    by_ann, exact = steer(indexed_bundle, request, search="ann"), steer(indexed_bundle, request, search="exact")
    assert by_ann.search == "ann" and exact.search == "exact"
    assert len(set(rows_of(by_ann)) & set(rows_of(exact))) >= 9
    assert indexed_bundle.in_model[rows_of(by_ann)].all()


@pytest.mark.parametrize("extra", [{}, {"target": {"energy": 0.8}}, {"diversity": 0.3}])
def test_a_steered_list_holds_each_song_once(bundle, seeds, extra) -> None:
    """Three versions of one song by one artist among the results: the best placed stays, the
    list keeps its length, and a same-titled song by another artist stays (plain, with targets
    and with diversity: the three ways steer_search ranks)."""
    request = SteerRequest(seed_tracks=(seeds[0],), limit=12, **extra)
    before = rows_of(steer(bundle, request))
    first, second, third, other = before[1], before[4], before[6], before[8]
    t = bundle.tracks.copy()
    versions = {first: ("Paper Lanterns", "The Versions"), second: ("Paper Lanterns - Live", "the versions"),
                third: ("Paper Lanterns [Demo]", "The Versions"), other: ("Paper Lanterns", "Someone Else")}
    for row, (title, artist) in versions.items():
        t.loc[row, ["title", "title_key", "artist"]] = [title, normalize_text(title), artist]
    changed = replace(bundle, tracks=t)
    changed.derived("hybrid_model", lambda b: hybrid_model(bundle))
    got = rows_of(steer(changed, request))
    assert len(got) == 12
    assert first in got and second not in got and third not in got and other in got
