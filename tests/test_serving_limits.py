"""Rate limits per client, over HTTP against real `python -m serving` processes: 429 in the API's
error shape with Retry-After after the limit, stricter for live Spotify lookups (each spends the
operator's quota), counted per client address behind a trusted proxy."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path

import pytest

from benchmarks.serving_attacks import ServerProcess
from tests.fake_spotify import FakeSpotify
from tests.test_sources_spotify import CLIENT_ID, SECRET, build_catalog


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.fixture
def started():
    servers: list[ServerProcess] = []

    def start(data_dir: Path, env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(data_dir, [], env=env, rate_limits=True)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_client_over_the_limit_gets_429_with_retry_after_and_the_probe_is_never_limited(started, demo_data_dir) -> None:
    server = started(demo_data_dir, {"MUSIC_ADVISER_RATE_LIMIT": "5 per minute"})
    statuses = [get(server.port, "/api/search?q=a")[0] for _ in range(5)]
    assert statuses == [200] * 5
    status, headers, body = get(server.port, "/api/search?q=a")
    assert status == 429 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["status"] == 429 and "Too many requests" in error["message"] and "5 per 1 minute" in error["message"]
    assert 0 < int(headers["retry-after"]) <= 60
    page_status, page_headers, page = get(server.port, "/")
    assert page_status == 429 and "Too many requests" in page and int(page_headers["retry-after"]) > 0
    # a load balancer's probe and the page's own files are not counted
    assert [get(server.port, "/healthz")[0] for _ in range(10)] == [200] * 10
    assert get(server.port, "/static/app.css")[0] == 200


@pytest.fixture
def fake_spotify():
    catalog = build_catalog(40)
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        env = {"MUSIC_ADVISER_SOURCE": "spotify", "SPOTIPY_CLIENT_ID": CLIENT_ID, "SPOTIPY_CLIENT_SECRET": SECRET,
               "MUSIC_ADVISER_SPOTIFY_API_URL": fake.api_url, "MUSIC_ADVISER_SPOTIFY_TOKEN_URL": fake.token_url,
               "MUSIC_ADVISER_RECCOBEATS_URL": fake.recco_url, "MUSIC_ADVISER_RECCOBEATS": "on"}
        song = next(t for t in catalog.tracks.values() if t["id"] in catalog.features)
        yield fake, env, song


def test_live_lookups_have_a_stricter_limit_that_spends_no_quota_once_reached(started, demo_data_dir, demo_bundle,
                                                                              fake_spotify) -> None:
    fake, env, song = fake_spotify
    server = started(demo_data_dir, {**env, "MUSIC_ADVISER_LIVE_LOOKUP_LIMIT": "2 per minute"})
    live = "/api/recommend?" + urllib.parse.urlencode({"song": song["name"], "k": 3})
    first = [get(server.port, live) for _ in range(2)]
    assert [s for s, _, _ in first] == [200, 200] and json.loads(first[0][2])["query"]["live"] is True
    status, headers, body = get(server.port, live)
    assert status == 429 and json.loads(body)["error"]["status"] == 429
    assert "live Spotify lookups from your address" in json.loads(body)["error"]["message"]
    assert 0 < int(headers["retry-after"]) <= 60
    assert fake.calls["search"] == 2  # the refused lookup never reached Spotify
    # songs in the catalog are not live lookups: the general limit (20 per second) still allows them
    catalog_song = demo_bundle.tracks["track_id"].iat[0]
    assert get(server.port, f"/api/recommend?id={catalog_song}&k=3")[0] == 200
    page_status, page_headers, _ = get(server.port, "/recommend?" + urllib.parse.urlencode({"song": song["name"]}))
    assert page_status == 429 and int(page_headers["retry-after"]) > 0


def test_behind_a_trusted_proxy_each_listener_has_their_own_count_and_all_share_a_total(
        started, demo_data_dir, fake_spotify) -> None:
    fake, env, song = fake_spotify
    server = started(demo_data_dir, {**env, "MUSIC_ADVISER_TRUSTED_PROXIES": "1",
                                     "MUSIC_ADVISER_LIVE_LOOKUP_LIMIT": "2 per minute",
                                     "MUSIC_ADVISER_LIVE_LOOKUP_TOTAL": "3 per minute"})
    live = "/api/recommend?" + urllib.parse.urlencode({"song": song["name"], "k": 3})

    def as_client(address: str) -> int:
        return get(server.port, live, {"X-Forwarded-For": address})[0]

    assert [as_client("203.0.113.1"), as_client("203.0.113.1"), as_client("203.0.113.1")] == [200, 200, 429]
    assert as_client("203.0.113.2") == 200  # another listener: their own count
    status, _, body = get(server.port, live, {"X-Forwarded-For": "203.0.113.3"})
    assert status == 429 and "from all listeners together" in json.loads(body)["error"]["message"]
    assert fake.calls["search"] == 3
