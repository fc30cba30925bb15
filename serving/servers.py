"""The production HTTP servers `python -m serving` runs the app with: granian (the default) or waitress.

Why granian by default: benchmarks/serving_attacks.py sends the three attacks that took the old
default (waitress) down, slow headers from more connections than its limit, clients that never
read their answers, and a 1 GiB body to a GET-only route, while a probe asks /healthz; granian
(HTTP in Rust: a slow or stuck connection is a parked task, not a thread, and a body is read only
when the app asks for it) kept answering the probe through all three, and waitress, even with
its limits set, did not (docs/serving.md gives the reasons, benchmarks/README.md the figures).
Granian also serves more requests per core (benchmarks/http_load.py). Each granian worker
process builds the app from the environment (serving.wsgi:app_from_env); the tracks table is
memory-mapped from one local Arrow file whose pages the workers share (model/tracks_cache.py).

Waitress stays available (`--server waitress`, pure Python, no worker processes) with its limits
set, for platforms without granian's wheels.

Both stop cleanly on SIGTERM and SIGINT even when the process was started with them ignored (a
parent that ignores SIGTERM hands that disposition down through fork and exec): the handlers are
installed explicitly, here and by granian in its own processes.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

from music_assets.settings import ServingSettings, worker_environment

log = logging.getLogger(__name__)

# Waitress's own limits, set because its defaults let one client take the server down
# (benchmarks/serving_attacks.py): 100 connections (the slow-header attack holds 110), a 120 s
# idle time-out, 1 GiB bodies spooled to a temporary file before the app sees the request.
WAITRESS_LIMITS = {
    "connection_limit": 1000,  # slow-header connections are cheap in the select loop; threads are not
    "asyncore_use_poll": True,  # select() cannot watch more than 1024 descriptors
    "channel_timeout": 20,  # idle seconds before a connection with no request in progress is closed
    "cleanup_interval": 5,  # how often that is checked
    "max_request_header_size": 32 * 1024,
    "max_request_body_size": 16 * 1024,  # every route is GET: 413 from the Content-Length, nothing read
}
# Seconds granian waits for a worker that does not stop on SIGTERM before killing it (a worker
# stuck in a model load, say), so that the server as a whole always stops.
GRANIAN_WORKER_KILL_TIMEOUT = 10
# Connections a granian worker takes on at once (its "backpressure"; by default the listen
# backlog, 1,024, over the workers). A connection that has not sent its headers counts, so the
# slow-header attack of benchmarks/serving_attacks.py with more connections than this kept the
# probe out until the header time-out freed some: a waiting connection costs a parked task, so
# the bound can be far above the threads (which alone run Python).
GRANIAN_CONNECTIONS = 8192
# Milliseconds a connection gets to send its headers, however it dribbles them (granian's
# default 30 s); then it is closed. A real client sends them in one packet.
GRANIAN_HEADER_TIMEOUT_MS = 10_000


class _Stop(SystemExit):
    """Raised in the main thread by SIGTERM / SIGINT: waitress's loop catches SystemExit and
    shuts its threads down; anywhere else it ends the process with status 0."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(0)


def install_stop_signals() -> None:
    """SIGTERM and SIGINT stop the server, whatever disposition the process inherited (SIG_IGN
    from a parent that ignores SIGTERM would otherwise leave it running for ever)."""
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def serve_waitress(settings: ServingSettings, host: str, port: int, threads: int) -> None:
    """Run waitress in this process until SIGTERM or SIGINT."""
    from waitress.server import create_server

    from serving.app import create_app

    install_stop_signals()
    app = create_app(settings)
    server = create_server(app, host=host, port=port, threads=threads, ident="music-adviser", **WAITRESS_LIMITS)
    log.info("waitress on http://%s:%s with %d threads", host, port, threads)
    try:
        server.run()  # returns once a signal raised _Stop in its loop (it shuts its threads down)
    finally:
        server.close()
    log.info("waitress stopped")


def serve_granian(settings: ServingSettings, host: str, port: int, workers: int, threads: int) -> None:
    """Run granian until SIGTERM or SIGINT; each worker builds the app from the environment set
    here (the settings module reads it back in serving.wsgi:app_from_env)."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    install_stop_signals()  # until granian installs its own (it does, before serving)
    os.environ.update(worker_environment(settings))
    Granian("serving.wsgi:app_from_env", factory=True, interface=Interfaces.WSGI, address=host, port=port,
            workers=workers, blocking_threads=threads, log_access=False,
            backlog=GRANIAN_CONNECTIONS, backpressure=GRANIAN_CONNECTIONS,
            http1_settings=HTTP1Settings(header_read_timeout=GRANIAN_HEADER_TIMEOUT_MS),
            workers_kill_timeout=GRANIAN_WORKER_KILL_TIMEOUT).serve()
