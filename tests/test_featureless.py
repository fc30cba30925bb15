"""Tracks without audio features: in the bundle and searchable, never recommended, and a query for
one gets a plain answer. On the 3,000-track demo model (about 2% of its tracks have no features),
through the app served over HTTP by waitress, and the recommender itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from music_assets.model import recommend as rec
from music_assets.model.external import recommend_for_features
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from tests.serving_support import waitress_thread


def get(base: str, path: str, **params: str) -> tuple[int, str]:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


@pytest.fixture(scope="module")
def base(demo_data_dir: Path):
    app = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)
    with waitress_thread(app) as url:
        yield url


def featureless_row(bundle) -> int:
    """A track without any feature whose title no other track has (so a query by title finds it)."""
    tracks = bundle.tracks
    titles = tracks["title"].str.casefold()
    for i in np.flatnonzero(~bundle.in_model):
        if tracks["n_missing"].iat[i] == 13 and (titles == titles.iat[i]).sum() == 1:
            return int(i)
    raise AssertionError("the demo model has no featureless track with a unique title")


def test_featureless_tracks_are_in_the_bundle_flagged_and_never_a_result(demo_bundle) -> None:
    outside = np.flatnonzero(~demo_bundle.in_model)
    assert 0 < len(outside) < 0.1 * len(demo_bundle.tracks)
    assert (demo_bundle.tracks["cluster"].to_numpy()[outside] == -1).all()
    for q in np.random.default_rng(1).choice(np.flatnonzero(demo_bundle.in_model), 30, replace=False):
        for mode in rec.MODES:
            if mode == "genre" and not len(demo_bundle.tracks["genres"].iat[int(q)]):
                continue
            rows = [r.index for r in rec.recommend(demo_bundle, int(q), mode, rec.MAX_K)]
            assert rows and demo_bundle.in_model[rows].all(), (q, mode)
            assert all(np.isfinite(r.distance) for r in rec.recommend(demo_bundle, int(q), mode, 10))
    # a song from outside the catalog (live lookup) is never answered with a featureless track either
    features = dict(zip(demo_bundle.features, demo_bundle.embedding.mean))
    for mode in ("nearest", "genre"):
        found = recommend_for_features(demo_bundle, features, ["pop"], mode, rec.MAX_K)
        assert demo_bundle.in_model[[r.index for r in found]].all()


def test_a_query_for_a_featureless_track_says_so(demo_bundle) -> None:
    row = featureless_row(demo_bundle)
    for mode in rec.MODES:
        with pytest.raises(rec.NoAudioFeatures, match="has no audio features in the catalog"):
            rec.recommend(demo_bundle, row, mode, 10)


def test_over_http_the_api_and_the_page_answer_no_audio_features(base: str, demo_bundle) -> None:
    row = featureless_row(demo_bundle)
    track_id, title = demo_bundle.tracks["track_id"].iat[row], demo_bundle.tracks["title"].iat[row]
    status, body = get(base, "/api/recommend", id=track_id)
    assert status == 422, body
    answer = json.loads(body)
    assert "has no audio features in the catalog" in json.dumps(answer) and "results" not in answer
    status, page = get(base, "/recommend", song=title)
    assert status == 422 and "has no audio features in the catalog" in page
    assert "distance" not in page.lower() or "0.0" not in page
    # it is still found by search (searchable, only never recommended)
    status, body = get(base, "/api/search", q=title)
    assert status == 200 and track_id in body


def test_over_http_model_page_and_healthz_show_features_and_featureless_share(base: str, demo_bundle) -> None:
    catalog = demo_bundle.catalog
    status, page = get(base, "/model")
    assert status == 200
    assert ", ".join(demo_bundle.features) in page
    assert f"{catalog['tracks_without_features']:,} ({catalog['featureless_share']:.1%})" in page
    assert f"{int(demo_bundle.in_model.sum()):,}" in page
    status, body = get(base, "/healthz")
    health = json.loads(body)
    assert health["features"] == demo_bundle.features
    assert health["tracks_in_model"] == int(demo_bundle.in_model.sum()) < health["tracks"]
    assert health["featureless_share"] == pytest.approx(catalog["featureless_share"])


def test_a_title_shared_with_a_featureless_twin_answers_from_the_track_in_the_model(demo_data_dir: Path, demo_bundle,
                                                                                 tmp_path: Path) -> None:
    """Twins that are not one recording both stay; when one has no features, a query by title (the
    API picks the first match) answers from the other, and the page lists both to choose from."""
    from music_assets.model.bundle import load_bundle
    from tests.serving_support import copy_models, publish_variant

    models = copy_models(demo_data_dir, tmp_path / "data")
    tracks = demo_bundle.tracks.copy()
    titles = tracks["title"].str.casefold()
    song = next(int(i) for i in np.flatnonzero(demo_bundle.in_model) if (titles == titles.iat[i]).sum() == 1)
    twin = featureless_row(demo_bundle)
    tracks.loc[twin, ["title", "artist"]] = tracks.loc[song, ["title", "artist"]].to_numpy()
    tracks.loc[twin, "chart_appearances"] = tracks["chart_appearances"].max() + 1  # the most charted of the two
    publish_variant(models, demo_bundle, tracks)
    bundle = load_bundle(models)
    app = create_app(ServingSettings(data_dir=str(tmp_path / "data"), limits=LimitSettings.off()), live_lookup=None)
    with waitress_thread(app) as url:
        status, body = get(url, "/api/recommend", song=str(tracks["title"].iat[song]), mode="nearest")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["query"]["id"] == bundle.tracks["track_id"].iat[song]
        assert len(answer["results"]) == 10
        status, page = get(url, "/recommend", song=str(tracks["title"].iat[song]))
        assert status == 200
