"""Dagster resources: where data lives (`store`), where it comes from (`source`), which engine runs
the heavy stages (`engine`). Built from the settings in one place (`build_resources`, which the
`resources` definitions below and the tests use); the launchpad can override any field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Optional

import dagster as dg
from pydantic import PrivateAttr

from music_assets import data_lock, storage
from music_assets.engines.base import Engine
from music_assets.engines.local import LocalEngine
from music_assets.ingest.sources.base import CatalogSource
from music_assets.ingest.sources.demo import DemoCatalog, DemoConfig
from music_assets.settings import EngineSettings, Settings, SourceSettings, SpotifySettings


class DataStore(dg.ConfigurableResource):
    """The data folder: one Parquet file per asset under assets/, model bundles under models/.

    `data_dir` is a local path (default) or an object-store URL (`s3://bucket/prefix`, `gs://...`,
    `memory://...`) shared by every Dagster step and serving replica; credentials come from the
    store's usual environment variables, never from this config (a URL with credentials is refused).
    """

    data_dir: str = "data"
    incoming_dir: Optional[str] = None  # local folder the incoming-files sensor watches (None: see sensors.py)
    # A run holds the folder's lock (data_lock.py) from its first step to its last: the run queue
    # keeps one instance's runs apart, the lock also those started elsewhere on the same folder.
    lock: bool = True
    lock_wait_seconds: float = 0.0  # how long a run waits for another run's lock before failing
    leftover_age_hours: float = 24.0  # crash leftovers older than this are removed (model_retention)
    # share of feature values (or tracks) rejected, parse or range, above which publishing stops (checks.py)
    max_rejected_share: float = 0.05

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["DataStore"]:
        """Within a run, hold the data folder's lock until the run ends (the whole run, because
        every job runs its steps in one process: defs/executor.py). Outside a run (a sensor tick,
        a direct call in a test) there is nothing to guard and no lock is taken."""
        run = context.dagster_run
        if not self.lock or run is None:
            yield self
            return
        log = context.log.warning if context.log else (lambda _: None)
        try:
            with data_lock.hold_folder(self.data_dir, run.run_id, self.lock_wait_seconds, log=log) as holder:
                if context.log:
                    context.log.info(f"holding the data folder {self.data_dir} for run {run.run_id} "
                                     f"(lock: {data_lock.lock_path(self.data_dir)}, pid {holder.pid} on {holder.host})")
                yield self
        except data_lock.FolderBusy as exc:
            raise dg.Failure(str(exc), metadata={"holder": exc.holder.describe() if exc.holder else ""}) from None

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
    """Which catalog feeds the pipeline. `kind` has no default: a run config that names the source
    must say which, so a partial config (say, only `charts_layout`) fails at launch naming `kind`
    instead of silently running the demo. `demo` needs no network and no account.

    - `files`: chart rows from `charts_path` (a file, folder or glob in any layout of
      docs/bring-your-own-data.md; optional), the catalog from `features_path` (+ `artists_path`
      for genres; optional when charts are given), `column_map_path` for files no layout fits.
    - `spotify`: chart rows from `charts_path` as for files (the Web API has no charts), features,
      genres and cover art from the Spotify Web API, audio features from `features_fallback`
      when Spotify refuses them. Credentials only through EnvVar("SPOTIPY_CLIENT_ID") and
      EnvVar("SPOTIPY_CLIENT_SECRET"); optional so that demo and files need none.
    """

    kind: Literal["demo", "files", "spotify"]
    demo_tracks: int = 20_000
    demo_seed: int = 42
    # files (charts also for spotify)
    charts_path: Optional[str] = None
    charts_layout: str = "auto"  # auto or a charts layout of ingest/layouts/builtin.py
    charts_region: str = "Global"
    charts_chart: str = "top200"
    features_path: Optional[str] = None
    features_layout: str = "auto"  # auto or a catalog layout of ingest/layouts/builtin.py
    artists_path: Optional[str] = None
    column_map_path: Optional[str] = None
    # spotify
    spotify_client_id: Optional[str] = None
    spotify_client_secret: Optional[str] = None
    spotify_api_url: str = SpotifySettings.api_url
    spotify_token_url: str = SpotifySettings.token_url
    # ReccoBeats is a third party that receives the track ids: only when the operator switches it on
    features_fallback: Literal["none", "file", "reccobeats"] = "none"
    reccobeats_url: str = SpotifySettings.reccobeats_url
    request_timeout_s: float = 10.0
    max_attempts: int = 5
    max_retry_wait_s: float = 60.0
    retry_backoff_s: float = 0.5
    # ids per fetch batch: 10 /tracks + 5 /audio-features calls, and artists new to the run in
    # full calls of 50; larger batches share more artists per call. Checkpoint every 2 batches.
    fetch_batch_size: int = 500
    checkpoint_every: int = 2

    def config_problems(self) -> list[str]:
        """Fields that contradict the kind or name nothing usable: each names the field."""
        from music_assets.ingest.layouts.builtin import BUILTIN_LAYOUTS

        problems = []
        files_fields = {"charts_path": None, "features_path": None, "artists_path": None, "column_map_path": None,
                        "charts_layout": "auto", "features_layout": "auto", "charts_region": "Global", "charts_chart": "top200"}
        if self.kind == "demo":
            problems += [f"{name} is set ({getattr(self, name)!r}) but kind is 'demo', which reads no files: "
                         f"set kind: files (with charts_path and/or features_path) or remove {name}"
                         for name, default in files_fields.items() if getattr(self, name) != default]
            return problems
        for name, role in (("charts_layout", "charts"), ("features_layout", "catalog")):
            value = getattr(self, name)
            if value != "auto" and (value not in BUILTIN_LAYOUTS or role not in BUILTIN_LAYOUTS[value].roles):
                names = [n for n, m in BUILTIN_LAYOUTS.items() if role in m.roles]
                problems.append(f"{name} is {value!r}: use auto or one of {', '.join(names)}")
        if self.charts_chart not in ("top200", "viral50"):
            problems.append(f"charts_chart is {self.charts_chart!r}: use top200 or viral50")
        if self.kind == "files" and not (self.charts_path or self.features_path or self.column_map_path):
            problems.append("kind 'files' needs charts_path and/or features_path (or column_map_path naming them; "
                            "$MUSIC_ADVISER_CHARTS, $MUSIC_ADVISER_FEATURES, $MUSIC_ADVISER_COLUMN_MAP)")
        if self.kind == "files" and self.artists_path and not (self.features_path or self.column_map_path):
            problems.append("artists_path is set but features_path is not: artists give genres to a catalog's tracks")
        return problems

    def _paths(self) -> dict[str, Optional[str]]:
        """charts/features/artists paths: the fields, else the single path the column map gives per role."""
        from music_assets.ingest.layouts.choose import column_map_file

        paths = {"charts": self.charts_path, "catalog": self.features_path, "artists": self.artists_path}
        mapped = column_map_file(self.column_map_path)
        if mapped is not None:
            for role, given in paths.items():
                named = mapped.paths(role)
                if not given and len(named) > 1:
                    raise dg.Failure(f"column map {mapped.source}: {len(named)} files have role {role} "
                                     f"({', '.join(named)}): put them in one folder or name them with one glob")
                if not given and named:
                    paths[role] = named[0]
        return paths

    def open(self) -> CatalogSource:
        problems = self.config_problems()
        if problems:
            raise dg.Failure("source config: " + "; ".join(problems))
        if self.kind == "demo":
            return DemoCatalog(DemoConfig(n_tracks=self.demo_tracks, seed=self.demo_seed))
        from music_assets.ingest.sources.files import FilesSource
        from music_assets.ingest.charts.csv_files import ChartFileConfig
        from music_assets.ingest.features.files import FeaturesFileConfig
        from music_assets.ingest.layouts.choose import INPUT_ERRORS

        try:
            paths = self._paths()
        except INPUT_ERRORS as exc:
            raise dg.Failure(f"source config: column_map_path: {exc}") from None
        if self.kind == "spotify" and not paths["charts"]:
            raise dg.Failure(f"source kind {self.kind!r} needs charts_path (or $MUSIC_ADVISER_CHARTS): the chart file to read")
        charts = (ChartFileConfig(path=paths["charts"], layout=self.charts_layout, region=self.charts_region,
                                  chart=self.charts_chart, column_map=self.column_map_path) if paths["charts"] else None)
        features = (FeaturesFileConfig(path=paths["catalog"], layout=self.features_layout, artists_path=paths["artists"],
                                       column_map=self.column_map_path) if paths["catalog"] else None)
        if charts is None and features is None:
            raise dg.Failure("source config: kind 'files' needs charts_path and/or features_path, and the column map "
                             f"{self.column_map_path} names no file with role charts or catalog")
        from music_assets.ingest.charts.csv_files import ChartFileError

        try:
            files = FilesSource(charts, features)
        except (ChartFileError, *INPUT_ERRORS) as exc:  # the file or its map is wrong: say which, fail the step
            raise dg.Failure(str(exc)) from None
        if self.kind == "files":
            return files
        from music_assets.ingest.sources.spotify import SpotifyConfig, SpotifySource

        if not self.spotify_client_id or not self.spotify_client_secret:
            raise dg.Failure("source kind 'spotify' needs SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET in the environment")
        return SpotifySource(
            files,
            SpotifyConfig(
                client_id=self.spotify_client_id, client_secret=self.spotify_client_secret,
                api_url=self.spotify_api_url, token_url=self.spotify_token_url,
                features_fallback=self.features_fallback, reccobeats_url=self.reccobeats_url,
                timeout_s=self.request_timeout_s, max_attempts=self.max_attempts,
                max_retry_wait_s=self.max_retry_wait_s, backoff_s=self.retry_backoff_s, batch_size=self.fetch_batch_size,
            ),
        )

    @classmethod
    def from_settings(cls, settings: SourceSettings, spotify_urls: dict[str, str] | None = None) -> "SourceResource":
        """The source the settings name, its kind always explicit. Secrets stay EnvVars, so Dagster
        resolves them at launch and never stores their values in run config."""
        if settings.kind == "demo":
            return cls(kind="demo")
        paths = {k: v for k, v in (("charts_path", settings.charts), ("features_path", settings.features),
                                   ("artists_path", settings.artists), ("column_map_path", settings.column_map)) if v}
        if settings.kind == "files":
            return cls(kind="files", **paths)
        fallback = "file" if settings.features else ("reccobeats" if settings.reccobeats else "none")
        return cls(kind="spotify", spotify_client_id=dg.EnvVar("SPOTIPY_CLIENT_ID"),
                   spotify_client_secret=dg.EnvVar("SPOTIPY_CLIENT_SECRET"), features_fallback=fallback,
                   **(spotify_urls or {}), **paths)

    @classmethod
    def from_env(cls) -> "SourceResource":
        """The source named by the environment (music_assets/settings.py)."""
        settings = Settings.from_env()
        return cls.from_settings(settings.source, _spotify_urls(settings))


def _spotify_urls(settings: Settings) -> dict[str, str]:
    return {"spotify_api_url": settings.spotify.api_url, "spotify_token_url": settings.spotify.token_url,
            "reccobeats_url": settings.spotify.reccobeats_url}


class EngineResource(dg.ConfigurableResource):
    """The engine of the heavy stages (engines/): `local` (pyarrow, DuckDB, scikit-learn; no Java)
    or `spark` (Spark SQL and pyspark.ml; the `[spark]` extra and Java 17).

    For spark, the session comes from Dagster's LazyPySparkResource, created on first use with
    `spark_conf` (engines/spark/session.py) so the JVM starts only when a stage asks for it; pyspark
    is imported only then, so the local engine never imports it. The engine is resource config:
    the launchpad can switch it for one run.
    """

    kind: Literal["local", "spark"] = "local"
    spark_master: str = "local[2]"
    spark_conf: dict[str, str] = {}
    _spark: Optional[Any] = PrivateAttr(default=None)

    def engine(self) -> Engine:
        if self.kind == "local":
            return LocalEngine()
        from music_assets.engines.spark.engine import SparkEngine

        return SparkEngine(self._spark_session, self.spark_master)

    def spark_config(self) -> dict[str, str]:
        from music_assets.engines.spark.session import spark_conf

        return spark_conf(self.spark_master, self.spark_conf)

    def _spark_session(self) -> Any:
        if self._spark is None:
            from dagster_pyspark import LazyPySparkResource

            from music_assets.engines.spark.session import require_java, use_this_python_for_local_workers

            config = self.spark_config()
            require_java(config)
            use_this_python_for_local_workers(self.spark_master)
            self._spark = LazyPySparkResource(spark_config=config)
        return self._spark.spark_session

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> "EngineResource":
        return cls(kind=settings.kind, spark_master=settings.spark_master, spark_conf=dict(settings.spark_conf))


def build_resources(settings: Settings | None = None, data_dir: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """store, source and engine as the settings (default: the environment) name them."""
    settings = settings or Settings.from_env()
    store = DataStore(data_dir=data_dir or settings.data_dir, incoming_dir=settings.incoming_dir, lock=settings.data_lock,
                      lock_wait_seconds=settings.lock_wait, leftover_age_hours=settings.leftover_hours,
                      max_rejected_share=settings.max_rejected_share)
    return {"store": store,
            "source": SourceResource.from_settings(settings.source, _spotify_urls(settings)),
            "engine": EngineResource.from_settings(settings.engine)}


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
