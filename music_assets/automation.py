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
from music_assets.resources import DataStore

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


def incoming_dir(store: DataStore) -> Path:
    """$MUSIC_ADVISER_INCOMING_DIR, else <data dir>/incoming."""
    return Path(os.environ.get(INCOMING_DIR_ENV) or store.root / "incoming")


@dg.sensor(job=music_adviser_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Start a refresh when a new or changed charts/features file has fully landed in the incoming folder.")
def incoming_files_sensor(context: dg.SensorEvaluationContext, store: DataStore) -> dg.SensorResult | dg.SkipReason:
    folder = incoming_dir(store)
    result = scan(folder, parse_cursor(context.cursor), time.time(), SETTLE_SECONDS)
    if not result.ready:
        waiting = f"; still settling: {', '.join(result.waiting)}" if result.waiting else ""
        return dg.SkipReason(f"no new or changed file in {folder}{waiting}")
    fingerprints = {name: result.cursor[name] for name in result.ready}
    run_key = hashlib.sha256(json.dumps(fingerprints, sort_keys=True).encode()).hexdigest()[:16]
    context.log.info(f"new or changed in {folder}: {', '.join(result.ready)}")
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
