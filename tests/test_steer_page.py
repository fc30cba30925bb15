"""The steer page over HTTP without JavaScript (the browser test drives it with): the form's GET
parameters, sliders that count only when ticked, markets, bad input named, everything escaped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from music_assets.model import steer as steering
from music_assets.settings import LimitSettings, ServingSettings
from serving import create_app
from serving.steer_page import MAX_PAGE_SEEDS
from tests.serving_support import copy_models, publish_variant

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def app(demo_data_dir: Path):
    return create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def bundle(app):
    return app.extensions["model_store"].current().bundle


def ids(html: str, list_id: str) -> list[str]:
    closer = "</ol>" if list_id == "steer-results" else "</ul>"  # results hold genre <ul>s
    block = re.search(rf'id="{list_id}">(.*?){closer}', html, re.S)
    return re.findall(r'<li[^>]*data-id="([^"]+)"', block.group(1)) if block else []


def popular(bundle, n: int) -> list[str]:
    t = bundle.tracks
    counts = t["title"].str.casefold().value_counts()
    ok = t[t["title"].str.casefold().map(counts).eq(1) & t["in_model"]]
    return ok.sort_values("chart_appearances", ascending=False)["track_id"].head(n).tolist()


def test_the_page_is_linked_and_its_form_adds_on_enter(client) -> None:
    assert 'href="/steer"' in client.get("/").get_data(as_text=True)
    html = client.get("/steer").get_data(as_text=True)
    form = html[html.index('<form id="steer-form"'):html.index("</form>")]
    first_button = re.search(r"<button[^>]*>", form).group(0)
    assert 'id="add-button"' in first_button and "name=" not in first_button  # Enter adds, never removes
    assert "<script>" not in html and "style=" not in html
    for name in ("energy", "danceability", "valence", "tempo", "acousticness"):
        assert f'id="use_{name}"' in html and f'id="target_{name}"' in html
        assert re.search(rf'id="use_{name}"[^>]*checked', html) is None  # unset by default


def test_seeds_added_removed_and_more_like_this(client, bundle) -> None:
    a, b, c = popular(bundle, 3)
    title = lambda tid: bundle.tracks["title"].iat[bundle.id_index[tid]]  # noqa: E731
    html = client.get("/steer", query_string={"add": title(a)}).get_data(as_text=True)
    assert ids(html, "seeds") == [a] and len(ids(html, "steer-results")) == 12
    html = client.get("/steer", query_string={"seed": [a], "add": title(b)}).get_data(as_text=True)
    assert ids(html, "seeds") == [a, b]
    html = client.get("/steer", query_string={"seed": [a, b], "remove": a}).get_data(as_text=True)
    assert ids(html, "seeds") == [b]
    html = client.get("/steer", query_string={"seed": [b], "add_id": c}).get_data(as_text=True)
    assert ids(html, "seeds") == [b, c] and not {b, c} & set(ids(html, "steer-results"))
    for tid in ids(html, "steer-results"):
        assert f'name="add_id" value="{tid}"' in html  # more like this on every result
    assert re.findall(r'class="match"[^>]*>(\d+)% match', html)
    many = popular(bundle, MAX_PAGE_SEEDS + 1)
    html = client.get("/steer", query_string={"seed": many[:-1], "add_id": many[-1]}).get_data(as_text=True)
    assert f"At most {MAX_PAGE_SEEDS} songs" in html and len(ids(html, "seeds")) == MAX_PAGE_SEEDS


def test_less_like_this_steers_away_and_undo_restores(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    before = ids(client.get("/steer", query_string={"seed": seed}).get_data(as_text=True), "steer-results")
    disliked = before[0]
    html = client.get("/steer", query_string={"seed": seed, "avoid_id": disliked}).get_data(as_text=True)
    assert ids(html, "avoided") == [disliked] and ids(html, "seeds") == [seed]
    after = ids(html, "steer-results")
    assert disliked not in after and after != before[1:len(after) + 1]  # pushed away, not just one left out
    assert f'name="avoid" value="{disliked}"' in html  # kept in the form, so the next steer keeps it
    for tid in after:
        assert f'name="avoid_id" value="{tid}"' in html  # less like this on every result
    # the page's answer is the model's: steer() with that negative seed
    expected = steering.steer(bundle, steering.SteerRequest(seed_tracks=(seed,), negative_tracks=(disliked,), limit=12))
    assert after == [str(bundle.tracks["track_id"].iat[r.row]) for r in expected.results]
    share = re.search(r'id="share" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert ids(client.get(share).get_data(as_text=True), "avoided") == [disliked]
    undone = client.get("/steer", query_string={"seed": seed, "avoid": disliked, "unavoid": disliked}).get_data(as_text=True)
    assert ids(undone, "avoided") == [] and ids(undone, "steer-results") == before
    liked = client.get("/steer", query_string={"seed": seed, "avoid": disliked, "add_id": disliked}).get_data(as_text=True)
    assert ids(liked, "seeds") == [seed, disliked] and ids(liked, "avoided") == []  # liked after all
    mine = client.get("/steer", query_string={"seed": seed, "avoid_id": seed}).get_data(as_text=True)
    assert "one of your songs" in mine and ids(mine, "avoided") == []


def test_a_shared_title_asks_which_and_an_unknown_one_suggests(client, bundle) -> None:
    t = bundle.tracks
    counts = t["title"].value_counts()
    shared = counts[counts > 1].index[0]
    html = client.get("/steer", query_string={"add": shared}).get_data(as_text=True)
    assert "which one?" in html
    for tid in t.loc[t["title"] == shared, "track_id"]:
        assert f'name="add_id" value="{tid}"' in html
    html = client.get("/steer", query_string={"add": popular(bundle, 1)[0] and t["title"].iat[0] + "zz"}).get_data(as_text=True)
    assert "is not in the catalog" in html and "Did you mean" in html


def test_a_slider_counts_only_when_ticked_and_steers_toward_its_target(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    energy = dict(zip(bundle.tracks["track_id"], bundle.tracks["energy"]))
    plain = ids(client.get("/steer", query_string={"seed": seed}).get_data(as_text=True), "steer-results")
    untouched = ids(client.get("/steer", query_string={"seed": seed, "target_energy": "1"}).get_data(as_text=True),
                    "steer-results")
    assert untouched == plain
    html = client.get("/steer", query_string={"seed": seed, "use_energy": "on", "target_energy": "1"}).get_data(as_text=True)
    steered = ids(html, "steer-results")
    assert np.mean([energy[i] for i in steered]) > np.mean([energy[i] for i in plain]) + 0.05
    assert re.search(r'id="use_energy"[^>]*checked', html) and 'value="1.0"' in html


def test_a_market_keeps_only_songs_that_charted_there(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    market = steering.markets(bundle)[-1]  # the smallest
    html = client.get("/steer", query_string={"seed": seed, "market": market}).get_data(as_text=True)
    found = ids(html, "steer-results")
    regions = dict(zip(bundle.tracks["track_id"], bundle.tracks["regions"]))
    assert found and all(market in list(regions[i]) for i in found)
    assert f'<option value="{market}" selected>' in html


@pytest.mark.parametrize("args, message", [
    ({"target_tempo": "fast", "use_tempo": "on"}, "tempo slider needs a number"),
    ({"target_energy": "5"}, "energy slider goes from 0 to 1"),
    ({"target_energy": "nan"}, "energy slider goes from 0 to 1"),
    ({"market": SCRIPT}, "no chart market called"),
    ({"k": "0"}, "from 1 to 50"),
    ({"seed": SCRIPT}, "letters and digits only"),
])
def test_bad_input_is_named_and_escaped(client, bundle, args, message) -> None:
    r = client.get("/steer", query_string={"seed": popular(bundle, 1), **args})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and message in html
    assert SCRIPT not in html


def test_typed_text_is_escaped(client) -> None:
    html = client.get("/steer", query_string={"add": SCRIPT}).get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_real_tracks_on_the_steer_page_open_in_spotify(demo_data_dir: Path, bundle, tmp_path: Path) -> None:
    tracks = bundle.tracks.copy()
    tracks["preview_url"] = ""  # real data since 2024: no previews
    tracks["has_preview"] = False
    publish_variant(copy_models(demo_data_dir, tmp_path), bundle, tracks)
    client = create_app(ServingSettings(data_dir=str(tmp_path), limits=LimitSettings.off()), live_lookup=None).test_client()
    seed = popular(bundle, 1)[0]
    html = client.get("/steer", query_string={"seed": seed, "k": 5}).get_data(as_text=True)
    found = ids(html, "steer-results")
    assert len(found) == 5
    for tid in found:
        assert f'href="https://open.spotify.com/track/{tid}"' in html
        assert f'<iframe src="https://open.spotify.com/embed/track/{tid}"' in html


def test_listened_together_steers_too_where_the_model_has_it(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    html = client.get("/steer", query_string={"seed": seed}).get_data(as_text=True)
    assert '<option value="hybrid" >Listened together</option>' in html
    hybrid = client.get("/steer", query_string={"seed": seed, "mode": "hybrid"}).get_data(as_text=True)
    assert '<option value="hybrid" selected>' in hybrid and ids(hybrid, "steer-results")
    assert ids(hybrid, "steer-results") != ids(html, "steer-results")
    assert "mode=hybrid" in re.search(r'id="share" href="([^"]+)"', hybrid).group(1)
    r = client.get("/steer", query_string={"seed": seed, "mode": SCRIPT})
    assert r.status_code == 400 and SCRIPT not in r.get_data(as_text=True)


def test_a_link_with_a_song_no_longer_in_the_catalog_keeps_the_rest(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    r = client.get("/steer", query_string={"seed": ["0" * 22, seed]})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "not in the catalog any more" in html
    assert ids(html, "seeds") == [seed] and ids(html, "steer-results")


def test_results_lead_to_the_steer_page_from_that_song(client, bundle) -> None:
    seed = popular(bundle, 1)[0]
    html = client.get("/recommend", query_string={"id": seed}).get_data(as_text=True)
    link = re.search(r'id="steer-from" href="([^"]+)"', html).group(1)
    assert ids(client.get(link).get_data(as_text=True), "seeds") == [seed]
