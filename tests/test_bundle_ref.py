"""The build a run made travels to the steps that finish it as an asset value (defs/bundle_io.py):
each run finishes its own build, even when another run built one meanwhile; a step run alone
finishes the latest build Dagster recorded; and nothing falls back to the published LATEST."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from music_assets.definitions import ALL_ASSETS
from music_assets.defs.assets.ann_index import ann_index
from music_assets.defs.assets.recommender_model import recommender_model
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.model import ann
from music_assets.model.bundle import BUILD_FILE, META_FILE


@pytest.fixture
def data(demo_data_dir: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    return data


def _resources(data: Path) -> dict:
    return {"store": DataStore(data_dir=str(data)), "engine": EngineResource(), "source": SourceResource(kind="demo")}


def _built(result: dg.ExecuteInProcessResult) -> str:
    return result.asset_materializations_for_node("recommender_model")[0].metadata["version"].value


def test_each_run_finishes_its_own_build_while_another_run_builds(data: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    others: list[str] = []

    @dg.asset(deps=[recommender_model])
    def another_run_builds_meanwhile() -> None:
        # The data folder's lock would stop this run at once (tests/test_runs_never_mix.py): off
        # here, to show that even runs that do overlap each finish their own build.
        unlocked = {**_resources(data), "store": DataStore(data_dir=str(data), lock=False)}
        other = dg.materialize([recommender_model], instance=instance, resources=unlocked)
        others.append(_built(other))

    result = dg.materialize([recommender_model, another_run_builds_meanwhile, ann_index], instance=instance,
                            resources=_resources(data), run_config={"ops": {"ann_index": {"config": {"min_tracks": 1}}}})
    assert result.success
    mine = _built(result)
    assert others and others[0] != mine  # the other run's build is the latest one recorded...
    assert instance.get_latest_materialization_event(dg.AssetKey("recommender_model")).asset_materialization \
        .metadata["version"].value == others[0]
    indexed = result.asset_materializations_for_node("ann_index")[0].metadata["version"].value
    assert indexed == mine  # ...but this run indexed its own
    assert ann.has_index(data / "models" / mine) and not ann.has_index(data / "models" / others[0])


def test_a_step_run_alone_finishes_the_latest_recorded_build_never_latest(data: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    published = (data / "models" / "LATEST").read_text().strip()
    fresh = dg.materialize(ALL_ASSETS, selection=["ann_index"], instance=instance, resources=_resources(data),
                           raise_on_error=False)
    assert not fresh.success  # nothing built in this instance: no fallback to what LATEST names
    error = fresh.get_step_failure_events()[0].step_failure_data.error.message
    assert "materialize recommender_model first" in error

    built = _built(dg.materialize([recommender_model], instance=instance, resources=_resources(data)))
    assert built != published
    assert (data / "models" / built / BUILD_FILE).exists() and not (data / "models" / built / META_FILE).exists()
    alone = dg.materialize(ALL_ASSETS, selection=["ann_index"], instance=instance, resources=_resources(data),
                           run_config={"ops": {"ann_index": {"config": {"min_tracks": 1}}}})
    assert alone.asset_materializations_for_node("ann_index")[0].metadata["version"].value == built
    assert ann.has_index(data / "models" / built) and not ann.has_index(data / "models" / published)


def test_a_build_is_a_bundle_only_once_sealed_by_publishing(data: Path) -> None:
    result = dg.materialize(ALL_ASSETS, selection=["recommender_model", "ann_index", "model_quality", "model_pictures",
                                                   "published_model"], resources=_resources(data))
    built = data / "models" / _built(result)
    meta = (built / META_FILE).read_text()
    for name in ("tracks.parquet", "quality.json", "plots/elbow.png", "plots/pca_map.png"):
        assert f'"{name}"' in meta  # every file's checksum is recorded
    assert (data / "models" / "LATEST").read_text().strip() == built.name
