"""/api/openapi.json: every documented route exists and answers each documented status as described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from music_assets.model.recommend import MODES
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def check(value, schema: dict, doc: dict, where: str = "$") -> None:
    """A small validator for the subset of OpenAPI 3.0 schema the document uses."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return check(value, doc["components"]["schemas"][name], doc, where)
    for part in schema.get("allOf", []):
        check(value, part, doc, where)
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    if "type" in schema:
        assert isinstance(value, TYPES[schema["type"]]) and not (
            schema["type"] in ("integer", "number") and isinstance(value, bool)), f"{where}: {value!r} is not {schema['type']}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    for name in schema.get("required", []):
        assert name in value, f"{where} lacks required {name!r}"
    for name, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and name in value:
            check(value[name], sub, doc, f"{where}.{name}")
    if "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], doc, f"{where}[{i}]")


@pytest.fixture(scope="module")
def clients(demo_data_dir: Path, tmp_path_factory):
    # no rate limit: the recipes below send more than its default per second (429 has its own app)
    served = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()),
                        live_lookup=None).test_client()
    empty = create_app(tmp_path_factory.mktemp("no_model"), live_lookup=None).test_client()
    one_a_minute = LimitSettings(requests="1 per minute", live_lookup=None, live_lookup_total=None)
    limited = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=one_a_minute), live_lookup=None).test_client()
    assert limited.get("/api/openapi.json").status_code == 200  # its one request this minute
    keyed = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off(),
                                       api_keys=("openapi-test-key-0123456789",)), live_lookup=None).test_client()
    return served, empty, limited, keyed


def test_every_documented_status_happens_and_matches_its_schema(clients, demo_bundle) -> None:
    served, empty, limited, keyed = clients
    doc = served.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    t = demo_bundle.tracks
    no_genre = t[t["genres"].map(len).eq(0)]
    title = t["title"].iat[int(t["chart_appearances"].to_numpy().argmax())]
    recipes = {
        ("/api/recommend", "200"): (served, {"song": title, "k": 3}),
        ("/api/recommend", "400"): (served, {"song": title, "k": 0}),
        ("/api/recommend", "404"): (served, {"song": title + " qqq"}),
        ("/api/recommend", "422"): (served, {"id": no_genre["track_id"].iat[0], "mode": "genre"} if len(no_genre) else None),
        ("/api/recommend", "429"): (limited, {"song": title}),
        ("/api/recommend", "503"): (empty, {"song": title}),
        ("/api/search", "200"): (served, {"q": title[:3]}),
        ("/api/search", "400"): (served, {"q": ""}),
        ("/api/search", "429"): (limited, {"q": "a"}),
        ("/api/search", "503"): (empty, {"q": "a"}),
        ("/healthz", "200"): (served, {}),
        ("/healthz", "503"): (empty, {}),
        ("/api/openapi.json", "200"): (served, {}),
    }
    recipes = {(path, "get", status): (client, path, {"query_string": query}) for (path, status), (client, query)
               in recipes.items()}
    recipes.update(v1_recipes(served, empty, limited, keyed, t))
    documented = {(path, method, status) for path, ops in doc["paths"].items() for method, op in ops.items()
                  for status in op["responses"]}
    assert documented == set(recipes)
    checked = 0
    for (path, method, status), (client, url, kwargs) in recipes.items():
        if kwargs.get("query_string", {}) is None:  # no genre-less track in this catalog: 422 is covered in test_serving_reload
            continue
        response = client.open(url, method=method.upper(), **kwargs)
        assert response.status_code == int(status), (path, method, kwargs, response.get_data(as_text=True)[:300])
        schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        check(response.get_json(), schema, doc, f"{method} {path} {status}")
        checked += 1
    assert checked >= 50


def v1_recipes(served, empty, limited, keyed, tracks) -> dict:
    """(path, method, status) -> (client, url, request arguments) for every documented /v1 answer."""
    seed = tracks["track_id"].iat[0]
    unknown = "0000000000000000000000"
    urls = {"/v1/recommendations": ("/v1/recommendations", {"seed_tracks": seed, "target_energy": 0.5, "limit": 5}),
            "/v1/recommendations/available-genre-seeds": ("/v1/recommendations/available-genre-seeds", {}),
            "/v1/tracks/{track_id}": (f"/v1/tracks/{seed}", {}),
            "/v1/tracks": ("/v1/tracks/", {"ids": f"{seed},{unknown}"}),
            "/v1/audio-features/{track_id}": (f"/v1/audio-features/{seed}", {}),
            "/v1/audio-features": ("/v1/audio-features/", {"ids": f"{seed},{unknown}"})}
    recipes = {}
    for path, (url, query) in urls.items():
        for status, client in (("200", served), ("401", keyed), ("429", limited), ("503", empty)):
            recipes[(path, "get", status)] = (client, url, {"query_string": query})
    body = {"seed_tracks": list(tracks["track_id"].iloc[:8]), "target_energy": 0.5, "max_per_artist": 2}
    for status, client in (("200", served), ("401", keyed), ("429", limited), ("503", empty)):
        recipes[("/v1/recommendations", "post", status)] = (client, "/v1/recommendations", {"json": body})
    recipes.update({
        ("/v1/recommendations", "get", "400"): (served, "/v1/recommendations", {"query_string": {"seed_tracks": seed, "min_tempo": "fast"}}),
        ("/v1/recommendations", "post", "400"): (served, "/v1/recommendations", {"json": {**body, "colour": "blue"}}),
        ("/v1/recommendations", "post", "413"): (served, "/v1/recommendations", {"json": {"seed_tracks": [seed] * 2000}}),
        ("/v1/recommendations", "post", "415"): (served, "/v1/recommendations", {"data": "seed_tracks=" + seed}),
        ("/v1/tracks/{track_id}", "get", "400"): (served, "/v1/tracks/no!", {}),
        ("/v1/tracks/{track_id}", "get", "404"): (served, f"/v1/tracks/{unknown}", {}),
        ("/v1/tracks", "get", "400"): (served, "/v1/tracks", {"query_string": {"ids": ""}}),
        ("/v1/audio-features/{track_id}", "get", "400"): (served, "/v1/audio-features/no!", {}),
        ("/v1/audio-features/{track_id}", "get", "404"): (served, f"/v1/audio-features/{unknown}", {}),
        ("/v1/audio-features", "get", "400"): (served, "/v1/audio-features", {"query_string": {"ids": "a," * 101}}),
    })
    return recipes


def test_every_api_route_of_the_app_is_documented(clients) -> None:
    served = clients[0]
    doc = served.get("/api/openapi.json").get_json()
    routes = {re.sub(r"<([a-z_]+)>", r"{\1}", r.rule).rstrip("/") for r in served.application.url_map.iter_rules()
              if r.rule.startswith(("/api/", "/healthz", "/v1/"))}
    assert routes == set(doc["paths"])
    extensions = {(path, method) for path, ops in doc["paths"].items() for method, op in ops.items() if op.get("x-extension")}
    assert extensions == {("/v1/recommendations", "post")}  # ours, not Spotify's
    get = {p["name"]: p for p in doc["paths"]["/v1/recommendations"]["get"]["parameters"]}
    assert {"min_tempo", "max_valence", "target_energy", "seed_genres", "market"} <= set(get)
    assert get["diversity"].get("x-extension") and not get["target_energy"].get("x-extension")
    mode = next(p for p in doc["paths"]["/api/recommend"]["get"]["parameters"] if p["name"] == "mode")
    assert mode["schema"]["enum"] == list(MODES)  # read from core at request time
