"""Hot model reload: new models are picked up, broken ones refused, and requests never fail."""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from music_assets.model.bundle import load_bundle
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from serving.model_store import ModelStore, NoModelError
from tests.serving_support import (copy_models, plot_png, publish_corrupt, publish_half_written,
                                   publish_variant, waitress_thread)

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def models(demo_data_dir: Path, tmp_path: Path) -> Path:
    return copy_models(demo_data_dir, tmp_path)


def test_store_swaps_to_new_models_and_refuses_broken_ones(models: Path, demo_bundle, caplog) -> None:
    store = ModelStore(models, check_interval=0, retry_after=0, background=False)
    first = store.current()
    assert first.version == demo_bundle.version

    v2 = publish_variant(models, demo_bundle, demo_bundle.tracks.iloc[:-100])
    second = store.current()
    assert second.version == v2 and len(second.bundle.tracks) == len(demo_bundle.tracks) - 100
    assert len(second.search) == len(second.bundle.tracks)

    with caplog.at_level(logging.WARNING, logger="serving.model_store"):
        corrupt = publish_corrupt(models, demo_bundle)
        assert store.current() is second
        half = publish_half_written(models)
        assert store.current() is second
    assert f"refused model {corrupt}" in caplog.text and "checksum" in caplog.text
    assert f"refused model {half}" in caplog.text and f"still serving {v2}" in caplog.text
    assert store.stats.refusals == 2

    v3 = publish_variant(models, demo_bundle)
    assert store.current().version == v3
    assert store.stats.history == [demo_bundle.version, v2, v3]


def test_store_checks_latest_at_most_every_interval(models: Path, demo_bundle) -> None:
    now = [100.0]
    store = ModelStore(models, check_interval=0.5, clock=lambda: now[0], background=False)
    old = store.current().version
    new = publish_variant(models, demo_bundle)
    now[0] += 0.4
    assert store.current().version == old  # within the interval: not even a stat of LATEST
    now[0] += 0.2
    assert store.current().version == new


def test_background_load_keeps_answering_with_the_old_model_until_the_new_one_is_ready(
        models: Path, demo_bundle, monkeypatch) -> None:
    import serving.model_store as ms

    store = ModelStore(models, check_interval=0)
    old = store.current()
    gate = threading.Event()
    real_load = ms.load_model

    def slow_load(*args, **kwargs):
        gate.wait(10)  # a load that takes as long as the test wants
        return real_load(*args, **kwargs)

    monkeypatch.setattr(ms, "load_model", slow_load)
    new = publish_variant(models, demo_bundle)
    for _ in range(5):  # the noticing request and the ones after it are not held up
        started = time.perf_counter()
        assert store.current() is old
        assert time.perf_counter() - started < 1.0
    gate.set()
    assert store.wait_idle()
    assert store.current().version == new


def test_no_model_yet_is_a_clear_503_then_the_published_one_is_served(demo_data_dir: Path, tmp_path: Path,
                                                                       caplog) -> None:
    app = create_app(ServingSettings(data_dir=str(tmp_path), check_interval=0, retry_after=0, background_reload=False), live_lookup=None)
    client = app.test_client()
    with pytest.raises(NoModelError):
        app.extensions["model_store"].current()
    with caplog.at_level(logging.WARNING, logger="serving.app"):
        r = client.get("/healthz")
        assert r.status_code == 503 and "No recommendation model" in r.get_json()["error"]["message"]
        assert r.headers["Retry-After"].isdigit()
        r = client.get("/")
        page = r.get_data(as_text=True)
        assert r.status_code == 503 and "No recommendation model" in page
        assert str(tmp_path) not in page and "scripts/demo.sh" not in page  # for the operator's log only
        for _ in range(5):
            client.get("/api/search?q=a")
    # the cause, with the store's path and what to do, is logged once, not once per request
    lines = [r.getMessage() for r in caplog.records if "answering 503" in r.getMessage()]
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "scripts/demo.sh" in lines[0]
    copy_models(demo_data_dir, tmp_path)
    assert client.get("/healthz").get_json()["model_version"] == load_bundle(tmp_path / "models").version


def test_model_page_shows_plots_quality_and_html_titles_escaped(models: Path, demo_bundle, tmp_path: Path) -> None:
    tracks = demo_bundle.tracks.copy()
    tracks.loc[0, "title"] = SCRIPT
    tracks["genres"] = [[] if i == 0 else list(g) for i, g in enumerate(tracks["genres"])]  # Arrow-backed lists
    png = plot_png("elbow")
    quality = {"winner": "nearest", "n_queries": 500, "nested": {"skip": 1},
               "modes": {"normal": {"genre_hit_rate": 0.31, "coverage": 0.2},
                         "nearest": {"genre_hit_rate": 0.4123456, "coverage": 0.5},
                         "random": {"genre_hit_rate": 0.05, "coverage": None}}}
    version = publish_variant(models, demo_bundle, tracks, default_mode="nearest", extra_files={
        "plots/elbow.png": png, "plots/pca_map.png": png, "quality.json": json.dumps(quality).encode()})
    client = create_app(tmp_path, live_lookup=None).test_client()

    html = client.get("/model").get_data(as_text=True)
    assert version in html and "not in this model" not in html
    assert 'src="/model/plots/elbow.png"' in html and 'src="/model/plots/pca_map.png"' in html
    # plain words (serving/model_view.py): no raw keys, rounded figures
    assert "<dt>Mode chosen by the test</dt><dd><span class=\"value\">Sounds like</span>" in html and "nested" not in html
    assert 'id="quality-modes"' in html and "Same genre" in html and "41%" in html and "0.4123" not in html
    assert "Sounds like (default)" in html and "n/a" in html and "winner" not in html.replace('class="winner"', "")
    assert '<dt>Default way of recommending</dt>\n  <dd id="default-mode"><span class="value">Sounds like</span>' in html
    r = client.get("/model/plots/pca_map.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data == png
    for bad in ("/model/plots/..%2Fmodel.json", "/model/plots/quality.json", "/model/plots/%2e%2e"):
        assert client.get(bad).status_code == 404

    # The default mode is the model's (the measured winner), and the page says which mode ran.
    page = client.get("/recommend", query_string={"song": demo_bundle.tracks["title"].iat[5], "id":
                                                  demo_bundle.tracks["track_id"].iat[5]}).get_data(as_text=True)
    assert 'id="mode-used">nearest</span>' in page and "the best measured mode of this model" in page

    # A title with HTML in it is shown as text everywhere it appears.
    tid = tracks["track_id"].iat[0]
    for path in (f"/recommend?id={tid}", f"/recommend?song={urllib.parse.quote(SCRIPT)}"):
        body = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    r = client.get("/api/recommend", query_string={"id": tid, "mode": "genre"})
    assert r.status_code == 422 and "no genre information" in r.get_json()["error"]["message"]
    assert "<script>" not in r.get_data(as_text=True)
    assert "<script>" not in client.get("/api/search", query_string={"q": "script"}).get_data(as_text=True)


def _get(url: str) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            return response.status, json.loads(body) if response.headers.get_content_type() == "application/json" else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_publishing_while_requests_flow_over_http_has_zero_errors(models: Path, demo_bundle, tmp_path, caplog) -> None:
    """Four clients hammer a real waitress server while a corrupt, a half-written and a good model
    are published; every request must succeed and, once a client sees the new model, never the old."""
    # rate limits off: four clients on one address send far more than a listener would
    app = create_app(ServingSettings(data_dir=str(tmp_path), check_interval=0.05, retry_after=0.2,
                                     limits=LimitSettings.off()), live_lookup=None)
    row = demo_bundle.tracks.sort_values("chart_appearances").iloc[-1]
    song = urllib.parse.urlencode({"id": row["track_id"], "song": row["title"], "k": 5})
    new_tracks = demo_bundle.tracks[demo_bundle.tracks["track_id"] != demo_bundle.tracks["track_id"].iat[-1]]
    stop = threading.Event()
    errors: list[str] = []
    seen: list[list[tuple[float, str]]] = [[] for _ in range(4)]
    latencies: list[float] = []

    with waitress_thread(app, threads=4) as base, caplog.at_level(logging.INFO, logger="serving.model_store"):
        def client(n: int) -> None:
            paths = [f"/api/recommend?{song}", "/healthz", f"/recommend?{song}", "/api/search?q=a"]
            i = 0
            while not stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                started = time.perf_counter()
                try:
                    status, data = _get(base + path)
                except Exception as exc:  # a connection error is a failed request too
                    errors.append(f"{path}: {exc!r}")
                    continue
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{path}: HTTP {status}")
                elif data and "model_version" in data:
                    seen[n].append((time.monotonic(), data["model_version"]))

        workers = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for w in workers:
            w.start()
        time.sleep(0.5)
        publish_corrupt(models, demo_bundle)
        time.sleep(0.4)
        publish_half_written(models)
        time.sleep(0.4)
        published_at = time.monotonic()
        new = publish_variant(models, demo_bundle, new_tracks)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(v == new for s in seen for _, v in s):
            time.sleep(0.01)
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(timeout=15)

    requests = len(latencies)
    versions = [v for s in seen for _, v in s]
    assert errors == [], errors[:5]
    assert requests > 40 and demo_bundle.version in versions and new in versions
    assert set(versions) == {demo_bundle.version, new}  # the broken ones were never served
    for s in seen:  # per client: once new, never old again
        flags = [v == new for _, v in s]
        assert flags == sorted(flags)
    first_new = min(t for s in seen for t, v in s if v == new)
    assert "refused model" in caplog.text and f"serving model {new}" in caplog.text
    print(f"\n[hot reload over HTTP] {requests} requests, 0 errors, median latency "
          f"{statistics.median(latencies) * 1000:.1f} ms; new model first served "
          f"{(first_new - published_at) * 1000:.0f} ms after publishing "
          f"(load {app.extensions['model_store'].stats.last_load_seconds * 1000:.0f} ms)")


@pytest.mark.parametrize("server", ["granian", "waitress"])
def test_python_m_serving_starts_on_a_free_port(demo_data_dir: Path, server: str) -> None:
    """The default server (granian) and waitress, each as `python -m serving` starts it."""
    import subprocess
    import sys

    from tests.serving_support import free_port

    port = free_port()
    args = [] if server == "granian" else ["--server", "waitress"]
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--data-dir", str(demo_data_dir), "--port", str(port),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, data = _get(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert status == 200 and data["model_version"] == load_bundle(demo_data_dir / "models").version
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert r.headers["Server"] == ("music-adviser" if server == "waitress" else "granian")
            assert "Content-Security-Policy" in r.headers and r.headers["Cache-Control"] == "no-store"
            assert "Find songs that sound like one you love" in r.read().decode()
        assert _get(base + "/api/recommend?song=")[0] == 400
        assert _get(base + "/api/recommend?song=" + "x" * 10_240)[0] == 400  # a 10 kB query over HTTP
        assert _get(base + "/recommend?song=%3Cscript%3E" + "y" * 10_240)[0] == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"Music Adviser on http://127.0.0.1:{port}/" in out and f", {server})" in out and "Traceback" not in out
