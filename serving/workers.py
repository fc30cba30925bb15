"""Serve with several worker processes: granian (HTTP in Rust), the Flask app in each worker.

Why not waitress's threads alone: one Python process runs Python on one core at a time (the
GIL), and a request is almost all Python (Flask, JSON, building results), so waitress's eight
threads share one core. Worker processes use every core. Measured side by side on the 2-core
machine (benchmarks.http_load, README "Performance"): granian with 2 workers served the most
requests per second, ahead of gunicorn's gthread workers (a Python HTTP parser) and waitress.
Each worker loads its own copy of the model (about 1.3 GB at 1M tracks).
"""

from __future__ import annotations

import os
from serving.app import DATA_DIR_ENV
from serving.wsgi import CHECK_INTERVAL_ENV


def serve_workers(data_dir: str | os.PathLike[str], host: str, port: int, workers: int, threads: int,
                  check_interval: float) -> None:
    """Run granian until interrupted; each worker builds the app from the environment set here."""
    from granian import Granian
    from granian.constants import Interfaces

    os.environ[DATA_DIR_ENV] = os.fspath(data_dir)  # a URL stays a URL (Path would fold s3://)
    os.environ[CHECK_INTERVAL_ENV] = str(check_interval)
    Granian("serving.wsgi:app_from_env", factory=True, interface=Interfaces.WSGI, address=host, port=port,
            workers=workers, blocking_threads=threads, log_access=False).serve()
