"""Which features a model is built from, and which tracks it is built on.

The model uses the wanted features (DEFAULT_MODEL_FEATURES unless configured) that the catalog
actually has; nothing is invented for a column the catalog lacks. A feature counts as present when
at least half of the tracks that have any audio feature carry a value for it: a column with one
parsed value in ten thousand (`"4/4"` read as a date) says nothing about the others, and building
on it would leave all but one track out of the model. Below MIN_MODEL_FEATURES present features
there is no model. The model's tracks are those with a value for every feature used; the others
stay in the catalog (searchable), flagged, and are never recommended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from music_assets.schema import FEATURE_COLUMNS, MIN_MODEL_FEATURES

MIN_FEATURE_COVERAGE = 0.5  # share of the tracks with features that must carry a feature for it to be used


class TooFewFeatures(ValueError):
    """The catalog has fewer than MIN_MODEL_FEATURES of the wanted features; the message names them."""


@dataclass(frozen=True)
class FeatureChoice:
    used: list[str]
    dropped: dict[str, str]  # feature -> why it is not used
    n_tracks: int
    n_with_features: int  # tracks with at least one audio feature value
    in_model: np.ndarray  # bool per track: a value for every used feature

    @property
    def n_in_model(self) -> int:
        return int(self.in_model.sum())

    @property
    def featureless(self) -> int:
        return self.n_tracks - self.n_with_features

    @property
    def featureless_share(self) -> float:
        return self.featureless / self.n_tracks if self.n_tracks else 0.0

    def summary(self) -> dict[str, object]:
        """What the bundle, the metadata and /model record about the catalog's coverage."""
        return {
            "features_used": list(self.used), "features_dropped": dict(self.dropped),
            "tracks": self.n_tracks, "tracks_in_model": self.n_in_model,
            "tracks_without_features": self.featureless,
            "featureless_share": round(self.featureless_share, 6),
            "tracks_missing_a_used_feature": self.n_with_features - self.n_in_model,
        }


def choose_features(tracks: pd.DataFrame, wanted: list[str], where: str = "the catalog",
                    minimum: int = MIN_MODEL_FEATURES) -> FeatureChoice:
    """The wanted features `tracks` has (see the module docstring), or TooFewFeatures naming the
    missing columns and `where` they were looked for."""
    present = [c for c in FEATURE_COLUMNS if c in tracks]
    has_any = tracks[present].notna().any(axis=1).to_numpy() if present else np.zeros(len(tracks), bool)
    n_with = int(has_any.sum())
    used, dropped = [], {}
    for name in wanted:
        n = int(tracks[name].notna().sum()) if name in tracks else 0
        if n == 0:
            dropped[name] = "no value for any track"
        elif n < MIN_FEATURE_COVERAGE * n_with:
            dropped[name] = f"a value for only {n:,} of the {n_with:,} tracks with features"
        else:
            used.append(name)
    if len(used) < min(minimum, len(wanted)):
        missing = "; ".join(f"{name} ({why})" for name, why in dropped.items())
        raise TooFewFeatures(
            f"{where} has {len(used)} of the model's features ({', '.join(used) or 'none'}); at least "
            f"{min(minimum, len(wanted))} are needed. Missing: {missing}")
    in_model = tracks[used].notna().all(axis=1).to_numpy() if used else np.zeros(len(tracks), bool)
    return FeatureChoice(used, dropped, len(tracks), n_with, in_model)
