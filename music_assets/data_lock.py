"""The data folder's lock: one run writes a data folder at a time, whoever started it.

Why a lock of our own beside Dagster's machinery: the run queue and the `data_folder` pool
(dagster.yaml) serialize the runs of one Dagster instance, and that is how runs are meant to be
launched. Two `dagster asset materialize` processes, two instances (a laptop and the server), or
a CLI run beside the daemon's share nothing but the folder, so the lock lives there: `run.lock`,
taken by the `store` resource when a run starts and released when it ends (defs/resources.py).

Local folder: `run.lock` is held with flock(2). The kernel releases it when its holder dies
(kill -9, the OOM killer, a reboot), so a stale lock recovers by itself, never by guessing from a
pid or a clock. The file's content names the holder (run, host, pid, since) for the message a
second run gets; a clean release empties it, so a non-empty file found on taking the lock means
the previous holder died holding it, which is logged. flock holds between processes of one
machine and over NFSv4 (Linux maps it to POSIX byte-range locks); a filesystem without locks
(some FUSE mounts) refuses it, and the message says what to do.

Object store (no locks there): `run.lock` is an object created only when absent (S3's conditional
PUT, `If-None-Match: *`, atomic on the server), rewritten by its holder every `heartbeat` seconds;
one whose heartbeat is older than `stale_after` belongs to a dead holder and is taken over (read
again, deleted, created again exclusively: of two runs taking it over at once, one creates it).
Limits, documented in docs/deployment.md: a holder paused longer than `stale_after` (a suspended
VM) loses the lock without knowing until its next heartbeat, which logs it; between re-reading a
stale lock and deleting it (milliseconds) another run's fresh lock could be deleted; stores
without conditional writes (gs://, az:// through fsspec) check then write. Within one Dagster
instance the run queue holds regardless.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pathlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from music_assets import storage

LOCK_NAME = "run.lock"
HEARTBEAT_SECONDS = 30.0  # object store: how often the holder says it is alive
STALE_AFTER_SECONDS = 600.0  # object store: a heartbeat this old means the holder died


class FolderBusy(RuntimeError):
    """Another run holds the data folder; the message names it and says what to do."""

    def __init__(self, message: str, holder: "Holder | None") -> None:
        super().__init__(message)
        self.holder = holder


class LockUnsupported(OSError):
    """The data folder's filesystem has no file locks."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: written into run.lock so a second run can name it."""

    owner: str  # the Dagster run id
    host: str
    pid: int
    since: str  # ISO time the lock was taken
    token: str  # unique per acquisition: tells a holder's lock from its successor's
    heartbeat: str = ""  # object store: ISO time of the holder's last sign of life

    def describe(self) -> str:
        return f"run {self.owner} (pid {self.pid} on {self.host}, since {self.since})"

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> "Holder | None":
        """The holder a lock names; None when empty (released, or its holder is writing it)."""
        try:
            fields = json.loads(data.decode("utf-8")) if data.strip() else None
            return cls(**fields) if isinstance(fields, dict) else None
        except (ValueError, TypeError, UnicodeDecodeError):
            return None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_holder(owner: str) -> Holder:
    now = _now().isoformat()
    return Holder(owner=owner, host=socket.gethostname(), pid=os.getpid(), since=now,
                  token=uuid.uuid4().hex, heartbeat=now)


def lock_path(data_dir: storage.Location) -> storage.StorePath:
    return storage.as_path(data_dir) / LOCK_NAME


def read_holder(data_dir: storage.Location) -> Holder | None:
    """Who the lock file names (locally also the last holder that died holding it)."""
    try:
        return Holder.from_bytes(storage.read_bytes(lock_path(data_dir)))
    except FileNotFoundError:
        return None


def _busy(path: storage.StorePath, holder: Holder | None, wait_seconds: float) -> FolderBusy:
    who = holder.describe() if holder else "another run (it is writing its name)"
    waited_text = f" (waited {wait_seconds:g} s)" if wait_seconds > 0 else ""
    return FolderBusy(
        f"the data folder is in use by {who}{waited_text} (lock: {path}). Two runs writing one folder "
        "would mix their files, so this run stops before writing anything. Wait for that run to "
        "finish, or set MUSIC_ADVISER_LOCK_WAIT to a number of seconds to wait for it; launch runs "
        "through one Dagster instance's run queue to have them queue instead.", holder)


@contextmanager
def hold_folder(data_dir: storage.Location, owner: str, wait_seconds: float = 0.0,
                log: Callable[[str], None] = lambda _: None, poll_seconds: float = 1.0,
                heartbeat: float = HEARTBEAT_SECONDS, stale_after: float = STALE_AFTER_SECONDS) -> Iterator[Holder]:
    """Hold the data folder's lock for the block, as run `owner`; FolderBusy (naming the holder)
    when another run keeps it longer than `wait_seconds`."""
    path = lock_path(data_dir)
    if isinstance(path, pathlib.Path):
        with _hold_local(path, owner, wait_seconds, log, poll_seconds) as holder:
            yield holder
    else:
        with _hold_remote(path, owner, wait_seconds, log, poll_seconds, heartbeat, stale_after) as holder:
            yield holder


# -- a local folder: flock -------------------------------------------------------------------------

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextmanager
def _hold_local(path: pathlib.Path, owner: str, wait_seconds: float, log: Callable[[str], None],
                poll_seconds: float) -> Iterator[Holder]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _flock(fd, path, wait_seconds, log, poll_seconds)
        previous = Holder.from_bytes(os.pread(fd, 1 << 16, 0))
        if previous is not None:
            log(f"recovered {path}: its previous holder, {previous.describe()}, ended without releasing it "
                "(killed or crashed); the kernel released its lock")
        holder = new_holder(owner)
        _rewrite(fd, path, holder.to_bytes())
        try:
            yield holder
        finally:
            _rewrite(fd, path, b"")  # empty: released cleanly
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _flock(fd: int, path: pathlib.Path, wait_seconds: float, log: Callable[[str], None], poll_seconds: float) -> None:
    started = time.monotonic()
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno in _NO_LOCKS:
                raise LockUnsupported(exc.errno, (
                    f"cannot lock {path}: the filesystem of the data folder has no file locks ({exc.strerror}). "
                    "Set MUSIC_ADVISER_DATA_LOCK=off and launch every run through one Dagster instance's "
                    "run queue, which keeps them from overlapping")) from exc
            raise
        waited = time.monotonic() - started
        holder = Holder.from_bytes(path.read_bytes()) if path.exists() else None
        if waited >= wait_seconds:
            raise _busy(path, holder, wait_seconds)
        if not announced:
            log(f"waiting up to {wait_seconds:.0f} s for the data folder, in use by "
                f"{holder.describe() if holder else 'another run'} (lock: {path})")
            announced = True
        time.sleep(min(poll_seconds, max(0.01, wait_seconds - waited)))


def _rewrite(fd: int, path: pathlib.Path, data: bytes) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    except OSError as exc:
        if storage.is_disk_full(exc):
            raise storage.disk_full_error(path, exc) from exc
        raise


# -- an object store: an object created only when absent, kept alive by a heartbeat ---------------

@contextmanager
def _hold_remote(path: storage.StorePath, owner: str, wait_seconds: float, log: Callable[[str], None],
                 poll_seconds: float, heartbeat: float, stale_after: float) -> Iterator[Holder]:
    started = time.monotonic()
    announced = False
    while True:
        holder = new_holder(owner)
        if storage.create_exclusive(holder.to_bytes(), path):
            break
        current = _read_remote(path)
        if current is None:  # released between our create and this read: try again at once
            continue
        if _is_stale(current, stale_after):
            again = _read_remote(path)
            if again is not None and again.token == current.token:
                log(f"taking over {path}: its holder, {current.describe()}, has not said it is alive since "
                    f"{current.heartbeat or current.since} (more than {stale_after:.0f} s): it died")
                storage.remove_file(path)
            continue
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise _busy(path, current, wait_seconds)
        if not announced:
            log(f"waiting up to {wait_seconds:.0f} s for the data folder, in use by {current.describe()} (lock: {path})")
            announced = True
        time.sleep(min(poll_seconds, max(0.01, wait_seconds - waited)))
    stop = threading.Event()
    beats = threading.Thread(target=_beat, args=(path, holder, heartbeat, stop, log), daemon=True,
                             name="data-folder-lock-heartbeat")
    beats.start()
    try:
        yield holder
    finally:
        stop.set()
        beats.join()
        current = _read_remote(path)
        if current is not None and current.token == holder.token:
            storage.remove_file(path)


def _read_remote(path: storage.StorePath) -> Holder | None:
    try:
        return Holder.from_bytes(storage.read_bytes(path))
    except FileNotFoundError:
        return None


def _is_stale(holder: Holder, stale_after: float) -> bool:
    try:
        last = datetime.fromisoformat(holder.heartbeat or holder.since)
    except ValueError:
        return True  # unreadable times: nobody alive writes those
    return (_now() - last).total_seconds() > stale_after


def _beat(path: storage.StorePath, holder: Holder, every: float, stop: threading.Event,
          log: Callable[[str], None]) -> None:
    """Rewrite the lock with a new heartbeat until stopped; stop, saying so, if it is no longer ours."""
    while not stop.wait(every):
        try:
            current = _read_remote(path)
            if current is None or current.token != holder.token:
                log(f"lost the data folder's lock {path}: now held by "
                    f"{current.describe() if current else 'nobody'} (this run was silent for longer than the "
                    "stale limit); another run may be writing the folder")
                return
            storage.write_bytes(Holder(**{**asdict(holder), "heartbeat": _now().isoformat()}).to_bytes(), path)
        except OSError as exc:  # the store is unreachable for a moment: try again at the next beat
            log(f"could not renew the data folder's lock {path}: {exc}")
