"""The local engine: pyarrow and DuckDB for the charts, pandas for `tracks`, scikit-learn for the
model. No Java, one machine; the default (docs/engines.md says when Spark pays off instead)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.engines.base import ChartLoad, ClusterFit, NoValidChartRows, Progress, pc_columns
from music_assets.ingest.charts.rows import CHART_ROW_SCHEMA, CHART_ROW_STATISTICS
from music_assets.ingest.charts.unique import unique_tracks_from_parquet
from music_assets.ingest.charts.stream import ingest_chart_batches
from music_assets.ingest.cleaning import CleaningReport, clean_tracks
from music_assets.ingest.sources.base import CatalogSource
from music_assets.model.embedding import Embedding
from music_assets.schema import feature_file_columns
from music_assets.training import fit


class LocalEngine:
    name = "local"
    fingerprint = "local-1"

    def load_chart_rows(self, source: CatalogSource, out: storage.StorePath, progress: Progress | None) -> ChartLoad:
        describe = getattr(source, "describe", source.name)
        started = time.monotonic()
        with storage.parquet_writer(out, CHART_ROW_SCHEMA, write_statistics=CHART_ROW_STATISTICS) as writer:
            result = ingest_chart_batches(source.chart_batches(), writer.write_table, source=describe,
                                          drain=getattr(source, "parse_rejects", None), progress=progress)
            load = ChartLoad(result.report, result.rejected, time.monotonic() - started, describe)
            if result.report.rows_kept == 0:  # raised inside the writer block: the previous file stays
                raise NoValidChartRows(load)
        return load

    def unique_tracks(self, chart_rows: storage.StorePath, out: storage.StorePath) -> None:
        storage.write_parquet(unique_tracks_from_parquet(chart_rows), out)

    def clean_tracks(self, unique: storage.StorePath, features: storage.StorePath, out: storage.StorePath) -> CleaningReport:
        with storage.open_parquet(features) as parquet:
            columns = feature_file_columns(parquet.schema_arrow.names)
        clean, report = clean_tracks(storage.read_parquet(unique), storage.read_parquet(features, columns=columns),
                                     features.name)
        storage.write_parquet(clean, out)
        return report

    def fit_embedding(self, tracks: storage.StorePath, features: list[str], n_components: int,
                      out: storage.StorePath) -> Embedding:
        # the model's tracks: those with every used feature (training/features.py); none imputed
        frame = storage.read_parquet(tracks, columns=["track_id", *features]).dropna(subset=features).reset_index(drop=True)
        embedding, coords = fit.fit_embedding(frame, features, n_components)
        table = pd.DataFrame(coords, columns=[f"pc_{i + 1}" for i in range(coords.shape[1])])
        table.insert(0, "track_id", frame["track_id"].to_numpy())
        storage.write_parquet(table, out)
        return embedding

    def elbow_curve(self, embedding: storage.StorePath, k_values: range, seed: int, sample_size: int,
                    n_init: int | None, max_iter: int | None) -> pd.DataFrame:
        emb = storage.read_parquet(embedding)
        coords = emb.loc[:, pc_columns(list(emb.columns))].to_numpy()
        return fit.elbow_curve(coords, k_values, seed, sample_size, n_init or fit.ELBOW_N_INIT, max_iter or fit.MAX_ITER)

    def fit_clusters(self, embedding: storage.StorePath, k: int, seed: int, n_init: int | None,
                     max_iter: int | None, out: storage.StorePath) -> ClusterFit:
        emb = storage.read_parquet(embedding)
        result = fit.fit_clusters(emb.loc[:, pc_columns(list(emb.columns))].to_numpy(), k, seed,
                                  n_init or fit.FIT_N_INIT, max_iter or fit.MAX_ITER)
        storage.write_parquet(pd.DataFrame({"track_id": emb["track_id"], "cluster": result.labels}), out)
        return ClusterFit(centroids=result.centroids, inertia=result.inertia,
                          sizes=np.bincount(result.labels, minlength=k).tolist())
