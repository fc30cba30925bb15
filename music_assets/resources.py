"""Dagster resources: where data lives and where it comes from. Chosen in one place
(definitions.py) from the environment; tests pass their own."""

from __future__ import annotations

import os
from typing import Literal, Optional

import dagster as dg

from music_assets.core import storage
from music_assets.core.sources.base import CatalogSource
from music_assets.core.sources.demo import DemoCatalog, DemoConfig

DATA_DIR_ENV = "MUSIC_ADVISER_DATA_DIR"
SOURCE_ENV = "MUSIC_ADVISER_SOURCE"  # demo (default) | files | spotify
CHARTS_ENV = "MUSIC_ADVISER_CHARTS"  # path of the chart file for files/spotify
FEATURES_ENV = "MUSIC_ADVISER_FEATURES"  # optional features file (files source; spotify fallback)
ARTISTS_ENV = "MUSIC_ADVISER_ARTISTS"  # optional artists file (daily_tracks features layout)


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV, "data")


class DataStore(dg.ConfigurableResource):
    """The data folder: one Parquet file per asset under assets/, model bundles under models/.

    `data_dir` is a local path (default) or an object-store URL (`s3://bucket/prefix`, `gs://...`,
    `memory://...`) shared by every Dagster step and serving replica; credentials come from the
    store's usual environment variables, never from this config (a URL with credentials is refused).
    """

    data_dir: str = "data"

    @property
    def root(self) -> storage.StorePath:
        return storage.as_path(self.data_dir)

    @property
    def is_local(self) -> bool:
        return storage.is_local(self.data_dir)

    def asset_path(self, name: str, suffix: str = ".parquet") -> storage.StorePath:
        return self.root / "assets" / f"{name}{suffix}"

    @property
    def models_dir(self) -> storage.StorePath:
        return self.root / "models"


class SourceResource(dg.ConfigurableResource):
    """Which catalog feeds the pipeline. `demo` (the default) needs no network and no account.

    - `files`: chart rows from `charts_path` (Kaggle charts.csv or a daily export, plain or gzip),
      features from `features_path` (+ `artists_path` for genres) in a public layout.
    - `spotify`: chart rows from `charts_path` as for files (the Web API has no charts), features,
      genres and cover art from the Spotify Web API, audio features from `features_fallback`
      when Spotify refuses them. Credentials only through EnvVar("SPOTIPY_CLIENT_ID") and
      EnvVar("SPOTIPY_CLIENT_SECRET"); optional so that demo and files need none.
    """

    kind: Literal["demo", "files", "spotify"] = "demo"
    demo_tracks: int = 20_000
    demo_seed: int = 42
    # files (charts also for spotify)
    charts_path: Optional[str] = None
    charts_layout: Literal["auto", "kaggle", "daily"] = "auto"
    charts_region: str = "Global"
    charts_chart: str = "top200"
    features_path: Optional[str] = None
    features_layout: Literal["auto", "tracks_114k", "features_232k", "daily_tracks", "plain"] = "auto"
    artists_path: Optional[str] = None
    # spotify
    spotify_client_id: Optional[str] = None
    spotify_client_secret: Optional[str] = None
    spotify_api_url: str = "https://api.spotify.com/v1/"
    spotify_token_url: str = "https://accounts.spotify.com/api/token"
    features_fallback: Literal["reccobeats", "file", "none"] = "reccobeats"
    reccobeats_url: str = "https://api.reccobeats.com/v1/"
    request_timeout_s: float = 10.0
    max_attempts: int = 5
    max_retry_wait_s: float = 60.0
    retry_backoff_s: float = 0.5
    # ids per fetch batch: 10 /tracks + 5 /audio-features calls, and artists new to the run in
    # full calls of 50; larger batches share more artists per call. Checkpoint every 2 batches.
    fetch_batch_size: int = 500
    checkpoint_every: int = 2

    def open(self) -> CatalogSource:
        if self.kind == "demo":
            return DemoCatalog(DemoConfig(n_tracks=self.demo_tracks, seed=self.demo_seed))
        from music_assets.core.sources.files import FilesSource
        from music_assets.core.sources.files_charts import ChartFileConfig
        from music_assets.core.sources.files_features import FeaturesFileConfig

        if not self.charts_path:
            raise dg.Failure(f"source kind {self.kind!r} needs charts_path (or ${CHARTS_ENV}): the chart file to read")
        charts = ChartFileConfig(path=self.charts_path, layout=self.charts_layout,
                                 region=self.charts_region, chart=self.charts_chart)
        features = (FeaturesFileConfig(path=self.features_path, layout=self.features_layout,
                                       artists_path=self.artists_path) if self.features_path else None)
        if self.kind == "files":
            return FilesSource(charts, features)
        from music_assets.core.sources.spotify import SpotifyConfig, SpotifySource

        if not self.spotify_client_id or not self.spotify_client_secret:
            raise dg.Failure("source kind 'spotify' needs SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET in the environment")
        return SpotifySource(
            FilesSource(charts, features),
            SpotifyConfig(
                client_id=self.spotify_client_id, client_secret=self.spotify_client_secret,
                api_url=self.spotify_api_url, token_url=self.spotify_token_url,
                features_fallback=self.features_fallback, reccobeats_url=self.reccobeats_url,
                timeout_s=self.request_timeout_s, max_attempts=self.max_attempts,
                max_retry_wait_s=self.max_retry_wait_s, backoff_s=self.retry_backoff_s, batch_size=self.fetch_batch_size,
            ),
        )

    @classmethod
    def from_env(cls) -> "SourceResource":
        """The source named by $MUSIC_ADVISER_SOURCE (default demo). Secrets stay EnvVars, so
        Dagster resolves them at launch and never stores their values in run config."""
        kind = os.environ.get(SOURCE_ENV, "demo")
        if kind == "demo":
            return cls()
        paths = {k: os.environ[e] for k, e in (("charts_path", CHARTS_ENV), ("features_path", FEATURES_ENV),
                                                ("artists_path", ARTISTS_ENV)) if os.environ.get(e)}
        if kind == "files":
            return cls(kind="files", **paths)
        return cls(kind="spotify", spotify_client_id=dg.EnvVar("SPOTIPY_CLIENT_ID"),
                   spotify_client_secret=dg.EnvVar("SPOTIPY_CLIENT_SECRET"),
                   features_fallback="file" if "features_path" in paths else "reccobeats", **paths)
