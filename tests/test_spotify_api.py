"""The Spotify-compatible /v1/ API, driven by spotipy itself over HTTP (issue 16).

One waitress server on the session's demo bundle for the module; a second one requiring an API
key. Every answer is checked against the bundle's own values (tempo, energy, titles), never
against what the API says about itself.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import requests
import spotipy
from spotipy.exceptions import SpotifyException

from music_assets.model.markets import code_for_region
from music_assets.model.steer import available_genres, markets
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from serving.spotify_objects import AUDIO_FEATURES
from tests.serving_support import waitress_thread

API_KEY = "test-key-7f3a9c1e5b2d4f60"
UNKNOWN_ID = "0000000000000000000000"  # well-formed (22 base62 characters), in no catalog


def _settings(data_dir: Path, **changes) -> ServingSettings:
    return ServingSettings(data_dir=str(data_dir), limits=LimitSettings.off(), **changes)


@pytest.fixture(scope="module")
def base(demo_data_dir: Path):
    app = create_app(_settings(demo_data_dir), live_lookup=None)
    with waitress_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def sp(base: str) -> spotipy.Spotify:
    # exactly what docs/api.md shows
    sp = spotipy.Spotify(auth="token")
    sp.prefix = f"{base}/v1/"
    return sp


@pytest.fixture(scope="module")
def catalog(demo_bundle):
    """The bundle's own values by track id: what every answer is checked against."""
    t = demo_bundle.tracks
    return t.set_index("track_id")


@pytest.fixture(scope="module")
def seeds(demo_bundle) -> list[str]:
    t = demo_bundle.tracks
    in_model = t[demo_bundle.in_model]
    return list(in_model["track_id"].iloc[[3, 50, 400]])


def _energy_gap(catalog, ids: list[str], target: float) -> float:
    return float(np.mean(np.abs(catalog.loc[ids, "energy"].to_numpy(dtype=float) - target)))


def test_recommendations_as_spotipy_calls_them(sp, catalog, seeds) -> None:
    steered = sp.recommendations(seed_tracks=seeds, target_energy=0.8, min_tempo=120, limit=50)
    ids = [t["id"] for t in steered["tracks"]]
    assert len(ids) == 50 and len(set(ids)) == 50 and not set(ids) & set(seeds)
    assert (catalog.loc[ids, "tempo"].to_numpy(dtype=float) >= 120).all()  # a hard filter: every track
    unsteered = sp.recommendations(seed_tracks=seeds, min_tempo=120, limit=50)
    plain_ids = [t["id"] for t in unsteered["tracks"]]
    assert _energy_gap(catalog, ids, 0.8) < _energy_gap(catalog, plain_ids, 0.8)
    # our extension reports that very adherence, beside Spotify's untouched keys
    ours = steered["music_adviser"]
    assert ours["adherence"]["energy"] == pytest.approx(_energy_gap(catalog, ids, 0.8), abs=1e-5)
    assert [r["id"] for r in ours["results"]] == ids and all(0 <= r["score"] <= 1 and r["reason"] for r in ours["results"])
    assert ours["ignored_parameters"] == [] and "energy" not in unsteered["music_adviser"]["adherence"]
    first = steered["tracks"][0]
    assert first["name"] == catalog.loc[first["id"], "title"]
    assert first["uri"] == f"spotify:track:{first['id']}" and first["type"] == "track"
    assert first["external_urls"] == {"spotify": f"https://open.spotify.com/track/{first['id']}"}
    assert first["href"].endswith(f"/v1/tracks/{first['id']}") and first["is_playable"] is True
    assert first["artists"][0]["name"] and first["artists"][0]["type"] == "artist"
    assert {"name", "images"} <= set(first["album"]) and "duration_ms" in first and "popularity" in first
    assert [s["id"] for s in steered["seeds"]] == seeds
    for seed in steered["seeds"]:
        assert seed["type"] == "TRACK" and seed["href"].endswith(f"/v1/tracks/{seed['id']}")
        assert seed["initialPoolSize"] >= seed["afterFilteringSize"] >= 50
        assert seed["afterRelinkingSize"] == seed["afterFilteringSize"]


def test_genre_seeds_and_a_genre_seeded_request(sp, demo_bundle, catalog) -> None:
    genres = sp.recommendation_genre_seeds()["genres"]
    assert genres == available_genres(demo_bundle) and genres
    answer = sp.recommendations(seed_genres=[genres[0]], limit=5, max_energy=0.6)
    assert answer["seeds"][0] == {**answer["seeds"][0], "id": genres[0], "type": "GENRE", "href": None}
    assert len(answer["tracks"]) == 5
    assert (catalog.loc[[t["id"] for t in answer["tracks"]], "energy"].to_numpy(dtype=float) <= 0.6).all()


def test_artist_seeds_by_id_through_spotipy_and_by_name(sp, base, demo_bundle, catalog) -> None:
    t = demo_bundle.tracks[demo_bundle.in_model]
    artist = str(t["artist"].value_counts().index[0])  # the artist with most tracks
    artist_id = str(list(t.loc[t["artist"] == artist, "artist_ids"].iat[0])[0])
    by_id = sp.recommendations(seed_artists=[artist_id], limit=10)
    seed = by_id["seeds"][0]
    assert (seed["id"], seed["type"], seed["href"]) == (artist_id, "ARTIST", f"https://api.spotify.com/v1/artists/{artist_id}")
    someone = by_id["tracks"][0]["artists"][0]
    assert someone["uri"] == f"spotify:artist:{someone['id']}" and someone["id"] in set(
        i for ids in catalog["artist_ids"] for i in ids)
    # by name where a client has no ids (Spotify never took names: ours); exclusions hold
    answer = requests.get(f"{base}/v1/recommendations", params={"seed_artists": artist, "limit": 10,
                                                                 "exclude_artists": artist}, timeout=5)
    assert answer.status_code == 200, answer.text
    seed = answer.json()["seeds"][0]
    assert (seed["id"], seed["type"], seed["href"]) == (artist, "ARTIST", None)
    ids = [x["id"] for x in answer.json()["tracks"]]
    assert len(ids) == 10 and artist not in set(catalog.loc[ids, "artist"])
    unknown = requests.get(f"{base}/v1/recommendations", params={"seed_artists": "Nobody At All"}, timeout=5)
    assert unknown.status_code == 400 and "seed_artists" in unknown.json()["error"]["message"]


def test_audio_features_and_tracks(sp, base, catalog, seeds) -> None:
    features = sp.audio_features([*seeds, UNKNOWN_ID])
    assert len(features) == 4 and features[-1] is None
    for track_id, found in zip(seeds, features):
        assert found["id"] == track_id and found["type"] == "audio_features"
        assert found["uri"] == f"spotify:track:{track_id}" and found["track_href"].endswith(f"/v1/tracks/{track_id}")
        for name in AUDIO_FEATURES:  # the catalog's value where it has the column, else null
            held = catalog[name].get(track_id) if name in catalog else None
            assert found[name] == (pytest.approx(float(held)) if held is not None and held == held else None), name
    assert sp.audio_features([seeds[0]]) == features[:1]  # one id: the same audio-features/?ids= path
    one = requests.get(f"{base}/v1/audio-features/{seeds[1]}", timeout=5)
    assert one.status_code == 200 and one.json() == features[1]
    track = sp.track(seeds[0])
    assert track["id"] == seeds[0] and track["name"] == catalog.loc[seeds[0], "title"]
    several = sp.tracks([seeds[1], UNKNOWN_ID, seeds[2]])["tracks"]
    assert [t and t["id"] for t in several] == [seeds[1], None, seeds[2]]
    assert several[0] == sp.track(seeds[1])


def test_errors_carry_spotify_status_and_message(sp, base, seeds) -> None:
    with pytest.raises(SpotifyException) as bad_number:
        sp.recommendations(seed_tracks=seeds, min_tempo="fast")
    assert bad_number.value.http_status == 400 and "min_tempo" in bad_number.value.msg
    with pytest.raises(SpotifyException) as unknown_track:
        sp.track(UNKNOWN_ID)
    assert unknown_track.value.http_status == 404 and "non existing id" in unknown_track.value.msg
    with pytest.raises(SpotifyException) as too_many:
        sp.recommendations(seed_tracks=[*seeds, *seeds])  # six seeds: Spotify's GET takes five
    assert too_many.value.http_status == 400 and "at most 5 seeds" in too_many.value.msg
    with pytest.raises(SpotifyException) as unknown_seed:
        sp.recommendations(seed_tracks=[UNKNOWN_ID])
    assert unknown_seed.value.http_status == 400 and "seed_tracks" in unknown_seed.value.msg
    for path, status, words in [
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&target_enrgy=0.5", 400, "target_enrgy"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&limit=101", 400, "limit"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&limit=2.5", 400, "limit must be a whole number"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&target_energy=nan", 400, "target_energy"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&target_energy=7", 400, "target_energy"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&min_tempo=150&max_tempo=90", 400, "min_tempo"),
        ("/v1/recommendations?seed_tracks=" + seeds[0] + "&mode=hybrid&diversity=-1", 400, "diversity"),
        ("/v1/recommendations?limit=5", 400, "seed"),
        ("/v1/tracks/not-an-id!", 400, "invalid id"),
        ("/v1/tracks?ids=", 400, "ids"),
        ("/v1/tracks?ids=" + ",".join([seeds[0]] * 51), 400, "Too many ids"),
        ("/v1/audio-features/" + UNKNOWN_ID, 404, "not found"),
        ("/v1/playlists/37i9dQZF1DXcBWIGoYBM5M", 404, "Service not found"),
        ("/v1", 404, "Service not found"),
    ]:
        answer = requests.get(base + path, timeout=5)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["status"] == status and words in answer.json()["error"]["message"], path
        assert answer.headers.get("Access-Control-Allow-Origin") == "*", path  # a browser can read the error
    wrong_method = requests.delete(f"{base}/v1/tracks/{seeds[0]}", timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["status"] == 405
    assert wrong_method.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Origin" not in requests.get(f"{base}/model", timeout=5).headers  # /v1 only
    assert "GET" in wrong_method.headers["Allow"]


def test_seed_uris_and_urls_are_read_as_ids(base, seeds) -> None:
    answer = requests.get(f"{base}/v1/recommendations", timeout=5, params={
        "seed_tracks": f"spotify:track:{seeds[0]},https://open.spotify.com/track/{seeds[1]}?si=abc", "limit": 2})
    assert answer.status_code == 200 and [s["id"] for s in answer.json()["seeds"]] == seeds[:2]


def test_unknown_query_parameters_are_ignored_and_reported(base, seeds) -> None:
    answer = requests.get(f"{base}/v1/recommendations", params={
        "seed_tracks": seeds[0], "limit": 3, "include_external": "audio", "locale": "en"}, timeout=5)
    assert answer.status_code == 200 and len(answer.json()["tracks"]) == 3
    assert answer.json()["music_adviser"]["ignored_parameters"] == ["include_external", "locale"]


def test_post_a_whole_playlist_with_our_extensions(base, demo_bundle, catalog) -> None:
    t = demo_bundle.tracks[demo_bundle.in_model]
    playlist = list(t["track_id"].iloc[:12])
    negative = list(t["track_id"].iloc[20:22])
    avoided = str(t["artist"].iloc[30])
    body = {"seed_tracks": playlist, "negative_tracks": negative, "exclude_artists": [avoided],
            "exclude_tracks": list(t["track_id"].iloc[40:45]), "max_per_artist": 1, "diversity": 0.5,
            "limit": 30, "target_danceability": 0.7, "max_loudness": -4}
    answer = requests.post(f"{base}/v1/recommendations", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    ids = [x["id"] for x in answer.json()["tracks"]]
    assert len(ids) == 30 and not set(ids) & {*playlist, *negative, *body["exclude_tracks"]}
    artists = catalog.loc[ids, "artist"]
    assert artists.is_unique and avoided not in set(artists)
    assert (catalog.loc[ids, "loudness"].to_numpy(dtype=float) <= -4).all()
    assert len(answer.json()["seeds"]) == 12 and "danceability" in answer.json()["music_adviser"]["adherence"]
    for bad, status, words in [
        ({"seed_tracks": playlist, "colour": "blue"}, 400, "colour"),
        ({"seed_tracks": playlist, "diversity": "lots"}, 400, "diversity"),
        ({"seed_tracks": playlist, "diversity": 2}, 400, "diversity"),
        ({"seed_tracks": playlist, "mode": "loud"}, 400, "mode"),
        ([1, 2], 400, "JSON object"),
    ]:
        refused = requests.post(f"{base}/v1/recommendations", json=bad, timeout=5)
        assert refused.status_code == status and words in refused.json()["error"]["message"], (bad, refused.text)
    not_json = requests.post(f"{base}/v1/recommendations", data="seed_tracks=x", timeout=5,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and not_json.json()["error"]["status"] == 415
    broken = requests.post(f"{base}/v1/recommendations", data="{", timeout=5, headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]


def test_market_keeps_tracks_that_charted_there(sp, base, demo_bundle, seeds) -> None:
    known = markets(demo_bundle)
    assert len(known) > 1  # the demo's charts name several regions
    with pytest.raises(SpotifyException) as refused:
        sp.recommendations(seed_tracks=seeds[:1], country="Atlantis")
    assert refused.value.http_status == 400 and "market" in refused.value.msg
    region = known[-1]  # the smallest: the filter visibly narrows the pool
    everywhere = sp.recommendations(seed_tracks=seeds[:1], limit=10)
    there = sp.recommendations(seed_tracks=seeds[:1], country=region, limit=10)
    assert there["tracks"] and there["seeds"][0]["afterFilteringSize"] < everywhere["seeds"][0]["afterFilteringSize"]
    assert (there["music_adviser"]["market"], everywhere["music_adviser"]["market"]) == (region, None)
    by_code = sp.recommendations(seed_tracks=seeds[:1], country=code_for_region(region), limit=10)  # as Spotify's clients send it
    assert [t["id"] for t in by_code["tracks"]] == [t["id"] for t in there["tracks"]]
    regions = demo_bundle.tracks.set_index("track_id")["regions"]
    for track in there["tracks"]:
        assert region in list(regions[track["id"]])
        assert requests.get(track["href"], params={"market": region}, timeout=5).json()["is_playable"] is True
    elsewhere = next(tid for tid, charted in regions.items() if region not in list(charted))
    assert requests.get(f"{base}/v1/tracks/{elsewhere}", params={"market": region}, timeout=5).json()["is_playable"] is False
    unknown = requests.get(f"{base}/v1/tracks/{elsewhere}", params={"market": "Atlantis"}, timeout=5)
    assert unknown.status_code == 400 and "Invalid market code" in unknown.json()["error"]["message"]
    assert requests.get(f"{base}/v1/tracks", params={"ids": elsewhere, "market": "from_token"}, timeout=5).status_code == 200


def test_no_model_and_rate_limits_answer_in_spotify_shape(tmp_path_factory, demo_data_dir, seeds) -> None:
    empty = create_app(_settings(tmp_path_factory.mktemp("no_model")), live_lookup=None).test_client()
    answer = empty.get(f"/v1/recommendations?seed_tracks={seeds[0]}")
    assert answer.status_code == 503 and answer.get_json()["error"]["status"] == 503
    assert int(answer.headers["Retry-After"]) > 0 and "models" not in answer.get_json()["error"]["message"]
    limited = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings(
        requests="1 per minute", live_lookup=None, live_lookup_total=None)), live_lookup=None).test_client()
    assert limited.get(f"/v1/tracks/{seeds[0]}").status_code == 200
    refused = limited.get(f"/v1/tracks/{seeds[0]}")
    assert refused.status_code == 429 and refused.get_json()["error"]["status"] == 429 and refused.headers["Retry-After"]


def test_api_keys_401_without_200_with_and_never_logged(demo_data_dir, seeds, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(_settings(demo_data_dir, api_keys=(API_KEY, "another-key-0123456789")), live_lookup=None)
    with waitress_thread(app) as url:
        for header in ({}, {"Authorization": "Bearer wrong-key-0000000000000"}, {"Authorization": f"Basic {API_KEY}"}):
            refused = requests.get(f"{url}/v1/tracks/{seeds[0]}", headers=header, timeout=5)
            assert refused.status_code == 401 and refused.json()["error"]["status"] == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert API_KEY not in refused.text and refused.headers["Access-Control-Allow-Origin"] == "*"
        # a browser's CORS preflight carries no token: answered before the key check
        preflight = requests.options(f"{url}/v1/recommendations", timeout=5, headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
        anonymous = spotipy.Spotify(auth="token")
        anonymous.prefix = f"{url}/v1/"
        with pytest.raises(SpotifyException) as unauthorized:
            anonymous.track(seeds[0])
        assert unauthorized.value.http_status == 401
        keyed = spotipy.Spotify(auth=API_KEY)
        keyed.prefix = f"{url}/v1/"
        assert keyed.track(seeds[0])["id"] == seeds[0]
        assert keyed.recommendations(seed_tracks=seeds[:2], limit=3)["tracks"]
        # pages, /healthz and the OpenAPI document neither need nor show a key
        for path in ("/healthz", "/api/openapi.json"):
            shown = requests.get(url + path, timeout=5)
            assert shown.status_code == 200 and API_KEY not in shown.text
    # the client library logs its own headers; the server's logs never hold the key
    server_side = [r for r in caplog.records if not r.name.startswith(("spotipy", "urllib3"))]
    assert all(API_KEY not in r.getMessage() for r in server_side)
    assert API_KEY not in repr(app.extensions["api_keys"]) and API_KEY not in repr(app.config)


def test_the_docs_snippet_runs_as_written(base, capsys) -> None:
    """docs/api.md's spotipy block, run as it stands (only the port is this server's)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 'sp.prefix = "http://127.0.0.1:8000/v1/"' in code and "min_tempo=120" in code
    exec(compile(code.replace("http://127.0.0.1:8000", base), "docs/api.md", "exec"), {})
    out = capsys.readouterr().out
    assert float(re.search(r"slowest tempo: ([\d.]+)", out).group(1)) >= 120
    assert re.search(r"energy off target by 0\.\d+ on average", out) and out.count("open.spotify.com/track/") == 5
