"""The Flask app through its test client on the 3,000-track demo model: pages, API, bad input."""

from __future__ import annotations

import io
import json
import logging
import wave
from pathlib import Path

import pytest

from music_assets.model.recommend import MAX_K, MODES
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from serving.security import HEADERS

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def app(demo_data_dir: Path):
    # rate limits off: this module sends a few hundred requests from one address within a minute
    # (tests/test_serving_limits.py tests the limits)
    return create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def tracks(app):
    return app.extensions["model_store"].current().bundle.tracks


@pytest.fixture(scope="module")
def unique_song(tracks):
    """A popular song whose title no other song has, with a preview and genres."""
    counts = tracks["title"].str.casefold().value_counts()
    ok = tracks[tracks["title"].str.casefold().map(counts).eq(1) & tracks["has_preview"]
                & tracks["genres"].map(len).gt(0)]
    return ok.sort_values("chart_appearances", ascending=False).iloc[0]


@pytest.fixture(scope="module")
def shared_title(tracks):
    counts = tracks["title"].value_counts()
    return counts[counts > 1].index[0]


def test_app_is_never_in_debug_mode(app) -> None:
    assert app.debug is False and app.config["DEBUG"] is False


@pytest.mark.parametrize("path", ["/", "/model", "/healthz", "/api/openapi.json", "/api/search?q=a", "/nope"])
def test_security_headers_on_every_response(client, path: str) -> None:
    response = client.get(path)
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_search_page_has_labelled_form_and_no_inline_script(client) -> None:
    html = client.get("/").get_data(as_text=True)
    for field in ("song", "mode", "k"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    for mode in MODES:
        assert f'value="{mode}"' in html
    assert "<script>" not in html and "<script src=" in html and "style=" not in html


def test_results_page_shows_query_recommendations_players_reasons_and_mode(client, unique_song, tracks) -> None:
    r = client.get("/recommend", query_string={"song": unique_song["title"].upper(), "k": 7})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "You searched for" in html and unique_song["artist"] in html
    assert all(g in html for g in unique_song["genres"])
    assert html.count('<li class="track">') == 7
    # the reasons of the default mode: sound ("close on ...") or, for hybrid, the signal that placed each
    assert html.count('class="reason"') == 7 and any(w in html for w in ("close on", "streamed by", "also ", "similar "))
    assert 'id="stop"' in html and 'id="back"' in html and '<audio id="player"' in html
    no_preview = html.count("No preview")
    players = html.count('class="play"')
    assert players + no_preview == 8  # query + 7 results: each has a button or says it has none
    assert f'/preview/{unique_song["track_id"]}.wav' in html


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_answers_and_the_page_names_it(client, unique_song, mode: str) -> None:
    html = client.get("/recommend", query_string={"song": unique_song["title"], "mode": mode}).get_data(as_text=True)
    assert f'id="mode-used">{mode}</span> mode' in html
    api = client.get("/api/recommend", query_string={"song": unique_song["title"], "mode": mode}).get_json()
    assert api["mode"] == mode and len(api["results"]) == 10


def test_api_recommend_fields(client, unique_song, app) -> None:
    r = client.get("/api/recommend", query_string={"song": f"{unique_song['title']} by {unique_song['artist']}", "k": 5})
    assert r.status_code == 200 and r.mimetype == "application/json"
    data = r.get_json()
    assert data["query"]["id"] == unique_song["track_id"]
    default_mode = app.extensions["model_store"].current().bundle.default_mode
    assert data["model_version"] and data["mode"] == default_mode and data["k"] == 5
    distances = [x["distance"] for x in data["results"]]
    assert distances == sorted(distances) and len(distances) == 5
    for item in data["results"]:
        assert set(item) >= {"id", "title", "artist", "genres", "preview_url", "distance", "reason"}
        assert item["id"] != unique_song["track_id"]
        assert item["preview_url"] is None or item["preview_url"].startswith(("/preview/", "https://"))


def test_shared_title_page_lets_the_listener_pick_and_api_lists_others(client, shared_title, tracks) -> None:
    html = client.get("/recommend", query_string={"song": shared_title}).get_data(as_text=True)
    assert "Which one do you mean?" in html
    rows = tracks[tracks["title"] == shared_title]
    for tid in rows["track_id"]:
        assert f"id={tid}" in html
    data = client.get("/api/recommend", query_string={"song": shared_title}).get_json()
    assert {data["query"]["id"], *[m["id"] for m in data["other_matches"]]} == set(rows["track_id"])
    picked = rows.iloc[-1]
    data = client.get("/api/recommend", query_string={"song": shared_title, "artist": picked["artist"]}).get_json()
    assert data["query"]["id"] == picked["track_id"]
    data = client.get("/api/recommend", query_string={"id": picked["track_id"]}).get_json()
    assert data["query"]["id"] == picked["track_id"]


def test_unknown_song_gets_did_you_mean_not_an_error(client, unique_song) -> None:
    typo = unique_song["title"] + "x"
    r = client.get("/recommend", query_string={"song": typo})
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "Did you mean" in html and f"id={unique_song['track_id']}" in html
    r = client.get("/api/recommend", query_string={"song": typo})
    assert r.status_code == 404
    err = r.get_json()["error"]
    assert err["status"] == 404 and unique_song["track_id"] in [s["id"] for s in err["suggestions"]]
    assert client.get("/api/recommend", query_string={"id": "0" * 22}).status_code == 404
    page = client.get("/recommend", query_string={"id": "0" * 22})
    assert page.status_code == 404 and f"No track with id {'0' * 22}" in page.get_data(as_text=True)


BAD_INPUTS = [
    ({"song": ""}, 400, "Type a song title"),
    ({"song": "   "}, 400, "Type a song title"),
    ({"song": "x" * 10_240}, 400, "the limit is"),
    ({"song": "TITLE", "mode": "loud"}, 400, "Unknown mode"),
    ({"song": "TITLE", "mode": SCRIPT}, 400, "Unknown mode"),
    ({"song": "TITLE", "k": "0"}, 400, f"from 1 to {MAX_K}"),
    ({"song": "TITLE", "k": str(MAX_K + 1)}, 400, f"from 1 to {MAX_K}"),
    ({"song": "TITLE", "k": "-3"}, 400, f"from 1 to {MAX_K}"),
    ({"song": "TITLE", "k": "ten"}, 400, "whole number"),
    ({"song": "TITLE", "k": "1e3"}, 400, "whole number"),
    ({"song": "TITLE", "artist": "y" * 5000}, 400, "the limit is"),
    ({"id": "../../etc/passwd"}, 400, "letters and digits"),
    ({"song": SCRIPT}, 404, "not in the catalog"),
    ({"song": f"{SCRIPT} by {SCRIPT}"}, 404, "not in the catalog"),
]


@pytest.mark.parametrize(("args", "status", "message"), BAD_INPUTS)
def test_bad_input_gets_a_clear_message_never_a_500(client, unique_song, args, status, message) -> None:
    args = {k: (unique_song["title"] if v == "TITLE" else v) for k, v in args.items()}
    page = client.get("/recommend", query_string=args)
    api = client.get("/api/recommend", query_string=args)
    assert page.status_code == status and api.status_code == status
    html = page.get_data(as_text=True)
    assert message in html and "Traceback" not in html
    assert "<script>alert" not in html  # escaped: &lt;script&gt;
    if SCRIPT in json.dumps(args):
        assert "&lt;script&gt;" in html
    body = api.get_data(as_text=True)
    assert api.mimetype == "application/json" and "<script>" not in body
    err = api.get_json()["error"]
    assert err["status"] == status and message in err["message"]


def test_api_search_autocompletes_and_refuses_bad_q(client, unique_song) -> None:
    data = client.get("/api/search", query_string={"q": unique_song["title"][:4].lower()}).get_json()
    assert data["results"] and all(r["title"].casefold().startswith(unique_song["title"][:4].casefold())
                                   or unique_song["title"][:4].casefold() in r["title"].casefold()
                                   for r in data["results"])
    assert len(data["results"]) <= 10
    for bad in ("", "q" * 10_240):
        r = client.get("/api/search", query_string={"q": bad})
        assert r.status_code == 400 and r.get_json()["error"]["status"] == 400
    assert client.get("/api/search", query_string={"q": SCRIPT}).get_json()["results"] == []


def test_unknown_routes_and_methods_are_json_under_api_and_pages_elsewhere(client) -> None:
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.get_json()["error"]["status"] == 404
    r = client.post("/api/recommend", data={"song": "x"})
    assert r.status_code == 405 and r.get_json()["error"]["status"] == 405
    r = client.get("/nope")
    assert r.status_code == 404 and r.mimetype == "text/html" and "Back to search" in r.get_data(as_text=True)


def test_an_unexpected_failure_is_a_logged_500_without_a_trace(app, client, unique_song, monkeypatch, caplog) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("serving.pages.run", boom)
    monkeypatch.setattr("serving.api.run", boom)
    with caplog.at_level(logging.ERROR):
        page = client.get("/recommend", query_string={"song": unique_song["title"]})
        api = client.get("/api/recommend", query_string={"song": unique_song["title"]})
    assert page.status_code == 500 and api.status_code == 500
    for body in (page.get_data(as_text=True), api.get_data(as_text=True)):
        assert "secret internals" not in body and "Traceback" not in body
    assert "unexpected error on GET /recommend" in caplog.text and "secret internals" in caplog.text


def test_healthz_reports_the_model(client, app) -> None:
    data = client.get("/healthz").get_json()
    model = app.extensions["model_store"].current()
    assert data == {"status": "ok", "model_version": model.version, "tracks": len(model.bundle.tracks),
                    "default_mode": model.bundle.default_mode, "features": model.bundle.features,
                    "tracks_in_model": int(model.bundle.in_model.sum()),
                    "featureless_share": model.bundle.catalog["featureless_share"]}


def test_demo_preview_is_synthesized_wav_at_the_track_tempo(client, unique_song, tracks) -> None:
    r = client.get(f"/preview/{unique_song['track_id']}.wav")
    assert r.status_code == 200 and r.mimetype == "audio/wav"
    with wave.open(io.BytesIO(r.data)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getnchannels() == 1 and 3 <= seconds <= 10
    assert client.get(f"/preview/{unique_song['track_id']}.wav").data == r.data  # deterministic (cached)
    ranged = client.get(f"/preview/{unique_song['track_id']}.wav", headers={"Range": "bytes=0-1023"})
    assert ranged.status_code == 206 and len(ranged.data) == 1024
    silent = tracks[~tracks["has_preview"]].iloc[0]
    assert client.get(f"/preview/{silent['track_id']}.wav").status_code == 404
    assert client.get("/preview/nosuchtrack.wav").status_code == 404
    assert client.get("/preview/..%2F..%2Fmodel.json.wav").status_code in (400, 404)


def test_model_page_without_plots_says_so(demo_data_dir, demo_bundle, tmp_path) -> None:
    from tests.serving_support import copy_models, publish_variant

    models = copy_models(demo_data_dir, tmp_path)
    version = publish_variant(models, demo_bundle)  # a bundle with no plots/ folder and no quality.json
    client = create_app(tmp_path, live_lookup=None).test_client()
    html = client.get("/model").get_data(as_text=True)
    assert version in html and "Default way of recommending" in html
    assert "The pictures (elbow curve, PCA map) are not in this model." in html
    assert "This model has no quality report." in html
    assert client.get("/model/plots/elbow.png").status_code == 404
    assert client.get("/model/plots/model.json").status_code == 404


class FakeLookup:
    """Stands in for the Spotify live lookup (the real one is only built when configured)."""

    def __init__(self, track=None, fail: bool = False) -> None:
        self.track, self.fail, self.calls = track, fail, []

    def find(self, title, artist):
        self.calls.append((title, artist))
        if self.fail:
            raise TimeoutError("spotify is down")
        return self.track


def test_offline_the_app_has_no_live_lookup(app, monkeypatch) -> None:
    from serving.live_lookup import live_lookup_from_env

    assert app.extensions["live_lookup"] is None
    monkeypatch.delenv("MUSIC_ADVISER_SOURCE", raising=False)
    assert live_lookup_from_env() is None
    monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "spotify")
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    assert live_lookup_from_env() is None  # spotify chosen but no credentials: still no network


def test_a_configured_live_lookup_recommends_for_unknown_songs(demo_data_dir, demo_bundle) -> None:
    from serving.live_lookup import LiveTrack

    source = demo_bundle.tracks.iloc[3]
    features = {f: float(source[f]) for f in demo_bundle.features}
    live = LiveTrack("LiveTrack0000000000001", "A Song From Outside", "Somebody", features, list(source["genres"]),
                     preview_url="javascript:alert(1)", cover_url="https://i.scdn.co/image/abc")
    lookup = FakeLookup(live)
    client = create_app(demo_data_dir, live_lookup=lookup).test_client()
    data = client.get("/api/recommend", query_string={"song": "A Song From Outside", "k": 3}).get_json()
    assert lookup.calls == [("A Song From Outside", None)]
    assert data["query"]["live"] is True and data["query"]["preview_url"] is None
    assert data["results"][0]["id"] == source["track_id"] and data["results"][0]["distance"] < 1e-4
    html = client.get("/recommend", query_string={"song": "A Song From Outside", "mode": "genre"}).get_data(as_text=True)
    assert 'id="live-note"' in html and "https://i.scdn.co/image/abc" in html and "javascript:" not in html
    # An outage or a miss falls back to did-you-mean, never a 500.
    for broken in (FakeLookup(fail=True), FakeLookup(None)):
        r = create_app(demo_data_dir, live_lookup=broken).test_client().get("/api/recommend", query_string={"song": "zzz"})
        assert r.status_code == 404 and broken.calls


def test_source_live_lookup_adapts_a_search_and_features_source() -> None:
    import pandas as pd

    from music_assets.schema import FEATURE_COLUMNS
    from serving.live_lookup import SourceLiveLookup

    class FakeSource:  # the shape of the spotify source's search_track / fetch_features
        def __init__(self, features: bool) -> None:
            self.features = features

        def search_track(self, title, artist=None):
            return [{"id": "6rqhFgbbKwnb9MLmUQDhG6", "name": "Outside", "artists": [{"name": "A"}, {"name": "B"}]}]

        def fetch_features(self, ids):
            row = {"track_id": ids[0], "genres": ["k-pop"], "preview_url": None, "cover_url": "https://x/y.jpg",
                   **{c: (0.5 if self.features else float("nan")) for c in FEATURE_COLUMNS}}
            return pd.DataFrame([row])

    track = SourceLiveLookup(FakeSource(True)).find("outside", None)
    assert track.track_id == "6rqhFgbbKwnb9MLmUQDhG6" and track.artist == "A, B" and track.genres == ["k-pop"]
    assert track.features["tempo"] == 0.5 and track.preview_url == "" and track.cover_url == "https://x/y.jpg"
    assert SourceLiveLookup(FakeSource(False)).find("outside", None) is None  # no features: no live answer


def test_preview_urls_follow_the_mount_point(client, unique_song) -> None:
    """Preview URLs are built once per mount point (SCRIPT_NAME) and filled in per track: the same
    app behind a prefix and without one links each to its own path."""
    query = {"id": unique_song["track_id"], "k": 3}
    for prefix in ("/music", "", "/music"):
        r = client.get("/api/recommend", query_string=query, base_url=f"http://localhost{prefix}/")
        data = r.get_json()
        assert data["query"]["preview_url"] == f"{prefix}/preview/{unique_song['track_id']}.wav"
        assert all(x["preview_url"] is None or x["preview_url"].startswith(("https://", f"{prefix}/preview/"))
                   for x in data["results"])
        assert any(x["preview_url"] == f"{prefix}/preview/{x['id']}.wav" for x in data["results"]) or not any(
            x["preview_url"] for x in data["results"])


def test_json_never_carries_raw_html_characters(client) -> None:
    r = client.get("/api/recommend", query_string={"song": "<b>Tom & Jerry</b> é"})
    body = r.get_data()
    assert r.status_code == 404 and b"<" not in body and b">" not in body and b"&" not in body
    assert "<b>Tom & Jerry</b> é" in r.get_json()["error"]["message"]
