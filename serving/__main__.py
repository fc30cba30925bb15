"""Start the web app with a production WSGI server (never Flask's debug server).

    python -m serving --data-dir data --port 8000                     # granian, one worker process
    python -m serving --data-dir data --port 8000 --workers 2         # granian, one process per core
    python -m serving --data-dir data --port 8000 --server waitress   # waitress, threads in this process

Granian is the default because it kept answering under slow, non-reading and oversized clients
where waitress did not (serving/servers.py, benchmarks/serving_attacks.py). SIGTERM and SIGINT
stop either cleanly, even when the parent started this process with them ignored.

With --workers, the tracks table is memory-mapped from a local Arrow copy that every worker
shares (--tracks-cache, default ~/.cache/music-adviser/tracks); `--tracks-cache off` gives each
worker its own decoded copy, as a single process has by default. Defaults of the options come
from the environment (music_assets/settings.py).
"""

from __future__ import annotations

import argparse
import logging

from music_assets import storage
from music_assets.settings import Settings, SettingsError, resolve_tracks_cache
from serving.memory import use_system_allocator
from serving.servers import install_stop_signals, serve_granian, serve_waitress
from serving.wsgi import single_threaded_blas


def main(argv: list[str] | None = None) -> None:
    install_stop_signals()  # from the very start: a SIGTERM during start-up stops us too
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--data-dir", default=settings.data_dir,
                        help="data folder holding models/LATEST: a path, or a URL such as s3://bucket/prefix")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", choices=("granian", "waitress"), default=settings.server,
                        help="granian (default: HTTP in Rust, worker processes) or waitress (threads in this process)")
    parser.add_argument("--threads", type=int, default=8, help="threads running the app (per worker with granian)")
    parser.add_argument("--workers", type=int, default=1,
                        help="granian worker processes (about one per core; each builds its own indexes)")
    parser.add_argument("--check-interval", type=float, default=settings.check_interval,
                        help="seconds between checks of models/LATEST for a newly published model")
    parser.add_argument("--tracks-cache", default=settings.tracks_cache,
                        help="local folder for the memory-mapped tracks table shared by processes; "
                             "'off', or 'auto' (default): the user's cache folder with --workers above 1")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    if args.server == "waitress" and args.workers > 1:
        parser.error("waitress serves from one process: use --server granian for --workers above 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    single_threaded_blas()
    use_system_allocator()
    try:
        storage.as_path(args.data_dir)  # checked before any worker starts
    except ValueError as exc:  # e.g. a data folder URL carrying credentials
        parser.error(str(exc))
    serving = settings.serving().with_changes(
        data_dir=args.data_dir, check_interval=args.check_interval, server=args.server,
        tracks_cache=resolve_tracks_cache(args.tracks_cache, args.workers))
    print(f"Music Adviser on http://{args.host}:{args.port}/ (model from {args.data_dir}/models/LATEST, "
          f"{args.server})", flush=True)
    if serving.trusted_hosts is not None and args.host not in ("127.0.0.1", "localhost", *serving.trusted_hosts):
        logging.getLogger("serving").warning(
            "listening on %s, but only the host names %s are accepted: set MUSIC_ADVISER_TRUSTED_HOSTS to the "
            "names clients use", args.host, ", ".join(serving.trusted_hosts))
    if args.server == "waitress":
        serve_waitress(serving, args.host, args.port, args.threads)
    else:
        serve_granian(serving, args.host, args.port, args.workers, args.threads)


if __name__ == "__main__":
    main()
