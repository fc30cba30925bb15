"""StandardScaler + PCA embedding, the elbow rule for k, KMeans — fitted with scikit-learn and
exported as plain arrays so the published model is data, not pickled code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from music_assets.model.embedding import Embedding  # re-exported: the fitted form lives apart from the fitting

# KMeans runs its OpenMP threads single-threaded: on a 2-core machine shared with other work,
# OpenMP's busy-waiting threads made the elbow curve tens of times slower, while one thread
# loses at most 2x when the machine is idle (benchmarks/pipeline.py, benchmarks/README.md).
KMEANS_THREADS = 1


def fit_embedding(df: pd.DataFrame, features: list[str], n_components: int) -> tuple[Embedding, np.ndarray]:
    """Fit StandardScaler then PCA on `features`; return the parameters and the coordinates."""
    if not 1 <= n_components <= len(features):
        raise ValueError(f"n_components must be between 1 and {len(features)} (the number of features), got {n_components}")
    if len(df) < n_components + 1:
        raise ValueError(f"need more than {n_components} tracks to fit a {n_components}-component PCA, got {len(df)}")
    x = df.loc[:, features].to_numpy(dtype=np.float64)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    scaled = (x - scaler.mean_) / scale
    pca = PCA(n_components=n_components, svd_solver="full", random_state=0).fit(scaled)
    # Make the sign of each component deterministic (largest loading positive) so reruns agree.
    signs = np.sign(pca.components_[np.arange(n_components), np.abs(pca.components_).argmax(axis=1)])
    components = pca.components_ * signs[:, None]
    emb = Embedding(
        features=list(features),
        mean=scaler.mean_.tolist(),
        scale=scale.tolist(),
        components=components.tolist(),
        explained_variance_ratio=pca.explained_variance_ratio_.tolist(),
    )
    # PCA subtracts the mean of the scaled data, which is ~0; use the exact export for coordinates.
    return emb, emb.transform(x)


ELBOW_N_INIT, FIT_N_INIT, MAX_ITER = 3, 5, 300  # KMeans restarts per k on the elbow, for the final fit


def elbow_curve(coords: np.ndarray, k_values: range, seed: int, sample_size: int = 50_000,
                n_init: int = ELBOW_N_INIT, max_iter: int = MAX_ITER) -> pd.DataFrame:
    """KMeans inertia for each k (on a fixed random sample when the catalog is large)."""
    rng = np.random.default_rng(seed)
    x = coords if len(coords) <= sample_size else coords[rng.choice(len(coords), sample_size, replace=False)]
    ks = [k for k in k_values if k < len(x)]
    with threadpool_limits(limits=KMEANS_THREADS, user_api="openmp"):
        inertia = [float(KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed).fit(x).inertia_)
                   for k in ks]
    return pd.DataFrame({"k": ks, "inertia": inertia})


def knee_k(curve: pd.DataFrame) -> int:
    """The elbow: the k whose point lies farthest below the chord from the first to the last point.

    This is the Kneedle rule (Satopaa et al. 2011) on the normalized curve: with k and inertia
    scaled to [0, 1], the knee maximises (chord value - curve value). Stated, deterministic and
    free of a tuning parameter, unlike picking k by eye from a plot.
    """
    if curve.empty:
        raise ValueError("the elbow curve is empty: not enough tracks to try any k")
    if len(curve) < 3:
        return int(curve["k"].iloc[0])
    k = curve["k"].to_numpy(dtype=float)
    y = curve["inertia"].to_numpy(dtype=float)
    kn = (k - k[0]) / (k[-1] - k[0])
    span = y[0] - y[-1]
    yn = (y - y[-1]) / span if span > 0 else np.zeros_like(y)
    gap = (1 - kn) - yn  # chord from (0, 1) to (1, 0) minus the curve
    return int(k[int(np.argmax(gap))])


@dataclass
class Clustering:
    k: int
    centroids: np.ndarray  # k x n_components
    labels: np.ndarray
    inertia: float


def fit_clusters(coords: np.ndarray, k: int, seed: int, n_init: int = FIT_N_INIT, max_iter: int = MAX_ITER) -> Clustering:
    with threadpool_limits(limits=KMEANS_THREADS, user_api="openmp"):
        km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed).fit(coords)
    # Relabel clusters by size (largest = 0) so labels are stable and readable across reruns.
    sizes = np.bincount(km.labels_, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype=int)
    relabel[order] = np.arange(k)
    return Clustering(k=k, centroids=km.cluster_centers_[order], labels=relabel[km.labels_], inertia=float(km.inertia_))


def assign_clusters(coords: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid for each row (what KMeans.predict does), from stored arrays."""
    d = ((coords[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)
