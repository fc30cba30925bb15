"""Every signal of a catalog, row-aligned, fitted on the chart rows before a date only.

The hybrid's inputs for one catalog: unit-length audio rows (standardized features, so cosine
compares shapes of sound), chart profiles (chart_profile.py, with artist-level profiles for
tracks without chart history of their own), genre vectors (genre_vectors.py) and the recency
prior, each with the mask of tracks that have it. Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np

from music_assets import storage
from music_assets.model.hybrid import SIGNALS
from music_assets.training.signals.chart_profile import ChartProfiles, ProfileParams, align, compute_profiles, normalize_rows
from music_assets.training.signals.genre_vectors import genre_vectors


@dataclass
class CatalogSignals:
    blocks: dict[str, np.ndarray]  # name -> n x d float32, unit or zero rows
    present: dict[str, np.ndarray]  # name -> n bool
    prior: np.ndarray  # n float32 in [0, 1]
    chart_source: np.ndarray  # "track", "artist" or "none" per track
    profiles: ChartProfiles

    def __post_init__(self) -> None:
        assert set(self.blocks) == set(SIGNALS) == set(self.present)


def audio_block(scaled: np.ndarray) -> np.ndarray:
    """Standardized features as unit rows (a track at the catalog mean has no direction: zero)."""
    return normalize_rows(np.asarray(scaled, dtype=np.float32))


def catalog_signals(chart_rows: storage.Location, before: date, track_ids: Sequence[str], artists: Sequence[str],
                    genres: Sequence[Sequence[str]], scaled: np.ndarray, audio_present: np.ndarray,
                    params: ProfileParams = ProfileParams()) -> CatalogSignals:
    """The signals of a catalog from the chart rows dated before `before` (and its own genres and features)."""
    profiles = compute_profiles(chart_rows, before, params)
    chart, prior, source, _ = align(profiles, track_ids, artists)
    genre = genre_vectors(genres)
    audio = audio_block(scaled)
    blocks = {"audio": audio, "chart": chart, "genre": genre}
    present = {
        "audio": np.asarray(audio_present, dtype=bool) & (np.abs(audio).sum(axis=1) > 0),
        "chart": source != "none",
        "genre": np.abs(genre).sum(axis=1) > 0,
    }
    return CatalogSignals(blocks, present, prior, source, profiles)
