"""/api/openapi.json: every documented route exists and answers each documented status as described."""

from __future__ import annotations

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
    served = create_app(demo_data_dir, live_lookup=None).test_client()
    empty = create_app(tmp_path_factory.mktemp("no_model"), live_lookup=None).test_client()
    one_a_minute = LimitSettings(requests="1 per minute", live_lookup=None, live_lookup_total=None)
    limited = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=one_a_minute), live_lookup=None).test_client()
    assert limited.get("/api/openapi.json").status_code == 200  # its one request this minute
    return served, empty, limited


def test_every_documented_status_happens_and_matches_its_schema(clients, demo_bundle) -> None:
    served, empty, limited = clients
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
    documented = {(path, status) for path, ops in doc["paths"].items() for status in ops["get"]["responses"]}
    assert documented == set(recipes)
    checked = 0
    for (path, status), (client, query) in recipes.items():
        if query is None:  # no genre-less track in this catalog: 422 is covered in test_serving_reload
            continue
        response = client.get(path, query_string=query)
        assert response.status_code == int(status), (path, query, response.get_data(as_text=True)[:300])
        schema = doc["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
        check(response.get_json(), schema, doc, f"{path} {status}")
        checked += 1
    assert checked >= 10


def test_every_api_route_of_the_app_is_documented(clients) -> None:
    served, _, _ = clients
    doc = served.get("/api/openapi.json").get_json()
    routes = {r.rule for r in served.application.url_map.iter_rules() if r.rule.startswith(("/api/", "/healthz"))}
    assert routes == set(doc["paths"])
    mode = next(p for p in doc["paths"]["/api/recommend"]["get"]["parameters"] if p["name"] == "mode")
    assert mode["schema"]["enum"] == list(MODES)  # read from core at request time
