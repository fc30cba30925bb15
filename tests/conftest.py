"""Shared fixtures: a small demo catalog materialized once through Dagster for the whole session."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pytest

from music_assets import storage
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource


@pytest.fixture(params=["local", "memory"])
def data_root(request, tmp_path: Path):
    """A data folder: a local path, or a fresh prefix of fsspec's in-memory object store (both
    go through storage.py, so tests taking this run on each)."""
    if request.param == "local":
        yield storage.as_path(tmp_path / "data")
        return
    path = storage.as_path(f"memory://music-adviser-{uuid.uuid4().hex}/data")
    yield path
    storage.remove_tree(path)

SMALL_DEMO_TRACKS = 3_000
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def materialize_demo(data_dir: Path, n_tracks: int = SMALL_DEMO_TRACKS, seed: int = 42,
                     selection: list[str] | None = None, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    """Materialize the asset graph (or the `selection` of asset names) on a demo catalog into
    `data_dir` with Dagster's own materialize."""
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        resources={
            "store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(),
            "source": SourceResource(kind="demo", demo_tracks=n_tracks, demo_seed=seed),
        },
        run_config=run_config,
    )


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding every asset and a published model for a 3,000-track demo catalog.

    Shared by many tests: treat it as read-only (copy it to change it).
    """
    data_dir = tmp_path_factory.mktemp("demo_data")
    result = materialize_demo(data_dir)
    assert result.success
    return data_dir


@pytest.fixture(scope="session")
def demo_bundle(demo_data_dir: Path):
    from music_assets.model.bundle import load_bundle

    return load_bundle(demo_data_dir / "models")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data with real public Spotify samples; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real-data samples live beside the project in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ph_daily_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The whole job (every asset and check) once on the real Philippine daily charts through the
    files source: (data folder, result). Shared by tests/test_checks_real_data.py and
    tests/test_sources_files.py, which read different things from the same run (read-only)."""
    from music_assets.definitions import build_definitions

    ph = shared_data / "ph_daily_charts"
    data_dir = tmp_path_factory.mktemp("ph_daily")
    source = SourceResource(kind="files", charts_path=str(ph / "spotify_daily_charts.csv.gz"),
                            charts_region="Philippines", features_path=str(ph / "spotify_daily_charts_tracks.csv"),
                            artists_path=str(ph / "spotify_daily_charts_artists.csv"))
    defs = build_definitions(resources={"store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(), "source": source})
    return data_dir, defs.resolve_job_def("music_adviser_job").execute_in_process(raise_on_error=False)
