"""The engine interface: what each heavy stage asks of whichever engine runs it.

A stage (one asset file in defs/assets/) reads its config, asks `engine.<stage>(...)` for the
work, and turns the answer into metadata; the engine (local.py: pyarrow, DuckDB, scikit-learn;
spark/engine.py: Spark SQL and pyspark.ml) reads and writes the data folder's files itself and
returns what the stage reports. Both engines write the same files (schema, row order, values:
tests/test_engine_parity.py), so everything downstream reads them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from music_assets import storage
from music_assets.ingest.charts.rows import ChartLoadReport
from music_assets.ingest.cleaning import CleaningReport
from music_assets.ingest.sources.base import CatalogSource
from music_assets.model.embedding import Embedding

Progress = Callable[[ChartLoadReport, float], None]


class EngineError(RuntimeError):
    """The engine cannot run here (missing Java, a data folder it cannot reach); the message says what to do."""


class NoValidChartRows(ValueError):
    """Every chart row was rejected; raised before the output replaces the previous file."""

    def __init__(self, load: "ChartLoad"):
        self.load = load
        super().__init__(f"{load.describe} produced no valid chart rows ({load.report.rows_read:,} read)")


@dataclass
class ChartLoad:
    report: ChartLoadReport
    rejected: pa.Table  # up to REJECTED_KEPT rejected rows with their reasons (all are counted in report)
    elapsed_s: float
    describe: str  # the input, as the run log and the metadata name it


@dataclass
class ClusterFit:
    centroids: np.ndarray  # k x n_components, cluster 0 the largest
    inertia: float
    sizes: list[int]


class Engine(Protocol):
    name: str  # e.g. "local" or "spark local[2]": recorded in every stage's metadata
    fingerprint: str  # part of a stage's reuse fingerprint: switching engines refits

    def load_chart_rows(self, source: CatalogSource, out: storage.StorePath, progress: Progress | None) -> ChartLoad:
        """Validate the source's chart rows into `out`; rejected rows are returned, not written."""
        ...

    def unique_tracks(self, chart_rows: storage.StorePath, out: storage.StorePath) -> None:
        """One row per track id with its chart history."""
        ...

    def clean_tracks(self, unique: storage.StorePath, features: storage.StorePath, out: storage.StorePath) -> CleaningReport:
        """Reject out-of-range values, join and dedupe into `out` (ingest/cleaning.py's rules; no
        imputation); the report carries the reject rows."""
        ...

    def fit_embedding(self, tracks: storage.StorePath, features: list[str], n_components: int,
                      out: storage.StorePath) -> Embedding:
        """Scaler + PCA on `features` over the tracks that have a value for each of them (the rest
        are left out, never imputed); coordinates (track_id, pc_1..pc_n) of those written to `out`."""
        ...

    def elbow_curve(self, embedding: storage.StorePath, k_values: range, seed: int, sample_size: int,
                    n_init: int | None, max_iter: int | None) -> pd.DataFrame:
        """KMeans inertia per k (columns k, inertia); None: the engine's default effort."""
        ...

    def fit_clusters(self, embedding: storage.StorePath, k: int, seed: int, n_init: int | None,
                     max_iter: int | None, out: storage.StorePath) -> ClusterFit:
        """KMeans labels (track_id, cluster; numbered by size) written to `out`."""
        ...


def pc_columns(columns: list[str]) -> list[str]:
    """The coordinate columns of an embedding file, in order."""
    return [c for c in columns if c.startswith("pc_")]
