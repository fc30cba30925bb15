"""The app for servers that import it by name in each worker process (granian, gunicorn):

    MUSIC_ADVISER_DATA_DIR=data granian --interface wsgi --factory serving.wsgi:app_from_env

`python -m serving --workers 2` does this for you. Configuration comes from the environment
(MUSIC_ADVISER_DATA_DIR, MUSIC_ADVISER_CHECK_INTERVAL seconds, MUSIC_ADVISER_TRACKS_CACHE: the
folder of the memory-mapped tracks table the workers share), because a worker process is
started by the server, not by our code.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from threadpoolctl import threadpool_limits

from serving.app import TRACKS_CACHE_ENV, create_app
from serving.memory import use_system_allocator
from serving.model_store import NoModelError

CHECK_INTERVAL_ENV = "MUSIC_ADVISER_CHECK_INTERVAL"
log = logging.getLogger(__name__)


def single_threaded_blas() -> None:
    """One BLAS thread per process: requests run concurrently already, and on a busy machine a
    threaded matrix-vector product waits for free cores (its latency jumped 100x in benchmarks)."""
    threadpool_limits(limits=1)


def app_from_env() -> Flask:
    """The app, with its model loaded now, so a worker's first request does not wait for it."""
    single_threaded_blas()
    use_system_allocator()
    app = create_app(check_interval=float(os.environ.get(CHECK_INTERVAL_ENV, "1")),
                     tracks_cache=os.environ.get(TRACKS_CACHE_ENV) or None)
    try:
        app.extensions["model_store"].current()
    except NoModelError as exc:  # nothing published yet: requests get the 503 page until there is
        log.warning("no model to serve yet: %s", exc)
    return app
