"""Bad chart input through the real chart_rows asset: a clear failure or counted rows, never silence."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.schema import CHART_COLUMNS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource

ROW = {"title": "Song", "rank": "3", "date": "2018-05-01", "artist": "Max",
       "url": "https://open.spotify.com/track/6mICuAdrwEjh6Y6lroV2Kg", "region": "Global",
       "chart": "top200", "trend": "MOVE_UP", "streams": "1000.0"}


class _TableSource:
    name = "fixture.csv"

    def __init__(self, tables: list[pa.Table]):
        self.tables = tables

    def chart_batches(self) -> Iterator[pa.Table]:
        yield from self.tables


def _run(tmp_path: Path, tables: list[pa.Table]) -> dg.ExecuteInProcessResult:
    class FixtureSource(SourceResource):
        def open(self):  # type: ignore[override]
            return _TableSource(tables)

    return dg.materialize([chart_rows], resources={"store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(),
                                                   "source": FixtureSource(kind="files")}, raise_on_error=False)


def _table(rows: list[dict], drop: tuple[str, ...] = ()) -> pa.Table:
    return pa.table({c: [r[c] for r in rows] for c in CHART_COLUMNS if c not in drop})


def test_missing_column_fails_the_asset_naming_column_and_file(tmp_path: Path) -> None:
    result = _run(tmp_path, [_table([ROW], drop=("streams",))])
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    message = str(failure.cause.message if failure.cause else failure.message)
    assert "'streams'" in message and "fixture.csv" in message
    assert not (tmp_path / "assets" / "chart_rows.parquet").exists()  # nothing half-written left behind


def test_malformed_rows_are_counted_sampled_and_kept(tmp_path: Path) -> None:
    bad = [dict(ROW, rank="first"), dict(ROW, url="not a url"), dict(ROW, date="yesterday")]
    result = _run(tmp_path, [_table([ROW] * 4 + bad), _table([ROW])])
    assert result.success
    md = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert md["rows_read"].value == 8 and md["rows_rejected"].value == 3
    assert md["dagster/row_count"].value == 5
    assert "first" in md["rejected_sample"].value and "not a url" in md["rejected_sample"].value
    rejected = pq.read_table(tmp_path / "assets" / "chart_rows_rejected.parquet").to_pandas()
    assert sorted(rejected["rank"]) == ["3", "3", "first"] and rejected["reason"].notna().all()


def test_a_source_with_no_valid_row_fails_clearly(tmp_path: Path) -> None:
    result = _run(tmp_path, [_table([dict(ROW, url="")])])
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "no valid chart rows" in (error.message + str(error.cause.message if error.cause else ""))
