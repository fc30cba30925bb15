"""The daily schedule and the incoming-folder sensor, evaluated with Dagster's test contexts on a
real folder with files written into it."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from music_assets.defs.jobs import music_adviser_job
from music_assets.defs.resources import build_resources
from music_assets.defs.schedules import daily_refresh
from music_assets.defs.sensors import (
    SETTLE_SECONDS, incoming_files_sensor,
)
from music_assets.ingest.incoming import parse_cursor, scan
from music_assets.definitions import defs
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


def test_definitions_load_with_schedule_sensor_and_checks() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert repo.get_schedule_def("daily_refresh").job_name == "music_adviser_job"
    assert repo.get_sensor_def("incoming_files_sensor").job_name == "music_adviser_job"
    job = defs.resolve_job_def("music_adviser_job")
    assert {"published_model", "model_quality", "catalog_pictures"} <= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}


def test_daily_schedule_requests_a_full_refresh() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 25, 4, tzinfo=timezone.utc))
    requests = list(daily_refresh.evaluate_tick(context).run_requests or [])
    assert len(requests) == 1
    assert daily_refresh.cron_schedule == "0 4 * * *" and daily_refresh.execution_timezone == "UTC"
    assert daily_refresh.job is music_adviser_job or daily_refresh.job_name == "music_adviser_job"


def land(folder: Path, name: str, text: str = "title,rank\nA,1\n", age: float = 2 * SETTLE_SECONDS) -> Path:
    path = folder / name
    path.write_text(text)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def tick(data_dir: Path, cursor: str | None, source: SourceResource | None = None):
    # `with`: the store resource holds the data folder's lock during a run, so it is a context
    # manager resource (no lock is taken for a sensor tick: there is no run)
    with dg.build_sensor_context(cursor=cursor, resources={
            "store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(),
            "source": source or SourceResource(kind="demo")}) as context:
        return incoming_files_sensor(context), context


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def test_sensor_runs_once_per_file_and_again_when_it_changes(incoming: Path) -> None:
    data_dir = incoming.parent
    result, _ = tick(data_dir, None)
    assert isinstance(result, dg.SkipReason)

    land(incoming, "charts_2026-11.csv")
    result, _ = tick(data_dir, None)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags["music_adviser/files"] == "charts_2026-11.csv"
    cursor = result.cursor
    assert set(json.loads(cursor)) == {"charts_2026-11.csv"}

    again, _ = tick(data_dir, cursor)  # same folder, same cursor: nothing new
    assert isinstance(again, dg.SkipReason)

    land(incoming, "charts_2026-11.csv", "title,rank\nA,1\nB,2\n")  # replaced with new content
    changed, _ = tick(data_dir, cursor)
    assert isinstance(changed, dg.SensorResult) and changed.run_requests[0].run_key != request.run_key


def test_sensor_ignores_half_copied_files_until_they_settle(incoming: Path) -> None:
    data_dir = incoming.parent
    land(incoming, "features.csv.part")  # a copy tool's temporary name
    land(incoming, ".charts.csv.tmp-123")
    land(incoming, "notes.txt")  # not a charts/features file
    land(incoming, "empty.csv", text="")  # created, nothing written yet
    growing = land(incoming, "charts_big.csv", age=0)  # still being written (modified just now)
    result, _ = tick(data_dir, None)
    assert isinstance(result, dg.SkipReason) and "charts_big.csv" in str(result.skip_message)

    then = time.time() - 2 * SETTLE_SECONDS
    os.utime(growing, (then, then))  # the copy finished a while ago
    result, _ = tick(data_dir, None)
    assert isinstance(result, dg.SensorResult)
    assert result.run_requests[0].tags["music_adviser/files"] == "charts_big.csv"
    assert set(json.loads(result.cursor)) == {"charts_big.csv"}


def test_sensor_folder_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    land(folder, "charts.csv.gz", text="x")
    monkeypatch.setenv("MUSIC_ADVISER_INCOMING_DIR", str(folder))
    monkeypatch.setenv("MUSIC_ADVISER_DATA_DIR", str(tmp_path / "data"))
    resources = build_resources()  # the settings, read from the environment
    assert resources["store"].incoming_dir == str(folder)
    with dg.build_sensor_context(resources=resources) as context:
        result = incoming_files_sensor(context)
    assert isinstance(result, dg.SensorResult)


def test_damaged_cursor_means_start_over(incoming: Path) -> None:
    assert parse_cursor("{oops") == {} and parse_cursor("[1]") == {} and parse_cursor(None) == {}
    land(incoming, "a.csv")
    assert scan(incoming, parse_cursor("{oops"), time.time(), SETTLE_SECONDS).ready == ["a.csv"]
    assert scan(incoming / "missing", {}, time.time(), SETTLE_SECONDS).ready == []


def test_the_scheduled_job_runs_every_check_and_publishes(tmp_path: Path) -> None:
    """music_adviser_job as the schedule and the sensor launch it: all assets and checks, then LATEST."""
    from music_assets.definitions import ALL_ASSETS, ALL_CHECKS, build_definitions
    from music_assets.defs.resources import SourceResource

    local = build_definitions(resources={
        "store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=1_500, demo_seed=7)})
    result = local.resolve_job_def("music_adviser_job").execute_in_process()
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    specs = [*(s for c in ALL_CHECKS for s in c.check_specs), *(s for a in ALL_ASSETS for s in a.check_specs)]
    assert set(evaluations) == {spec.name for spec in specs}
    assert all(evaluations.values()), evaluations
    built = result.asset_materializations_for_node("recommender_model")[0].metadata["version"].value
    assert (tmp_path / "models" / "LATEST").read_text().strip() == built
