"""Title+artist twins on real catalogs: how far apart they lie, and what each dedupe rule merges.

The old rule merged every pair of tracks whose normalized title and artist agree; the rule of
ingest/cleaning.py merges a twin into its survivor only when they are the same recording (scaled
distance <= SAME_RECORDING_DISTANCE over the model's features, or <= 1.0 with durations within
2 s; durations alone when features cannot be compared). This
prints, per real sample in ../shared/data, the twin pairs (each twin against its group's
survivor, as the rule compares them), their distances in the catalog's standardized space, a
random pair's distance for scale, and the pairs each rule merges.

    .venv/bin/python -m benchmarks.dedupe_real_data [--threshold 0.5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from music_assets.ingest import cleaning
from music_assets.schema import DEFAULT_MODEL_FEATURES

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_114k() -> pd.DataFrame:
    raw = pd.read_csv(DATA / "tracks_114k_sample" / "dataset_sample.csv")
    return pd.DataFrame({"track_id": raw["track_id"], "title": raw["track_name"], "artist": raw["artists"],
                         "chart_appearances": raw["popularity"], "duration_ms": raw["duration_ms"],
                         **{c: raw[c] for c in DEFAULT_MODEL_FEATURES}})


def load_ph() -> pd.DataFrame:
    raw = pd.read_csv(DATA / "ph_daily_charts" / "spotify_daily_charts_tracks.csv")
    charts = pd.read_csv(DATA / "ph_daily_charts" / "spotify_daily_charts.csv.gz", usecols=["track_id"])
    appearances = charts["track_id"].value_counts()
    return pd.DataFrame({"track_id": raw["track_id"], "title": raw["track_name"], "artist": raw["artist_name"],
                         "chart_appearances": raw["track_id"].map(appearances).fillna(0).to_numpy(),
                         "duration_ms": raw["duration"], **{c: raw[c] for c in DEFAULT_MODEL_FEATURES}})


def twin_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Each twin with its survivor (deduplicate's order), their distance and duration gap."""
    out = df.drop_duplicates("track_id").copy()
    out["dedup_key"] = [cleaning.dedup_key(t, a) for t, a in zip(out["title"], out["artist"])]
    out["_has"] = out[list(DEFAULT_MODEL_FEATURES)].notna().sum(axis=1)
    out = out.sort_values(["dedup_key", "_has", "chart_appearances", "track_id"],
                          ascending=[True, False, False, True], kind="stable").reset_index(drop=True)
    first = ~out["dedup_key"].duplicated().to_numpy()
    survivor = np.maximum.accumulate(np.where(first, np.arange(len(out)), 0))
    scales = cleaning.feature_scales(out)
    x = np.column_stack([out[c].to_numpy(dtype=float) / scales[c] for c in DEFAULT_MODEL_FEATURES])
    dist = cleaning.twin_distance(x, x[survivor])
    dur = out["duration_ms"].to_numpy(dtype=float)
    pairs = pd.DataFrame({"distance": dist, "duration_gap_s": np.abs(dur - dur[survivor]) / 1000})[~first]
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(x), 20_000), rng.integers(0, len(x), 20_000)
    pairs.attrs["random_median"] = float(np.nanmedian(cleaning.twin_distance(x[a[a != b]], x[b[a != b]])))
    pairs.attrs["tracks"] = len(out)
    return pairs


def row(name: str, pairs: pd.DataFrame, threshold: float) -> dict[str, object]:
    d = pairs["distance"]
    same_length = pairs["duration_gap_s"] <= cleaning.SAME_DURATION_MS / 1000
    merged = (d <= threshold) | ((d <= cleaning.SAME_RECORDING_DISTANCE_WITH_DURATION) & same_length) | (d.isna() & same_length)
    new = merged.sum()
    return {
        "catalog": name, "tracks": pairs.attrs["tracks"], "twin pairs": len(pairs),
        "merged, old rule": len(pairs), "merged, new rule": int(new),
        "kept apart": len(pairs) - int(new),
        "merged pairs > 2.0 apart, old rule": f"{(d > 2.0).mean():.1%}",
        "merged pairs > 2.0 apart, new rule": f"{(d[merged] > 2.0).mean():.1%}", "pairs <= 0.1": f"{(d <= 0.1).mean():.1%}",
        "pairs 0.1-threshold": f"{((d > 0.1) & (d <= threshold)).mean():.1%}",
        "pairs threshold-1.0": f"{((d > threshold) & (d <= 1.0)).mean():.1%}",
        "median twin distance": round(float(d.median()), 3), "median random pair": round(pairs.attrs["random_median"], 3),
        "same duration (<= 2 s) among merged": f"{same_length[merged].mean():.1%}",
        "same duration among kept apart": f"{same_length[~merged].mean():.1%}",
        "kept-apart pairs > 2.0 apart": f"{(d[~merged] > 2.0).mean():.1%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=cleaning.SAME_RECORDING_DISTANCE)
    args = parser.parse_args()
    rows = [row("tracks_114k_sample", twin_pairs(load_114k()), args.threshold),
            row("ph_daily_charts tracks", twin_pairs(load_ph()), args.threshold)]
    table = pd.DataFrame(rows).set_index("catalog").T
    print(table.to_markdown())
    pairs = pd.concat([twin_pairs(load_114k()), twin_pairs(load_ph())])
    print("\nDistance histogram of all twin pairs (both catalogs):")
    edges = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, np.inf]
    counts = pd.cut(pairs["distance"], edges, right=True, include_lowest=True).value_counts(sort=False)
    print(counts.to_frame("pairs").to_markdown())


if __name__ == "__main__":
    main()
