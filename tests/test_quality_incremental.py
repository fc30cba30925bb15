"""An unchanged input does not refit the elbow; a changed config or input does."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from music_assets import storage
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


def run_cluster_k(data_dir: Path, run_config: dict | None = None) -> dict:
    result = dg.materialize(
        ALL_ASSETS, selection=dg.AssetSelection.assets("cluster_k"), run_config=run_config,
        resources={"store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(), "source": SourceResource(kind="demo")},
    )
    event = result.get_asset_materialization_events()[0].materialization
    return {"refit": event.metadata["refit"].value, "k": event.metadata["chosen_k"].value,
            "data_version": event.tags["dagster/data_version"]}


def test_elbow_refits_only_when_its_inputs_change(demo_data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    first = run_cluster_k(data)
    assert first["refit"] is False  # the fixture's run fitted this very embedding

    narrower = run_cluster_k(data, {"ops": {"cluster_k": {"config": {"max_k": 5}}}})
    assert narrower["refit"] is True and narrower["data_version"] != first["data_version"]
    assert list(storage.read_parquet(data / "assets" / "cluster_k.parquet")["k"]) == list(range(2, 6))

    store = DataStore(data_dir=str(data))
    emb = storage.read_parquet(store.asset_path("track_embedding"))
    storage.write_parquet(emb.iloc[:-1], store.asset_path("track_embedding"))  # a track less
    assert run_cluster_k(data, {"ops": {"cluster_k": {"config": {"max_k": 5}}}})["refit"] is True
    assert run_cluster_k(data, {"ops": {"cluster_k": {"config": {"max_k": 5}}}})["refit"] is False


def test_missing_output_forces_a_refit(demo_data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    (data / "assets" / "cluster_k.parquet").unlink()
    assert run_cluster_k(data)["refit"] is True
