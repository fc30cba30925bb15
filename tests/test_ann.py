"""The ANN index: pure build/load/query, the asset that stores it in the bundle, and recommend
using it with every mode still answering from the right rows."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from music_assets.model import ann
from music_assets.model import recommend as rec
from music_assets.model.bundle import load_bundle
from music_assets.model.recommend_index import genre_index
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


def test_unique_rows_keeps_first_and_expands_duplicates() -> None:
    x = np.array([[0, 0], [1, 1], [0, 0], [2, 2], [1, 1], [0, 0]], dtype=np.float32)
    reps, dups = ann.unique_rows(x)
    assert reps.tolist() == [0, 1, 3]
    assert list(zip(dups.label.tolist(), dups.row.tolist())) == [(0, 2), (0, 5), (1, 4)]
    assert dups.expand(np.array([3, 0, 1])).tolist() == [3, 0, 2, 5, 1, 4]


def test_index_round_trip_finds_exact_neighbours_despite_duplicates(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2_000, 9)).astype(np.float32)
    x[1_500:] = x[7]  # a block of identical vectors, like tracks whose features were all imputed
    meta = ann.write_index(tmp_path, x, tracks_sha256="abc")
    assert meta.n == 2_000 and meta.n_indexed == 1_500
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ann.INDEX_FILE, ann.DUPLICATES_FILE, ann.META_FILE])
    index = ann.load_index(tmp_path, n=2_000, dim=9, tracks_sha256="abc")
    hits = 0
    for q in range(0, 1_500, 15):
        d = ((x - x[q]) ** 2).sum(axis=1)
        truth = set(np.argsort(d, kind="stable")[:10].tolist())
        rows, _ = index.query(x[q], 10)
        hits += len(truth & set(rows[:10].tolist()))
    assert hits / (100 * 10) >= 0.95
    rows, _ = index.query(x[7], 5)
    assert set(range(1_500, 2_000)) <= set(rows.tolist())  # duplicates come back with their representative


def test_index_for_other_data_or_corrupt_is_refused(tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((300, 4)).astype(np.float32)
    ann.write_index(tmp_path, x, tracks_sha256="abc")
    with pytest.raises(ann.AnnIndexError, match="another tracks file"):
        ann.load_index(tmp_path, n=300, dim=4, tracks_sha256="other")
    with pytest.raises(ann.AnnIndexError, match="bundle has"):
        ann.load_index(tmp_path, n=301, dim=4, tracks_sha256="abc")
    with open(tmp_path / ann.INDEX_FILE, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00garbage\x00")
    with pytest.raises(ann.AnnIndexError, match="checksum"):
        ann.load_index(tmp_path, n=300, dim=4, tracks_sha256="abc")


def test_one_helper_serves_the_audio_and_the_hybrid_index_each_in_its_space(tmp_path: Path) -> None:
    """model/hybrid_ann.py is ann.py's helper in inner-product space under its own file names."""
    from music_assets.model import hybrid_ann

    rng = np.random.default_rng(5)
    x = rng.normal(size=(800, 24))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[:, -1] = rng.uniform(0, 0.9, 800)  # as hybrid vectors: unit blocks and a prior component
    x = x.astype(np.float32)
    hybrid_ann.write(tmp_path, x)
    ann.write_index(tmp_path, x, "abc")  # the audio index beside it: separate files
    hybrid, audio = hybrid_ann.load(tmp_path, 800, 24), ann.load_index(tmp_path, 800, 24, "abc")
    assert (hybrid.meta.space, audio.meta.space) == ("inner_product", "euclidean")
    by_ip = by_l2 = 0
    differ = 0
    for q in x[:30].copy():
        q[-1] = 0.9  # the query side of the prior (model/hybrid.py query_vector)
        want_ip = set(np.argsort(-(x @ q))[:10].tolist())
        want_l2 = set(np.argsort(((x - q) ** 2).sum(axis=1))[:10].tolist())
        differ += len(want_ip - want_l2)
        by_ip += len(set(hybrid.query(q, 64)[0].tolist()) & want_ip)  # the hybrid mode's shortlist, re-ranked
        by_l2 += len(set(audio.query(q, 10)[0][:10].tolist()) & want_l2)
    assert differ > 30  # the spaces rank differently here
    assert by_ip >= 0.95 * 300 and by_l2 >= 0.95 * 300
    with pytest.raises(ann.AnnIndexError, match="hybrid_index.json is a inner_product index, expected euclidean"):
        ann.load_index(tmp_path, 800, 24, None, files=hybrid_ann.FILES)
    with pytest.raises(ann.AnnIndexError, match="bundle has 801 x 24"):
        hybrid_ann.load(tmp_path, 801, 24)
    meta = json.loads((tmp_path / ann.META_FILE).read_text())
    del meta["space"]  # an index written before the field: Euclidean
    (tmp_path / ann.META_FILE).write_text(json.dumps(meta))
    assert ann.load_index(tmp_path, 800, 24, "abc").meta.space == "euclidean"
    assert hybrid_ann.load(tmp_path / "none", 800, 24) is None


MODEL_TAIL = ["recommender_model", "ann_index", "model_quality", "model_pictures", "published_model"]


def rebuild_model(data: Path, min_tracks: int | None = None) -> dg.ExecuteInProcessResult:
    """Build, index, evaluate and publish a new bundle from the data folder's existing assets."""
    config = {"ops": {"ann_index": {"config": {"min_tracks": min_tracks}}}} if min_tracks else None
    result = dg.materialize(ALL_ASSETS, selection=MODEL_TAIL, run_config=config,
                            resources={"store": DataStore(data_dir=str(data)), "engine": EngineResource(),
                                       "source": SourceResource(kind="demo")})
    assert result.success
    return result


@pytest.fixture(scope="module")
def ann_models(demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo data folder whose published bundle has an index."""
    data = tmp_path_factory.mktemp("ann") / "data"
    shutil.copytree(demo_data_dir, data)
    md = rebuild_model(data, min_tracks=1_000).asset_materializations_for_node("ann_index")[0].metadata
    assert md["built"].value is True and md["distinct_vectors"].value <= md["dagster/row_count"].value
    return data / "models"


def test_small_catalog_gets_no_index(demo_data_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    md = rebuild_model(data).asset_materializations_for_node("ann_index")[0].metadata
    assert md["built"].value is False
    assert not ann.has_index(data / "models" / (data / "models" / "LATEST").read_text().strip())
    assert load_bundle(data / "models").ann is None


def test_recommend_with_index_stays_in_mode_and_close_to_exact(ann_models: Path, monkeypatch) -> None:
    bundle = load_bundle(ann_models)
    assert bundle.ann is not None
    exact = load_bundle(ann_models)
    exact.ann = None
    monkeypatch.setattr(rec, "_ANN_ROW_COST", 0)  # use the index for cluster and genre modes too
    rng = np.random.default_rng(3)
    overlap, total = 0, 0
    genres = bundle.tracks["genres"]
    for q in rng.choice(np.flatnonzero(bundle.in_model), 40, replace=False):
        q = int(q)
        for mode in rec.AUDIO_MODES:  # hybrid's own index: tests/test_hybrid_mode.py
            if mode == "genre" and not len(genres.iat[q]):
                continue
            got = rec.recommend(bundle, q, mode, 10)
            want = rec.recommend(exact, q, mode, 10)
            rows = [r.index for r in got]
            assert q not in rows and len(rows) == len(set(rows)) == len(want)
            assert bundle.in_model[rows].all()  # the index holds the model's tracks only
            assert [r.distance for r in got] == sorted(r.distance for r in got)
            if mode == "normal":
                assert set(bundle.clusters[rows]) == {bundle.clusters[q]}
            if mode == "genre":
                assert all(set(genres.iat[i]) & set(genres.iat[q]) for i in rows)
            overlap += len(set(rows) & {r.index for r in want})
            total += len(want)
    assert overlap / total >= 0.95


def test_corrupt_index_falls_back_to_exact_search(ann_models: Path, tmp_path: Path, caplog) -> None:
    models = tmp_path / "models"
    shutil.copytree(ann_models, models)
    version = (models / "LATEST").read_text().strip()
    (models / version / ann.INDEX_FILE).write_bytes(b"half-written")
    with caplog.at_level(logging.WARNING):
        bundle = load_bundle(models)
    assert bundle.ann is None and "ignoring its ANN index" in caplog.text
    assert len(rec.recommend(bundle, 0, "nearest", 5)) == 5


def test_index_asset_in_the_graph_indexes_the_built_bundle_before_publication(tmp_path: Path) -> None:
    result = dg.materialize(
        ALL_ASSETS,
        resources={"store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(), "source": SourceResource(kind="demo", demo_tracks=1_200)},
        run_config={"ops": {"ann_index": {"config": {"min_tracks": 500}}}},
    )
    assert result.success
    bundle_path = result.asset_materializations_for_node("recommender_model")[0].metadata["path"].value
    md = result.asset_materializations_for_node("ann_index")[0].metadata
    assert md["bundle_path"].value == bundle_path and md["built"].value is True
    meta = json.loads((Path(bundle_path) / ann.META_FILE).read_text())
    assert meta["library"] == "voyager"
    assert load_bundle(tmp_path / "models").ann is not None


# Bundle loading without per-row Python objects: the array-backed indexes answer like the dicts
# they replaced, and list cells still read as Python lists.

def test_bundle_indexes_match_plain_dicts(demo_bundle) -> None:
    from music_assets.text import normalize_text

    tracks = demo_bundle.tracks
    titles: dict[str, list[int]] = {}
    for i, t in enumerate(tracks["title"]):
        titles.setdefault(normalize_text(t), []).append(i)
    assert len(demo_bundle.title_index) == len(titles)
    for key in list(titles)[:300] + [k for k, v in titles.items() if len(v) > 1]:
        assert demo_bundle.title_index[key].tolist() == titles[key]
    assert "no such title" not in demo_bundle.title_index
    assert demo_bundle.title_index.get("no such title") is None
    ids = {tid: i for i, tid in enumerate(tracks["track_id"])}
    for i, aliases in enumerate(tracks["alias_ids"]):
        for alias in aliases:
            ids.setdefault(alias, i)
    assert len(demo_bundle.id_index) == len(ids)
    assert all(demo_bundle.id_index[k] == v for k, v in ids.items())
    genres: dict[str, list[int]] = {}
    for i, gs in enumerate(tracks["genres"]):
        assert isinstance(gs, list)
        for g in gs:
            if demo_bundle.in_model[i]:  # the genre index serves recommendations: model tracks only
                genres.setdefault(g, []).append(i)
    assert {g: v.tolist() for g, v in genre_index(demo_bundle).items()} == genres


# Exact search (shortlist by |x|^2 - 2x.q, then re-rank) returns what a full scan returns.

def _full_scan(bundle, keys: list[tuple[str, str]], query: int, mode: str) -> list[tuple[int, float]]:
    """The seed's algorithm: distances to every allowed row, ties broken by row number; the
    whole order (the top k is its first k). `keys`: each row's normalized (title, artist)."""
    tracks = bundle.tracks
    if mode == "normal":
        allowed = np.flatnonzero(bundle.clusters == bundle.clusters[query])
    elif mode == "genre":
        wanted = set(tracks["genres"].iat[query])
        allowed = np.array([i for i, g in enumerate(tracks["genres"]) if wanted & set(g)])
    else:
        allowed = np.arange(len(tracks))
    allowed = allowed[bundle.in_model[allowed]]  # a track without features is never recommended
    allowed = np.array([i for i in allowed if i != query and keys[i] != keys[query]])
    diff = bundle.scaled[allowed] - bundle.scaled[query]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    order = np.lexsort((allowed, dist))
    return [(int(allowed[j]), float(dist[j])) for j in order]


def test_exact_search_equals_a_full_scan(demo_bundle) -> None:
    from music_assets.text import normalize_text

    assert demo_bundle.ann is None
    genres = demo_bundle.tracks["genres"]
    rng = np.random.default_rng(5)
    queries = [int(q) for q in rng.choice(np.flatnonzero(demo_bundle.in_model), 25, replace=False)]
    keys = [(normalize_text(t), normalize_text(a)) for t, a in zip(demo_bundle.tracks["title"], demo_bundle.tracks["artist"])]
    for q in queries:
        for mode in rec.AUDIO_MODES:  # hybrid's own index: tests/test_hybrid_mode.py
            if mode == "genre" and not len(genres.iat[q]):
                continue
            scan = _full_scan(demo_bundle, keys, q, mode)
            for k in (1, 10, 100):
                got = [(r.index, r.distance) for r in rec.recommend(demo_bundle, q, mode, k)]
                assert got == scan[:k], (q, mode, k)
