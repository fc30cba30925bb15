"""model_quality on the materialized demo catalog: quality.json and plots land in the bundle
before it is published, serving's default mode follows the winner, history is kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from music_assets.model.bundle import QUALITY_FILE, load_bundle
from music_assets.training.evaluate import METRICS, RANDOM_MODE
from music_assets.training.plots import is_png
from music_assets.model.recommend import MODES


def test_quality_json_has_every_mode_and_a_winner(demo_bundle) -> None:
    quality = json.loads((demo_bundle.path / QUALITY_FILE).read_text())
    assert quality["version"] == demo_bundle.version
    assert set(quality["modes"]) == {*MODES, RANDOM_MODE}
    for metrics in quality["modes"].values():
        assert set(metrics) == set(METRICS)
    assert quality["winner"] in MODES and quality["winner"] != "genre"
    assert demo_bundle.default_mode == quality["winner"]
    floor = quality["modes"][RANDOM_MODE]
    for mode in ("normal", "nearest"):
        # on the demo catalog, sound predicts genre far better than chance
        assert quality["modes"][mode]["genre_hit_rate"] > 2 * floor["genre_hit_rate"]
        assert quality["modes"][mode]["diversity"] < floor["diversity"]
    assert quality["modes"]["genre"]["genre_hit_rate"] == 1.0  # by construction


def test_published_bundle_carries_its_pictures(demo_data_dir: Path, demo_bundle) -> None:
    for name in ("elbow.png", "pca_map.png"):
        assert is_png(demo_bundle.path / "plots" / name)
    assert (demo_data_dir / "models" / "LATEST").read_text().strip() == demo_bundle.version


def test_history_records_the_published_version(demo_data_dir: Path, demo_bundle) -> None:
    history = pd.read_parquet(demo_data_dir / "assets" / "quality_history.parquet")
    rows = history[history["version"] == demo_bundle.version]
    assert set(rows["mode"]) == {*MODES, RANDOM_MODE}
    assert is_png(demo_data_dir / "assets" / "pictures" / "quality_history.png")


def copy_bundle(demo_bundle, tmp_path: Path) -> Path:
    models = tmp_path / "models"
    shutil.copytree(demo_bundle.path, models / demo_bundle.version)
    (models / "LATEST").write_text(demo_bundle.version + "\n")
    return models


def unvouched(models: Path, version: str, *names: str) -> None:
    """Drop files' checksums from model.json: the shape of a bundle sealed before they existed."""
    meta_path = models / version / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["files"] = {k: v for k, v in meta["files"].items() if not any(k.startswith(n) for n in names)}
    meta_path.write_text(json.dumps(meta))


def test_older_bundle_without_quality_or_plots_still_loads(demo_bundle, tmp_path: Path) -> None:
    models = copy_bundle(demo_bundle, tmp_path)
    (models / demo_bundle.version / QUALITY_FILE).unlink()
    shutil.rmtree(models / demo_bundle.version / "plots")
    unvouched(models, demo_bundle.version, QUALITY_FILE, "plots/")
    bundle = load_bundle(models)
    assert bundle.quality == {} and bundle.default_mode == demo_bundle.meta["settings"]["default_mode"]


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"winner": ""}'])
def test_damaged_unvouched_quality_json_falls_back_to_the_setting(demo_bundle, tmp_path: Path, content: str) -> None:
    models = copy_bundle(demo_bundle, tmp_path)
    unvouched(models, demo_bundle.version, QUALITY_FILE)
    (models / demo_bundle.version / QUALITY_FILE).write_text(content)
    assert load_bundle(models).default_mode == "normal"


def test_a_quality_json_changed_or_lost_after_sealing_is_refused(demo_bundle, tmp_path: Path) -> None:
    from music_assets.model.bundle import BundleError

    models = copy_bundle(demo_bundle, tmp_path)
    quality = models / demo_bundle.version / QUALITY_FILE
    quality.write_text(quality.read_text().replace('"winner"', '"winner" ', 1))
    with pytest.raises(BundleError, match="quality.json does not match its checksum"):
        load_bundle(models)
    quality.unlink()
    with pytest.raises(BundleError, match="quality.json is missing"):
        load_bundle(models)


def test_incomplete_build_is_not_published(demo_data_dir: Path, tmp_path: Path) -> None:
    import dagster as dg

    from music_assets.defs.assets.published_model import published_model
    from music_assets.defs.assets.recommender_model import recommender_model
    from music_assets.defs.bundle_io import BundleRef
    from music_assets.defs.resources import DataStore

    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    built = dg.materialize([recommender_model], resources={"store": DataStore(data_dir=str(data))})
    ref = BundleRef(**built.asset_materializations_for_node("recommender_model")[0].metadata["bundle_ref"].value)
    (data / "models" / "LATEST").write_text("older-version\n")
    with pytest.raises(dg.Failure, match="missing quality.json, plots/elbow.png, plots/pca_map.png"):
        published_model(context=dg.build_asset_context(), recommender_model=ref, store=DataStore(data_dir=str(data)))
    assert (data / "models" / "LATEST").read_text() == "older-version\n"
    assert not (ref.folder / "model.json").exists()  # still a build, not a bundle


def test_quality_without_a_built_model_is_a_clear_error(tmp_path: Path) -> None:
    import dagster as dg

    from music_assets.definitions import ALL_ASSETS
    from music_assets.defs.resources import DataStore, EngineResource, SourceResource

    result = dg.materialize(ALL_ASSETS, selection=["model_quality"], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(), "source": SourceResource(kind="demo")})
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "materialize recommender_model first" in message
