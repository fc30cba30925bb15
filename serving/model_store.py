"""The published model as serving sees it, reloaded when LATEST changes.

Requests call `current()`. At most every `check_interval` seconds one request stats the LATEST
pointer (mtime, size, inode: a cheap syscall) and, if it changed, reads the version. When the data
folder is on an object store (`s3://...`), the check is a GET of the tiny pointer object, made on
a side thread once a model is served, so no request waits on the network; an unreachable store
is logged and the model held keeps serving (with none yet, requests get a clear 503). A new version
is loaded completely (checksums verified, search index built) on a side thread while every request
goes on with the old model, then a single reference assignment swaps it in: no request ever sees
half a model and none waits for a load (benchmarks/serving_cold_start.py times it). With `background=False`
the request that notices the change loads it itself and is the first to use it. Only the very
first load (nothing to serve yet) makes requests wait. A bundle that fails to load is refused with a log line
and the old model keeps serving; the refused version is retried after `retry_after` seconds (a
folder that was still being written may be complete by then).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import PLOT_FILES, PLOTS_DIR, BundleError, ModelBundle, load_bundle
from music_assets.model.recommend import MODES, RecommendationError, recommend
from music_assets.model.search import SearchIndex
from music_assets.model.recommend_index import genre_index, recommend_index
from music_assets.model.steer_index import warm as steer_warm
from serving.memory import return_freed_memory, return_when_freed

log = logging.getLogger(__name__)


class NoModelError(RuntimeError):
    """No usable model has been published yet. The message names the store and the cause, for
    the log; listeners get a 503 without it (app.py)."""


@dataclass(frozen=True)
class LoadedModel:
    """A bundle with what serving builds from it once: the search index, and its plots' bytes
    (a few kB, read at load so that pages never touch the store, which may be remote)."""

    bundle: ModelBundle
    search: SearchIndex
    loaded_at: float
    load_seconds: float
    plots: dict[str, bytes] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.bundle.version


@dataclass
class _Refused:
    version: str
    at: float
    reason: str


@dataclass
class StoreStats:
    loads: int = 0
    refusals: int = 0
    last_load_seconds: float = 0.0
    last_error: str = ""
    history: list[str] = field(default_factory=list)


def _warm_up(bundle: ModelBundle) -> None:
    """Build whatever the bundle computes lazily (indexes, caches) now, before the swap, so the
    first requests on a new model are as fast as the rest: one small query per mode."""
    _ = bundle.id_index, genre_index(bundle), bundle.title_index
    recommend_index(bundle).warm()
    steer_warm(bundle)
    if not len(bundle.tracks):
        return
    for mode in MODES:
        try:
            recommend(bundle, 0, mode, 1)
        except RecommendationError:
            pass  # e.g. genre mode for a first track without genres


def _read_plots(bundle: ModelBundle) -> dict[str, bytes]:
    plots = {}
    for name in PLOT_FILES:
        try:
            plots[name] = storage.read_bytes(bundle.path / PLOTS_DIR / name)
        except FileNotFoundError:
            pass  # a bundle without pictures still serves; the model page says so
    return plots


def load_model(models_dir: storage.Location, version: str | None = None,
               tracks_cache: os.PathLike[str] | str | None = None) -> LoadedModel:
    """Load a bundle and build its search index; raises BundleError when the bundle is unusable
    (storage.StorageError, an OSError, when the store cannot be reached). `tracks_cache`: a
    local folder where the tracks table is kept as a memory-mapped Arrow file (see load_bundle)."""
    started = time.perf_counter()
    bundle = load_bundle(models_dir, version, cache_dir=tracks_cache)
    plots = _read_plots(bundle)
    search = SearchIndex.from_bundle(bundle)
    _warm_up(bundle)
    return_freed_memory()  # the Parquet decode's buffers (benchmarks/serving_cold_start.py: RSS after a load)
    return LoadedModel(bundle, search, time.time(), time.perf_counter() - started, plots)


class ModelStore:
    """Holds the current LoadedModel and swaps in newly published ones."""

    def __init__(self, models_dir: storage.Location, check_interval: float = 1.0,
                 retry_after: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 background: bool = True, tracks_cache: os.PathLike[str] | str | None = None) -> None:
        self.models_dir = storage.as_path(models_dir)
        self.tracks_cache = tracks_cache
        self.remote = not storage.is_local(self.models_dir)
        self.check_interval = check_interval
        self.retry_after = retry_after
        self._clock = clock
        self.background = background
        self.stats = StoreStats()
        self._model: LoadedModel | None = None
        self._pointer_stamp: tuple | None = None
        self._next_check = 0.0
        self._checked_at = float("-inf")  # clock when the last synchronous check ended
        self._unreachable = False  # the store failed the last check (logged once per outage)
        self._refused: _Refused | None = None
        self._load_lock = threading.Lock()  # one loader at a time; others never wait on it

    # -- public -------------------------------------------------------------------------------
    def current(self) -> LoadedModel:
        """The model to answer this request with (reloading first if a new one was published)."""
        now = self._clock()
        if now >= self._next_check or self._model is None:
            self._maybe_reload(now)
        model = self._model
        if model is None:
            raise NoModelError(self.stats.last_error or f"no published model in {self.models_dir}")
        return model

    def peek(self) -> LoadedModel | None:
        """The model held now, without checking for a new one."""
        return self._model

    # -- internals ----------------------------------------------------------------------------
    def _maybe_reload(self, now: float) -> None:
        if not self._load_lock.acquire(blocking=self._model is None):
            return  # someone else is loading: keep serving the current model
        if self._model is None and self._checked_at > now:
            # We waited while another request checked (an unreachable store may take seconds):
            # take its answer instead of queueing one more check behind it.
            self._load_lock.release()
            return
        self._next_check = now + self.check_interval
        if self.remote and self._model is not None and self.background:
            # On an object store the check itself is a network round trip: no request waits for it.
            threading.Thread(target=self._check_then_release, args=(now,), name="model-check", daemon=True).start()
            return
        handed_off = False
        try:
            handed_off = self._check(now, hand_off=self.background)
        finally:
            self._checked_at = self._clock()
            if not handed_off:
                self._load_lock.release()

    def _check_then_release(self, now: float) -> None:
        try:
            self._check(now, hand_off=False)
        except Exception:  # never let a checker thread die silently holding the lock
            log.exception("unexpected error checking %s for a new model", self.models_dir)
        finally:
            self._load_lock.release()

    def _check(self, now: float, hand_off: bool) -> bool:
        """Look at LATEST and load a new version; True when a loader thread took over the lock."""
        try:
            stamp = registry.pointer_stamp(self.models_dir)
            unchanged = stamp == self._pointer_stamp and self._model is not None
            version = None if unchanged else registry.read_pointer(self.models_dir)
        except OSError as exc:  # storage.StorageError: the store is unreachable or refuses us
            kept = self._model.version if self._model else None
            self.stats.last_error = (str(exc) if isinstance(exc, storage.StorageError)  # it names the location
                                     else f"cannot read {self.models_dir / registry.LATEST_POINTER}: {exc}")
            if not self._unreachable:
                log.warning("%s; %s", self.stats.last_error, f"still serving {kept}" if kept else "no model to serve yet")
            self._unreachable = True
            return False
        if self._unreachable:
            self._unreachable = False
            log.info("%s is reachable again", self.models_dir)
            if self._model is not None:
                self.stats.last_error = ""
        if unchanged:
            return False
        if version is None:
            self.stats.last_error = f"no published model in {self.models_dir} (no LATEST pointer): run the pipeline first"
            self._pointer_stamp = stamp
            return False
        if self._model is not None and version == self._model.version:
            self._pointer_stamp = stamp
            return False
        refused = self._refused
        if refused and refused.version == version and now - refused.at < self.retry_after:
            return False
        if self._model is not None and hand_off:
            # Load on a side thread: this request, like every other, goes on with the old model.
            threading.Thread(target=self._load_then_release, args=(version, stamp, now),
                             name=f"model-load-{version}", daemon=True).start()
            return True
        self._load(version, stamp, now)
        return False

    def _load_then_release(self, version: str, stamp, now: float) -> None:
        try:
            self._load(version, stamp, now)
        except Exception:  # never let a loader thread die silently holding the lock
            log.exception("unexpected error loading model %s", version)
        finally:
            self._load_lock.release()

    def _load(self, version: str, stamp, now: float) -> None:
        """Load `version` completely, then swap it in; on failure refuse it and keep the old one."""
        try:
            model = load_model(self.models_dir, version, self.tracks_cache)
        except Exception as exc:  # noqa: BLE001 - whatever a bundle holds, refusing it must back off
            # Any failure refuses the version until `retry_after` has passed, with one log line
            # per attempt: a bundle the loader cannot read (BundleError, an unreachable store,
            # or a bug it trips) is not retried, with a traceback, at every check.
            expected = isinstance(exc, (BundleError, OSError, ValueError, KeyError))
            first = self._refused is None or self._refused.version != version
            self._refused = _Refused(version, now, str(exc))
            self.stats.refusals += 1
            self.stats.last_error = f"model {version} refused: {exc}"
            kept = self._model.version if self._model else "none"
            log.warning("refused model %s in %s (%s%s); still serving %s; next try in %.0f s", version,
                        self.models_dir, "" if expected else f"{type(exc).__name__}: ", exc, kept, self.retry_after,
                        exc_info=not expected and first)  # an unexpected error's traceback, once
            return
        old = self._model
        previous = old.version if old else None
        self._model = model  # the swap: one reference assignment
        self._pointer_stamp = stamp
        self._refused = None
        self.stats.loads += 1
        self.stats.last_load_seconds = model.load_seconds
        self.stats.last_error = ""
        self.stats.history.append(version)
        log.info("serving model %s (%d tracks, loaded in %.3f s; previous %s)",
                 version, len(model.bundle.tracks), model.load_seconds, previous)
        if old is not None:
            return_when_freed(old.bundle)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for a background load to finish (for tests and tools); True when none is running."""
        if self._load_lock.acquire(timeout=timeout):
            self._load_lock.release()
            return True
        return False
