"""What a listener sees when something is wrong, over HTTP: no server path, bucket, prefix or
operator instruction in any error body (those go to the log); no redirect built from the Host
header; Cache-Control on every dynamic answer; a malformed model.json refused and backed off."""

from __future__ import annotations

import http.client
import json
import logging
import shutil
from pathlib import Path

import pytest
import s3fs

from music_assets.model import registry
from music_assets.model.bundle import BundleError, load_bundle, write_bundle
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from serving.model_store import ModelStore
from tests.s3_support import aws_env
from tests.serving_support import copy_models, free_port, publish_corrupt, waitress_thread

# Every route that can answer with an error, as a listener or an API client would ask.
NO_MODEL_ROUTES = ["/", "/model", "/recommend?song=black+swan", "/api/recommend?song=black+swan",
                   "/api/search?q=black", "/healthz", "/preview/4uLU6hMCjMI75M1A2tKUQC.wav", "/model/plots/elbow.png"]


def request(base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], str]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, text


def assert_nothing_for_operators(body: str, *secrets: str) -> None:
    for secret in ("/tmp", "demo.sh", "bash ", "LATEST", "model.json", "s3://", "Traceback", *secrets):
        assert secret not in body, (secret, body[:500])


def settings(data_dir: str, **changes) -> ServingSettings:
    changes.setdefault("limits", LimitSettings.off())
    return ServingSettings(data_dir=data_dir, check_interval=0, retry_after=0, background_reload=False, **changes)


def malformed(models: Path, bundle, change) -> str:
    """Publish a bundle whose model.json is then given wrong types by `change(meta)`."""
    version, path = write_bundle(models, bundle.tracks, bundle.embedding, bundle.centroids,
                                 dict(bundle.meta.get("settings", {})))
    meta = json.loads((path / "model.json").read_text())
    change(meta)
    (path / "model.json").write_text(json.dumps(meta))
    registry.publish_pointer(models, version)
    return version


MALFORMED = {
    "k is text": (lambda m: m.update(k="five"), "field 'k' must be a whole number"),
    "centroids null": (lambda m: m.update(centroids=None), "field 'centroids' must be a list"),
    "embedding lacks keys": (lambda m: m["embedding"].pop("scale"), "field 'embedding' lacks scale"),
    "mean of text": (lambda m: m["embedding"].update(mean=["a"] * len(m["embedding"]["mean"])),
                     "field 'embedding.mean' must be a list of finite numbers"),
    "centroid rows too short": (lambda m: m.update(centroids=[[0.0]] * m["k"]), "field 'centroids' holds 1 numbers"),
}


@pytest.mark.parametrize("state", ["empty folder", "corrupt bundle", "malformed model.json", "unreachable bucket"])
def test_no_model_errors_carry_no_path_bucket_or_instruction(state: str, demo_data_dir, demo_bundle, tmp_path,
                                                             monkeypatch, caplog) -> None:
    data_dir, secrets = str(tmp_path / "data"), [str(tmp_path)]
    if state == "corrupt bundle":
        models = tmp_path / "data" / "models"
        models.mkdir(parents=True)
        publish_corrupt(models, demo_bundle)
    elif state == "malformed model.json":
        models = tmp_path / "data" / "models"
        models.mkdir(parents=True)
        malformed(models, demo_bundle, MALFORMED["k is text"][0])
    elif state == "unreachable bucket":
        for name, value in aws_env(f"http://127.0.0.1:{free_port()}").items():  # nothing listens there
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        data_dir, secrets = "s3://listeners-never-see-this-bucket/some-prefix", ["listeners-never-see", "some-prefix"]
    app = create_app(settings(data_dir), live_lookup=None)
    with waitress_thread(app) as base, caplog.at_level(logging.WARNING):
        for path in NO_MODEL_ROUTES:
            status, headers, body = request(base, path)
            assert status == 503, (path, status)
            assert "No recommendation model is being served yet" in body and headers["retry-after"].isdigit()
            assert headers["cache-control"] == "no-store"
            assert_nothing_for_operators(body, *secrets)
    s3fs.S3FileSystem.clear_instance_cache()
    assert any(secrets[0] in r.getMessage() for r in caplog.records)  # the operator finds the cause in the log


def test_error_answers_of_a_serving_app_carry_no_path(demo_data_dir, demo_bundle, tmp_path, monkeypatch) -> None:
    copy_models(demo_data_dir, tmp_path)
    app = create_app(settings(str(tmp_path), limits=LimitSettings(requests="40 per minute", live_lookup=None,
                                                                  live_lookup_total=None)), live_lookup=None)
    tid = demo_bundle.tracks["track_id"].iat[0]
    silent = demo_bundle.tracks.loc[~demo_bundle.tracks["has_preview"], "track_id"].iat[0]

    def boom(*args, **kwargs):
        raise RuntimeError(f"cannot open {tmp_path}/models/LATEST: run bash scripts/demo.sh")

    cases = [
        ("GET", "/nope", 404), ("GET", "/api/nope", 404), ("GET", "/recommend?song=zzzqqq", 404),
        ("GET", "/api/recommend?song=zzzqqq", 404), ("GET", "/api/recommend?id=" + "0" * 22, 404),
        ("GET", "/preview/nosuchtrack.wav", 404), ("GET", f"/preview/{silent}.wav", 404),
        ("GET", "/model/plots/other.png", 404), ("GET", "/model/plots/..%2Fmodel.json", 404),
        ("POST", "/api/recommend", 405), ("DELETE", "/", 405), ("GET", "/api/recommend?song=", 400),
        ("GET", "/api/recommend?id=../../etc/passwd", 400), ("GET", f"/api/recommend?id={tid}&k=0", 400),
        ("GET", "/static/../../etc/passwd", 404), ("GET", "/static/nothing.css", 404),
    ]
    with waitress_thread(app) as base:
        for method, path, expected in cases:
            status, headers, body = request(base, path, method)
            assert status == expected, (method, path, status, body[:200])
            assert headers["cache-control"] == "no-store", path
            assert_nothing_for_operators(body, str(tmp_path))
        status, headers, body = request(base, "/healthz", "GET", {"Content-Length": "5"}, b"hello")
        assert status == 400 and "no body" in body
        status, _, body = request(base, "/api/search?q=a", "POST", {"Content-Length": str(1 << 20)}, b"x" * (1 << 20))
        assert status == 413 and json.loads(body)["error"]["status"] == 413
        monkeypatch.setattr("serving.api.run", boom)
        monkeypatch.setattr("serving.pages.run", boom)
        for path in (f"/api/recommend?id={tid}", f"/recommend?id={tid}"):
            status, headers, body = request(base, path)
            assert status == 500 and headers["cache-control"] == "no-store"
            assert_nothing_for_operators(body, str(tmp_path))
        statuses = [request(base, "/api/search?q=ab")[0] for _ in range(40)]
        assert statuses[-1] == 429  # one count per client across the routes above
        status, _, body = request(base, "/api/search?q=ab")
        assert status == 429 and json.loads(body)["error"]["status"] == 429
        assert_nothing_for_operators(body, str(tmp_path))


HOSTILE_PATHS = ["/static//app.css", "//", "/model/", "/api//search?q=a", "/recommend/", "//evil.example/x",
                 "/static/./app.css", "/api/openapi.json/"]


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1"])
def test_no_redirect_is_ever_built_from_the_host_header(demo_data_dir, host: str) -> None:
    """`/static//app.css` answered a cacheable 308 to http://evil.example/static/app.css."""
    app = create_app(settings(str(demo_data_dir)), live_lookup=None)
    with waitress_thread(app) as base:
        for path in HOSTILE_PATHS:
            status, headers, body = request(base, path, headers={"Host": host})
            assert not 300 <= status < 400 and "location" not in headers, (path, status, headers)
            assert headers["cache-control"] in (("no-store", "no-cache") if status == 200 else ("no-store",))
            if host == "evil.example":
                assert status == 400  # not a trusted host: refused before routing
        assert request(base, "/static/app.css", headers={"Host": host})[0] == (400 if host == "evil.example" else 200)


def test_trusted_hosts_are_a_setting(demo_data_dir) -> None:
    app = create_app(settings(str(demo_data_dir), trusted_hosts=("music.example.org",)), live_lookup=None)
    with waitress_thread(app) as base:
        assert request(base, "/healthz", headers={"Host": "music.example.org"})[0] == 200
        assert request(base, "/healthz", headers={"Host": "127.0.0.1"})[0] == 400
    app = create_app(settings(str(demo_data_dir), trusted_hosts=None), live_lookup=None)  # `*`: any
    with waitress_thread(app) as base:
        assert request(base, "/healthz", headers={"Host": "anything.example"})[0] == 200


def test_cache_control_on_every_dynamic_answer_static_files_keep_theirs(demo_data_dir, demo_bundle) -> None:
    app = create_app(settings(str(demo_data_dir)), live_lookup=None)
    row = demo_bundle.tracks[demo_bundle.tracks["has_preview"]].iloc[0]
    with waitress_thread(app) as base:
        for path in ["/", "/model", f"/recommend?id={row['track_id']}", f"/api/recommend?id={row['track_id']}",
                     "/api/search?q=a", "/healthz", "/api/openapi.json", "/nope", "/api/nope"]:
            assert request(base, path)[1]["cache-control"] == "no-store", path
        status, headers, _ = request(base, "/static/app.css")
        assert status == 200 and headers["cache-control"] != "no-store" and "etag" in headers
        status, headers, _ = request(base, f"/preview/{row['track_id']}.wav")
        assert status == 200 and headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_model_json_is_a_bundle_error_naming_the_file_and_field(case, demo_bundle, tmp_path) -> None:
    change, message = MALFORMED[case]
    models = tmp_path / "models"
    version = malformed(models, demo_bundle, change)
    with pytest.raises(BundleError) as err:
        load_bundle(models)
    assert f"model {version}: model.json" in str(err.value) and message in str(err.value)


def test_a_malformed_model_json_is_backed_off_with_one_line_per_try(demo_data_dir, demo_bundle, tmp_path, caplog) -> None:
    """It was retried at every check (every second) with a traceback each time."""
    models = copy_models(demo_data_dir, tmp_path)
    now = [1000.0]
    store = ModelStore(models, check_interval=1.0, retry_after=10.0, clock=lambda: now[0], background=False)
    good = store.current()
    bad = malformed(models, demo_bundle, MALFORMED["centroids null"][0])
    with caplog.at_level(logging.WARNING, logger="serving.model_store"):
        for _ in range(25):  # 25 s of requests, a check every second
            now[0] += 1.0
            assert store.current() is good
    refusals = [r for r in caplog.records if f"refused model {bad}" in r.getMessage()]
    assert len(refusals) == 3 and store.stats.refusals == 3  # at 1 s, 11 s and 21 s: one line per back-off
    assert not any(r.exc_info for r in refusals)  # a line, not a traceback
    assert "field 'centroids'" in refusals[0].getMessage() and "next try in 10 s" in refusals[0].getMessage()
    shutil.rmtree(models / bad)
    fixed = malformed(models, demo_bundle, lambda m: None)  # a good bundle published after it is served
    now[0] += 1.0
    assert store.current().version == fixed
