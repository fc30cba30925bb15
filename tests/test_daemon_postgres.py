"""The production instance, run for real: deploy/dagster.yaml on a real PostgreSQL (started for the
module, password from the environment), a real dagster-daemon starting the code server and the
run workers, runs launched with the `dagster` CLI.

- the daily_refresh schedule, given a one-minute cron, fires and its run publishes a model of the
  files the environment names (MUSIC_ADVISER_SOURCE=files);
- two runs launched together queue (the data_folder pool) instead of running at once;
- a run worker killed with -9 is marked failed by Dagster's code server; a run whose worker died
  with the daemon (a crash of the whole machine or container) is marked failed by run monitoring
  after the daemon comes back (music_assets/defs/run_launcher.py), and the queue moves on: the
  runs waiting run one after the other, each publishing a whole bundle of its own catalog.

Only deploy/dagster.yaml's monitoring interval is shortened (30 s to 2 s) to keep the test short.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from music_assets.model import registry
from music_assets.model.bundle import load_bundle
from tests.byod_fixtures import WRITERS, Case
from tests.daemon_support import BIN, ROOT, Deployment, kill, wait_for
from tests.postgres_support import postgres_server

IN_PROGRESS = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}


@pytest.fixture(scope="module")
def operator_files(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """The files the environment names for the scheduled run: a 150-track catalog of the kaggle
    layout (tests/byod_fixtures.py). It publishes as the 20,000-track default demo would, in a
    fraction of the time."""
    return WRITERS["kaggle"](tmp_path_factory.mktemp("incoming"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, operator_files: Case):
    with postgres_server() as postgres:
        home = tmp_path_factory.mktemp("dagster_home")
        config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
        config["run_monitoring"]["poll_interval_seconds"] = 2
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        files = operator_files.source
        deployed = Deployment(home, {**postgres, "MUSIC_ADVISER_DATA_DIR": str(tmp_path_factory.mktemp("data")),
                                     "MUSIC_ADVISER_REFRESH_CRON": "* * * * *", "MUSIC_ADVISER_SOURCE": "files",
                                     "MUSIC_ADVISER_CHARTS": files["charts_path"],
                                     "MUSIC_ADVISER_FEATURES": files["features_path"]})
        # the schedule is switched on as an operator would (it starts stopped), while the daemon
        # and the webserver start: it fires at the next minute
        schedule = subprocess.Popen([str(BIN / "dagster"), "schedule", "start", "daily_refresh", "-w", "workspace.yaml"],
                                    cwd=ROOT, env=deployed.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deployed.start_daemon()
        deployed.start_webserver()
        try:
            out, _ = schedule.communicate(timeout=180)
            assert schedule.returncode == 0, out
            deployed.wait_webserver()
            yield deployed
        finally:
            deployed.stop_webserver()
            deployed.stop_daemon()


def own_folder(tmp_path: Path, n_tracks: int) -> dict:
    """Run config: a demo catalog of `n_tracks` written to a data folder of this test's own."""
    return {"resources": {"source": {"config": {"kind": "demo", "demo_tracks": n_tracks}},
                          "store": {"config": {"data_dir": str(tmp_path / "data")}}}}


def run_of(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    return instance.get_run_by_id(run_id)


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    run = run_of(instance, run_id)
    return run if run is not None and run.is_finished else None


def materialized(instance: dg.DagsterInstance, run_id: str, asset: str) -> dict:
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        m = record.event_log_entry.asset_materialization
        if m.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in m.metadata.items()}
    raise AssertionError(f"run {run_id} did not materialize {asset}")


def test_the_instance_keeps_its_runs_in_postgres(deployment: Deployment) -> None:
    with deployment.instance() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_launcher).__name__ == "MonitoredRunLauncher"
        assert instance.run_monitoring_enabled


def test_the_schedule_fires_through_the_daemon_and_its_run_publishes(deployment: Deployment, operator_files: Case) -> None:
    with deployment.instance() as instance:
        try:
            run = wait_for("a run of the daily_refresh schedule", lambda: next(iter(instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/schedule_name": "daily_refresh"}), limit=1)), None),
                timeout=150, every=1, deployment=deployment)
        finally:
            stopped = deployment.dagster("schedule", "stop", "daily_refresh", "-w", "workspace.yaml")
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        done = wait_for("the scheduled run to finish", lambda: finished(instance, run.run_id), timeout=300,
                        deployment=deployment)
        assert done.status == dg.DagsterRunStatus.SUCCESS, deployment.daemon_log()
        assert done.job_name == "music_adviser_job"
        published = materialized(instance, run.run_id, "published_model")["version"]
    assert registry.read_pointer(Path(deployment.env["MUSIC_ADVISER_DATA_DIR"]) / "models") == published
    assert load_bundle(Path(deployment.env["MUSIC_ADVISER_DATA_DIR"]) / "models").meta["n_tracks"] == operator_files.tracks


def test_runs_queue_instead_of_mixing_and_dead_workers_are_failed(deployment: Deployment, tmp_path: Path) -> None:
    """One scenario, to start as few run workers as possible (each costs a fresh interpreter):
    two runs launched together queue; the first one's worker is killed; the second one's worker
    dies with the daemon; the two runs launched meanwhile go ahead once the daemon is back, one
    after the other, each publishing a whole bundle of its own catalog."""
    with deployment.instance() as instance:
        def worker_pid(run_id: str) -> int | None:
            started = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START, limit=1).records
            return started[0].event_log_entry.dagster_event.pid if started else None

        # 1. Two runs launched together on one folder: the second waits, queued.
        first, second = (deployment.submit(own_folder(tmp_path, 1_500)) for _ in range(2))
        pid = wait_for("the first run's worker to start a step", lambda: worker_pid(first), timeout=180,
                       deployment=deployment)
        assert run_of(instance, second).status == dg.DagsterRunStatus.QUEUED

        # 2. Its worker alone is killed (the OOM killer): Dagster's code server fails the run.
        kill([pid])
        failed = wait_for("the killed run to be marked failed", lambda: finished(instance, first), timeout=60,
                          deployment=deployment)
        assert failed.status == dg.DagsterRunStatus.FAILURE

        # 3. The next worker dies with the daemon and its code server (the machine goes down):
        # nobody is left to notice until the daemon is back; then run monitoring fails the run.
        wait_for("the second run's worker to start a step", lambda: worker_pid(second), timeout=180,
                 deployment=deployment)
        later = [deployment.submit(own_folder(tmp_path, n)) for n in (500, 600)]  # two (small) catalogs
        killed = deployment.crash_daemon()
        time.sleep(3)
        assert run_of(instance, second).status == dg.DagsterRunStatus.STARTED  # a zombie, for now
        deployment.start_daemon()
        zombie = wait_for("run monitoring to fail the run whose worker died", lambda: finished(instance, second),
                          timeout=120, deployment=deployment)
        assert zombie.status == dg.DagsterRunStatus.FAILURE
        messages = [r.event_log_entry.message or "" for r in instance.get_records_for_run(second).records]
        assert any("run worker (pid" in m and "is gone" in m for m in messages), messages[-5:]
        assert worker_pid(second) in killed

        # 4. The two runs waiting go ahead, one after the other, never mixing.
        overlap: list[tuple[str, ...]] = []

        def both_done() -> bool:
            runs = [run_of(instance, i) for i in later]
            busy = tuple(r.run_id for r in runs if r.status in IN_PROGRESS)
            if len(busy) > 1:
                overlap.append(busy)
            return all(r.is_finished for r in runs)

        wait_for("both waiting runs to finish", both_done, timeout=400, every=0.25, deployment=deployment)
        assert overlap == []  # never two in progress at once
        records = sorted((instance.get_run_record_by_id(i) for i in later), key=lambda r: r.start_time)
        assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2, deployment.daemon_log()
        assert records[1].start_time >= records[0].end_time
        logs = [r.event_log_entry.user_message for r in instance.get_records_for_run(records[0].dagster_run.run_id).records]
        assert any("recovered" in m and second in m for m in logs)  # the dead run's lock, freed by the kernel
        counts = set()
        for record in records:  # each published a whole bundle of its own catalog
            run_id = record.dagster_run.run_id
            bundle = load_bundle(tmp_path / "data" / "models", materialized(instance, run_id, "published_model")["version"])
            assert len(bundle.tracks) == materialized(instance, run_id, "tracks")["dagster/row_count"]
            assert bundle.meta["settings"]["run_id"] == run_id
            counts.add(len(bundle.tracks))
        assert len(counts) == 2  # two different catalogs, neither mixed into the other
