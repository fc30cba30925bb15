"""A throw-away PostgreSQL for the production-instance tests: Debian's server binaries, a cluster in a
temporary folder, listening on 127.0.0.1 on a free port, password authentication (so the password
really comes from the environment), stopped and deleted afterwards.

Where it cannot start (a developer machine without the `postgresql` package), the tests that need
it skip saying why; in CI (CI=true, set by .ci/run) they fail instead, because CI must run them.
scripts/setup.sh --postgres installs the package when no initdb is found.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.serving_support import free_port

USER, DATABASE = "dagster", "dagster"
PASSWORD = "pg-test-password-from-the-environment"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip on a developer machine, fail in CI."""
    if in_ci():
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason} (scripts/setup.sh --postgres installs Debian's package)")


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """initdb and postgres refuse to run as root: as root, run them as the `postgres` user."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


@contextmanager
def postgres_server() -> Iterator[dict[str, str]]:
    """Start a cluster; yield the DAGSTER_POSTGRES_* variables deploy/dagster.yaml reads."""
    binaries = server_binaries()
    if binaries is None:
        unavailable("no initdb (Debian's postgresql package is not installed)")
    folder = Path(tempfile.mkdtemp(prefix="music-adviser-pg-"))  # not under pytest's root-only tmp
    data, pwfile, log = folder / "data", folder / "pwfile", folder / "server.log"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            unavailable("running as root and there is no `postgres` user to run the server as")
        for path in (folder, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    started = False
    try:
        init = _as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256",
                                f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C"])
        if init.returncode != 0:
            unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        start = _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                                 "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200",
                                 "start"])
        if start.returncode != 0:
            unavailable(f"the server did not start: {start.stderr.strip()[-500:]} {_tail(log)}")
        started = True
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        created = subprocess.run([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
                                 capture_output=True, text=True, env=env, timeout=60)
        assert created.returncode == 0, created.stderr
        yield {"DAGSTER_POSTGRES_HOST": "127.0.0.1", "DAGSTER_POSTGRES_PORT": str(port),
               "DAGSTER_POSTGRES_DB": DATABASE, "DAGSTER_POSTGRES_USER": USER, "DAGSTER_POSTGRES_PASSWORD": PASSWORD}
    finally:
        if started:
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def _tail(log: Path) -> str:
    try:
        return log.read_text()[-500:]
    except OSError:
        return ""
