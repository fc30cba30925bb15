"""The Spark engine: the heavy stages as Spark SQL and pyspark.ml jobs, writing the local engine's
files (docs/engines.md: how each stage matches the local result, and what differs).

Spark reads and writes the data folder with its own (Hadoop) filesystems, not fsspec: an object
store needs the cluster's connector (e.g. hadoop-aws for s3a://), which this project does not
ship, so every stage refuses a non-local data folder before any Spark work.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import functions as F

from music_assets import storage
from music_assets.engines.base import ChartLoad, ClusterFit, EngineError, NoValidChartRows, Progress
from music_assets.engines.spark import charts as spark_charts
from music_assets.engines.spark import cleaning as spark_cleaning
from music_assets.engines.spark import model as spark_model
from music_assets.engines.spark.parquet_out import staging_dir, write_single_parquet
from music_assets.ingest.charts.stream import REJECTED_KEPT
from music_assets.ingest.cleaning import CleaningReport
from music_assets.ingest.sources.base import CatalogSource
from music_assets.model.embedding import Embedding
from music_assets.schema import feature_file_columns


def _local(path: storage.StorePath) -> Path:
    if not isinstance(path, Path):
        raise EngineError(
            f"the spark engine needs a data folder on a filesystem path every Spark process sees "
            f"(a local disk for local[N], a shared mount on a cluster), not {path}: "
            "use MUSIC_ADVISER_ENGINE=local with an object-store data folder"
        )
    return path


class SparkEngine:
    fingerprint = "spark-1"

    def __init__(self, session_factory: Any, master: str):
        """`session_factory()` gives the SparkSession (started on first use, by Dagster's resource)."""
        self._session_factory, self.master = session_factory, master
        self.name = f"spark {master}"

    def _session(self, *paths: storage.StorePath) -> Any:
        for path in paths:  # refuse before the JVM starts
            _local(path)
        return self._session_factory()

    def load_chart_rows(self, source: CatalogSource, out: storage.StorePath, progress: Progress | None) -> ChartLoad:
        session = self._session(out)
        path = _local(out)
        describe = getattr(source, "describe", source.name)
        chart_file = getattr(source, "chart_file_config", None)
        staging = staging_dir(path)
        started = time.monotonic()
        try:
            if chart_file is not None:  # files and spotify sources: Spark reads the chart files itself
                raw = spark_charts.read_chart_files(session, chart_file, staging)
            else:  # a source that generates rows in Python (demo) is staged as Parquet first
                raw = spark_charts.stage_batches(session, source.chart_batches(), staging)
            load = spark_charts.load_chart_rows(raw, path, REJECTED_KEPT, describe)
        except spark_charts.NoRowsKept as empty:
            raise NoValidChartRows(ChartLoad(empty.load.report, empty.load.rejected,
                                             time.monotonic() - started, describe)) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return ChartLoad(load.report, load.rejected, time.monotonic() - started, describe)

    def unique_tracks(self, chart_rows: storage.StorePath, out: storage.StorePath) -> None:
        spark_charts.unique_tracks(self._session(chart_rows, out), _local(chart_rows), _local(out))

    def clean_tracks(self, unique: storage.StorePath, features: storage.StorePath, out: storage.StorePath) -> CleaningReport:
        columns = feature_file_columns(pq.read_schema(_local(features)).names)
        return spark_cleaning.clean_tracks(self._session(unique, features, out), _local(unique), _local(features),
                                           _local(out), columns)

    def fit_embedding(self, tracks: storage.StorePath, features: list[str], n_components: int,
                      out: storage.StorePath) -> Embedding:
        frame = self._session(tracks, out).read.parquet(str(tracks))
        for name in features:  # the model's tracks: every used feature present (as the local engine)
            frame = frame.filter(F.col(name).isNotNull() & ~F.isnan(F.col(name)))
        embedding, coords = spark_model.fit_embedding(frame, features, n_components)
        schema = pa.schema([("track_id", pa.string())] + [(c, pa.float64()) for c in spark_model.pc_names(n_components)])
        write_single_parquet(coords, _local(out), schema)
        return embedding

    def elbow_curve(self, embedding: storage.StorePath, k_values: range, seed: int, sample_size: int,
                    n_init: int | None, max_iter: int | None) -> pd.DataFrame:
        coords = self._session(embedding).read.parquet(str(embedding))
        return spark_model.elbow_curve(coords, k_values, seed, sample_size, n_init or spark_model.ELBOW_N_INIT,
                                       max_iter or spark_model.ELBOW_MAX_ITER)

    def fit_clusters(self, embedding: storage.StorePath, k: int, seed: int, n_init: int | None,
                     max_iter: int | None, out: storage.StorePath) -> ClusterFit:
        coords = self._session(embedding, out).read.parquet(str(embedding))
        result = spark_model.fit_clusters(coords, k, seed, n_init or spark_model.FIT_N_INIT,
                                          max_iter or spark_model.FIT_MAX_ITER)
        write_single_parquet(result.labels, _local(out), pa.schema([("track_id", pa.string()), ("cluster", pa.int64())]))
        return ClusterFit(centroids=np.asarray(result.centroids), inertia=result.inertia, sizes=list(result.sizes))
