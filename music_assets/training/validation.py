"""Pure rules behind the Dagster asset checks: each returns an Outcome (passed, why, figures),
so the rules are tested on crafted frames and the checks in checks.py stay thin glue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Outcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def unique_ids(df: pd.DataFrame, column: str = "track_id") -> Outcome:
    dup = df[column][df[column].duplicated(keep=False)]
    n = int(dup.nunique())
    return Outcome(n == 0, f"{n} {column} value(s) repeated" if n else f"every {column} is unique",
                   {"duplicated_ids": n, "examples": sorted(map(str, dup.unique()))[:5]})


def no_nulls(df: pd.DataFrame, columns: Sequence[str]) -> Outcome:
    missing_cols = [c for c in columns if c not in df]
    nulls = {c: int(df[c].isna().sum()) for c in columns if c in df and df[c].isna().any()}
    ok = not nulls and not missing_cols
    why = "no nulls after imputation" if ok else f"nulls {nulls}; missing columns {missing_cols}"
    return Outcome(ok, why, {"null_counts": nulls, "missing_columns": missing_cols})


def in_ranges(df: pd.DataFrame, ranges: Mapping[str, tuple[float, float]]) -> Outcome:
    """Every feature inside its documented range (a NaN counts as outside)."""
    bad: dict[str, int] = {}
    for col, (lo, hi) in ranges.items():
        if col in df:
            values = pd.to_numeric(df[col], errors="coerce")
            n = int((~values.between(lo, hi)).sum())
            if n:
                bad[col] = n
    why = "every feature inside its documented range" if not bad else f"values out of range: {bad}"
    return Outcome(not bad, why, {"out_of_range": bad})


def imputed_share(n_imputed: pd.Series, n_features: int, threshold: float) -> Outcome:
    """Share of feature cells filled in by imputation, against a threshold."""
    cells = max(1, len(n_imputed) * n_features)
    share = float(n_imputed.sum()) / cells
    return Outcome(share <= threshold, f"imputed share {share:.2%} (threshold {threshold:.0%})",
                   {"imputed_share": share, "threshold": threshold})


def enough_rows(n: int, minimum: int) -> Outcome:
    return Outcome(n >= minimum, f"{n:,} tracks (minimum {minimum:,})", {"tracks": n, "minimum": minimum})


def clusters_not_tiny(labels: np.ndarray, k: int, min_share: float, min_size: int) -> Outcome:
    """No cluster empty or tiny: each holds at least max(min_size, min_share of tracks)."""
    sizes = np.bincount(np.asarray(labels, dtype=int), minlength=k)
    floor = max(min_size, int(np.ceil(min_share * len(labels))))
    small = {int(c): int(s) for c, s in enumerate(sizes) if s < floor}
    why = f"every cluster has at least {floor} tracks" if not small else f"clusters below {floor} tracks: {small}"
    return Outcome(not small, why, {"cluster_sizes": sizes.tolist(), "minimum_size": floor})


def variance_recorded(params: Mapping[str, Any]) -> Outcome:
    evr = params.get("explained_variance_ratio")
    ok = (isinstance(evr, list) and len(evr) == len(params.get("components", [])) and len(evr) > 0
          and all(0 <= v <= 1 for v in evr) and 0 < sum(evr) <= 1 + 1e-9)
    total = float(sum(evr)) if isinstance(evr, list) else float("nan")
    why = f"PCA explains {total:.1%} of the variance" if ok else f"explained variance missing or invalid: {evr!r}"
    return Outcome(ok, why, {"explained_variance_ratio": evr, "explained_variance_total": total})
