"""The hybrid mode on the 3,000-track demo model materialized through Dagster: its assets and
files, its scores and reasons, quality.json's temporal evaluation, and the page and API over HTTP."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from music_assets import storage
from music_assets.model.bundle import load_bundle
from music_assets.model.hybrid import META_FILE, VECTORS_FILE, HybridWeights, query_vector
from music_assets.model.recommend import RecommendationError, recommend
from music_assets.model.recommend_hybrid import hybrid_model
from music_assets.settings import LimitSettings, ServingSettings
from music_assets.training.plots import PNG_SIGNATURE
from serving import create_app

REASON = re.compile(r"^(streamed by the same listeners( in [^;]+)?( in \d{4})?(; also .+)?|also .+|similar [a-z ]+ and [a-z ]+)$")


def test_signal_assets_are_parquet_with_one_row_per_track_and_a_picture(demo_data_dir: Path, demo_bundle) -> None:
    tracks = storage.read_parquet(demo_data_dir / "assets" / "tracks.parquet", columns=["track_id"])
    charts = storage.read_parquet(demo_data_dir / "assets" / "chart_profiles.parquet")
    genres = storage.read_parquet(demo_data_dir / "assets" / "genre_vectors.parquet")
    for frame in (charts, genres):
        assert list(frame["track_id"]) == list(tracks["track_id"])
    chart_cols = [c for c in charts if re.fullmatch(r"chart_\d+", c)]
    own = charts["chart_source"] == "track"
    assert len(chart_cols) >= 8 and own.mean() > 0.9
    assert np.allclose(np.linalg.norm(charts.loc[own, chart_cols].to_numpy(), axis=1), 1, atol=1e-4)
    assert charts["recency"].between(0, 1).all() and (charts.loc[own, "peak_year"] >= 2017).all()
    for name in ("chart_profiles.png", "genre_vectors.png", "hybrid_weights.png"):
        assert (demo_data_dir / "assets" / "pictures" / name).read_bytes().startswith(PNG_SIGNATURE)


def test_the_published_bundle_vouches_for_its_hybrid_files(demo_bundle) -> None:
    assert {VECTORS_FILE, META_FILE} <= set(demo_bundle.meta["files"])
    model = hybrid_model(demo_bundle)
    assert model is not None and len(model.vectors) == len(demo_bundle.tracks)
    assert model.meta["cut"] and model.meta["chosen_on"]


def test_hybrid_results_are_ranked_by_the_blended_score_and_explained_in_listeners_words(demo_bundle) -> None:
    model = hybrid_model(demo_bundle)
    t = demo_bundle.tracks
    seen = set()
    in_model = demo_bundle.in_model  # a song without audio features gets no recommendations (test_featureless.py)
    top_raw = 0.0
    for q in [q for q in np.argsort(-t["chart_appearances"].to_numpy()).tolist() if in_model[q]][:40]:
        results = recommend(demo_bundle, q, "hybrid", 10)
        assert in_model[[r.index for r in results]].all()
        assert len(results) == 10
        scores = model.vectors[[r.index for r in results]] @ query_vector(model.vectors, q, model.weights)
        top_raw = max(top_raw, float(scores.max()))
        # shown as a similarity in [0, 1]: the score over its largest possible value 1 + w_prior
        want = np.clip(scores / (1 + model.weights.recency), 0, 1)
        assert [r.similarity for r in results] == pytest.approx(want.tolist(), abs=1e-5)
        assert all(0 <= r.similarity <= 1 and r.distance == pytest.approx(1 - r.similarity) for r in results)
        assert all(a <= b + 1e-7 for a, b in zip([r.distance for r in results], [r.distance for r in results][1:]))
        for r in results:
            assert REASON.match(r.reason), r.reason
            seen.add(r.reason.split(" ")[0])
            if r.reason.startswith("also "):
                shared = r.reason[5:].split(" / ")
                assert set(shared) <= set(t["genres"].iat[q]) & set(r.genres)
            if " in " in r.reason and r.reason.startswith("streamed"):
                assert model.top_region[r.index] in r.reason
    assert "streamed" in seen  # the chart signal places results on the demo, not only sound
    assert top_raw > 1  # the prior pushes raw scores over 1 here (1 - score was a negative distance)


def test_a_damaged_hybrid_file_is_refused_with_a_reason(demo_data_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(demo_data_dir / "models", models)
    bundle = load_bundle(models)
    (bundle.path / VECTORS_FILE).write_bytes((bundle.path / VECTORS_FILE).read_bytes()[:-20])
    bundle = load_bundle(models)  # the other modes still serve
    assert recommend(bundle, 0, "nearest", 3)
    with pytest.raises(RecommendationError, match="hybrid.parquet does not match its checksum"):
        recommend(bundle, 0, "hybrid", 3)


def test_quality_json_carries_the_temporal_evaluation_and_the_default_follows_it(demo_bundle) -> None:
    q = demo_bundle.quality
    temporal = q["temporal"]
    assert "hybrid" in q["modes"]
    if "skipped" in temporal:
        pytest.fail(f"the demo's temporal evaluation was skipped: {temporal['skipped']}")
    modes = temporal["modes"]
    assert set(modes) == {"random", "popular", "charting_now", "audio", "chart_profile", "genres", "hybrid"}
    for m in modes.values():
        assert {"cochart_lift_hit_at_10", "cochart_lift_ndcg_at_10", "genre_hit_rate", "coverage"} <= set(m)
    assert temporal["cut"] > temporal["validation_cut"] > temporal["start"]
    # the hybrid over each mode on the same queries, with a paired bootstrap interval
    ratios = temporal["hybrid_ratios"]
    assert ratios["best_single"]["mode"] == max(("audio", "chart_profile", "genres"),
                                                key=lambda m: modes[m]["cochart_lift_hit_at_10"])
    for r in ratios.values():
        denominator = modes[r["mode"]]["cochart_lift_hit_at_10"]
        if denominator > 0:
            assert r["ratio"] == pytest.approx(modes["hybrid"]["cochart_lift_hit_at_10"] / denominator, rel=1e-3)
            assert r["low"] <= r["ratio"] and (r["high"] is None or r["ratio"] <= r["high"])  # None: unbounded
        else:
            assert r["ratio"] is None
    assert temporal["hybrid_weights"] == hybrid_model(demo_bundle).weights.to_dict()
    better = (modes["hybrid"]["cochart_lift_hit_at_10"] > modes["audio"]["cochart_lift_hit_at_10"]
              and modes["hybrid"]["genre_hit_rate"] >= modes["audio"]["genre_hit_rate"])
    assert (demo_bundle.default_mode == "hybrid") == better


@pytest.fixture(scope="module")
def client(demo_data_dir: Path):
    app = create_app(ServingSettings(data_dir=str(demo_data_dir), limits=LimitSettings.off()), live_lookup=None)
    return app.test_client()


def test_the_page_and_api_name_the_mode_in_plain_words(client, demo_bundle) -> None:
    t = demo_bundle.tracks
    row = int(np.argmax(t["chart_appearances"].to_numpy()))
    title = t["title"].iat[row]
    html = client.get("/recommend", query_string={"id": t["track_id"].iat[row], "song": title, "mode": "hybrid"}).get_data(as_text=True)
    assert 'id="mode-name">Listened together</span>' in html and 'id="mode-used">hybrid</span> mode' in html
    assert html.count('class="reason"') == 10
    audio = client.get("/recommend", query_string={"id": t["track_id"].iat[row], "song": title, "mode": "nearest"}).get_data(as_text=True)
    assert 'id="mode-name">Sounds like</span>' in audio and "% match" not in audio
    api = client.get("/api/recommend", query_string={"id": t["track_id"].iat[row], "song": title, "mode": "hybrid"}).get_json()
    assert api["mode_name"] == "Listened together" and all(REASON.match(r["reason"]) for r in api["results"])
    # a similarity in [0, 1] beside a distance that is never negative; the page shows it as "% match"
    sims = [r["similarity"] for r in api["results"]]
    assert all(0 <= s <= 1 for s in sims) and sims == sorted(sims, reverse=True)
    assert all(r["distance"] == pytest.approx(1 - r["similarity"], abs=1e-3) for r in api["results"])
    shown = [int(p) for p in re.findall(r'<span class="similarity">(\d+)% match</span>', html)]
    assert shown == [round(s * 100) for s in sims]
    assert "similarity" not in client.get("/api/recommend", query_string={"id": t["track_id"].iat[row], "song": title,
                                                                          "mode": "nearest"}).get_json()["results"][0]
    form = client.get("/").get_data(as_text=True)
    assert re.search(r'<option value="hybrid"[^>]*>Listened together \(hybrid\)', form)


def test_the_hybrid_ann_index_returns_the_exact_scores_of_nearly_the_exact_top_10(demo_data_dir: Path, tmp_path: Path) -> None:
    """The index a large catalog gets (built here on the demo, below the size threshold), written
    into a bundle and sealed: its results carry exact scores and nearly the exact top 10."""
    from music_assets.model import hybrid_ann
    from music_assets.model.bundle import seal_bundle

    models = tmp_path / "models"
    shutil.copytree(demo_data_dir / "models", models)
    exact = load_bundle(models)
    model = hybrid_model(exact)
    folder = exact.path
    (folder / "model.json").unlink()  # unseal, add the index, seal again: model.json vouches for it
    hybrid_ann.write(folder, model.vectors)
    seal_bundle(folder)
    indexed = load_bundle(models)
    assert hybrid_model(indexed).index is not None
    overlap = []
    for q in [q for q in range(0, 600, 20) if exact.in_model[q]]:
        got = recommend(indexed, q, "hybrid", 10)
        want = recommend(exact, q, "hybrid", 10)
        scores = model.vectors[[r.index for r in got]] @ query_vector(model.vectors, q, model.weights)
        assert [r.similarity for r in got] == pytest.approx(np.clip(scores / (1 + model.weights.recency), 0, 1).tolist(), abs=1e-5)
        overlap.append(len({r.index for r in got} & {r.index for r in want}) / 10)
    assert np.mean(overlap) >= 0.9
    (folder / hybrid_ann.INDEX_FILE).write_bytes(b"not an index")
    with pytest.raises(RecommendationError, match="hybrid_index.voy does not match its checksum"):
        recommend(load_bundle(models), 0, "hybrid", 3)


def test_the_cli_prints_hybrid_results_with_a_similarity_never_a_negative_distance(demo_data_dir: Path, demo_bundle) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "music_assets.recommend_cli", "--mode", "hybrid", "-k", "10",
                          "--data-dir", str(demo_data_dir)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    sims = [float(x) for x in re.findall(r"  similarity=(-?[\d.]+)  ", out.stdout)]
    assert len(sims) == 10 and all(0 <= s <= 1 for s in sims) and sims == sorted(sims, reverse=True)
    assert " d=" not in out.stdout


def test_chart_profiles_config_flows_to_the_weight_choice_and_the_temporal_evaluation(demo_data_dir: Path, tmp_path: Path) -> None:
    """chart_profiles configured otherwise than the defaults: hybrid_vectors' validation folds and
    model_quality's evaluation recompute profiles with the same parameters (read from the file)."""
    from datetime import date

    from music_assets.defs.assets.model_quality import QualityConfig
    from music_assets.training.cochart_eval import CutConfig
    from music_assets.training.signals.chart_profile import ProfileParams, read_params
    from music_assets.training.temporal_quality import choose_hybrid_weights, evaluate_temporal, temporal_catalog
    from tests.conftest import materialize_demo

    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    wanted = ProfileParams(dims=6, prior_half_life_weeks=2.0)
    result = materialize_demo(data, selection=["chart_profiles", "recommender_model", "hybrid_vectors", "model_quality"],
                              run_config={"ops": {"chart_profiles": {"config": {"dims": 6, "prior_half_life_weeks": 2.0}},
                                                  "hybrid_vectors": {"config": {"ann_min_tracks": 1_000}}}})
    assert result.success
    assert read_params(data / "assets" / "chart_profiles.parquet") == wanted
    build = Path(str(result.asset_materializations_for_node("hybrid_vectors")[0].metadata["bundle_path"].value))
    meta = storage.read_json(build / META_FILE)
    assert ProfileParams.from_dict(meta["profile_params"]) == wanted
    quality = storage.read_json(build / "quality.json")["temporal"]
    assert ProfileParams.from_dict(quality["profile_params"]) == wanted
    # and they were used: the same weights and table as computed here with them, not the defaults'
    rows, catalog = data / "assets" / "chart_rows.parquet", temporal_catalog(load_bundle(build.parent, build.name, sealed=False))
    cfg = CutConfig(fraction=meta["cut_fraction"], cut=date.fromisoformat(meta["cut"]), n_queries=QualityConfig().n_queries,
                    k=QualityConfig().k, seed=QualityConfig().seed)
    start = date.fromisoformat(quality["start"])
    assert choose_hybrid_weights(rows, catalog, start, cfg.cut, cfg, wanted)[0].to_dict() == meta["weights"]
    weights = HybridWeights.from_dict(meta["weights"])
    mine = evaluate_temporal(rows, catalog, cfg, wanted, weights=weights).report()["modes"]["chart_profile"]
    default = evaluate_temporal(rows, catalog, cfg, ProfileParams(), weights=weights).report()["modes"]["chart_profile"]
    assert quality["modes"]["chart_profile"] == mine != default
    # the asset's inner-product index (ann.py's helper, model/hybrid_ann.py) over these vectors
    from music_assets.model import hybrid_ann
    model = hybrid_model(load_bundle(build.parent, build.name, sealed=False))
    a, z = model.layout.spans["chart"]
    assert z - a == 6  # the configured profile width reached the blend
    index = hybrid_ann.load(build, *model.vectors.shape)
    assert index is not None and index.meta.space == "inner_product" and index.meta.dim == model.vectors.shape[1]


def test_a_chart_profiles_file_without_its_parameters_is_refused_by_name(tmp_path: Path) -> None:
    from music_assets.training.signals.chart_profile import ProfileParams, read_params, with_params

    import pyarrow as pa
    table = pa.table({"track_id": ["a"], "chart_0": [1.0]})
    storage.write_parquet(with_params(table, ProfileParams(dims=3, half_life_weeks=1.5)), tmp_path / "chart_profiles.parquet")
    assert read_params(tmp_path / "chart_profiles.parquet") == ProfileParams(dims=3, half_life_weeks=1.5)
    storage.write_parquet(table, tmp_path / "old.parquet")
    with pytest.raises(ValueError, match="old.parquet records no chart profile parameters.*rematerialize chart_profiles"):
        read_params(tmp_path / "old.parquet")
