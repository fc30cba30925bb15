"""Every layout of issue 13 through the whole graph: project-written fixtures (tests/byod_fixtures.py,
the real headers and messes) brought by a path and at most a column map, materialized with the
files source into a fresh data folder; the model must publish, and the rows in, the tracks in the
bundle and the rejects by reason must be what the fixture put there."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from music_assets.schema import FEATURE_REJECT_COLUMNS
from tests.byod_fixtures import WRITERS, run_case

@pytest.mark.parametrize("layout", list(WRITERS))
def test_layout_publishes_a_model_with_every_row_accounted_for(layout: str, tmp_path: Path) -> None:
    case = WRITERS[layout](tmp_path / "in")
    outcome = run_case(case, tmp_path / "data")
    assert outcome.success, outcome.failure
    assert outcome.rows_in == case.rows_in
    assert outcome.tracks == case.tracks
    assert outcome.feature_rejects == case.feature_rejects
    assert outcome.chart_rejects == case.chart_rejects
    rejects = pq.read_table(tmp_path / "data" / "assets" / "track_features_rejected.parquet").to_pandas()
    assert tuple(rejects.columns) == FEATURE_REJECT_COLUMNS and len(rejects) == sum(case.feature_rejects.values())
