"""Start the web app with a production WSGI server (never Flask's debug server).

    python -m serving --data-dir data --port 8000              # waitress, threads in one process
    python -m serving --data-dir data --port 8000 --workers 2  # granian, one process per core

With --workers, the tracks table is memory-mapped from a local Arrow copy that every worker
shares (--tracks-cache, default ~/.cache/music-adviser/tracks); `--tracks-cache off` gives each
worker its own decoded copy, as a single process has by default.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from waitress import serve

from music_assets.core import storage

from serving.app import TRACKS_CACHE_ENV, create_app, default_data_dir, default_tracks_cache
from serving.memory import use_system_allocator
from serving.workers import serve_workers
from serving.wsgi import single_threaded_blas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(default_data_dir()),
                        help="data folder holding models/LATEST: a path, or a URL such as s3://bucket/prefix")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=8, help="threads (per worker with --workers)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes; above 1, granian serves (about one per core; indexes per worker)")
    parser.add_argument("--check-interval", type=float, default=1.0,
                        help="seconds between checks of models/LATEST for a newly published model")
    parser.add_argument("--tracks-cache", default=os.environ.get(TRACKS_CACHE_ENV, "auto"),
                        help="local folder for the memory-mapped tracks table shared by processes; "
                             "'off', or 'auto' (default): the user's cache folder with --workers above 1")
    args = parser.parse_args(argv)
    tracks_cache = tracks_cache_folder(args.tracks_cache, args.workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    single_threaded_blas()
    use_system_allocator()
    try:
        storage.as_path(args.data_dir)  # checked before any worker starts
    except ValueError as exc:  # e.g. a data folder URL carrying credentials
        parser.error(str(exc))
    print(f"Music Adviser on http://{args.host}:{args.port}/ (model from {args.data_dir}/models/LATEST)", flush=True)
    if args.workers > 1:
        serve_workers(args.data_dir, args.host, args.port, args.workers, args.threads, args.check_interval,
                      tracks_cache)
        return
    app = create_app(args.data_dir, check_interval=args.check_interval, tracks_cache=tracks_cache)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="music-adviser")


def tracks_cache_folder(option: str, workers: int) -> Path | None:
    """--tracks-cache: 'off', 'auto' (the default folder when there are several workers to share
    it: one process gains nothing from a copy of what it already holds, and writing it costs
    about a second at 1M tracks), or a folder."""
    if option == "off":
        return None
    if option == "auto":
        return default_tracks_cache() if workers > 1 else None
    return Path(option)


if __name__ == "__main__":
    main()
