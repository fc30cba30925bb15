"""Asset checks pass on good data, fail on crafted bad data, and a failed blocking check stops
publishing: LATEST keeps pointing at the model that was serving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from music_assets.defs import checks
from music_assets import storage
from music_assets.training import validation
from music_assets.model.bundle import QUALITY_FILE, content_key
from music_assets.schema import FEATURE_RANGES
from music_assets.definitions import ALL_ASSETS, ALL_CHECKS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from tests.conftest import SMALL_DEMO_TRACKS

GOOD = pd.DataFrame({"track_id": ["a", "b", "c"], "danceability": [0.1, 0.5, 0.9], "tempo": [90.0, 120.0, 200.0]})


def test_rules_pass_on_good_data() -> None:
    assert validation.unique_ids(GOOD).passed
    assert validation.no_nulls(GOOD, ["track_id", "danceability"]).passed
    assert validation.in_ranges(GOOD, FEATURE_RANGES).passed
    assert validation.featureless_share(pd.Series([0, 1, 0]), 13, 0.10).passed
    assert validation.in_ranges(GOOD.assign(tempo=[90.0, np.nan, 1.0]), FEATURE_RANGES, allow_missing=True).passed
    assert validation.enough_rows(3, 3).passed
    assert validation.clusters_not_tiny(np.array([0] * 50 + [1] * 50), 2, 0.05, 10).passed


def test_rules_fail_on_crafted_bad_data() -> None:
    nan = GOOD.assign(danceability=[0.1, np.nan, 0.9])
    assert not validation.no_nulls(nan, ["danceability"]).passed
    assert not validation.in_ranges(nan, FEATURE_RANGES).passed  # NaN is not inside any range
    out = validation.in_ranges(GOOD.assign(tempo=[90.0, 400.0, -1.0]), FEATURE_RANGES)
    assert not out.passed and out.metadata["out_of_range"] == {"tempo": 2}
    assert out.metadata["examples"] == [{"track_id": "b", "column": "tempo", "value": 400.0},
                                        {"track_id": "c", "column": "tempo", "value": -1.0}]
    assert "b tempo=400.0" in out.description  # the check names the tracks, not only counts
    dup = validation.unique_ids(GOOD.assign(track_id=["a", "a", "c"]))
    assert not dup.passed and dup.metadata["examples"] == ["a"]
    assert not validation.no_nulls(GOOD, ["loudness"]).passed  # a missing column is a failure too
    assert not validation.featureless_share(pd.Series([13, 13, 0]), 13, 0.10).passed
    nulls = validation.no_nulls(GOOD.assign(title=["x", None, "z"]), ["title"])
    assert not nulls.passed and nulls.metadata["examples"] == {"title": ["b"]}
    assert not validation.enough_rows(2, 3).passed
    degenerate = validation.clusters_not_tiny(np.array([0] * 98 + [1] * 2), 3, 0.005, 10)
    assert not degenerate.passed and degenerate.metadata["cluster_sizes"] == [98, 2, 0]
    assert not validation.variance_recorded({"components": [[1.0]], "explained_variance_ratio": []}).passed
    assert not validation.variance_recorded({"components": [[1.0]]}).passed


@pytest.fixture
def data_copy(demo_data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(demo_data_dir, target)
    return target


def test_dagster_checks_pass_on_the_demo_catalog(demo_data_dir: Path) -> None:
    store = DataStore(data_dir=str(demo_data_dir))
    for check in (checks.tracks_unique_ids, checks.tracks_no_nulls, checks.tracks_features_in_range,
                  checks.tracks_featureless_share, checks.tracks_rejected_share, checks.tracks_enough, checks.embedding_variance_recorded,
                  checks.clusters_not_tiny):
        result = check(store=store)
        assert result.passed, (check.name if hasattr(check, "name") else check, result.description)


def test_dagster_checks_fail_on_a_nan_an_out_of_range_value_and_a_tiny_cluster(data_copy: Path) -> None:
    store = DataStore(data_dir=str(data_copy))
    tracks = storage.read_parquet(store.asset_path("tracks"))
    tracks.loc[0, "title"] = None
    tracks.loc[1, "loudness"] = 12.0
    tracks.loc[2, "energy"] = np.nan  # missing is allowed (never imputed), out of range is not
    storage.write_parquet(tracks, store.asset_path("tracks"))
    no_title = checks.tracks_no_nulls(store=store)
    assert not no_title.passed and tracks.loc[0, "track_id"] in no_title.description
    failed = checks.tracks_features_in_range(store=store)
    assert not failed.passed and "loudness" in failed.description and "energy" not in failed.description
    assert f"{tracks.loc[1, 'track_id']} loudness=12.0" in failed.description
    clusters = storage.read_parquet(store.asset_path("track_clusters"))
    k = int(clusters["cluster"].max()) + 1
    clusters["cluster"] = 0
    clusters.loc[:2, "cluster"] = 1  # cluster 1 gets 3 tracks, the others none
    storage.write_parquet(clusters, store.asset_path("track_clusters"))
    result = checks.clusters_not_tiny(store=store)
    assert not result.passed and result.metadata["minimum_size"].value >= 10
    assert k > 2 and "clusters below" in result.description


def test_failed_blocking_check_leaves_latest_untouched(data_copy: Path) -> None:
    models = data_copy / "models"
    serving = (models / "LATEST").read_text().strip()
    # The serving model claims a quality the rebuilt one cannot reach: the gate must hold.
    quality_path = models / serving / QUALITY_FILE
    quality = json.loads(quality_path.read_text())
    for mode in ("normal", "nearest"):
        quality["modes"][mode]["genre_hit_rate"] = 0.99
    quality_path.write_text(json.dumps(quality))
    # ...and the refreshed catalog differs a little (one track gone), so a new bundle is built.
    store = DataStore(data_dir=str(data_copy))
    storage.write_parquet(storage.read_parquet(store.asset_path("tracks")).iloc[:-1], store.asset_path("tracks"))
    downstream = dg.AssetSelection.assets("recommender_model", "model_quality", "model_pictures", "published_model")
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS], selection=downstream, raise_on_error=False,
        resources={"store": DataStore(data_dir=str(data_copy)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=SMALL_DEMO_TRACKS)},
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gate = evaluations["quality_not_worse_than_published"]
    assert not gate.passed and "normal: genre hit rate" in gate.description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "model_quality" in materialized and "published_model" not in materialized
    assert (models / "LATEST").read_text().strip() == serving
    built = result.asset_materializations_for_node("recommender_model")[0].metadata["version"].value
    assert built != serving and (models / built / QUALITY_FILE).is_file()  # built and measured, not served
    assert not (models / built / "model.json").exists()  # never sealed: no loader takes it for a bundle

    # Once the serving model's claim is honest again, the same refresh publishes.
    quality_path.write_text(json.dumps({**quality, "modes": {}}))
    again = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS], selection=downstream,
        resources={"store": DataStore(data_dir=str(data_copy)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=SMALL_DEMO_TRACKS)},
    )
    assert all(e.passed for e in again.get_asset_check_evaluations())
    published = (models / "LATEST").read_text().strip()  # this run's build of the same model, now served
    assert published != serving and content_key(models / published) == content_key(models / built)


def test_unchanged_input_builds_a_new_version_sharing_the_data_file(data_copy: Path) -> None:
    models = data_copy / "models"
    serving = (models / "LATEST").read_text().strip()
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS], selection=dg.AssetSelection.assets("recommender_model"),
        resources={"store": DataStore(data_dir=str(data_copy)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=SMALL_DEMO_TRACKS)},
    )
    event = result.get_asset_materialization_events()[0].materialization
    built = event.metadata["version"].value
    assert built != serving and event.metadata["same_content_as"].value == serving
    assert (models / built / "tracks.parquet").stat().st_ino == (models / serving / "tracks.parquet").stat().st_ino
    assert (models / "LATEST").read_text().strip() == serving  # built, not published
    assert event.tags["dagster/data_version"]


def test_catalog_without_genres_warns_instead_of_blocking(data_copy: Path) -> None:
    from music_assets.defs.assets.model_quality import quality_check

    store = DataStore(data_dir=str(data_copy))
    served = (data_copy / "models" / "LATEST").read_text().strip()
    quality = json.loads((store.models_dir / served / QUALITY_FILE).read_text())
    zeroed = {m: {**v, "genre_hit_rate": 0.0} for m, v in quality["modes"].items()}
    result = quality_check({**quality, "modes": zeroed, "genre_labelled_share": 0.0}, store, "a-new-build")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "no track has a genre" in result.description
