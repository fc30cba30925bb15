"""What a listener hit when the page was tried (issue 16, part 4), through the app over HTTP.

A variant of the demo catalog (published through the real writer) holds titles with each kind of
apostrophe and a track with a real-looking catalog (https preview or none): searching without
the apostrophe finds them, also in a bundle written before apostrophes were dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from music_assets.model import registry
from music_assets.model.bundle import META_FILE, TRACKS_FILE, load_bundle
from music_assets.model.search import MAX_QUERY_CHARS
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from tests.serving_support import copy_models, publish_variant

APOSTROPHE_TITLES = {"Say You Won't Let Go": "Say You Wont Let Go", "Don’t Start Now": "dont start now",
                     "I`m Yours": "Im Yours", "Rock ´n´ Roll Ain’t Noise": "rock n roll aint noise"}


def _app(data_dir: Path):
    return create_app(ServingSettings(data_dir=str(data_dir), limits=LimitSettings.off()), live_lookup=None)


def apostrophe_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """The demo tracks with four in-model songs renamed to titles holding apostrophes."""
    tracks = tracks.copy()
    rows = tracks.index[tracks["in_model"]][:len(APOSTROPHE_TITLES)]
    tracks.loc[rows, "title"] = list(APOSTROPHE_TITLES)
    return tracks


@pytest.fixture(scope="module")
def apostrophe_client(demo_data_dir: Path, demo_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("apostrophes")
    publish_variant(copy_models(demo_data_dir, root), demo_bundle, apostrophe_tracks(demo_bundle.tracks))
    return _app(root).test_client()


def _downgrade_to_rule_1(bundle_dir: Path) -> None:
    """Make a bundle look written before TITLE_KEY_RULE 2: apostrophes split words in title_key,
    and model.json records no rule (its checksum of the tracks file updated, as the old writer would)."""
    table = pq.read_table(bundle_dir / TRACKS_FILE)
    old = [re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", t.casefold())).strip() for t in table["title"].to_pylist()]
    table = table.set_column(table.schema.get_field_index("title_key"), "title_key", pa_array(old))
    pq.write_table(table, bundle_dir / TRACKS_FILE)
    meta = json.loads((bundle_dir / META_FILE).read_text())
    meta.pop("title_key_rule", None)
    meta["files"][TRACKS_FILE] = hashlib.sha256((bundle_dir / TRACKS_FILE).read_bytes()).hexdigest()
    (bundle_dir / META_FILE).write_text(json.dumps(meta))


def pa_array(values: list[str]):
    import pyarrow as pa

    return pa.array(values, pa.large_string())


@pytest.mark.parametrize("typed", ["{plain}", "{plain} by {artist}", "{title}", "{title_upper}"])
def test_apostrophes_do_not_matter_in_search(apostrophe_client, typed: str) -> None:
    bundle = apostrophe_client.application.extensions["model_store"].current().bundle
    for title, plain in APOSTROPHE_TITLES.items():
        row = bundle.tracks[bundle.tracks["title"] == title].iloc[0]
        query = typed.format(plain=plain, title=title, title_upper=title.upper(), artist=row["artist"])
        r = apostrophe_client.get("/api/recommend", query_string={"song": query, "k": 3})
        assert r.status_code == 200, (query, r.get_json())
        assert r.get_json()["query"]["id"] == row["track_id"], query
        page = apostrophe_client.get("/recommend", query_string={"song": query, "k": 3})
        assert page.status_code == 200 and "You searched for" in page.get_data(as_text=True)
    completed = apostrophe_client.get("/api/search", query_string={"q": "say you wont"}).get_json()["results"]
    assert "Say You Won't Let Go" in [c["title"] for c in completed]


def test_a_bundle_written_before_the_rule_still_finds_them(demo_data_dir: Path, demo_bundle, tmp_path: Path) -> None:
    models = copy_models(demo_data_dir, tmp_path)
    version = publish_variant(models, demo_bundle, apostrophe_tracks(demo_bundle.tracks))
    _downgrade_to_rule_1(models / version)
    stored = pq.read_table(models / version / TRACKS_FILE, columns=["title_key"])["title_key"].to_pylist()
    assert "say you won t let go" in stored  # really the old keys on disk
    assert load_bundle(models).version == version  # checksum still verified
    client = _app(tmp_path).test_client()
    for title, plain in APOSTROPHE_TITLES.items():
        data = client.get("/api/recommend", query_string={"song": plain, "k": 2}).get_json()
        assert data["query"]["title"] == title, data
    assert registry.read_pointer(models) == version


# -- the demo app: form limits, the example, the model page ------------------------------------
@pytest.fixture(scope="module")
def demo_client(demo_data_dir: Path):
    return _app(demo_data_dir).test_client()


def _attr(html: str, element_id: str, name: str) -> str:
    tag = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html, re.S).group(0)
    return unescape(re.search(rf'\b{name}="([^"]*)"', tag).group(1))


def visible_text(html: str) -> str:
    """The text a reader sees (no tags, no attribute values)."""
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_the_form_limit_is_the_server_limit_and_a_too_long_query_is_told_so(demo_client) -> None:
    html = demo_client.get("/").get_data(as_text=True)
    assert _attr(html, "song", "maxlength") == str(MAX_QUERY_CHARS)
    assert _attr(html, "song-help", "data-limit") == str(MAX_QUERY_CHARS)
    query = ("Say You Wont Let Go " * 20)[:299] + "!"
    for path in ("/recommend", "/api/recommend"):
        r = demo_client.get(path, query_string={"song": query})
        text = r.get_data(as_text=True)
        assert r.status_code == 400, path
        assert f"300 characters long; the limit is {MAX_QUERY_CHARS}" in text, text[:500]
        assert "not in the catalog" not in text and "could not find" not in text
    page = demo_client.get("/recommend", query_string={"song": query}).get_data(as_text=True)
    assert _attr(page, "song", "value") == query  # given back whole, to be shortened, not cut


def test_the_example_in_the_search_box_is_a_song_of_the_catalog(demo_client, demo_bundle) -> None:
    html = demo_client.get("/").get_data(as_text=True)
    example = _attr(html, "song", "data-example")
    placeholder = _attr(html, "song", "placeholder")
    assert example and placeholder.startswith(f"e.g. {example}, or {example} by ")
    row = demo_bundle.tracks[demo_bundle.tracks["title"] == example]
    assert len(row) == 1 and bool(row["in_model"].iat[0])
    assert row["chart_appearances"].iat[0] >= demo_bundle.tracks["chart_appearances"].quantile(0.9)  # a popular one
    for query in (example, placeholder.split(", or ")[1]):
        r = demo_client.get("/recommend", query_string={"song": query})
        assert r.status_code == 200, query
        assert "You searched for" in r.get_data(as_text=True) and example in r.get_data(as_text=True)


SNAKE_CASE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
MICROSECONDS = re.compile(r"\d:\d\d\.\d|\d{2}:\d{2}:\d{2}")  # a fraction of a second, or seconds at all
LONG_DECIMALS = re.compile(r"\d\.\d{3,}")


def test_model_page_speaks_plain_words(demo_client, demo_bundle, demo_data_dir: Path, tmp_path: Path) -> None:
    assert demo_bundle.quality.get("n_queries") and demo_bundle.quality.get("k")  # the raw keys are there to hide
    pages = [demo_client.get("/model").get_data(as_text=True)]
    built_at = [demo_bundle.meta["created_at"]]
    quality = {**demo_bundle.quality, "some_new_figure": 0.123456,
               "modes": {m: {**v, "new_metric_rate": 0.987654} for m, v in demo_bundle.quality["modes"].items()}}
    publish_variant(copy_models(demo_data_dir, tmp_path), demo_bundle,
                    extra_files={"quality.json": json.dumps(quality).encode()})
    pages.append(_app(tmp_path).test_client().get("/model").get_data(as_text=True))
    built_at.append(load_bundle(tmp_path / "models").meta["created_at"])
    for html, created_at in zip(pages, built_at):
        text = visible_text(html)
        assert not SNAKE_CASE.findall(text), SNAKE_CASE.findall(text)
        assert not MICROSECONDS.search(text) and not LONG_DECIMALS.search(text), text
        assert "Sound families" in text and "Suggestions per test" in text and "Clusters (k)" not in text
        built = _section(html, "built")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", built), built
        assert created_at[:16].replace("T", " ") in built
        # every figure has a plain label and a sentence of what it means
        assert html.count('<small class="meaning">') >= 8 and 'id="quality-legend"' in html
    assert "Some new figure" in pages[1] and "12%" not in pages[1] and "0.12<" in pages[1]
    assert "New metric rate" in pages[1]


def _section(html: str, element_id: str) -> str:
    return unescape(re.search(rf'id="{element_id}"><span class="value">([^<]*)<', html).group(1))


# -- listening with real data: Open in Spotify, Spotify's player, the CSP -------------------------
@pytest.fixture(scope="module")
def real_client(demo_data_dir: Path, demo_bundle, tmp_path_factory):
    """The demo catalog as real data looks since 2024: most tracks without a preview, a few with
    an https one, none synthesized."""
    root = tmp_path_factory.mktemp("real_previews")
    tracks = demo_bundle.tracks.copy()
    tracks["preview_url"] = [f"https://p.scdn.co/mp3-preview/{tid}" if i % 4 == 0 else ""
                             for i, tid in enumerate(tracks["track_id"])]
    tracks["has_preview"] = tracks["preview_url"].ne("")
    publish_variant(copy_models(demo_data_dir, root), demo_bundle, tracks)
    return _app(root).test_client()


def _popular(bundle_tracks: pd.DataFrame) -> pd.Series:
    counts = bundle_tracks["title"].value_counts()
    ok = bundle_tracks[bundle_tracks["title"].map(counts).eq(1) & bundle_tracks["in_model"]]
    return ok.sort_values("chart_appearances", ascending=False).iloc[0]


EXPECTED_CSP = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' https: data:",
                "media-src 'self' https:", "connect-src 'self'", "frame-src https://open.spotify.com",
                "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"]


def test_real_tracks_without_a_preview_get_open_in_spotify_and_its_player(real_client) -> None:
    bundle = real_client.application.extensions["model_store"].current().bundle
    song = _popular(bundle.tracks)
    r = real_client.get("/recommend", query_string={"id": song["track_id"], "k": 40})
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"].split("; ") == EXPECTED_CSP  # one origin for frames, nothing else new
    html = r.get_data(as_text=True)
    items = re.findall(r'<li class="track">(.*?)</li>\s*(?=<li class="track">|</ol>)', html, re.S)
    assert len(items) == 40
    with_player = 0
    for item in items:
        tid = re.search(r'href="https://open.spotify.com/track/([0-9A-Za-z]{22})"', item).group(1)
        preview = bundle.tracks.loc[bundle.id_index[tid], "preview_url"]
        frames = re.findall(r'<iframe src="([^"]+)"', item)
        if preview:
            assert frames == [] and f'data-src="{preview}"' in item and "No preview" not in item
        else:
            assert frames == [f"https://open.spotify.com/embed/track/{tid}"] and 'class="play"' not in item
            with_player += 1
        assert 'target="_blank" rel="noopener noreferrer"' in item
    assert 0 < with_player < 40
    assert html.count('<iframe ') == with_player + (0 if song["preview_url"] else 1)  # the query song too


def test_the_demo_keeps_its_synthesized_previews_and_no_spotify_links(demo_client, demo_bundle) -> None:
    song = _popular(demo_bundle.tracks)
    r = demo_client.get("/recommend", query_string={"id": song["track_id"], "k": 10})
    html = r.get_data(as_text=True)
    assert "open.spotify.com" not in html and "<iframe" not in html
    assert html.count('class="play"') + html.count("No preview") == 11 and "/preview/" in html
    assert r.headers["Content-Security-Policy"].split("; ") == EXPECTED_CSP
