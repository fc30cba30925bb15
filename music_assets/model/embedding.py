"""A fitted StandardScaler + PCA as plain arrays, applied without scikit-learn.

Apart from training/fit.py (which fits it) so that serving, which only applies it, never imports
scikit-learn, whose import alone costs each serving process seconds and memory
(benchmarks/serving_cold_start.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Embedding:
    """A fitted scaler + PCA as arrays: everything needed to transform a new track exactly."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    components: list[list[float]]  # n_components x n_features, in scaled space
    explained_variance_ratio: list[float]

    def scale_features(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)

    def transform(self, x: np.ndarray) -> np.ndarray:
        # PCA centres on the scaled mean, which is 0 by construction of the scaler.
        return self.scale_features(x) @ np.asarray(self.components).T

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Embedding":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})
