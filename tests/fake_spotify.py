"""A real local HTTP fake of the Spotify Web API (2026) and of ReccoBeats, for spotipy to talk to.

It serves the token endpoint, /tracks (batch and single), /artists (batch and single),
/audio-features, /search and ReccoBeats' /audio-features from an in-memory catalog, and can be
told, per endpoint, to misbehave: time out, 429 with Retry-After (or QUOTA_EXCEEDED), 500,
403 in each of the 2026 variants, or malformed JSON. It counts every request and every id it
served with a 200, so tests can assert call budgets and exactly-once fetching.
"""

from __future__ import annotations

import base64
import json
import select
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

FORBIDDEN_BODIES = {
    # development mode (batch /tracks, /artists since Feb 2026) and /audio-features for new apps
    "403": {"error": {"status": 403}},
    "403_dev": {"error": {"status": 403, "message": "Forbidden"}},
    "403_premium": {"error": {"status": 403, "message": "Active premium subscription required for the owner of the app."}},
}
TOKEN = "fake-access-token-0123456789"


@dataclass
class Catalog:
    tracks: dict[str, dict] = field(default_factory=dict)  # id -> Spotify track object
    artists: dict[str, dict] = field(default_factory=dict)  # id -> Spotify artist object
    features: dict[str, dict] = field(default_factory=dict)  # id -> audio features object
    recco: dict[str, dict] = field(default_factory=dict)  # Spotify id -> ReccoBeats item


class FakeSpotify:
    """Start with `with FakeSpotify(catalog, client_id, secret) as fake:`; urls on the instance."""

    def __init__(self, catalog: Catalog, client_id: str, client_secret: str):
        self.catalog = catalog
        self.basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.lock = threading.Lock()
        self.calls: Counter = Counter()  # endpoint -> requests
        self.served: dict[str, Counter] = defaultdict(Counter)  # endpoint -> id -> 200 answers
        self.always: dict[str, str] = {}  # endpoint -> behaviour on every request
        self.queued: dict[str, deque] = defaultdict(deque)  # endpoint -> behaviours for next requests
        self.after: dict[str, tuple[int, str]] = {}  # endpoint -> (n ok requests, then behaviour forever)
        self.timeout_s = 30.0  # the longest a "timeout" answer is held back (the client gives up first)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/token"

    @property
    def recco_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/recco/v1/"

    def __enter__(self) -> "FakeSpotify":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.always.clear()
            self.queued.clear()
            self.after.clear()

    def api_calls(self) -> int:
        return sum(n for e, n in self.calls.items() if e not in ("token", "recco"))

    # -- behaviour --------------------------------------------------------------------------------

    def _behaviour(self, endpoint: str) -> str | None:
        with self.lock:
            self.calls[endpoint] += 1
            if self.queued[endpoint]:
                return self.queued[endpoint].popleft()
            if endpoint in self.after:
                n, behaviour = self.after[endpoint]
                if n <= 0:
                    return behaviour
                self.after[endpoint] = (n - 1, behaviour)
            return self.always.get(endpoint)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _misbehave(self, behaviour: str | None) -> bool:
                if behaviour is None:
                    return False
                if behaviour.startswith("slow:"):  # answer normally, but late
                    time.sleep(float(behaviour.split(":", 1)[1]))
                    return False
                if behaviour == "timeout":
                    # no answer until the client gives up and closes the connection: the stall costs
                    # exactly the client's own time-out, however loaded the machine is
                    self.close_connection = True
                    select.select([self.connection], [], [], fake.timeout_s)  # readable: closed by the client
                elif behaviour.startswith("429"):
                    retry_after = behaviour.split(":", 1)[1] if ":" in behaviour else "1"
                    if retry_after == "quota":
                        self._send(429, {"error": {"status": 429, "message": "Quota exceeded", "reason": "QUOTA_EXCEEDED"}},
                                   {"Retry-After": "86400"})
                    else:
                        self._send(429, {"error": {"status": 429, "message": "API rate limit exceeded"}},
                                   {"Retry-After": retry_after})
                elif behaviour == "500":
                    self._send(500, {"error": {"status": 500, "message": "Server error"}})
                elif behaviour in FORBIDDEN_BODIES:
                    self._send(403, FORBIDDEN_BODIES[behaviour])
                elif behaviour == "malformed":
                    self._send(200, None, raw=b'{"tracks": [ {"id": "trunc')
                else:
                    raise ValueError(f"unknown behaviour {behaviour}")
                return True

            def do_POST(self) -> None:  # token endpoint
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                if urlparse(self.path).path != "/api/token":
                    return self._send(404, {"error": "not found"})
                if self._misbehave(fake._behaviour("token")):
                    return
                if self.headers.get("Authorization") != fake.basic:
                    return self._send(400, {"error": "invalid_client", "error_description": "Invalid client"})
                self._send(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})

            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = [p for p in url.path.split("/") if p]
                query = parse_qs(url.query)
                ids = [i for i in ",".join(query.get("ids", [])).split(",") if i]
                if parts[:2] == ["recco", "v1"]:
                    return self._recco(parts[2:], ids)
                if parts[:1] != ["v1"]:
                    return self._send(404, {"error": {"status": 404}})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"error": {"status": 401, "message": "No token provided"}})
                route = parts[1:]
                endpoint = {("tracks", False): "tracks", ("tracks", True): "track", ("artists", False): "artists",
                            ("artists", True): "artist", ("audio-features", False): "audio-features",
                            ("search", False): "search"}.get((route[0] if route else "", len(route) > 1))
                if endpoint is None:
                    return self._send(404, {"error": {"status": 404}})
                if self._misbehave(fake._behaviour(endpoint)):
                    return
                cat = fake.catalog
                if endpoint == "tracks":
                    self._serve("tracks", ids, {"tracks": [cat.tracks.get(i) for i in ids]}, cat.tracks)
                elif endpoint == "track":
                    tid = route[1]
                    if tid not in cat.tracks:
                        return self._send(404, {"error": {"status": 404, "message": "Resource not found"}})
                    self._serve("track", [tid], cat.tracks[tid], cat.tracks)
                elif endpoint == "artists":
                    self._serve("artists", ids, {"artists": [cat.artists.get(i) for i in ids]}, cat.artists)
                elif endpoint == "artist":
                    aid = route[1]
                    if aid not in cat.artists:
                        return self._send(404, {"error": {"status": 404, "message": "Resource not found"}})
                    self._serve("artist", [aid], cat.artists[aid], cat.artists)
                elif endpoint == "audio-features":
                    self._serve("audio-features", ids, {"audio_features": [cat.features.get(i) for i in ids]}, cat.features)
                else:
                    limit = int(query.get("limit", ["10"])[0])
                    if limit > 10:
                        return self._send(400, {"error": {"status": 400, "message": "Invalid limit"}})
                    q = query.get("q", [""])[0].lower()
                    items = [t for t in cat.tracks.values() if t["name"].lower() in q][:limit]
                    self._send(200, {"tracks": {"items": items, "limit": limit, "total": len(items)}})

            def _serve(self, endpoint: str, ids: list[str], body: Any, known: dict) -> None:
                with fake.lock:
                    for i in ids:
                        if i in known:
                            fake.served[endpoint][i] += 1
                self._send(200, body)

            def _recco(self, route: list[str], ids: list[str]) -> None:
                if route != ["audio-features"]:
                    return self._send(404, {"error": "not found"})
                if self._misbehave(fake._behaviour("recco")):
                    return
                if len(ids) > 40:
                    return self._send(400, {"error": "too many ids"})
                items = [fake.catalog.recco[i] for i in ids if i in fake.catalog.recco]
                self._serve("recco", ids, {"content": items}, fake.catalog.recco)

        return Handler
