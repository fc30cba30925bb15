"""A Dagster deployment for tests, the way production runs it: an instance folder (DAGSTER_HOME)
holding a given dagster.yaml, a real `dagster-daemon run -w workspace.yaml` process that starts the
code server and the run workers, a real `dagster-webserver` that runs are launched through (its
GraphQL API, as the UI's launch button does: one code load for every launch, where each
`dagster job launch` loads the code again), and the instance read back through Dagster's own API.
Processes inherit this environment (PYTHONPATH included), so they load the same checkout as the
tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
T = TypeVar("T")


class Deployment:
    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
        self.daemon: subprocess.Popen | None = None
        self.webserver: subprocess.Popen | None = None
        self.port = 0
        self.logs: list[Path] = []

    # -- processes ------------------------------------------------------------------------------
    def start_daemon(self) -> None:
        log = self.home / f"daemon-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "w") as out:
            self.daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=ROOT,
                                           env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def start_webserver(self) -> None:
        from tests.serving_support import free_port

        self.port = free_port()
        log = self.home / "webserver.log"
        with open(log, "w") as out:
            self.webserver = subprocess.Popen([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                                               "-p", str(self.port)], cwd=ROOT, env=self.env, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True)

    def wait_webserver(self, timeout: float = 180) -> None:
        import requests

        def answers() -> bool:
            assert self.webserver is not None and self.webserver.poll() is None, (self.home / "webserver.log").read_text()
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/server_info", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for("the webserver to answer", answers, timeout=timeout)

    def stop_webserver(self) -> None:
        if self.webserver is not None:
            tree = descendants(self.webserver.pid)
            try:
                os.killpg(self.webserver.pid, signal.SIGTERM)
                self.webserver.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            kill(tree + [self.webserver.pid])
            self.webserver.wait()
            self.webserver = None

    def submit(self, config: Mapping[str, Any] | None = None, job: str = "music_adviser_job") -> str:
        """Launch a run through the webserver's GraphQL API (into the run queue); its run id."""
        from dagster_graphql import DagsterGraphQLClient

        return DagsterGraphQLClient("127.0.0.1", port_number=self.port).submit_job_execution(job, run_config=config or {})

    def stop_daemon(self) -> None:
        """Stop it as systemd would (SIGTERM to its process group), then whatever is left."""
        if self.daemon is None:
            return
        tree = descendants(self.daemon.pid)
        try:
            os.killpg(self.daemon.pid, signal.SIGTERM)
            self.daemon.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        kill(tree + [self.daemon.pid])
        self.daemon.wait()
        self.daemon = None

    def crash_daemon(self) -> list[int]:
        """kill -9 the daemon and every process it started (code server, run workers): a machine
        or container going down under a run. Returns the pids killed."""
        assert self.daemon is not None
        tree = [self.daemon.pid, *descendants(self.daemon.pid)]
        kill(tree)
        self.daemon.wait()
        self.daemon = None
        return tree

    def dagster(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "dagster"), *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    # -- the instance ---------------------------------------------------------------------------
    def instance(self) -> dg.DagsterInstance:
        """The instance as the daemon sees it (same dagster.yaml, same environment)."""
        previous = {k: os.environ.get(k) for k in self.env if k.startswith("DAGSTER_")}
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("DAGSTER_")})
        try:
            return dg.DagsterInstance.get()
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def daemon_log(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-4000:] for log in self.logs if log.exists())


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5,
             deployment: Deployment | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            logs = f"\n--- daemon log ---\n{deployment.daemon_log()}" if deployment else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{logs}")
        time.sleep(every)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (no psutil here)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
