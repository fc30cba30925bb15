"""The model fit on Spark (pyspark.ml StandardScaler, PCA, KMeans), exported as the same plain
arrays as core.model, so recommender_model writes the same bundle and serving cannot tell.

Two conventions differ from scikit-learn, and the exported parameters are converted so they mean
what `core.model.Embedding` (applied by serving) thinks they mean:
- Spark's StandardScaler divides by the unbiased standard deviation (n - 1), scikit-learn's by the
  population one (n). The stored `scale` is the population std, and the coordinates are Spark's
  times sqrt(n / (n - 1)): exactly `Embedding.transform` of the raw features. The eigenvectors do
  not change (a common factor on every feature), nor does the explained variance ratio.
- PCA's eigenvector signs are arbitrary: the rule of core.model (largest loading positive) is
  applied to Spark's components too, and to the coordinates with them.
KMeans is Spark's k-means|| with `n_init` seeded runs keeping the lowest cost (scikit-learn's
n_init), clusters relabelled by size as core.model.fit_clusters does; the Kneedle rule that picks
k from the elbow curve is core.model.knee_k itself.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.feature import PCA, StandardScaler, VectorAssembler
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from music_assets.training.fit import Embedding

# As many seeded runs as core.model (3 per k for the elbow, 5 for the final fit): the knee of the
# demo catalogs' curves wins by 1.4-2.7% only, and with one run per k Spark's k-means|| landed in a
# worse optimum at some k (+17% cost at k=5) often enough to move the knee. Every KMeans
# iteration is a Spark job (~0.1 s in local mode even on 2,500 rows), so the runs are fitted from
# PARALLELISM driver threads at once, as pyspark.ml.tuning's `parallelism` does.
ELBOW_MAX_ITER, ELBOW_N_INIT = 50, 3
FIT_MAX_ITER, FIT_N_INIT = 50, 5
TOL = 1e-4  # Spark's default: largest centroid movement that counts as converged
PARALLELISM = 4
VECTOR = "_features"


def pc_names(n: int) -> list[str]:
    return [f"pc_{i + 1}" for i in range(n)]


def fit_embedding(tracks: DataFrame, features: list[str], n_components: int) -> tuple[Embedding, DataFrame]:
    """StandardScaler + PCA on `features` of `tracks`; the parameters and a DataFrame of
    track_id, pc_1..pc_n (in `tracks` order) whose values are `Embedding.transform` of the row."""
    if not 1 <= n_components <= len(features):
        raise ValueError(f"n_components must be between 1 and {len(features)} (the number of features), got {n_components}")
    assembled = VectorAssembler(inputCols=features, outputCol=VECTOR).transform(
        tracks.select("track_id", *[F.col(f).cast("double") for f in features]))
    n = assembled.count()
    if n < n_components + 1:
        raise ValueError(f"need more than {n_components} tracks to fit a {n_components}-component PCA, got {n}")
    scaler = StandardScaler(inputCol=VECTOR, outputCol="_scaled", withMean=True, withStd=True).fit(assembled)
    scaled = scaler.transform(assembled)
    pca = PCA(k=n_components, inputCol="_scaled", outputCol="_pcs").fit(scaled)
    unbiased = scaler.std.toArray()
    to_population = math.sqrt((n - 1) / n)
    scale = np.where(unbiased == 0, 1.0, unbiased * to_population)  # a constant feature: as core.model
    components = pca.pc.toArray().T  # Spark: n_features x k, columns are components
    signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    embedding = Embedding(
        features=list(features), mean=scaler.mean.toArray().tolist(), scale=scale.tolist(),
        components=components.tolist(), explained_variance_ratio=pca.explainedVariance.toArray().tolist(),
    )
    factor = 1.0 / to_population  # Spark's scaled values are population-scaled ones / this
    pcs = vector_to_array(F.col("_pcs"))
    coords = pca.transform(scaled).select(
        "track_id", *[(pcs[i] * float(signs[i] * factor)).alias(name) for i, name in enumerate(pc_names(n_components))])
    return embedding, coords


def _vectors(coords: DataFrame) -> DataFrame:
    cols = [c for c in coords.columns if c.startswith("pc_")]
    return coords.select("track_id", array_to_vector(F.array(*[F.col(c).cast("double") for c in cols])).alias(VECTOR))


def _best_models(data: DataFrame, ks: list[int], seed: int, n_init: int, max_iter: int) -> dict[int, KMeansModel]:
    """For each k, the lowest-cost of `n_init` seeded k-means|| runs (scikit-learn's n_init, which
    Spark lacks), the runs fitted concurrently from driver threads."""
    runs = [(k, seed + run) for k in ks for run in range(max(1, n_init))]

    def fit(run: tuple[int, int]) -> tuple[int, KMeansModel]:
        k, run_seed = run
        return k, KMeans(k=k, seed=run_seed, maxIter=max_iter, tol=TOL, featuresCol=VECTOR).fit(data)

    best: dict[int, KMeansModel] = {}
    with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
        for k, model in pool.map(fit, runs):  # in submission order: ties keep the lowest seed
            if k not in best or model.summary.trainingCost < best[k].summary.trainingCost:
                best[k] = model
    return best


def elbow_curve(coords: DataFrame, k_values: range, seed: int, sample_size: int = 50_000,
                n_init: int = ELBOW_N_INIT, max_iter: int = ELBOW_MAX_ITER) -> pd.DataFrame:
    """KMeans cost (scikit-learn's inertia) for each k, on a seeded sample of about `sample_size`
    rows when the catalog is larger (Spark samples by fraction, not by count)."""
    data = _vectors(coords)
    n = data.count()
    if n > sample_size:
        data = data.sample(fraction=sample_size / n, seed=seed)
        n = data.count()
    data = data.cache()
    try:
        ks = [k for k in k_values if k < n]
        models = _best_models(data, ks, seed, n_init, max_iter)
        inertia = [float(models[k].summary.trainingCost) for k in ks]
    finally:
        data.unpersist()
    return pd.DataFrame({"k": ks, "inertia": inertia})


@dataclass
class SparkClustering:
    k: int
    centroids: np.ndarray  # k x n_components, row i = cluster i (0 = largest)
    labels: DataFrame  # track_id, cluster
    inertia: float
    sizes: list[int]


def fit_clusters(coords: DataFrame, k: int, seed: int, n_init: int = FIT_N_INIT,
                 max_iter: int = FIT_MAX_ITER) -> SparkClustering:
    """KMeans with k clusters, numbered by size (largest = 0) as core.model.fit_clusters does."""
    data = _vectors(coords).cache()  # read once for the n_init fits; the labels below reread it
    try:
        model = _best_models(data, [k], seed, n_init, max_iter)[k]
    finally:
        data.unpersist()
    sizes = np.asarray(model.summary.clusterSizes, dtype=np.int64)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    mapping = F.create_map(*[F.lit(v) for pair in enumerate(relabel.tolist()) for v in pair])
    labels = model.transform(data).select("track_id", mapping[F.col("prediction")].cast("bigint").alias("cluster"))
    centroids = np.asarray(model.clusterCenters())[order]
    return SparkClustering(k=k, centroids=centroids, labels=labels, inertia=float(model.summary.trainingCost),
                           sizes=sizes[order].tolist())
