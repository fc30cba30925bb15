"""The seed notebook's pictures, rendered headless as PNG files.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot global state, no
display), so they render the same inside a Dagster run, a test or a server. Each function writes
one PNG atomically and returns its path.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from music_assets import storage  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DISTRIBUTION_FEATURES: tuple[str, ...] = ("danceability", "energy", "loudness", "liveness")
# The seed compared these three; catalogs without them fall back to their most common genres.
SEED_GENRES: tuple[str, ...] = ("dance pop", "latin", "boy band")
MAP_SAMPLE = 5_000  # points drawn on the PCA map: enough to see the clusters, light to render


def _save(fig: Figure, path: storage.Location, dpi: int = 80) -> storage.StorePath:
    FigureCanvasAgg(fig)
    with storage.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return storage.as_path(path)


def top_genres(genres: Sequence[Sequence[str]], n: int = 15) -> list[tuple[str, int]]:
    """The n most common genres (a track with several genres counts once for each)."""
    counts = Counter(g for gs in genres for g in gs)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def genre_pie(genres: Sequence[Sequence[str]], path: storage.Location, n: int = 15) -> storage.StorePath:
    """Pie of the n most common genres."""
    top = top_genres(genres, n)
    fig = Figure(figsize=(7, 7))
    ax = fig.add_subplot()
    if top:
        labels, sizes = zip(*top)
        colours = matplotlib.colormaps["tab20"](np.arange(len(sizes)) % 20)
        ax.pie(sizes, labels=labels, colors=colours, autopct="%1.0f%%", startangle=90, counterclock=False,
               textprops={"fontsize": 8})
    else:
        ax.text(0.5, 0.5, "no genre information", ha="center", va="center")
    ax.set_title(f"The {len(top)} most common genres (share of tracks among them)")
    return _save(fig, path)


def compared_genres(genres: Sequence[Sequence[str]], wanted: Sequence[str] = SEED_GENRES, n: int = 3) -> list[str]:
    """The seed's three genres when the catalog has them all, else its n most common."""
    present = {g for gs in genres for g in gs}
    if all(g in present for g in wanted):
        return list(wanted)
    return [g for g, _ in top_genres(genres, n)]


def genre_distributions(tracks: pd.DataFrame, path: storage.Location, chosen: Sequence[str],
                        features: Sequence[str] = DISTRIBUTION_FEATURES) -> storage.StorePath:
    """Per-genre histograms of a few features (one panel per feature, one colour per genre)."""
    fig = Figure(figsize=(10, 7))
    axes = fig.subplots(2, 2).ravel()
    for ax, feature in zip(axes, features):
        for genre in chosen:
            mask = np.array([genre in gs for gs in tracks["genres"]], dtype=bool)
            values = tracks.loc[mask, feature].dropna().to_numpy(dtype=float)  # a missing value is not drawn
            if len(values):
                ax.hist(values, bins=30, alpha=0.5, density=True, label=f"{genre} ({len(values)})")
        ax.set_title(feature)
    axes[0].legend(fontsize=8)
    fig.suptitle("Feature distributions by genre: " + " vs ".join(chosen))
    return _save(fig, path)


def elbow(curve: pd.DataFrame, chosen_k: int, path: storage.Location) -> storage.StorePath:
    """KMeans inertia against k, the chosen k marked."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ax.plot(curve["k"], curve["inertia"], marker="o")
    chosen = curve[curve["k"] == chosen_k]
    ax.scatter(chosen["k"], chosen["inertia"], s=160, facecolors="none", edgecolors="red", linewidths=2,
               label=f"chosen k = {chosen_k}", zorder=3)
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel("inertia (within-cluster sum of squares)")
    ax.set_title("Elbow curve")
    ax.legend()
    return _save(fig, path)


def pca_map(coords: np.ndarray, labels: np.ndarray, path: storage.Location, seed: int = 0) -> storage.StorePath:
    """Tracks on the first two principal components, coloured by cluster (a fixed sample)."""
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels)
    if len(coords) > MAP_SAMPLE:
        keep = np.sort(np.random.default_rng(seed).choice(len(coords), MAP_SAMPLE, replace=False))
        coords, labels = coords[keep], labels[keep]
    y = coords[:, 1] if coords.shape[1] > 1 else np.zeros(len(coords))
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    scatter = ax.scatter(coords[:, 0], y, c=labels, cmap="tab20", s=4, alpha=0.7)
    ax.legend(*scatter.legend_elements(), title="cluster", fontsize=7, loc="best", markerscale=1)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2" if coords.shape[1] > 1 else "")
    ax.set_title("Tracks on the PCA map, coloured by cluster")
    return _save(fig, path)


def quality_history(history: pd.DataFrame, path: storage.Location, metric: str = "genre_hit_rate") -> storage.StorePath:
    """One line per mode: `metric` for each evaluated model version, oldest first."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    order = history.drop_duplicates("version").sort_values("evaluated_at")["version"].tolist()
    x = {v: i for i, v in enumerate(order)}
    for mode, rows in history.groupby("mode", sort=True):
        rows = rows.sort_values("evaluated_at")
        ax.plot([x[v] for v in rows["version"]], rows[metric], marker="o", label=str(mode))
    ax.set_xticks(range(len(order)), [v[:15] for v in order], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')}@10 across model versions")
    ax.legend(fontsize=8)
    return _save(fig, path)


def is_png(path: storage.Location) -> bool:
    return storage.read_bytes(path)[: len(PNG_SIGNATURE)] == PNG_SIGNATURE


def markdown_image(path: storage.Location, alt: str) -> str:
    """Markdown that shows a PNG inline in the Dagster UI (a data URI: the UI cannot read our disk)."""
    data = base64.b64encode(storage.read_bytes(path)).decode("ascii")
    return f"![{alt}](data:image/png;base64,{data})"
