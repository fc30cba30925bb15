"""The run launcher: Dagster's DefaultRunLauncher, plus the worker health check run monitoring needs.

Why not the default launcher alone: it starts each run worker as a child process of the daemon's
code server. When the worker alone dies (kill -9, the OOM killer), the code server notices within a
second and marks the run failed: that is Dagster's own, and stays. When the code server dies with it
(the daemon killed, the machine rebooted, the container restarted), nobody is left to notice: the
run stays STARTED for ever and keeps the `data_folder` pool's slot, so every later run waits in the
queue behind a run that no longer exists. Dagster's run monitoring (dagster.yaml, `run_monitoring`)
fails a run whose launcher reports its worker dead, but DefaultRunLauncher has no such check (the
Docker, Kubernetes and ECS launchers have one). This adds it, the way those do, for a worker on the
daemon's machine: the pid its run reported in its start event is still alive, and is the same
process (it started before the run did; a pid reused after a reboot is not).

When the check cannot tell (a run launched by a code server on another machine, or without a
recorded pid), it answers RUNNING: monitoring then leaves the run alone, as the default launcher
would, and `max_runtime_seconds` remains the backstop.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import dagster as dg
from dagster._core.launcher.base import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin

HOST_TAG = "music_adviser/worker_host"  # set when the worker runs on the launching daemon's machine
START_SLACK_SECONDS = 5.0  # clock ticks and event timestamps disagree by a little


class MonitoredRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run workers run monitoring can check (see the module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.remote_job_origin
        location = origin.repository_origin.code_location_origin if origin else None
        if isinstance(location, ManagedGrpcPythonEnvCodeLocationOrigin):  # a code server this process started
            self._instance.add_run_tags(run.run_id, {HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        host = run.tags.get(HOST_TAG)
        if host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker on another machine: not checked")
        started = self._instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        event = started[0].event_log_entry if started else None
        pid = event.dagster_event.pid if event and event.dagster_event else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded yet")
        if process_alive_since(pid, event.timestamp):  # type: ignore[union-attr]
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run worker (pid {pid} on {host}) is gone: it was killed, or the machine or the daemon "
            "restarted under it. Re-run the job; the data folder's lock was released with the process.",
        )


def process_alive_since(pid: int, run_started: float) -> bool:
    """Whether `pid` is a live process that started no later than `run_started` (epoch seconds).
    Where /proc cannot say when it started, a live pid counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return True
    if fields[0] in ("Z", "X"):  # state: a zombie or dead process is no worker
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in ticks
    return started <= run_started + START_SLACK_SECONDS and started <= time.time()
