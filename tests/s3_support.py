"""A real S3-compatible server for tests: moto's server mode on 127.0.0.1, s3fs talking HTTP to it.

The AWS environment (fake credentials, AWS_ENDPOINT_URL) points at the server only inside
`moto_s3()`, and no shared AWS config file is read, so a developer's own AWS setup is never used
and nothing leaves the machine.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from tests.serving_support import free_port

SECRET = "moto-test-secret-never-logged"  # asserted absent from logs, files and metadata


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "moto-test-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_MAX_ATTEMPTS": "2",  # an unreachable endpoint fails in about a second, not ten
    }


@contextmanager
def moto_s3(own_process: bool = False) -> Iterator[str]:
    """Start a moto S3 server on a free local port, point the AWS environment at it, yield its URL.

    By default the server runs on a thread of this process (ThreadedMotoServer). With
    `own_process`, it is a `moto_server` subprocess, killed on the way out: a threaded server's
    shutdown keeps answering on open keep-alive connections, so only a killed process shows what
    a client sees when the store goes away. s3fs caches filesystem instances by their arguments,
    not the environment, so the cache is cleared on the way in and out.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if own_process:
        server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(port, server)
        stop = server.kill
    else:
        threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        threaded.start()
        stop = threaded.stop
    with pytest.MonkeyPatch.context() as mp:
        for key, value in aws_env(endpoint).items():
            mp.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            yield endpoint
        finally:
            stop()
            if own_process:
                server.wait(timeout=10)
            s3fs.S3FileSystem.clear_instance_cache()


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on port {port}") from None
            time.sleep(0.1)


def new_bucket() -> str:
    """A fresh, empty bucket on the current moto server."""
    name = f"music-adviser-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(name)
    return name
