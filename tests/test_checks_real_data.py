"""Real charts (../shared/data/ph_daily_charts through the files source): every check passes and
the model is published with a measured default mode. Skips when the shared data is absent.
The run is the session's `ph_daily_run` (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from music_assets.model.bundle import load_bundle

pytestmark = pytest.mark.shared_data


def test_real_charts_pass_every_check_and_publish(ph_daily_run) -> None:
    data_dir, result = ph_daily_run  # the run tests/test_sources_files.py reads as well
    assert result.success
    failed = {e.check_name: e.description for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {}
    bundle = load_bundle(data_dir / "models")
    quality = json.loads((bundle.path / "quality.json").read_text())
    assert bundle.default_mode == quality["winner"]
    floor = quality["modes"]["random"]["genre_hit_rate"]
    assert quality["modes"][quality["winner"]]["genre_hit_rate"] > floor
