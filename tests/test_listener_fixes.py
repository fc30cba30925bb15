"""What a listener hit when the page was tried (issue 16, part 4), through the app over HTTP.

A variant of the demo catalog (published through the real writer) holds titles with each kind of
apostrophe and a track with a real-looking catalog (https preview or none): searching without
the apostrophe finds them, also in a bundle written before apostrophes were dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
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
