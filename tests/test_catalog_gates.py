"""What the pipeline does with a catalog's impossible values and missing columns, through the
definitions materialized on a copy of the demo data folder (Parquet on disk): a value out of range
is rejected alone and publishing goes on; many block publishing by a check naming the tracks; a
catalog lacking most of the model's features fails naming the columns; a column with one value
is not spread to every track."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from music_assets import storage
from music_assets.definitions import ALL_ASSETS, ALL_CHECKS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_REJECT_COLUMNS
from tests.conftest import SMALL_DEMO_TRACKS

DOWNSTREAM = ["tracks", "track_embedding", "cluster_k", "track_clusters", "recommender_model", "ann_index",
              "model_quality", "model_pictures", "published_model"]


@pytest.fixture
def data(demo_data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(demo_data_dir, target)
    return target


def features_path(data: Path) -> Path:
    return data / "assets" / "track_features.parquet"


def edit_features(data: Path, change) -> pd.DataFrame:
    frame = storage.read_parquet(features_path(data))
    changed = change(frame)
    frame = frame if changed is None else changed
    storage.write_parquet(frame, features_path(data))
    return frame


def run(data: Path, selection: list[str] = DOWNSTREAM, source: SourceResource | None = None,
        max_rejected_share: float = 0.05) -> dg.ExecuteInProcessResult:
    return dg.materialize([*ALL_ASSETS, *ALL_CHECKS], selection=selection, raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data), max_rejected_share=max_rejected_share), "engine": EngineResource(),
        "source": source or SourceResource(kind="demo", demo_tracks=SMALL_DEMO_TRACKS)})


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


def found_ids(frame: pd.DataFrame) -> list[str]:
    return frame.loc[frame["danceability"].notna(), "track_id"].tolist()


def test_a_60_minute_track_and_a_time_signature_of_0_are_rejected_alone_and_the_model_publishes(data: Path) -> None:
    latest = (data / "models" / "LATEST").read_text()
    ids = []

    def change(frame: pd.DataFrame) -> None:
        ids.extend(found_ids(frame)[:2])
        frame.loc[frame["track_id"] == ids[0], "duration_ms"] = 3_600_000.0 + 60_000  # 61 minutes
        frame.loc[frame["track_id"] == ids[1], "time_signature"] = 0.0
    edit_features(data, change)
    result = run(data)
    assert result.success, failure_message(result)
    assert "published_model" in materialized(result) and (data / "models" / "LATEST").read_text() != latest
    rejects = pd.read_parquet(data / "assets" / "tracks_rejected.parquet")
    assert list(rejects.columns) == list(FEATURE_REJECT_COLUMNS)
    assert sorted(zip(rejects["track_id"], rejects["column"], rejects["value"])) == sorted(
        [(ids[0], "duration_ms", "3660000.0"), (ids[1], "time_signature", "0.0")])
    meta = result.asset_materializations_for_node("tracks")[0].metadata
    assert meta["rejected_by_reason"].value == {"duration_ms: out of range 1000..3.6e+06": 1,
                                                "time_signature: out of range 1..7": 1}
    tracks = pd.read_parquet(data / "assets" / "tracks.parquet").set_index("track_id")
    assert np.isnan(tracks.loc[ids[0], "duration_ms"]) and np.isnan(tracks.loc[ids[1], "time_signature"])
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["tracks_rejected_share"]
    assert check.passed and ids[0] in check.description


def test_many_rejected_values_block_publishing_and_the_check_names_tracks(data: Path) -> None:
    latest = (data / "models" / "LATEST").read_text()
    bad = []

    def change(frame: pd.DataFrame) -> None:
        bad.extend(found_ids(frame)[::8])  # an eighth of the tracks: "dates in a numeric column"-like damage
        frame.loc[frame["track_id"].isin(bad), "tempo"] = 999.0
    edit_features(data, change)
    result = run(data)
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["tracks_rejected_share"]
    assert not check.passed and "threshold 5%" in check.description
    assert any(i in check.description for i in bad[:5]) and "tempo=999.0" in check.description
    assert check.metadata["rejected_by_reason"].value == {"tempo: out of range 0..250": len(bad)}
    assert "published_model" not in materialized(result) and (data / "models" / "LATEST").read_text() == latest
    # the share is a setting: raised, the same catalog publishes (the tempo values still rejected)
    again = run(data, max_rejected_share=0.5)
    assert again.success and "published_model" in materialized(again)


def test_a_catalog_with_too_few_features_fails_naming_the_file_and_the_columns(data: Path) -> None:
    gone = ["speechiness", "acousticness", "instrumentalness", "liveness", "valence", "tempo"]
    edit_features(data, lambda frame: frame.assign(**{c: np.nan for c in gone}))  # absent columns, as readers emit them
    source = SourceResource(kind="files", features_path="/srv/catalog/tracks.csv", charts_path="/srv/catalog/charts.csv")
    result = run(data, ["tracks", "track_embedding"], source=source)
    message = failure_message(result)
    assert "/srv/catalog/tracks.csv" in message and "3 of the model's features" in message
    assert all(f"{c} (no value for any track)" in message for c in gone) and "at least 4" in message


def test_a_column_with_one_value_is_dropped_not_spread_and_the_rest_make_the_model(data: Path) -> None:
    def change(frame: pd.DataFrame) -> None:
        first = frame["liveness"].first_valid_index()
        frame["liveness"] = np.where(frame.index == first, frame["liveness"], np.nan)  # "4/4" -> "04-Apr" kind of loss
    edit_features(data, change)
    result = run(data)
    assert result.success, failure_message(result)
    meta = result.asset_materializations_for_node("track_embedding")[0].metadata
    used = [f for f in DEFAULT_MODEL_FEATURES if f != "liveness"]
    assert meta["features_used"].value == used
    assert "liveness" in meta["features_dropped"].value
    tracks = pd.read_parquet(data / "assets" / "tracks.parquet")
    assert tracks["liveness"].notna().sum() == 1  # not the mean given to every track
    from music_assets.model.bundle import load_bundle

    bundle = load_bundle(data / "models")
    assert bundle.features == used and bundle.catalog["features_dropped"].keys() == {"liveness"}


def test_when_every_chart_row_is_rejected_the_rejects_and_reasons_are_written_and_named(tmp_path: Path) -> None:
    from music_assets.defs.assets.chart_rows import chart_rows

    charts = tmp_path / "charts.csv"
    url = "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"
    charts.write_text("title,rank,date,artist,url,region,chart,trend,streams\n"
                      f"A,first,2017-01-01,X,{url},Global,top200,,1\n"
                      f"B,2,yesterday,X,{url},Global,top200,,1\n"
                      f"C,3,2017-01-01,X,{url},Global,top200,,1\n"
                      f'"D,4,2017-01-01,X,{url},Global,top200,,1\n'.replace("C,3,", "C,0,"))
    data = tmp_path / "data"
    result = dg.materialize([chart_rows], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data)), "engine": EngineResource(),
        "source": SourceResource(kind="files", charts_path=str(charts))})
    message = failure_message(result)
    rejected = data / "assets" / "chart_rows_rejected.parquet"
    assert "no valid chart rows" in message and str(rejected) in message and str(charts) in message
    assert "rank is not a positive integer: 2" in message and "date is not a real YYYY-MM-DD date: 1" in message
    assert "unbalanced quote" in message
    frame = pd.read_parquet(rejected)
    assert sorted(frame["title"].str[:1]) == ["A", "B", "C", "D"] and frame["reason"].notna().all()


def test_the_readers_parse_rejects_count_toward_the_share_and_are_named(data: Path) -> None:
    """track_features_rejected.parquet (the readers' unparsable values, FEATURE_REJECT_COLUMNS) is
    read beside tracks_rejected.parquet: together above the share, publishing stops."""
    ids = found_ids(storage.read_parquet(features_path(data)))[::6]
    parse = pd.DataFrame({"source": "/srv/catalog/tracks.csv", "row": range(2, 2 + len(ids)), "track_id": ids,
                          "column": "time_signature", "value": "04-Apr", "reason": "not a number"})
    storage.write_parquet(parse, data / "assets" / "track_features_rejected.parquet")
    result = run(data, ["tracks"])
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["tracks_rejected_share"]
    assert not check.passed and "time_signature=04-Apr (not a number)" in check.description and ids[0] in check.description
    assert check.metadata["examples"].value[0] == {"track_id": ids[0], "column": "time_signature", "value": "04-Apr",
                                                   "reason": "not a number", "source": "/srv/catalog/tracks.csv", "row": 2}
    assert str(data / "assets" / "track_features_rejected.parquet") in check.metadata["rejects_files"].value
