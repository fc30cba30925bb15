"""The heavy stages on Spark: chart_rows, unique_tracks, tracks, track_embedding, cluster_k, track_clusters.

Same asset keys, groups, configs, files and metadata as the local assets they replace (see
music_assets/engine.py), so checks, downstream assets and serving read what they always read.
Thin glue around music_assets/core/spark/; loaded only with MUSIC_ADVISER_ENGINE=spark.
"""


import shutil
import time

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from music_assets.core.chart_ingest import REJECTED_KEPT
from music_assets.assets.cluster_k import ElbowConfig, chosen_k, materialize_elbow, pc_columns
from music_assets.assets.metadata import markdown_table, parquet_metadata
from music_assets.assets.track_clusters import ClusterConfig, centroids_path
from music_assets.assets.track_embedding import EmbeddingConfig, params_path
from music_assets.assets.tracks import cleaning_result
from music_assets.core import storage
from music_assets.core.charts import MissingColumnsError
from music_assets.core.schema import FEATURE_COLUMNS, TRACK_FEATURE_COLUMNS
from music_assets.core.sources.files_charts import ChartFileConfig, ChartFileError
from music_assets.core.spark import charts as spark_charts
from music_assets.core.spark import cleaning as spark_cleaning
from music_assets.core.spark import model as spark_model
from music_assets.core.spark.parquet_out import staging_dir, write_single_parquet
from music_assets.resources import DataStore, SourceResource
from music_assets.spark_resource import SparkResource

KINDS = {"parquet", "spark"}
CODE_VERSION = "spark-1"  # cluster_k's fingerprint: switching engines refits the elbow


def _session(spark: SparkResource, store: DataStore):
    """The Spark session, once the data folder is one Spark can read and write here.

    Spark reads and writes the data folder with its own (Hadoop) filesystems, not fsspec: an
    object store needs the cluster's connector (e.g. hadoop-aws for s3a://), which a Maven
    download would bring and this project does not ship. Refuse before any work instead of
    failing deep inside a Spark job.
    """
    if not storage.is_local(store.data_dir):
        raise dg.Failure(
            f"the spark engine needs a data folder on a filesystem path every Spark process sees "
            f"(a local disk for local[N], a shared mount on a cluster), not {store.data_dir}: "
            "use MUSIC_ADVISER_ENGINE=local with an object-store data folder"
        )
    return spark.spark_session


class SparkElbowConfig(ElbowConfig):
    n_init: int = spark_model.ELBOW_N_INIT  # seeded k-means|| runs per k (the best is kept)
    max_iter: int = spark_model.ELBOW_MAX_ITER


class SparkClusterConfig(ClusterConfig):
    n_init: int = spark_model.FIT_N_INIT
    max_iter: int = spark_model.FIT_MAX_ITER


@dg.asset(name="chart_rows", group_name="ingest", kinds=KINDS)
def chart_rows_spark(context: dg.AssetExecutionContext, store: DataStore, source: SourceResource,
                     spark: SparkResource) -> dg.MaterializeResult:
    """Chart rows validated by Spark SQL with the local engine's rules; rejected rows kept beside them.

    Chart files (files and spotify sources) are read by Spark itself; a source that generates
    rows in Python (demo) is staged as Parquet first.
    """
    src = source.open()  # fails clearly on a bad source configuration before Spark starts
    session = _session(spark, store)
    path, rejected_path = store.asset_path("chart_rows"), store.asset_path("chart_rows_rejected")
    staging = staging_dir(path)
    started = time.monotonic()
    try:
        if source.kind in ("files", "spotify"):
            charts = ChartFileConfig(path=str(source.charts_path), layout=source.charts_layout,
                                     region=source.charts_region, chart=source.charts_chart)
            raw, describe = spark_charts.read_chart_files(session, charts, staging), getattr(src, "describe", src.name)
        else:
            raw, describe = spark_charts.stage_batches(session, src.chart_batches(), staging), src.name
        load = spark_charts.load_chart_rows(raw, path, REJECTED_KEPT, describe)
    except (MissingColumnsError, ChartFileError) as exc:
        raise dg.Failure(str(exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report, elapsed = load.report, time.monotonic() - started
    context.log.info(f"chart rows (spark): {report.rows_read:,} read in {elapsed:,.1f} s, "
                     f"{report.rows_kept:,} kept, {report.rows_rejected:,} rejected")
    if report.rows_kept == 0:
        raise dg.Failure(f"source {src.name!r} produced no valid chart rows ({report.rows_read:,} read): "
                         f"{describe} has a header but no usable data?")
    storage.write_parquet(load.rejected, rejected_path)
    if report.rows_rejected:
        context.log.warning(f"{report.rows_rejected:,} malformed chart rows kept aside in {rejected_path}: {report.reasons}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path, source=src.name, engine=f"spark {spark.master}", rows_read=report.rows_read,
            rows_rejected=report.rows_rejected, rejected_reasons=dg.MetadataValue.json(report.reasons),
            rejected_path=dg.MetadataValue.path(str(rejected_path)),
            rejected_sample=markdown_table(load.rejected.slice(0, 10).to_pandas(), rows=10),
            rows_per_second=dg.MetadataValue.float(report.rows_read / max(elapsed, 1e-9)),
        )
    )


@dg.asset(name="unique_tracks", group_name="ingest", kinds=KINDS, deps=["chart_rows"])
def unique_tracks_spark(store: DataStore, spark: SparkResource) -> dg.MaterializeResult:
    """Chart rows collapsed per track id by Spark SQL (the local engine's aggregation)."""
    path = store.asset_path("unique_tracks")
    spark_charts.unique_tracks(_session(spark, store), store.asset_path("chart_rows"), path)
    return dg.MaterializeResult(metadata=parquet_metadata(path, engine=f"spark {spark.master}"))


@dg.asset(name="tracks", group_name="prepare", kinds=KINDS, deps=["unique_tracks", "track_features"])
def tracks_spark(context: dg.AssetExecutionContext, store: DataStore, spark: SparkResource) -> dg.MaterializeResult:
    """One clean row per song, by Spark with the local engine's rules and results: duplicates by
    id and by normalized title+artist removed (the survivor keeps the others as alias_ids),
    numeric gaps filled with the column mean, text with ""."""
    session = _session(spark, store)
    path = store.asset_path("tracks")
    report = spark_cleaning.clean_tracks(session, store.asset_path("unique_tracks"), store.asset_path("track_features"),
                                         path, TRACK_FEATURE_COLUMNS)
    return cleaning_result(context, path, report, engine=f"spark {spark.master}")


@dg.asset(name="track_embedding", group_name="model", kinds=KINDS, deps=["tracks"])
def track_embedding_spark(context: dg.AssetExecutionContext, config: EmbeddingConfig, store: DataStore,
                          spark: SparkResource) -> dg.MaterializeResult:
    """pyspark.ml StandardScaler + PCA; parameters exported in the local engine's conventions."""
    unknown = [f for f in config.features if f not in FEATURE_COLUMNS]
    if unknown:
        raise dg.Failure(f"unknown feature(s) in config: {unknown}; known: {list(FEATURE_COLUMNS)}")
    tracks = _session(spark, store).read.parquet(str(store.asset_path("tracks")))
    embedding, coords = spark_model.fit_embedding(tracks, config.features, config.n_components)
    schema = pa.schema([("track_id", pa.string())] + [(c, pa.float64()) for c in spark_model.pc_names(config.n_components)])
    path = store.asset_path("track_embedding")
    write_single_parquet(coords, path, schema)
    storage.write_json(embedding.to_dict(), params_path(store))
    evr = embedding.explained_variance_ratio
    context.log.info(f"PCA (spark): {len(evr)} components explain {sum(evr):.1%} of the variance")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path, engine=f"spark {spark.master}", n_components=len(evr),
            explained_variance_ratio=dg.MetadataValue.json([round(v, 4) for v in evr]),
            explained_variance_total=dg.MetadataValue.float(float(sum(evr))),
            params_path=dg.MetadataValue.path(str(params_path(store))),
        )
    )


@dg.asset(name="cluster_k", group_name="model", kinds=KINDS, deps=["track_embedding"], code_version=CODE_VERSION)
def cluster_k_spark(context: dg.AssetExecutionContext, config: SparkElbowConfig, store: DataStore,
                    spark: SparkResource) -> dg.MaterializeResult:
    """pyspark.ml KMeans cost for k = min_k..max_k and the knee by the local engine's Kneedle rule."""
    def fit(embedding: storage.StorePath) -> pd.DataFrame:
        coords = _session(spark, store).read.parquet(str(embedding))
        return spark_model.elbow_curve(coords, range(config.min_k, config.max_k + 1), config.seed,
                                       config.sample_size, config.n_init, config.max_iter)

    return materialize_elbow(context, config, store, fit, engine=f"spark {spark.master}", code_version=CODE_VERSION)


@dg.asset(name="track_clusters", group_name="model", kinds=KINDS, deps=["track_embedding", "cluster_k"])
def track_clusters_spark(context: dg.AssetExecutionContext, config: SparkClusterConfig, store: DataStore,
                         spark: SparkResource) -> dg.MaterializeResult:
    """pyspark.ml KMeans with the elbow's k; clusters numbered by size (0 = largest)."""
    k = chosen_k(store)
    coords = _session(spark, store).read.parquet(str(store.asset_path("track_embedding")))
    pcs = pc_columns(coords.columns)
    result = spark_model.fit_clusters(coords, k, config.seed, config.n_init, config.max_iter)
    path = store.asset_path("track_clusters")
    write_single_parquet(result.labels, path, pa.schema([("track_id", pa.string()), ("cluster", pa.int64())]))
    storage.write_parquet(pd.DataFrame(result.centroids, columns=pcs).assign(cluster=np.arange(k)), centroids_path(store))
    context.log.info(f"KMeans k={k} (spark): cluster sizes {result.sizes}")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path, k=k, inertia=result.inertia, engine=f"spark {spark.master}",
            cluster_sizes=dg.MetadataValue.json(result.sizes),
            centroids_path=dg.MetadataValue.path(str(centroids_path(store))),
        )
    )


SPARK_ASSETS = [chart_rows_spark, unique_tracks_spark, tracks_spark, track_embedding_spark, cluster_k_spark,
                track_clusters_spark]
