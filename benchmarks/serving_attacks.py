"""Serving under hostile clients: each candidate server, side by side in one run, against the
attacks that took the old default down, while a probe asks /healthz twice a second.

    .venv/bin/python -m benchmarks.serving_attacks --before-src /tmp/before
    (make /tmp/before with: git archive <commit> music_assets serving | tar -x -C /tmp/before)

Servers (each `python -m serving` in its own process on 127.0.0.1, rate limits off so that the
server itself is measured):
- `granian`: the default (`python -m serving`), one worker process;
- `granian --workers 2`: two worker processes;
- `waitress`: `--server waitress`, with its connection, time-out and body limits set (serving/servers.py);
- `before` (with --before-src): `python -m serving` of that source tree (waitress with its defaults).

Attacks (each alone, on a freshly started server):
- slowloris: `--slow-connections` (110) connections each send a request line and then one header
  line every `--slow-interval` seconds, never ending the headers, for `--seconds` (40);
- non-reading: `--readers` (10) connections each pipeline requests for a synthesized preview
  (hundreds of kB each) as long as the server takes them and never read an answer, for `--seconds`;
- 1 GiB body: `POST` to a GET-only route (`/api/recommend`) declaring `Content-Length: 1 GiB`,
  then streaming it as fast as the server takes it (at most `--body-seconds`);
- chunked body: `GET /healthz` with a `Transfer-Encoding: chunked` body streamed the same way (a
  stream that would be 1 GiB: no length to refuse it by);
- SIGTERM ignored: the server started by a parent that ignores SIGTERM, then sent SIGTERM.

Per attack: the probes answered 200 within 2 s (of those sent), the slowest probe, what the
server did to the attacker, the growth of the server's memory (RSS of all its processes) and of
its temporary files (files open in the TMPDIR it was given, deleted or not) over its idle level.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30
BODY_BYTES = GIB - 1  # "1 GiB": one byte under waitress's default limit, which refuses 1 GiB exactly
SERVERS = {
    "granian": ["--server", "granian"],
    "granian --workers 2": ["--server", "granian", "--workers", "2"],
    "waitress": ["--server", "waitress"],
}
BEFORE = "before"
ATTACKS = ("slowloris", "non-reading", "1 GiB body", "chunked body", "SIGTERM ignored")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(root: int) -> list[int]:
    """`root` and its live descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.append(child)
                frontier.append(child)
    return tree


class ServerProcess:
    """`python -m serving` (of this tree or another) on a free port, with its own TMPDIR; stopped
    (its whole process tree) on exit."""

    def __init__(self, data_dir: Path, args: list[str], src: Path = ROOT, env: dict[str, str] | None = None,
                 ignore_sigterm: bool = False, workdir: Path | None = None, rate_limits: bool = False) -> None:
        self.port = free_port()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="serving-tmp-", dir=workdir))
        full_env = {**os.environ, "TMPDIR": str(self.tmpdir), "OMP_NUM_THREADS": "1", **(env or {})}
        if not rate_limits:
            full_env["MUSIC_ADVISER_RATE_LIMIT"] = "off"
        full_env["PYTHONPATH"] = str(src)
        self.log = tempfile.TemporaryFile(mode="w+")
        preexec = (lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)) if ignore_sigterm else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "serving", "--data-dir", str(data_dir), "--port", str(self.port), *args],
            cwd=src, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=preexec)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.output()[-2000:]}")
            status, _ = probe_once(self.port)
            if status == 200:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the server did not answer /healthz: {self.output()[-2000:]}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def rss_mb(self) -> float:
        total = 0
        for pid in _tree(self.proc.pid):
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1])
            except OSError:
                continue
        return total * os.sysconf("SC_PAGE_SIZE") / 2**20

    def temp_mb(self) -> float:
        """Bytes in files the server holds open under its TMPDIR (spooled bodies are unlinked at
        once, so they are only seen through /proc/<pid>/fd), plus files still listed there."""
        seen, total = set(), 0
        prefix = str(self.tmpdir)
        for pid in _tree(self.proc.pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                        st = os.stat(f"/proc/{pid}/fd/{fd}")
                        if (st.st_dev, st.st_ino) not in seen:
                            seen.add((st.st_dev, st.st_ino))
                            total += st.st_blocks * 512
                except OSError:
                    continue
        for f in self.tmpdir.rglob("*"):
            try:
                st = f.stat()
                if f.is_file() and (st.st_dev, st.st_ino) not in seen:
                    total += st.st_blocks * 512
            except OSError:
                continue
        return total / 2**20

    def stop(self) -> None:
        pids = _tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for pid in pids:  # whatever is left of the tree (only processes this object started)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def probe_once(port: int, path: str = "/healthz", timeout: float = 2.0) -> tuple[int, float]:
    """(status, seconds) of one GET on a new connection; status 0 when it failed or timed out."""
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, time.perf_counter() - started
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - started


@dataclass
class ProbeLog:
    results: list[tuple[int, float]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(1 for status, _ in self.results if status == 200)

    @property
    def worst_s(self) -> float:
        return max((s for _, s in self.results), default=0.0)

    def summary(self) -> str:
        return f"{self.ok} / {len(self.results)}"


@contextmanager
def probing(port: int, every: float = 0.5) -> Iterator[ProbeLog]:
    """A health probe on /healthz every `every` seconds (a new connection each, 2 s time-out)."""
    log = ProbeLog()
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            started = time.monotonic()
            log.results.append(probe_once(port))
            stop.wait(max(0.0, every - (time.monotonic() - started)))

    thread = threading.Thread(target=run, name="probe", daemon=True)
    thread.start()
    try:
        yield log
    finally:
        stop.set()
        thread.join(timeout=10)


@dataclass
class Sampler:
    """Peak RSS and temporary-file growth of a server over its level when the attack started."""

    server: ServerProcess
    rss0: float = 0.0
    tmp0: float = 0.0
    rss_peak: float = 0.0
    tmp_peak: float = 0.0

    def __post_init__(self) -> None:
        self.rss0, self.tmp0 = self.server.rss_mb(), self.server.temp_mb()
        self.rss_peak, self.tmp_peak = self.rss0, self.tmp0

    def sample(self) -> None:
        self.rss_peak = max(self.rss_peak, self.server.rss_mb())
        self.tmp_peak = max(self.tmp_peak, self.server.temp_mb())

    @property
    def rss_growth(self) -> float:
        return self.rss_peak - self.rss0

    @property
    def tmp_growth(self) -> float:
        return self.tmp_peak - self.tmp0


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when the server closed (or reset) the connection, or answered on it."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return True  # data (an error answer) or EOF: either way the server dealt with it
    except (OSError, ValueError):
        return True


def slowloris(port: int, connections: int = 110, seconds: float = 40.0, interval: float = 5.0,
              sampler: Sampler | None = None) -> dict[str, object]:
    """Hold `connections` connections that send a header line every `interval` s and never end
    the headers. Returns how many the server had closed by the end."""
    socks: list[socket.socket] = []
    refused = 0
    for i in range(connections):
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(f"GET /?slow={i} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            socks.append(s)
        except OSError:
            refused += 1
            s.close()
    deadline = time.monotonic() + seconds
    closed: set[int] = set()
    n = 0
    while time.monotonic() < deadline:
        n += 1
        for i, s in enumerate(socks):
            if i in closed:
                continue
            if _closed_by_peer(s):
                closed.add(i)
                continue
            try:
                s.sendall(f"X-Slow-{n}: {'x' * 8}\r\n".encode())
            except OSError:
                closed.add(i)
        if sampler:
            sampler.sample()
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    for s in socks:
        s.close()
    return {"opened": len(socks), "refused": refused, "closed by server": len(closed)}


def non_reading(port: int, path: str, clients: int = 10, seconds: float = 30.0, max_requests: int = 5000,
                sampler: Sampler | None = None) -> dict[str, object]:
    """`clients` connections pipeline GET `path` while the server takes them, never reading."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    socks: list[socket.socket] = []
    sent = [0] * clients
    for _ in range(clients):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes stall soon
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    deadline = time.monotonic() + seconds
    stuck = [False] * clients
    closed = [False] * clients
    while time.monotonic() < deadline:
        for i, s in enumerate(socks):
            if closed[i] or sent[i] >= max_requests:
                continue
            try:
                s.send(request)
                sent[i] += 1
                stuck[i] = False
            except BlockingIOError:
                stuck[i] = True  # the server stopped reading from us: it holds our answers
            except OSError:
                closed[i] = True
        if sampler:
            sampler.sample()
        time.sleep(0.05 if all(stuck[i] or closed[i] for i in range(clients)) else 0.001)
    for i, s in enumerate(socks):
        if not closed[i]:
            try:  # a reset or EOF waiting at the end: the server gave up on us
                closed[i] = s.recv(1, socket.MSG_PEEK) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = True
        s.close()
    return {"requests sent": sum(sent), "closed by server": sum(closed)}


def big_body(port: int, chunked: bool, limit: int = BODY_BYTES, seconds: float = 60.0,
             sampler: Sampler | None = None) -> dict[str, object]:
    """Stream a body of `limit` bytes (a declared Content-Length, or chunks) to a GET-only route
    as fast as the server takes it; stop at the server's answer or close."""
    if chunked:
        head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    else:
        head = (f"POST /api/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {limit}\r\n\r\n")
    block = b"\0" * (1 << 20)
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.sendall(head.encode())
    s.settimeout(2.0)
    sent, answer, started = 0, "", time.monotonic()
    outcome = "took it all"
    while sent < limit:
        if time.monotonic() - started > seconds:
            outcome = f"still reading after {seconds:.0f} s"
            break
        readable, _, _ = select.select([s], [], [], 0)
        if readable:
            outcome = "answered"
            break
        data = block[: limit - sent]
        try:
            s.sendall(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
        except socket.timeout:
            outcome = "stopped reading"
            break
        except OSError:
            outcome = "closed the connection"
            break
        if sampler and sent % (32 << 20) == 0:
            sampler.sample()
    if chunked and sent >= limit and outcome == "took it all":
        try:
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
    s.settimeout(10.0)
    try:
        data = s.recv(4096)
        answer = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "(closed, no answer)"
    except OSError as exc:
        answer = f"({type(exc).__name__})"
    if sampler:
        sampler.sample()
    s.close()
    return {"outcome": outcome, "answer": answer, "MiB sent": sent / 2**20,
            "seconds": time.monotonic() - started}


def sigterm_ignored(data_dir: Path, args: list[str], src: Path = ROOT, wait: float = 15.0) -> dict[str, object]:
    """Start the server with SIGTERM ignored by its parent, then SIGTERM it: seconds to exit."""
    server = ServerProcess(data_dir, args, src, ignore_sigterm=True)
    try:
        server.wait_ready()
        pids = _tree(server.proc.pid)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return {"stopped": False, "seconds": wait, "processes": len(pids)}
        while any(os.path.exists(f"/proc/{pid}") and _alive(pid) for pid in pids) and \
                time.monotonic() - started < wait:
            time.sleep(0.05)
        left = [pid for pid in pids if _alive(pid)]
        return {"stopped": not left, "seconds": time.monotonic() - started, "processes": len(pids)}
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def preview_path(models: Path) -> str:
    """The synthesized preview of a demo track (a few hundred kB of WAV)."""
    import pyarrow.parquet as pq

    from music_assets.model.previews import is_synthesized

    version = (models / "LATEST").read_text().strip()
    table = pq.read_table(models / version / "tracks.parquet", columns=["track_id", "preview_url"])
    for track_id, url in zip(table["track_id"].to_pylist(), table["preview_url"].to_pylist()):
        if is_synthesized(url) and track_id.isalnum():
            return f"/preview/{track_id}.wav"
    raise ValueError("no track with a synthesized preview")


def run_attack(attack: str, data_dir: Path, args: list[str], src: Path, opts: argparse.Namespace) -> dict[str, object]:
    """One attack on a freshly started server; a table row's figures."""
    if attack == "SIGTERM ignored":
        r = sigterm_ignored(data_dir, args, src)
        did = f"stopped in {r['seconds']:.1f} s" if r["stopped"] else f"still running after {r['seconds']:.0f} s"
        return {"probes ok": "", "slowest probe s": "", "server did": did, "RSS +MB": "", "temp files +MB": ""}
    server = ServerProcess(data_dir, args, src)
    try:
        server.wait_ready()
        for _ in range(3):
            probe_once(server.port, preview_path(data_dir / "models"))  # warm: the preview is cached
        time.sleep(0.5)
        sampler = Sampler(server)
        with probing(server.port) as probes:
            if attack == "slowloris":
                r = slowloris(server.port, opts.slow_connections, opts.seconds, opts.slow_interval, sampler)
                did = f"{r['opened']} held, {r['refused']} refused; {r['closed by server']} closed by it"
            elif attack == "non-reading":
                r = non_reading(server.port, preview_path(data_dir / "models"), opts.readers, opts.seconds,
                                sampler=sampler)
                did = f"took {r['requests sent']} pipelined requests; {r['closed by server']} of {opts.readers} closed"
            else:
                r = big_body(server.port, chunked=attack == "chunked body", seconds=opts.body_seconds, sampler=sampler)
                did = f"{r['outcome']} after {r['MiB sent']:,.0f} MiB ({r['seconds']:.1f} s): {r['answer'] or '-'}"
            sampler.sample()
        return {"probes ok": probes.summary(), "slowest probe s": f"{probes.worst_s:.2f}", "server did": did,
                "RSS +MB": f"{sampler.rss_growth:,.0f}", "temp files +MB": f"{sampler.tmp_growth:,.0f}"}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a data folder with a published model (default: the cached 10k demo bundle)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of: {', '.join(SERVERS)}")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help=f"comma-separated, of: {', '.join(ATTACKS)}")
    parser.add_argument("--before-src", type=Path, default=None,
                        help="also attack `python -m serving` of this source tree (e.g. an export of main)")
    parser.add_argument("--seconds", type=float, default=40.0, help="how long slowloris and non-reading last")
    parser.add_argument("--slow-connections", type=int, default=110)
    parser.add_argument("--slow-interval", type=float, default=5.0)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--body-seconds", type=float, default=60.0)
    opts = parser.parse_args(argv)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # room for --slow-connections above 1,000
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
    if opts.data_dir is None:
        from benchmarks.common import demo_models_dir

        opts.data_dir = demo_models_dir(10_000).parent
    subjects: list[tuple[str, list[str], Path]] = []
    if opts.before_src:
        subjects.append((BEFORE, [], opts.before_src.resolve()))
    subjects += [(name, SERVERS[name], ROOT) for name in opts.servers.split(",") if name]
    print(f"# load average {os.getloadavg()[0]:.1f}; data {opts.data_dir}", flush=True)
    rows = []
    for attack in [a for a in opts.attacks.split(",") if a]:
        for name, args, src in subjects:  # servers side by side, attack by attack
            row = {"attack": attack, "server": name, **run_attack(attack, opts.data_dir, args, src, opts)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    from benchmarks.common import print_table

    print_table(rows, "Serving under hostile clients (probe: GET /healthz every 0.5 s, 2 s time-out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
