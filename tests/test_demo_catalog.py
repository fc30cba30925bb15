"""The demo catalog looks like real data, mess included, and is deterministic."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from music_assets.ingest.charts.rows import validate_chart_batch
from music_assets.schema import FEATURE_RANGES
from music_assets.ingest.sources.demo import GENRES, DemoCatalog, DemoConfig


@pytest.fixture(scope="module")
def catalog() -> DemoCatalog:
    return DemoCatalog(DemoConfig(n_tracks=4_000, seed=7))


def test_ids_titles_genres(catalog: DemoCatalog) -> None:
    t = catalog.tracks
    assert len(t) == 4_000 and t["track_id"].is_unique
    assert t["track_id"].str.fullmatch(r"[0-9A-Za-z]{22}").all()
    assert 35 <= len(GENRES) <= 50
    n_genres = t["genres"].map(len)
    assert n_genres.between(1, 4).all() and n_genres.max() >= 3
    assert t.groupby("artist")["track_id"].count().max() > 1


def test_features_in_spotify_ranges(catalog: DemoCatalog) -> None:
    t = catalog.tracks
    for col, (lo, hi) in FEATURE_RANGES.items():
        assert t[col].dropna().between(lo, hi).all(), col
    assert t["tempo"].dropna().between(50, 220).all() and t["loudness"].dropna().between(-60, 0).all()
    assert set(t["time_signature"]) <= {3.0, 4.0, 5.0, 7.0}


def test_genre_is_only_partly_recoverable_from_features(catalog: DemoCatalog) -> None:
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    t = catalog.tracks.dropna(subset=["danceability", "energy", "valence", "tempo", "loudness", "liveness"])
    x = t[["danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness",
           "valence", "loudness", "tempo"]].to_numpy()
    x = (x - x.mean(0)) / x.std(0)
    y = t["genres"].map(lambda g: g[0])
    acc = cross_val_score(KNeighborsClassifier(15), x, y, cv=3).mean()
    majority = y.value_counts(normalize=True).iloc[0]
    assert majority * 1.5 < acc < 0.8, (acc, majority)


def test_the_mess_of_real_data_is_there(catalog: DemoCatalog) -> None:
    t = catalog.tracks
    assert 0.01 < t["features_missing"].mean() < 0.05
    assert 0.0 < t["danceability"].isna().mean() < 0.05
    assert 0.2 < t["preview_url"].isna().mean() < 0.5
    assert t.duplicated(["artist"]).any()
    assert (t.groupby(t["title"].str.lower().str.strip())["artist"].nunique() > 1).any()  # shared titles
    rereleases = t.groupby([t["title"].str.lower().str.strip(), "artist"])["track_id"].nunique()
    assert (rereleases > 1).sum() >= 40  # ~2% of 4,000 re-released under a second id
    features = catalog.fetch_features(list(t["track_id"]))
    assert len(features) == (~t["features_missing"]).sum()


def test_chart_rows_in_kaggle_layout_with_a_few_malformed(catalog: DemoCatalog) -> None:
    table = pa.concat_tables(catalog.chart_batches(tracks_per_batch=1_500))
    assert table.column_names == ["title", "rank", "date", "artist", "url", "region", "chart", "trend", "streams"]
    checked = validate_chart_batch(table)
    share = checked.rejected.num_rows / table.num_rows
    assert 0 < share < 0.005
    good = checked.good.to_pandas()
    assert good["track_id"].nunique() > 0.95 * 4_000
    assert len(good) > 5 * good["track_id"].nunique()
    assert good["region"].nunique() >= 20 and good["date"].nunique() > 300


def test_same_seed_same_catalog() -> None:
    a = DemoCatalog(DemoConfig(n_tracks=500, seed=3))
    b = DemoCatalog(DemoConfig(n_tracks=500, seed=3))
    assert a.tracks.equals(b.tracks)
    assert pa.concat_tables(a.chart_batches()).equals(pa.concat_tables(b.chart_batches()))


def test_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="1,000,000"):
        DemoConfig(n_tracks=2_000_000)
