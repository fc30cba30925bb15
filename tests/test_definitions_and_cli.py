"""The Dagster definitions load as the UI would load them; the CLI prints recommendations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from music_assets import definitions
from music_assets.model.bundle import load_bundle

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_are_loadable_with_every_stage() -> None:
    dg.Definitions.validate_loadable(definitions.defs)
    keys = {k.to_user_string() for k in definitions.defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"chart_rows", "unique_tracks", "track_features", "tracks", "track_embedding",
            "cluster_k", "track_clusters", "recommender_model"} <= keys
    assert definitions.defs.resolve_job_def("music_adviser_job")


def test_workspace_yaml_names_the_definitions_module() -> None:
    assert "music_assets.definitions" in (ROOT / "workspace.yaml").read_text()


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "music_assets.recommend_cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_cli_prints_recommendations_for_a_title(demo_data_dir: Path) -> None:
    bundle = load_bundle(demo_data_dir / "models")
    title = bundle.tracks["title"].iat[int(bundle.tracks["chart_appearances"].argmax())]
    out = run_cli(title.lower(), "--mode", "genre", "-k", "3", data_dir=demo_data_dir)
    assert out.returncode == 0, out.stderr
    assert f"You searched for {title}" in out.stdout and "mode: genre" in out.stdout
    assert len([l for l in out.stdout.splitlines() if l.strip()[:2] in {"1.", "2.", "3."}]) == 3


def test_cli_unknown_song_and_missing_model_are_clear(tmp_path: Path, demo_data_dir: Path) -> None:
    out = run_cli("zzz not a song", data_dir=demo_data_dir)
    assert out.returncode == 1 and "not in the catalog" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("anything", data_dir=tmp_path)
    assert out.returncode == 2 and "no published model" in out.stderr


def test_every_asset_says_what_it_is_who_owns_it_and_when_its_logic_changed() -> None:
    for spec in (s for a in definitions.defs.assets for s in a.specs):
        name = spec.key.to_user_string()
        assert spec.description and len(spec.description) > 40, name
        assert spec.owners == ["team:music-adviser"], name
        assert spec.tags.get("pipeline_stage") == spec.group_name, name
        assert spec.code_version, name  # bumped when the logic changes: the UI flags the asset stale


def test_dg_loads_the_project_as_dg_dev_does() -> None:
    dg_cli = Path(sys.executable).with_name("dg")
    done = subprocess.run([str(dg_cli), "check", "defs"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_column_descriptions_reach_the_schema_metadata(demo_data_dir: Path) -> None:
    from music_assets.defs.metadata import parquet_metadata

    schema = parquet_metadata(demo_data_dir / "assets" / "tracks.parquet")["dagster/column_schema"]
    described = {c.name: c.description for c in schema.columns}
    assert described["track_id"].startswith("Spotify track id") and "range 0..1" in described["energy"]
