"""The deployment files say what the tests run (docs/deployment.md): the production dagster.yaml is
the local one on PostgreSQL, no password is written anywhere, compose.yaml, the Dockerfile and the
systemd units run the commands the daemon tests run, and deploy/nginx.conf, in a real nginx in
front of two real serving replicas, serves TLS, redirects to its own name, refuses other names,
oversized bodies and floods, and keeps answering when a replica goes away."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import urllib3
import yaml

from music_assets.settings import SETTINGS
from tests.postgres_support import in_ci
from tests.serving_support import copy_models, free_port
from tests.test_serving_replicas import wait_healthy

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NAME = "music.example.org"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_production_instance_is_the_local_one_on_postgres() -> None:
    production, local = load(DEPLOY / "dagster.yaml"), load(ROOT / "dagster.yaml")
    assert {k: v for k, v in production.items() if k != "storage"} == local
    assert production["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}
    assert production["run_monitoring"]["enabled"] is True
    db = production["storage"]["postgres"]["postgres_db"]
    assert all(set(v) == {"env"} for k, v in db.items() if k != "scheme")  # every value from the environment
    named = {v["env"] for k, v in db.items() if k != "scheme"}
    assert named == {"DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_PORT", "DAGSTER_POSTGRES_DB", "DAGSTER_POSTGRES_USER",
                     "DAGSTER_POSTGRES_PASSWORD"} and named <= {s.variable for s in SETTINGS}


def test_every_asset_is_in_the_data_folder_pool_and_every_run_in_one_process() -> None:
    """The queue keeps runs apart only for assets in the pool, and the folder's lock covers a whole
    run only when its steps share a process: a new asset, or a job with its own executor, that
    forgets either fails here."""
    import dagster as dg

    from music_assets.definitions import ALL_ASSETS, defs
    from music_assets.defs.metadata import DATA_FOLDER_POOL

    assert {asset.key.to_user_string(): asset.op.pool for asset in ALL_ASSETS} == \
        {asset.key.to_user_string(): DATA_FOLDER_POOL for asset in ALL_ASSETS}
    jobs = [defs.resolve_job_def("music_adviser_job"), defs.resolve_implicit_global_asset_job_def()]
    assert all(job.executor_def is dg.in_process_executor for job in jobs)


def test_no_password_is_written_in_any_deployment_file() -> None:
    for path in [p for p in DEPLOY.rglob("*") if p.is_file()]:
        for line in path.read_text().splitlines():
            match = re.search(r"(?i)password\s*[:=]\s*(\S+)", line)
            if match and not line.lstrip().startswith("#"):
                value = match.group(1)
                assert value.startswith(("${", "{env")) or value in ("", "change-me") or "env" in value, (path, line)


def test_compose_dockerfile_and_units_run_the_tested_commands() -> None:
    compose = load(DEPLOY / "compose.yaml")["services"]
    assert compose["dagster-daemon"]["command"] == ["dagster-daemon", "run", "-w", "workspace.yaml"]
    assert compose["dagster-webserver"]["command"][:3] == ["dagster-webserver", "-w", "workspace.yaml"]
    assert compose["dagster-webserver"]["ports"] == ["127.0.0.1:3000:3000"]  # the UI has no login: loopback only
    for name in ("dagster-daemon", "dagster-webserver"):
        env = compose[name]["environment"]
        assert env["DAGSTER_POSTGRES_PASSWORD"].startswith("${DAGSTER_POSTGRES_PASSWORD:?")
        assert env["DAGSTER_HOME"] == "/opt/dagster/home"
    help_text = subprocess.run([sys.executable, "-m", "serving", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    for name in ("serving-1", "serving-2"):
        service = compose[name]
        assert service["command"][:3] == ["python", "-m", "serving"]
        assert all(flag in help_text for flag in service["command"][3:] if flag.startswith("--"))
        assert not any(k.startswith("DAGSTER_POSTGRES") for k in service["environment"])  # no database secret
        assert service["volumes"] == ["data:/data:ro"]
    docker = (DEPLOY / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir ".[deploy]"' in docker
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in docker
    for source in re.findall(r"^COPY (.+) \S+$", docker, re.M):
        for part in source.split():
            assert (ROOT / part).exists(), part
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").glob("*.service")}
    assert "ExecStart=/opt/music-adviser/.venv/bin/dagster-daemon run -w workspace.yaml" in units["music-adviser-dagster-daemon.service"]
    assert "dagster-webserver -w workspace.yaml -h 127.0.0.1" in units["music-adviser-dagster-webserver.service"]
    assert "-m serving --host 127.0.0.1 --port %i" in units["music-adviser-serving@.service"]
    assert "POSTGRES" not in (DEPLOY / "systemd" / "serving.env.example").read_text()
    assert '"music-adviser[deploy]"' in (ROOT / "pyproject.toml").read_text()  # the tests install what the image does


# -- nginx, for real ---------------------------------------------------------------------------------

def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        if in_ci():
            pytest.fail("nginx is required in CI (scripts/setup.sh --deploy installs Debian's package)")
        pytest.skip("nginx is not installed (scripts/setup.sh --deploy installs Debian's package)")
    return found


def replica(data_dir: Path, stack: ExitStack) -> tuple[subprocess.Popen, int]:
    """`python -m serving` on a free port, as the compose file and the units start it."""
    port = free_port()
    # As deploy/compose.yaml and serving.env.example set them: the site's name (and loopback, for the
    # health probe), one proxy in front.
    env = {**os.environ, "MUSIC_ADVISER_TRUSTED_HOSTS": f"{NAME},127.0.0.1", "MUSIC_ADVISER_TRUSTED_PROXIES": "1"}
    process = subprocess.Popen([sys.executable, "-m", "serving", "--data-dir", str(data_dir), "--host", "127.0.0.1",
                                "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    stack.callback(lambda: (process.terminate(), process.wait(timeout=15)))
    return process, port


def render(conf: str, upstreams: list[int], http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with this machine's ports and certificate; each thing replaced must exist."""
    for old, new in (("server serving-1:8000", f"server 127.0.0.1:{upstreams[0]}"),
                     ("server serving-2:8000", f"server 127.0.0.1:{upstreams[1]}"),
                     ("listen 80", f"listen 127.0.0.1:{http_port}"), ("listen 443", f"listen 127.0.0.1:{https_port}"),
                     ("/etc/nginx/tls/fullchain.pem", str(cert)), ("/etc/nginx/tls/privkey.pem", str(key))):
        assert old in conf, old
        conf = conf.replace(old, new)
    return conf


@pytest.fixture(scope="module")
def nginx_front(tmp_path_factory: pytest.TempPathFactory, demo_data_dir: Path):
    """nginx with deploy/nginx.conf before two replicas, for the module (the last test stops one)."""
    binary = nginx_binary()
    tmp_path = tmp_path_factory.mktemp("nginx")
    copy_models(demo_data_dir, tmp_path / "data")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                           "-out", str(cert), "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with ExitStack() as stack:
        replicas = [replica(tmp_path / "data", stack) for _ in range(2)]
        for _, port in replicas:
            wait_healthy(f"http://127.0.0.1:{port}")
        http_port, https_port = free_port(), free_port()
        site = tmp_path / "site.conf"
        site.write_text(render((DEPLOY / "nginx.conf").read_text(), [port for _, port in replicas],
                               http_port, https_port, cert, key))
        main = tmp_path / "nginx.conf"
        temp = {k: tmp_path / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        main.write_text("\n".join([
            "user root;" if os.geteuid() == 0 else "",  # workers as root only when the test is
            "daemon off;", "worker_processes 1;", f"pid {tmp_path / 'nginx.pid'};", f"error_log {tmp_path / 'error.log'};",
            "events { worker_connections 512; }",
            "http {", f"  access_log {tmp_path / 'access.log'};",
            *(f"  {k}_temp_path {v};" for k, v in temp.items()), f"  include {site};", "}"]))
        checked = subprocess.run([binary, "-t", "-c", str(main)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        server = subprocess.Popen([binary, "-c", str(main)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stack.callback(lambda: (server.terminate(), server.wait(timeout=15)))
        pool = urllib3.HTTPSConnectionPool("127.0.0.1", https_port, server_hostname=NAME, assert_hostname=NAME,
                                           ca_certs=str(cert), cert_reqs="CERT_REQUIRED", retries=False, timeout=10)
        deadline = time.monotonic() + 30
        while True:
            try:
                pool.request("GET", "/healthz", headers={"Host": NAME})
                break
            except urllib3.exceptions.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "error.log").read_text()
                time.sleep(0.2)
        yield {"pool": pool, "http_port": http_port, "https_port": https_port, "cert": cert, "stack": stack,
               "replicas": replicas}


def test_nginx_serves_tls_redirects_to_its_name_and_refuses_strangers(nginx_front) -> None:
    pool = nginx_front["pool"]
    health = pool.request("GET", "/healthz", headers={"Host": NAME})
    assert health.status == 200 and health.json()["model_version"]
    assert health.headers["Strict-Transport-Security"].startswith("max-age=")

    plain = urllib3.HTTPConnectionPool("127.0.0.1", nginx_front["http_port"], retries=False, timeout=10)
    redirect = plain.request("GET", "/search?q=x", headers={"Host": NAME}, redirect=False)
    assert redirect.status == 301 and redirect.headers["Location"] == f"https://{NAME}/search?q=x"
    with pytest.raises(urllib3.exceptions.ProtocolError):  # 444: closed without an answer
        plain.request("GET", "/", headers={"Host": "evil.example"}, redirect=False)

    context = ssl.create_default_context(cafile=str(nginx_front["cert"]))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", nginx_front["https_port"]), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):  # another name: no certificate at all
            context.wrap_socket(raw, server_hostname="evil.example")

    big = pool.request("POST", "/", body=b"x" * (1 << 20), headers={"Host": NAME})
    assert big.status == 413  # refused at the edge, never sent to a replica


def test_nginx_limits_a_flooding_client_and_survives_a_replica_going_away(nginx_front) -> None:
    pool = nginx_front["pool"]
    statuses = [pool.request("GET", "/healthz", headers={"Host": NAME}).status for _ in range(120)]
    assert statuses.count(200) >= 40 and statuses.count(429) > 0, statuses  # burst 40, then 20 a second
    time.sleep(3)  # the client's allowance refills
    stopped, _ = nginx_front["replicas"][0]
    stopped.terminate()
    stopped.wait(timeout=15)
    answers = []
    for _ in range(20):
        answers.append(pool.request("GET", "/healthz", headers={"Host": NAME}).status)
        time.sleep(0.1)
    assert answers == [200] * 20  # the request that met the stopped replica was retried on the other
