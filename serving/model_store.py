"""The published model as serving sees it, reloaded when LATEST changes.

Requests call `current()`. At most every `check_interval` seconds one request stats the LATEST
pointer (mtime, size, inode: a cheap syscall) and, if it changed, reads the version. A new version
is loaded completely (checksums verified, search index built) on a side thread while every request
goes on with the old model, then a single reference assignment swaps it in: no request ever sees
half a model and none waits for a load (about 0.7 s for 20,000 tracks). With `background=False`
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
from pathlib import Path
from typing import Callable

from music_assets.core import storage
from music_assets.core.bundle import BundleError, ModelBundle, load_bundle
from music_assets.core.recommend import MODES, RecommendationError, recommend
from music_assets.core.search import SearchIndex

log = logging.getLogger(__name__)


class NoModelError(RuntimeError):
    """No usable model has been published yet (the page says how to publish one)."""


@dataclass(frozen=True)
class LoadedModel:
    """A bundle with what serving builds from it once: the search index."""

    bundle: ModelBundle
    search: SearchIndex
    loaded_at: float
    load_seconds: float

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
    _ = bundle.id_index, bundle.genre_index, bundle.title_index
    bundle.recommend_index.warm()
    if not len(bundle.tracks):
        return
    for mode in MODES:
        try:
            recommend(bundle, 0, mode, 1)
        except RecommendationError:
            pass  # e.g. genre mode for a first track without genres


def load_model(models_dir: Path, version: str | None = None) -> LoadedModel:
    """Load a bundle and build its search index; raises BundleError when the bundle is unusable."""
    started = time.perf_counter()
    bundle = load_bundle(models_dir, version)
    search = SearchIndex.from_tracks(bundle.tracks)
    _warm_up(bundle)
    return LoadedModel(bundle, search, time.time(), time.perf_counter() - started)


class ModelStore:
    """Holds the current LoadedModel and swaps in newly published ones."""

    def __init__(self, models_dir: str | os.PathLike[str], check_interval: float = 1.0,
                 retry_after: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 background: bool = True) -> None:
        self.models_dir = Path(models_dir)
        self.check_interval = check_interval
        self.retry_after = retry_after
        self._clock = clock
        self.background = background
        self.stats = StoreStats()
        self._model: LoadedModel | None = None
        self._pointer_stamp: tuple[int, int, int] | None = None
        self._next_check = 0.0
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
    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.models_dir / storage.LATEST_POINTER)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _maybe_reload(self, now: float) -> None:
        if not self._load_lock.acquire(blocking=self._model is None):
            return  # someone else is loading: keep serving the current model
        handed_off = False
        try:
            self._next_check = now + self.check_interval
            stamp = self._stamp()
            if stamp == self._pointer_stamp and self._model is not None:
                return
            version = storage.read_pointer(self.models_dir)
            if version is None:
                self.stats.last_error = f"no published model in {self.models_dir} (no LATEST pointer): run the pipeline first"
                self._pointer_stamp = stamp
                return
            if self._model is not None and version == self._model.version:
                self._pointer_stamp = stamp
                return
            refused = self._refused
            if refused and refused.version == version and now - refused.at < self.retry_after:
                return
            if self._model is not None and self.background:
                # Load on a side thread: this request, like every other, goes on with the old model.
                threading.Thread(target=self._load_then_release, args=(version, stamp, now),
                                 name=f"model-load-{version}", daemon=True).start()
                handed_off = True
                return
            self._load(version, stamp, now)
        finally:
            if not handed_off:
                self._load_lock.release()

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
            model = load_model(self.models_dir, version)
        except (BundleError, OSError, ValueError, KeyError) as exc:
            self._refused = _Refused(version, now, str(exc))
            self.stats.refusals += 1
            self.stats.last_error = f"model {version} refused: {exc}"
            kept = self._model.version if self._model else "none"
            log.warning("refused model %s (%s); still serving %s", version, exc, kept)
            return
        previous = self._model.version if self._model else None
        self._model = model  # the swap: one reference assignment
        self._pointer_stamp = stamp
        self._refused = None
        self.stats.loads += 1
        self.stats.last_load_seconds = model.load_seconds
        self.stats.last_error = ""
        self.stats.history.append(version)
        log.info("serving model %s (%d tracks, loaded in %.3f s; previous %s)",
                 version, len(model.bundle.tracks), model.load_seconds, previous)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for a background load to finish (for tests and tools); True when none is running."""
        if self._load_lock.acquire(timeout=timeout):
            self._load_lock.release()
            return True
        return False
