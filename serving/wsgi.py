"""The app for servers that import it by name in each worker process (granian, gunicorn):

    MUSIC_ADVISER_DATA_DIR=data granian --interface wsgi --factory serving.wsgi:app_from_env

`python -m serving --workers 2` does this for you. Configuration comes from the environment
(music_assets/settings.py: MUSIC_ADVISER_DATA_DIR, MUSIC_ADVISER_CHECK_INTERVAL,
MUSIC_ADVISER_TRACKS_CACHE...), because a worker process is started by the server, not by our code.
"""

from __future__ import annotations

import logging
import signal

from flask import Flask
from threadpoolctl import threadpool_limits

from music_assets.settings import Settings
from serving.app import create_app
from serving.memory import use_system_allocator
from serving.model_store import NoModelError

log = logging.getLogger(__name__)


def single_threaded_blas() -> None:
    """One BLAS thread per process: requests run concurrently already, and on a busy machine a
    threaded matrix-vector product waits for free cores (benchmarks/serving_latency.py)."""
    threadpool_limits(limits=1)


def app_from_env() -> Flask:
    """The app, with its model loaded now, so a worker's first request does not wait for it."""
    # A worker started by a parent that ignores SIGTERM inherits SIG_IGN: while the model loads
    # (seconds at 1M tracks), before the server installs its own handlers, SIGTERM must still
    # stop it. A handler the server already installed is left alone.
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread: the server that calls us there owns the signals
        pass
    single_threaded_blas()
    use_system_allocator()
    app = create_app(Settings.from_env().serving())
    try:
        app.extensions["model_store"].current()
    except NoModelError as exc:  # nothing published yet: requests get the 503 page until there is
        log.warning("no model to serve yet: %s", exc)
    return app
