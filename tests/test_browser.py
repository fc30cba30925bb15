"""The web page in real headless Chromium (Debian's package, driven by Playwright).

Search a demo song, see the results, play a synthesized preview and check the <audio> element
really plays (not paused, currentTime advancing), stop it, go back; a screenshot of each page
goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving import create_app
from tests.browser_support import launch_chromium, shot, wait_until
from tests.serving_support import copy_models, plot_png, publish_variant, waitress_thread

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


@pytest.fixture(scope="module")
def base_url(demo_data_dir: Path):
    with waitress_thread(create_app(demo_data_dir, live_lookup=None)) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    # Script errors and CSP violations; a failed sub-resource (css, js, audio, icon) is reported by
    # its response. A 404 *page* (did-you-mean) is intended, and the console repeats it: skip those.
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document" else None)
    yield page
    context.close()
    assert problems == [], problems


def test_search_play_stop_back(page, base_url: str, demo_bundle) -> None:
    tracks = demo_bundle.tracks
    counts = tracks["title"].value_counts()
    song = tracks[tracks["title"].map(counts).eq(1) & tracks["has_preview"]].sort_values(
        "chart_appearances", ascending=False).iloc[0]

    page.goto(base_url + "/")
    page.get_by_label("Song").fill(song["title"][:4])
    wait_until(page, "document.querySelectorAll('#song-suggestions option').length > 0")  # autocomplete
    page.get_by_label("Song").fill(f"{song['title']} by {song['artist']}")
    page.get_by_label("Results").fill("8")
    shot(page, "1-search")
    page.get_by_label("Song").press("Enter")  # keyboard-usable: Enter submits

    page.wait_for_selector("#results")
    assert page.locator("#you-searched").inner_text().startswith(f"You searched for")
    assert song["title"] in page.locator("#you-searched").inner_text()
    assert page.locator("#results > li").count() == 8
    assert page.locator("#mode-used").inner_text() == demo_bundle.default_mode
    shot(page, "2-results")

    buttons = page.locator("#results button.play")
    assert buttons.count() >= 2
    buttons.nth(0).click()
    wait_until(page, "!document.getElementById('player').paused && document.getElementById('player').currentTime > 0.3")
    t1 = page.evaluate("document.getElementById('player').currentTime")
    page.wait_for_timeout(400)
    t2 = page.evaluate("document.getElementById('player').currentTime")
    assert t2 > t1, "the preview is not advancing"
    assert "Now playing" in page.locator("#now-playing").inner_text()
    shot(page, "3-playing")

    buttons.nth(1).click()  # another song: one plays at a time (a single player, new source)
    wait_until(page, "!document.getElementById('player').paused")
    src = page.evaluate("document.getElementById('player').src")
    assert src.endswith(buttons.nth(1).get_attribute("data-src"))
    assert buttons.nth(0).get_attribute("aria-pressed") == "false"

    page.get_by_role("button", name="Stop music").click()
    assert page.evaluate("document.getElementById('player').paused") is True
    assert page.locator("#stop").is_disabled()
    shot(page, "4-stopped")

    page.get_by_role("link", name="Back to search").click()
    page.wait_for_selector("form.search")
    assert page.get_by_label("Song").input_value() == f"{song['title']} by {song['artist']}"


def test_did_you_mean_and_model_pages(page, base_url: str, demo_bundle) -> None:
    page.goto(base_url + "/")
    page.get_by_label("Song").fill("<script>alert(1)</script>" + demo_bundle.tracks["title"].iat[0][:3])
    page.get_by_role("button", name="Recommend").click()
    page.wait_for_selector("h1")
    assert "could not find" in page.locator("h1").inner_text()
    assert "<script>alert(1)</script>" in page.locator(".notice").inner_text()  # shown as text, not run
    shot(page, "5-not-found")
    page.get_by_role("link", name="Model").click()
    page.wait_for_selector("dl.summary")
    assert demo_bundle.version in page.locator("dl.summary").inner_text()
    shot(page, "6-model")


def test_model_page_shows_the_quality_pictures(page, demo_data_dir: Path, demo_bundle, tmp_path: Path) -> None:
    models = copy_models(demo_data_dir, tmp_path)
    quality = {"winner": "nearest", "n_queries": 500, "modes": {
        "normal": {"genre_hit_rate": 0.31, "coverage": 0.22}, "genre": {"genre_hit_rate": 1.0, "coverage": 0.4},
        "nearest": {"genre_hit_rate": 0.36, "coverage": 0.51}, "random": {"genre_hit_rate": 0.05, "coverage": 0.9}}}
    version = publish_variant(models, demo_bundle, default_mode="nearest", extra_files={
        "plots/elbow.png": plot_png("elbow"), "plots/pca_map.png": plot_png("pca_map", demo_bundle),
        "quality.json": json.dumps(quality).encode()})
    with waitress_thread(create_app(tmp_path, live_lookup=None)) as url:
        page.goto(url + "/model")
        assert version in page.locator("dl.summary").inner_text()
        images = page.locator(".plots img")
        assert images.count() == 2
        for i in range(2):  # decoded, not broken-image icons
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
        assert "Sounds like (default)" in page.locator("#quality-modes").inner_text()
        shot(page, "7-model-with-pictures")
