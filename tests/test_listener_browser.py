"""What a listener hit, in real headless Chromium (issue 16 part 4): a 390 px phone screen, a pasted
300-character query, the search box's example. One server and one browser for the module; a
screenshot of each page goes to test-artifacts/screenshots/ (listener-*.png).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from music_assets.model.search import MAX_QUERY_CHARS
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from tests.serving_support import waitress_thread
from tests.browser_support import launch_chromium, shot, wait_until

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


@pytest.fixture(scope="module")
def base_url(demo_data_dir: Path):
    app = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)
    with waitress_thread(app) as url:
        yield url


def new_page(browser, viewport: dict[str, int]):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def popular_song(bundle):
    tracks = bundle.tracks
    counts = tracks["title"].value_counts()
    ok = tracks[tracks["title"].map(counts).eq(1) & tracks["in_model"]]
    return ok.sort_values("chart_appearances", ascending=False).iloc[0]


def test_pages_fit_a_390px_phone(browser, base_url: str, demo_bundle) -> None:
    context, page, problems = new_page(browser, PHONE)
    words = ("Say You Wont Let Go by James Arthur " * 10)[:MAX_QUERY_CHARS * 3 // 2].strip()
    pages = {
        "model": "/model",
        "long-query": "/recommend?song=" + words,  # 300 characters of words: refused with the limit
        "long-word": "/recommend?song=" + "W" * 300,  # one unbroken "word"
        "not-found": "/recommend?song=" + "Q" * 150 + "x",  # did-you-mean echoing an unbroken query
        "results": f"/recommend?id={popular_song(demo_bundle)['track_id']}",
        "search": "/",
    }
    widths = {}
    for name, path in pages.items():
        page.goto(base_url + path)
        page.wait_for_selector("main")
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
        if name == "model":  # the quality table scrolls in its box, its words whole (not a letter per line)
            cells = page.evaluate("[...document.querySelectorAll('table.quality th, table.quality td')]"
                                  ".map(c => [c.textContent.trim(), c.scrollWidth > c.clientWidth, c.getBoundingClientRect().height])")
            assert cells and all(not over for _, over, _ in cells), cells
            assert max(height for _, _, height in cells) < 90, cells
        shot(page, f"listener-phone-{name}")
    context.close()
    assert all(width <= PHONE["width"] for width in widths.values()), widths
    assert problems == [], problems


def test_a_pasted_long_query_is_not_cut_and_is_told_the_limit(browser, base_url: str) -> None:
    context, page, problems = new_page(browser, {"width": 1000, "height": 800})
    page.goto(base_url + "/")
    query = ("Say You Wont Let Go " * 20)[:299] + "!"
    box = page.get_by_label("Song")
    box.fill(query)
    assert len(box.input_value()) == 300  # maxlength would have cut it to 200 without a word
    help_text = page.locator("#song-help").inner_text()
    assert "300 characters" in help_text and f"limited to {MAX_QUERY_CHARS}" in help_text
    shot(page, "listener-long-query-typed")
    box.press("Enter")
    page.wait_for_selector(".notice.error")
    notice = page.locator(".notice.error").inner_text()
    assert f"the limit is {MAX_QUERY_CHARS}" in notice and "not in the catalog" not in page.content()
    assert len(page.get_by_label("Song").input_value()) == 300  # given back whole, to shorten
    shot(page, "listener-long-query-refused")
    context.close()
    assert problems == [], problems


def test_the_example_in_the_box_finds_its_song(browser, base_url: str) -> None:
    context, page, problems = new_page(browser, PHONE)
    page.goto(base_url + "/")
    box = page.get_by_label("Song")
    example = box.get_attribute("data-example")
    assert example and example in box.get_attribute("placeholder")
    box.fill(example)
    box.press("Enter")
    page.wait_for_selector("#results")
    assert example in page.locator("#you-searched").inner_text()
    wait_until(page, "document.querySelectorAll('#results > li').length > 0")
    shot(page, "listener-example-found")
    context.close()
    assert problems == [], problems
