"""Real charts (../shared/data/ph_daily_charts through the files source): every check passes and
the model is published with a measured default mode. Skips when the shared data is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from music_assets.definitions import build_definitions
from music_assets.model.bundle import load_bundle
from music_assets.defs.resources import DataStore, EngineResource, SourceResource

pytestmark = pytest.mark.shared_data


def test_real_charts_pass_every_check_and_publish(shared_data: Path, tmp_path: Path) -> None:
    ph = shared_data / "ph_daily_charts"
    source = SourceResource(kind="files", charts_path=str(ph / "spotify_daily_charts.csv.gz"),
                            features_path=str(ph / "spotify_daily_charts_tracks.csv"),
                            artists_path=str(ph / "spotify_daily_charts_artists.csv"))
    local = build_definitions(resources={"store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(), "source": source})
    result = local.resolve_job_def("music_adviser_job").execute_in_process()
    assert result.success
    failed = {e.check_name: e.description for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {}
    bundle = load_bundle(tmp_path / "models")
    quality = json.loads((bundle.path / "quality.json").read_text())
    assert bundle.default_mode == quality["winner"]
    floor = quality["modes"]["random"]["genre_hit_rate"]
    assert quality["modes"][quality["winner"]]["genre_hit_rate"] > floor
