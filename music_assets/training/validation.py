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


EXAMPLES = 5  # example tracks a failing rule names


def no_nulls(df: pd.DataFrame, columns: Sequence[str], id_column: str = "track_id") -> Outcome:
    missing_cols = [c for c in columns if c not in df]
    nulls = {c: int(df[c].isna().sum()) for c in columns if c in df and df[c].isna().any()}
    ok = not nulls and not missing_cols
    examples = {c: sorted(map(str, df.loc[df[c].isna(), id_column]))[:EXAMPLES] for c in nulls} if id_column in df else {}
    why = "no nulls" if ok else f"nulls {nulls} (e.g. tracks {examples}); missing columns {missing_cols}"
    return Outcome(ok, why, {"null_counts": nulls, "missing_columns": missing_cols, "examples": examples})


def in_ranges(df: pd.DataFrame, ranges: Mapping[str, tuple[float, float]], allow_missing: bool = False,
              id_column: str = "track_id") -> Outcome:
    """Every feature inside its documented range (a NaN counts as outside unless `allow_missing`:
    in `tracks` a missing value is a value the catalog lacks, not a wrong one)."""
    bad: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    for col, (lo, hi) in ranges.items():
        if col in df:
            values = pd.to_numeric(df[col], errors="coerce")
            outside = ~values.between(lo, hi)
            if allow_missing:
                outside &= values.notna()
            n = int(outside.sum())
            if n:
                bad[col] = n
                ids = df.loc[outside, id_column] if id_column in df else pd.Series(df.index[outside])
                examples += [{"track_id": str(i), "column": col, "value": None if pd.isna(v) else float(v)}
                             for i, v in zip(ids[:EXAMPLES], values[outside][:EXAMPLES])]
    examples = examples[:EXAMPLES]
    why = ("every feature inside its documented range" if not bad
           else f"values out of range: {bad}; e.g. " + ", ".join(f"{e['track_id']} {e['column']}={e['value']}" for e in examples))
    return Outcome(not bad, why, {"out_of_range": bad, "examples": examples})


def featureless_share(n_missing: pd.Series, n_features: int, threshold: float) -> Outcome:
    """Share of tracks with no audio feature at all (searchable, never recommended), against a threshold."""
    n = len(n_missing)
    featureless = int((n_missing >= n_features).sum())
    share = featureless / n if n else 0.0
    return Outcome(share <= threshold,
                   f"{featureless:,} of {n:,} tracks ({share:.1%}) have no audio features: searchable, never "
                   f"recommended (threshold {threshold:.0%})",
                   {"tracks_without_features": featureless, "featureless_share": share, "threshold": threshold})


def rejected_share(rejects: pd.DataFrame, n_values: int, n_tracks: int, threshold: float,
                   files: Sequence[str]) -> Outcome:
    """Rejected feature values (parse and range, FEATURE_REJECT_COLUMNS rows) against a share of the
    values read and of the tracks: a few impossible values are rejected one by one and publishing
    goes on; above the share, the input is more likely wrong as a whole, and publishing stops."""
    n_rejected = len(rejects)
    bad_tracks = int(rejects["track_id"].nunique()) if n_rejected else 0
    value_share = n_rejected / n_values if n_values else 0.0
    track_share = bad_tracks / n_tracks if n_tracks else 0.0
    by_reason = ({f"{c}: {r}": int(n) for (c, r), n in rejects.groupby(["column", "reason"], sort=True).size().items()}
                 if n_rejected else {})
    examples = [{"track_id": str(r.track_id), "column": str(r.column), "value": str(r.value), "reason": str(r.reason),
                 "source": str(r.source), "row": int(r.row)} for r in rejects.head(EXAMPLES).itertuples()]
    passed = value_share <= threshold and track_share <= threshold
    why = (f"{n_rejected:,} of {n_values:,} feature values rejected ({value_share:.2%}), on {bad_tracks:,} of "
           f"{n_tracks:,} tracks ({track_share:.2%}); threshold {threshold:.0%}")
    if examples:
        why += "; e.g. " + ", ".join(f"{e['track_id']} {e['column']}={e['value']!s} ({e['reason']})" for e in examples)
    return Outcome(passed, why, {"values_rejected": n_rejected, "rejected_value_share": value_share,
                                 "tracks_with_a_rejected_value": bad_tracks, "rejected_track_share": track_share,
                                 "threshold": threshold, "rejected_by_reason": by_reason, "examples": examples,
                                 "rejects_files": list(files)})


def enough_rows(n: int, minimum: int, what: str = "tracks") -> Outcome:
    return Outcome(n >= minimum, f"{n:,} {what} (minimum {minimum:,})", {"tracks": n, "minimum": minimum})


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
