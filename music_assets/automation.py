"""Jobs, the daily schedule and the incoming-folder sensor.

Why schedules and sensors rather than declarative automation: a refresh must run the whole graph
as one run, so the blocking checks gate publishing within that run and a failure leaves the
previous model serving; the trigger we react to is a file outside Dagster, not an upstream asset.
A schedule and a sensor that request `music_adviser_job` say exactly that, and are testable with
Dagster's own test contexts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from music_assets.core.incoming import parse_cursor, scan
from music_assets.resources import DataStore, SourceResource

INCOMING_DIR_ENV = "MUSIC_ADVISER_INCOMING_DIR"
SETTLE_SECONDS = 30.0  # a file untouched this long is taken as completely copied
DAILY_CRON = "0 4 * * *"

# The graph is a chain, so separate processes per step would only add start-up time.
music_adviser_job = dg.define_asset_job(
    "music_adviser_job", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor,
    description="Refresh everything: chart rows -> features -> clean tracks -> model -> checks -> published bundle.",
)

daily_refresh = dg.ScheduleDefinition(
    name="daily_refresh", job=music_adviser_job, cron_schedule=DAILY_CRON, execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Refresh the whole graph every day at 04:00 UTC; unchanged inputs only cost a reread.",
)


class NoIncomingDir(ValueError):
    """The data folder is on an object store and no local incoming folder was named."""


def incoming_dir(store: DataStore, source: SourceResource | None = None) -> Path:
    """$MUSIC_ADVISER_INCOMING_DIR; else the chart folder the files/spotify source reads (so a file
    that lands there is read by the run it starts); else <data dir>/incoming when the data folder
    is local (input files stay local paths, see README "Storage")."""
    if os.environ.get(INCOMING_DIR_ENV):
        return Path(os.environ[INCOMING_DIR_ENV])
    if source is not None and source.kind != "demo" and source.charts_path and Path(source.charts_path).is_dir():
        return Path(source.charts_path)
    if not store.is_local:
        raise NoIncomingDir(f"the data folder {store.data_dir} is on an object store: set {INCOMING_DIR_ENV} "
                            "to the local folder to watch (input files are read from local paths)")
    return Path(store.root) / "incoming"


def unread_warning(folder: Path, source: SourceResource) -> str | None:
    """Why the files that start this run will not be read by it, or None when they will be."""
    if source.kind == "demo":
        return (f"the source is the demo catalog: files in {folder} start a refresh but are not read; "
                "set MUSIC_ADVISER_SOURCE=files and MUSIC_ADVISER_CHARTS to this folder to read them")
    charts = Path(source.charts_path) if source.charts_path else None
    if charts is None or not charts.is_dir() or charts.resolve() != folder.resolve():
        return (f"the {source.kind} source reads charts from {source.charts_path}, not from {folder}: "
                "point MUSIC_ADVISER_CHARTS at this folder to read what lands in it")
    return None


@dg.sensor(job=music_adviser_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Start a refresh when a new or changed charts/features file has fully landed in the incoming folder.")
def incoming_files_sensor(context: dg.SensorEvaluationContext, store: DataStore,
                          source: SourceResource) -> dg.SensorResult | dg.SkipReason:
    try:
        folder = incoming_dir(store, source)
    except NoIncomingDir as exc:
        return dg.SkipReason(str(exc))
    result = scan(folder, parse_cursor(context.cursor), time.time(), SETTLE_SECONDS)
    if not result.ready:
        waiting = f"; still settling: {', '.join(result.waiting)}" if result.waiting else ""
        return dg.SkipReason(f"no new or changed file in {folder}{waiting}")
    fingerprints = {name: result.cursor[name] for name in result.ready}
    run_key = hashlib.sha256(json.dumps(fingerprints, sort_keys=True).encode()).hexdigest()[:16]
    context.log.info(f"new or changed in {folder}: {', '.join(result.ready)}")
    warning = unread_warning(folder, source)
    if warning:
        context.log.warning(warning)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=run_key, tags={
            "music_adviser/trigger": "incoming_files",
            "music_adviser/files": ",".join(result.ready)[:200],
        })],
        cursor=json.dumps(result.cursor, sort_keys=True),
    )


ALL_JOBS = [music_adviser_job]
ALL_SCHEDULES = [daily_refresh]
ALL_SENSORS = [incoming_files_sensor]
