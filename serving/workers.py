"""Serve with several worker processes: granian (HTTP in Rust), the Flask app in each worker.

Why not waitress's threads alone: one Python process runs Python on one core at a time (the
GIL), and a request is almost all Python (Flask, JSON, building results), so waitress's eight
threads share one core. Worker processes use every core. Measured side by side on the 2-core
machine (benchmarks.http_load, README "Performance"): granian with 2 workers served the most
requests per second, ahead of gunicorn's gthread workers (a Python HTTP parser) and waitress.
Each worker builds its own model indexes; the tracks table itself is memory-mapped from one
local Arrow file (`tracks_cache`, core/tracks_cache.py), whose pages the workers share.
"""

from __future__ import annotations

import os
from serving.app import DATA_DIR_ENV, TRACKS_CACHE_ENV
from serving.wsgi import CHECK_INTERVAL_ENV


def serve_workers(data_dir: str | os.PathLike[str], host: str, port: int, workers: int, threads: int,
                  check_interval: float, tracks_cache: os.PathLike[str] | str | None = None) -> None:
    """Run granian until interrupted; each worker builds the app from the environment set here."""
    from granian import Granian
    from granian.constants import Interfaces

    os.environ[DATA_DIR_ENV] = os.fspath(data_dir)  # a URL stays a URL (Path would fold s3://)
    os.environ[CHECK_INTERVAL_ENV] = str(check_interval)
    if tracks_cache is None:
        os.environ.pop(TRACKS_CACHE_ENV, None)
    else:
        os.environ[TRACKS_CACHE_ENV] = os.fspath(tracks_cache)
    Granian("serving.wsgi:app_from_env", factory=True, interface=Interfaces.WSGI, address=host, port=port,
            workers=workers, blocking_threads=threads, log_access=False).serve()
