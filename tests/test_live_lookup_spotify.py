"""An unknown song looked up live on (a local fake of) Spotify and recommended from its features."""

from __future__ import annotations

import pytest

from serving.app import create_app
from tests.fake_spotify import FakeSpotify
from tests.test_sources_spotify import CLIENT_ID, SECRET, build_catalog


@pytest.fixture
def live_env(monkeypatch: pytest.MonkeyPatch):
    catalog = build_catalog(40)
    with FakeSpotify(catalog, CLIENT_ID, SECRET) as fake:
        monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "spotify")
        monkeypatch.setenv("SPOTIPY_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("MUSIC_ADVISER_SPOTIFY_API_URL", fake.api_url)
        monkeypatch.setenv("MUSIC_ADVISER_SPOTIFY_TOKEN_URL", fake.token_url)
        monkeypatch.setenv("MUSIC_ADVISER_RECCOBEATS_URL", fake.recco_url)
        monkeypatch.setenv("MUSIC_ADVISER_RECCOBEATS", "on")  # the operator switched the third party on
        yield fake, catalog


def test_unknown_song_is_found_on_spotify_and_recommended(live_env, demo_data_dir) -> None:
    fake, catalog = live_env
    song = next(t for t in catalog.tracks.values() if t["id"] in catalog.features)
    client = create_app(demo_data_dir).test_client()  # "env": builds the real Spotify lookup
    response = client.get("/api/recommend", query_string={"song": song["name"], "k": 5})
    data = response.get_json()
    assert response.status_code == 200, data
    assert data["query"]["live"] is True and data["query"]["id"] == song["id"]
    assert len(data["results"]) == 5
    assert fake.calls["search"] == 1 and fake.calls["audio-features"] >= 1
    assert SECRET not in response.get_data(as_text=True)


def test_when_spotify_refuses_features_the_listener_gets_suggestions(live_env, demo_data_dir) -> None:
    fake, catalog = live_env
    fake.always["audio-features"] = "403"
    fake.always["recco"] = "500"
    song = next(iter(catalog.tracks.values()))
    response = create_app(demo_data_dir).test_client().get("/api/recommend", query_string={"song": song["name"]})
    assert response.status_code == 404 and "message" in response.get_json()["error"]
    assert fake.calls["audio-features"] >= 1 and fake.calls["recco"] >= 1  # both paths were tried


def test_reccobeats_is_never_asked_unless_switched_on(live_env, demo_data_dir, monkeypatch) -> None:
    fake, catalog = live_env
    monkeypatch.delenv("MUSIC_ADVISER_RECCOBEATS")
    fake.always["audio-features"] = "403"
    song = next(iter(catalog.tracks.values()))
    response = create_app(demo_data_dir).test_client().get("/api/recommend", query_string={"song": song["name"]})
    assert response.status_code == 404
    assert fake.calls["audio-features"] >= 1 and fake.calls["recco"] == 0  # no track id went to the third party
