"""The steer page in real headless Chromium (issue 16 part 4): add two songs, remove one, move the
energy slider, pick a market, "more like this"; screenshots (steer-*.png) in test-artifacts/.

One server and one browser for the module, on the session's demo catalog (which carries chart
regions). Results are checked against the catalog itself: every song in the market, the slider
moving the list's energy toward its target.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from music_assets.model import steer as steering
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from tests.serving_support import waitress_thread
from tests.browser_support import launch_chromium, shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


@pytest.fixture(scope="module")
def served(demo_data_dir: Path):
    app = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)
    with waitress_thread(app) as url:
        yield url, app.extensions["model_store"].current().bundle


def two_songs(bundle):
    """Two popular songs in the model whose titles no other song has."""
    tracks = bundle.tracks
    counts = tracks["title"].str.casefold().value_counts()
    ok = tracks[tracks["title"].str.casefold().map(counts).eq(1) & tracks["in_model"]]
    top = ok.sort_values("chart_appearances", ascending=False)
    return top.iloc[0], top.iloc[1]


def result_ids(page) -> list[str]:
    return page.locator("#steer-results > li").evaluate_all("items => items.map(li => li.dataset.id)")


def seed_ids(page) -> list[str]:
    return page.locator("#seeds > li").evaluate_all("items => items.map(li => li.dataset.id)")


def test_a_listener_steers(browser, served) -> None:
    base, bundle = served
    first, second = two_songs(bundle)
    energy = dict(zip(bundle.tracks["track_id"], bundle.tracks["energy"]))
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(base + "/")
    page.get_by_role("link", name="Steer").click()  # linked from the navigation
    page.wait_for_selector("#steer-form")
    page.get_by_label("Add a song").fill(first["title"])
    page.get_by_label("Add a song").press("Enter")  # Enter adds, never removes a seed
    page.wait_for_selector("#seeds")
    assert seed_ids(page) == [first["track_id"]]
    page.get_by_label("Add a song").fill(f"{second['title']} by {second['artist']}")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_selector("#steer-results")
    assert seed_ids(page) == [first["track_id"], second["track_id"]]
    assert "%" in page.locator("#steer-results .match").first.inner_text()
    shot(page, "steer-1-two-seeds")

    page.get_by_role("button", name=f"Remove {first['title']} by {first['artist']}").click()
    page.wait_for_selector("#steer-results")
    assert seed_ids(page) == [second["track_id"]]
    before = result_ids(page)
    assert before and first["track_id"] not in seed_ids(page)
    shot(page, "steer-2-one-removed")

    assert not page.locator("#use_energy").is_checked()  # unset by default
    page.locator("#target_energy").focus()
    page.keyboard.press("End")  # the slider to its top: energy 1.0
    assert page.locator("#use_energy").is_checked()  # touching it turned it on
    assert page.locator("#value_energy").inner_text() == "1"
    page.get_by_role("button", name="Steer", exact=True).click()
    page.wait_for_selector("#steer-results")
    query = parse_qs(urlsplit(page.url).query)
    assert query["use_energy"] == ["on"] and query["target_energy"] == ["1"]
    assert "target_tempo" not in query  # untouched sliders stay out of the link
    after = result_ids(page)
    gap_before = np.mean([1.0 - energy[i] for i in before])
    gap_after = np.mean([1.0 - energy[i] for i in after])
    assert gap_after < gap_before * 0.8, (gap_before, gap_after)  # toward the target
    shot(page, "steer-3-energy-up")

    market = steering.markets(bundle)[3]
    regions = dict(zip(bundle.tracks["track_id"], bundle.tracks["regions"]))
    page.locator("#market").select_option(market)
    page.get_by_role("button", name="Steer", exact=True).click()
    page.wait_for_selector("#steer-results")
    in_market = result_ids(page)
    assert in_market and all(market in list(regions[i]) for i in in_market), market
    assert page.locator("#use_energy").is_checked()  # the slider is kept
    assert market in page.locator("#results-heading").inner_text()
    shot(page, "steer-4-market")

    picked = in_market[0]
    page.locator("#steer-results > li").first.get_by_role("button", name="More like").click()
    page.wait_for_selector("#steer-results")
    assert seed_ids(page) == [second["track_id"], picked]
    assert picked not in result_ids(page)
    assert all(market in list(regions[i]) for i in result_ids(page))
    share = page.locator("#share").get_attribute("href")
    assert f"seed={picked}" in share and "market=" in share
    shot(page, "steer-5-more-like-this")

    disliked = result_ids(page)[0]
    page.locator("#steer-results > li").first.get_by_role("button", name="Less like").click()
    page.wait_for_selector("#avoided")
    assert page.locator("#avoided li").evaluate_all("els => els.map(e => e.dataset.id)") == [disliked]
    assert disliked not in result_ids(page) and seed_ids(page) == [second["track_id"], picked]
    assert all(market in list(regions[i]) for i in result_ids(page))
    share = page.locator("#share").get_attribute("href")
    assert f"avoid={disliked}" in share
    shot(page, "steer-5b-less-like-this")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "steer-6-phone")
    page.goto(base + share)  # the shared link gives the same page
    assert seed_ids(page) == [second["track_id"], picked]
    context.close()
    assert problems == [], problems
