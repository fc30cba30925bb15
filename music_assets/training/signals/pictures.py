"""Pictures of the hybrid's signals for the Dagster UI (headless Agg, like training/plots.py)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from music_assets import storage
from music_assets.training.plots import _save

MAP_SAMPLE = 5_000


def chart_profile_map(vectors: np.ndarray, regions: Sequence[str], path: storage.Location, seed: int = 0) -> storage.StorePath:
    """The first two profile dimensions, coloured by the region where each track charts most:
    audiences show as regions apart."""
    rng = np.random.default_rng(seed)
    n = len(vectors)
    pick = rng.choice(n, size=min(n, MAP_SAMPLE), replace=False) if n else np.array([], int)
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    regions = np.asarray(list(regions), dtype=object)
    top = [r for r, _ in Counter(regions[pick]).most_common(8)]
    for r in top:
        at = pick[regions[pick] == r]
        ax.scatter(vectors[at, 0], vectors[at, 1] if vectors.shape[1] > 1 else np.zeros(len(at)), s=4, alpha=0.5, label=r)
    rest = pick[~np.isin(regions[pick], top)]
    if len(rest):
        ax.scatter(vectors[rest, 0], vectors[rest, 1] if vectors.shape[1] > 1 else np.zeros(len(rest)), s=4, alpha=0.3,
                   c="lightgrey", label="other regions")
    ax.set_xlabel("chart profile dimension 1")
    ax.set_ylabel("dimension 2")
    ax.set_title(f"Chart profiles of {len(pick):,} tracks by their main region")
    if len(pick):
        ax.legend(fontsize=7, markerscale=3)
    return _save(fig, path)


def genre_token_bars(genres: Sequence[Sequence[str]], path: storage.Location, n: int = 20) -> storage.StorePath:
    """The most common genres and how many tracks carry each (the TF-IDF's document frequency)."""
    counts = Counter(g for gs in genres for g in set(gs)).most_common(n)
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    if counts:
        names, values = zip(*counts)
        ax.barh(range(len(names))[::-1], values)
        ax.set_yticks(range(len(names))[::-1], names, fontsize=8)
        ax.set_xlabel("tracks")
    else:
        ax.text(0.5, 0.5, "no genre information", ha="center", va="center")
    ax.set_title(f"The {len(counts)} most common genres (rare ones weigh more in the vectors)")
    return _save(fig, path)


def validation_grid(scored: pd.DataFrame, path: storage.Location) -> storage.StorePath:
    """Validation co-chart hit rate of every weight set, best first; the chosen one marked."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    if len(scored):
        s = scored.sort_values("hit", ascending=False).reset_index(drop=True)
        ax.plot(range(len(s)), s["hit"], marker=".", label="co-chart hit@10 (validation)")
        ax.plot(range(len(s)), s["genre_hit"], marker=".", alpha=0.6, label="genre hit@10 (validation)")
        chosen = s.index[s["chosen"]]
        if len(chosen):
            ax.axvline(int(chosen[0]), color="red", linestyle="--", label="chosen")
        ax.set_xlabel("weight sets, by validation hit rate")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "weights not chosen on data (see metadata)", ha="center", va="center")
    ax.set_title("Hybrid weights chosen on the period before the cut")
    return _save(fig, path)
