"""The incoming-folder sensor: a refresh when a new or changed chart file has fully landed.

Sensors fire only while the dagster-daemon runs (docs/operations.md). The trigger is a file
outside Dagster, not an upstream asset, so a sensor that requests the whole job says exactly that.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from music_assets.defs.jobs import music_adviser_job
from music_assets.defs.resources import DataStore, SourceResource
from music_assets.ingest.incoming import parse_cursor, scan

SETTLE_SECONDS = 30.0  # a file untouched this long is taken as completely copied


class NoIncomingDir(ValueError):
    """The data folder is on an object store and no local incoming folder was named."""


def incoming_dir(store: DataStore, source: SourceResource | None = None) -> Path:
    """The store's `incoming_dir` ($MUSIC_ADVISER_INCOMING_DIR); else the chart folder the
    files/spotify source reads (so a file that lands there is read by the run it starts); else
    <data dir>/incoming when the data folder is local (input files stay local paths, docs/storage.md)."""
    if store.incoming_dir:
        return Path(store.incoming_dir)
    if source is not None and source.kind != "demo" and source.charts_path and Path(source.charts_path).is_dir():
        return Path(source.charts_path)
    if not store.is_local:
        raise NoIncomingDir(f"the data folder {store.data_dir} is on an object store: set MUSIC_ADVISER_INCOMING_DIR "
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
