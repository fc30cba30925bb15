"""Two runs from scratch give identical track tables; every rerun publishes a new version, and
an unchanged model shares its data file with the previous version instead of copying it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import materialize_demo


def test_rerun_gives_identical_tables_and_a_new_version(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert materialize_demo(first, n_tracks=800).success
    assert materialize_demo(second, n_tracks=800).success
    for name in ["chart_rows", "unique_tracks", "tracks", "track_embedding", "track_clusters"]:
        a = pq.read_table(first / "assets" / f"{name}.parquet")
        b = pq.read_table(second / "assets" / f"{name}.parquet")
        assert a.equals(b), name
    v1 = (first / "models" / "LATEST").read_text().strip()
    assert materialize_demo(first, n_tracks=800).success  # rerun in place on unchanged input:
    v2 = (first / "models" / "LATEST").read_text().strip()
    assert v2 != v1 and v2 > v1  # a new version is published
    assert (first / "models" / v1).is_dir()  # the previous version is kept for rollback
    same_file = (first / "models" / v1 / "tracks.parquet").stat().st_ino == (first / "models" / v2 / "tracks.parquet").stat().st_ino
    assert same_file  # identical content: one file on disk, two versions
    changed = {"ops": {"track_embedding": {"config": {"n_components": 3}}}}
    assert materialize_demo(first, n_tracks=800, run_config=changed).success  # a different model:
    v3 = (first / "models" / "LATEST").read_text().strip()
    assert v3 > v2
    assert (first / "models" / v3 / "tracks.parquet").stat().st_ino != (first / "models" / v2 / "tracks.parquet").stat().st_ino


def test_another_seed_gives_another_catalog(tmp_path: Path) -> None:
    assert materialize_demo(tmp_path / "a", n_tracks=300, seed=1, selection=["chart_rows"]).success
    assert materialize_demo(tmp_path / "b", n_tracks=300, seed=2, selection=["chart_rows"]).success
    a = pq.read_table(tmp_path / "a" / "assets" / "chart_rows.parquet")
    b = pq.read_table(tmp_path / "b" / "assets" / "chart_rows.parquet")
    assert not set(a["track_id"].to_pylist()) & set(b["track_id"].to_pylist())
