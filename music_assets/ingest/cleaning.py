"""Joining chart tracks with their features, deduplicating, imputing.

Two kinds of duplicates exist in chart data: the same id (several chart rows, already collapsed
by unique_tracks) and the same song re-released under a second id. The second kind is found by a
normalized title+artist key; the most charted id survives and the others become its aliases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from music_assets.schema import FEATURE_COLUMNS
from music_assets.text import normalize_text


def dedup_key(title: object, artist: object) -> str:
    return f"{normalize_text(title)}\x1f{normalize_text(artist)}"


@dataclass
class CleaningReport:
    input_rows: int
    duplicate_ids: int
    duplicate_songs: int
    imputed_values: dict[str, int]
    tracks_without_features: int

    @property
    def imputed_share(self) -> float:
        cells = max(1, (self.input_rows - self.duplicate_ids - self.duplicate_songs) * len(self.imputed_values))
        return sum(self.imputed_values.values()) / cells


def join_tracks(unique_tracks: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Every charted track with whatever features were found (missing ones stay NaN here)."""
    cols = [c for c in features.columns if c not in ("title", "artist")]
    return unique_tracks.merge(features.loc[:, cols], on="track_id", how="left")


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Drop repeated ids, then repeated songs (normalized title+artist), keeping the most charted.

    The survivor lists the ids it replaced in `alias_ids`, so a query by any of them still works.
    """
    n_in = len(df)
    out = df.drop_duplicates("track_id", keep="first").copy()
    dup_ids = n_in - len(out)
    out["dedup_key"] = [dedup_key(t, a) for t, a in zip(out["title"], out["artist"])]
    popularity = out["chart_appearances"] if "chart_appearances" in out else pd.Series(0, index=out.index)
    has_features = out["danceability"].notna() if "danceability" in out else pd.Series(True, index=out.index)
    out = out.assign(_has=has_features.astype(int), _pop=popularity).sort_values(
        ["dedup_key", "_has", "_pop", "track_id"], ascending=[True, False, False, True], kind="stable"
    )
    first = ~out["dedup_key"].duplicated(keep="first")
    aliases = (
        out.loc[~first].groupby("dedup_key", sort=False)["track_id"].agg(lambda s: sorted(s)).rename("alias_ids")
    )
    kept = out.loc[first].drop(columns=["_has", "_pop"]).merge(aliases, left_on="dedup_key", right_index=True, how="left")
    kept["alias_ids"] = [a if isinstance(a, list) else [] for a in kept["alias_ids"]]
    return kept.sort_values("track_id", kind="stable").reset_index(drop=True), dup_ids, int((~first).sum())


def impute(df: pd.DataFrame, numeric: tuple[str, ...] = FEATURE_COLUMNS) -> tuple[pd.DataFrame, dict[str, int]]:
    """Numeric features: column mean (a column with no values at all is an error). Text: "".

    `n_imputed` on each row counts its imputed numeric fields, so checks and evaluation can see
    how much of a track is real.
    """
    out = df.copy()
    counts: dict[str, int] = {}
    n_imputed = np.zeros(len(out), dtype=np.int16)
    for col in numeric:
        if col not in out:
            out[col] = np.nan
        values = pd.to_numeric(out[col], errors="coerce").astype("float64")
        missing = values.isna()
        if missing.all() and len(values):
            raise ValueError(f"feature {col!r} has no value for any track: cannot impute a mean")
        counts[col] = int(missing.sum())
        n_imputed += missing.to_numpy(dtype=np.int16)
        out[col] = values.fillna(values.mean())
    out["n_imputed"] = n_imputed
    for col in ("title", "artist", "preview_url", "cover_url"):
        if col not in out:
            out[col] = ""
        out[col] = out[col].astype("object").where(out[col].notna(), "").astype("str")
    if "genres" not in out:
        out["genres"] = [[] for _ in range(len(out))]
    out["genres"] = [list(g) if isinstance(g, (list, tuple, np.ndarray)) else [] for g in out["genres"]]
    out["has_preview"] = out["preview_url"].str.len() > 0
    return out, counts


def clean_tracks(unique_tracks: pd.DataFrame, features: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """unique tracks + features -> one clean row per song, fully imputed."""
    joined = join_tracks(unique_tracks, features)
    present = [c for c in FEATURE_COLUMNS if c in joined]
    no_features = int(joined[present].isna().all(axis=1).sum()) if present else len(joined)
    deduped, dup_ids, dup_songs = deduplicate(joined)
    imputed, counts = impute(deduped)
    report = CleaningReport(
        input_rows=len(joined), duplicate_ids=dup_ids, duplicate_songs=dup_songs,
        imputed_values=counts, tracks_without_features=no_features,
    )
    return imputed, report
