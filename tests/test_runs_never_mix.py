"""Two materializations on one data folder, each a real `dagster asset materialize` process with
an instance of its own (as two machines, or a laptop and the server, would be): they never mix.
One runs and the other stops at once with a message naming the first, and the published bundle is
the whole of one run: its track count is the count that run's `tracks` step recorded. (A run told
to wait, MUSIC_ADVISER_LOCK_WAIT, gets the folder when the holder is done: tests/test_data_lock.py
with real processes; runs of one instance queue instead: tests/test_daemon_postgres.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from music_assets.model import registry
from music_assets.model.bundle import load_bundle

ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
SIZES = (3_000, 1_500)  # different catalogs, so a bundle mixed from both would show


def start(data: Path, home: Path, n_tracks: int, wait_s: float = 0) -> subprocess.Popen:
    """`dagster asset materialize` of the whole graph on a demo catalog of `n_tracks`, in an
    instance of its own (DAGSTER_HOME), on the shared data folder."""
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MUSIC_ADVISER_DATA_DIR": str(data),
           "MUSIC_ADVISER_LOCK_WAIT": str(wait_s)}
    config = {"resources": {"source": {"config": {"kind": "demo", "demo_tracks": n_tracks}}}}
    return subprocess.Popen([DAGSTER, "asset", "materialize", "-m", "music_assets.definitions", "--select", "*",
                             "--config-json", json.dumps(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def recorded(home: Path) -> dict:
    """What the process's own instance recorded: its run, the tracks it counted, what it published."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        found = {"run_id": run.run_id, "status": run.status}
        for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
            materialization = record.event_log_entry.asset_materialization
            if materialization.asset_key == dg.AssetKey("tracks"):
                found["tracks"] = materialization.metadata["dagster/row_count"].value
            if materialization.asset_key == dg.AssetKey("published_model"):
                found["published"] = materialization.metadata["version"].value
        return found


def test_two_processes_on_one_folder_one_runs_the_other_stops_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    processes = [start(data, tmp_path / f"home{i}", n) for i, n in enumerate(SIZES)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    codes = [p.returncode for p in processes]
    assert sorted(codes)[0] == 0 and sorted(codes)[1] != 0, (codes, [o[-3000:] for o in outputs])
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    won, lost = recorded(tmp_path / f"home{winner}"), recorded(tmp_path / f"home{loser}")
    assert lost["status"] == dg.DagsterRunStatus.FAILURE and "published" not in lost and "tracks" not in lost
    assert f"the data folder is in use by run {won['run_id']} (pid " in outputs[loser]
    assert "Wait for that run to finish" in outputs[loser]

    published = load_bundle(data / "models")
    assert published.version == won["published"] == registry.read_pointer(data / "models")
    assert len(published.tracks) == won["tracks"] == published.meta["n_tracks"]
