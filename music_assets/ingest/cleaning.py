"""Joining chart tracks with their features, rejecting impossible values, deduplicating.

Nothing is imputed: a value that is missing (never given, unparsable, or rejected here as outside
the range the Web API documents) stays missing, and the model is built only from the tracks that
have every feature it uses (training/features.py). A mean given to a track puts it at the centre
of the catalog, where it is "close" to everything; a featureless track given every mean gets ten
recommendations at distance 0.0 among the others like it (issue 13).

Two kinds of duplicates exist in chart data: the same id (several chart rows, already collapsed
by unique_tracks) and the same song under a second id. The second kind is found by a normalized
title+artist key, but a key shared is not a recording shared (a live version, a remix, a cover by
a namesake): twins are merged only when they are the same recording (`same_recording`), and the
others stay, each recommendable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS, FEATURE_RANGES, FEATURE_REJECT_COLUMNS, MIN_MODEL_FEATURES
from music_assets.text import normalize_text

# Twins whose features lie at most SAME_RECORDING_DISTANCE apart, in the catalog's standardized
# space over the model's 9 features, are one recording; up to SAME_RECORDING_DISTANCE_WITH_DURATION
# when their durations also agree within 2 s. Measured on the real samples (benchmarks/
# dedupe_real_data.py, figures in benchmarks/README.md): of 1,076 twin pairs, 698 lie within 0.1
# (the same audio, its features repeated), a shoulder reaches 0.5 (clean/explicit edits, nearly
# all with the same duration), then a flat tail runs past 3 (live takes, remixes, re-recordings)
# while a random pair of tracks lies about 3.7 apart. Between 0.5 and 1.0 nearly every pair has
# the same duration; beyond 1.0 same-length pairs are as likely different recordings (a remaster,
# a radio edit), so they stay apart.
SAME_RECORDING_DISTANCE = 0.5
SAME_RECORDING_DISTANCE_WITH_DURATION = 1.0
SAME_DURATION_MS = 2_000.0  # "duration within 2 s": one recording's length as two releases report it
OUT_OF_RANGE = "out of range"
# Text columns of `tracks`: a gap is "" (the album too: a source without albums gives "" everywhere,
# so the column has one type on every engine and for every source).
TEXT_COLUMNS: tuple[str, ...] = ("title", "artist", "preview_url", "cover_url", "album")


def dedup_key(title: object, artist: object) -> str:
    return f"{normalize_text(title)}\x1f{normalize_text(artist)}"


@dataclass
class CleaningReport:
    input_rows: int
    duplicate_ids: int
    duplicate_songs: int  # twins merged into a survivor (the same recording)
    missing_values: dict[str, int]  # per feature, tracks with no value (never given, unparsable, rejected)
    tracks_without_features: int  # tracks (after dedupe) with no audio feature value at all
    twins_kept: int = 0  # title+artist twins kept apart: not the same recording
    output_rows: int = 0
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FEATURE_REJECT_COLUMNS)))

    @property
    def featureless_share(self) -> float:
        return self.tracks_without_features / self.output_rows if self.output_rows else 0.0

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return {f"{c}: {r}": int(n) for (c, r), n in
                self.rejects.groupby(["column", "reason"], sort=True).size().items()} if len(self.rejects) else {}


def range_rejects_frame(rows: list[tuple[str, int, str, str, str, str]]) -> pd.DataFrame:
    """Reject rows in FEATURE_REJECT_COLUMNS' shape and types (row an int64)."""
    frame = pd.DataFrame(rows, columns=list(FEATURE_REJECT_COLUMNS))
    return frame.astype({"source": "str", "row": "int64", "track_id": "str", "column": "str", "value": "str", "reason": "str"})


def range_reason(column: str) -> str:
    lo, hi = FEATURE_RANGES[column]
    return f"{OUT_OF_RANGE} {lo:g}..{hi:g}"


def shown_value(value: float) -> str:
    """A rejected number as both engines write it (Python's repr of the float)."""
    return repr(float(value))


def reject_out_of_range(features: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each feature value outside its documented range becomes missing and a reject row (its 1-based
    row in `source`, the track, the column, the value, the reason). One impossible value (a
    60-minute track, a time signature of 0) costs that value, not the whole publish."""
    out = features.copy()
    rows: list[tuple[str, int, str, str, str, str]] = []
    for col in FEATURE_COLUMNS:
        if col not in out:
            continue
        values = pd.to_numeric(out[col], errors="coerce").astype("float64")
        lo, hi = FEATURE_RANGES[col]
        bad = values.notna() & ~values.between(lo, hi)
        for pos in np.flatnonzero(bad.to_numpy()):
            rows.append((source, int(pos) + 1, str(out["track_id"].iat[pos]), col,
                         shown_value(values.iat[pos]), range_reason(col)))
        out[col] = values.mask(bad)
    rejects = range_rejects_frame(rows).sort_values(["row", "column"], kind="stable").reset_index(drop=True)
    return out, rejects


def join_tracks(unique_tracks: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Every charted track with whatever features were found (missing ones stay NaN)."""
    cols = [c for c in features.columns if c not in ("title", "artist")]
    return unique_tracks.merge(features.loc[:, cols], on="track_id", how="left")


def feature_scales(df: pd.DataFrame, features: tuple[str, ...] = DEFAULT_MODEL_FEATURES) -> dict[str, float]:
    """Population standard deviation of each feature over the tracks that have it (1.0 when it is
    constant or absent): the catalog's own standardized space, as the model's scaler makes it."""
    scales = {}
    for col in features:
        values = pd.to_numeric(df[col], errors="coerce").astype("float64") if col in df else pd.Series(dtype="float64")
        std = float(values.std(ddof=0)) if values.notna().any() else float("nan")
        scales[col] = std if np.isfinite(std) and std > 0 else 1.0
    return scales


def twin_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise distance between standardized feature rows over the features both have, scaled
    to the full feature count (so 4 shared features compare with 9); NaN below MIN_MODEL_FEATURES."""
    both = ~(np.isnan(a) | np.isnan(b))
    n = both.sum(axis=1)
    sq = np.where(both, (a - b) ** 2, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.sqrt(sq * (a.shape[1] / n))
    return np.where(n >= MIN_MODEL_FEATURES, dist, np.nan)


def same_recording(distance: np.ndarray, duration_a: np.ndarray, duration_b: np.ndarray,
                   isrc_a: np.ndarray | None = None, isrc_b: np.ndarray | None = None) -> np.ndarray:
    """Which twin pairs are one recording, first rule that can decide:
    1. both ISRCs known: equal ISRC (and durations within 2 s where both are known);
    2. features comparable (at least MIN_MODEL_FEATURES on both): distance <= SAME_RECORDING_DISTANCE,
       or <= SAME_RECORDING_DISTANCE_WITH_DURATION with durations within 2 s;
    3. both durations known: within 2 s;
    otherwise not (both stay: nothing shows they are the same)."""
    dur_known = ~(np.isnan(duration_a) | np.isnan(duration_b))
    dur_close = dur_known & (np.abs(np.nan_to_num(duration_a) - np.nan_to_num(duration_b)) <= SAME_DURATION_MS)
    d = np.nan_to_num(distance, nan=np.inf)
    close = (d <= SAME_RECORDING_DISTANCE) | ((d <= SAME_RECORDING_DISTANCE_WITH_DURATION) & dur_close)
    out = np.where(~np.isnan(distance), close, dur_close)
    if isrc_a is not None and isrc_b is not None:
        known = np.array([bool(x) and bool(y) for x, y in zip(isrc_a, isrc_b)], dtype=bool)
        equal = np.array([x == y for x, y in zip(isrc_a, isrc_b)], dtype=bool)
        out = np.where(known, equal & (dur_close | ~dur_known), out)
    return out.astype(bool)


def _text_values(series: pd.Series) -> np.ndarray:
    return np.array(["" if pd.isna(v) else str(v).strip().upper() for v in series], dtype=object)


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int, int, int]:
    """Drop repeated ids, then merge title+artist twins that are the same recording.

    In each twin group the survivor is the one with the most model features, then the most
    charted, then the smallest id; every other twin merges into it when `same_recording` says so
    (its id joins the survivor's `alias_ids`, so a query by it still works) and otherwise stays a
    track of its own. Twins are compared with the survivor only (not with each other): one rule
    both engines state the same way. Returns (tracks, repeated ids, merged twins, twins kept).
    """
    n_in = len(df)
    out = df.drop_duplicates("track_id", keep="first").copy()
    dup_ids = n_in - len(out)
    out["dedup_key"] = [dedup_key(t, a) for t, a in zip(out["title"], out["artist"])]
    popularity = out["chart_appearances"] if "chart_appearances" in out else pd.Series(0, index=out.index)
    present = [c for c in DEFAULT_MODEL_FEATURES if c in out]
    n_features = out[present].notna().sum(axis=1) if present else pd.Series(0, index=out.index)
    out = out.assign(_has=n_features.astype(int), _pop=popularity).sort_values(
        ["dedup_key", "_has", "_pop", "track_id"], ascending=[True, False, False, True], kind="stable"
    )
    first = ~out["dedup_key"].duplicated(keep="first").to_numpy()
    survivor = np.maximum.accumulate(np.where(first, np.arange(len(out)), 0))
    scales = feature_scales(out)
    x = np.column_stack([pd.to_numeric(out[c], errors="coerce").to_numpy(dtype="float64") / scales[c]
                         if c in out else np.full(len(out), np.nan) for c in DEFAULT_MODEL_FEATURES]) \
        if len(out) else np.empty((0, len(DEFAULT_MODEL_FEATURES)))
    duration = (pd.to_numeric(out["duration_ms"], errors="coerce").to_numpy(dtype="float64")
                if "duration_ms" in out else np.full(len(out), np.nan))
    isrc = _text_values(out["isrc"]) if "isrc" in out else None
    same = same_recording(twin_distance(x, x[survivor]), duration, duration[survivor],
                          isrc, isrc[survivor] if isrc is not None else None)
    merged = ~first & same
    ids = out["track_id"].to_numpy()
    aliases: dict[int, list[str]] = {}
    for pos in np.flatnonzero(merged):
        aliases.setdefault(int(survivor[pos]), []).append(str(ids[pos]))
    kept = out.loc[~merged].drop(columns=["_has", "_pop"])
    kept_pos = np.flatnonzero(~merged)
    kept["alias_ids"] = [sorted(aliases.get(int(p), [])) for p in kept_pos]
    twins_kept = int((~first & ~same).sum())
    return kept.sort_values("track_id", kind="stable").reset_index(drop=True), dup_ids, int(merged.sum()), twins_kept


def finish(df: pd.DataFrame, numeric: tuple[str, ...] = FEATURE_COLUMNS) -> tuple[pd.DataFrame, dict[str, int]]:
    """Features as float64 (an absent column stays absent in value: all missing, never invented),
    `n_missing` per row; text gaps "", genres a list, has_preview. Returns the missing counts."""
    out = df.copy()
    counts: dict[str, int] = {}
    n_missing = np.zeros(len(out), dtype=np.int16)
    for col in numeric:
        if col not in out:
            out[col] = np.nan
        values = pd.to_numeric(out[col], errors="coerce").astype("float64")
        missing = values.isna()
        counts[col] = int(missing.sum())
        n_missing += missing.to_numpy(dtype=np.int16)
        out[col] = values
    out["n_missing"] = n_missing
    for col in TEXT_COLUMNS:
        if col not in out:
            out[col] = ""
        out[col] = out[col].astype("object").where(out[col].notna(), "").astype("str")
    if "genres" not in out:
        out["genres"] = [[] for _ in range(len(out))]
    out["genres"] = [list(g) if isinstance(g, (list, tuple, np.ndarray)) else [] for g in out["genres"]]
    out["has_preview"] = out["preview_url"].str.len() > 0
    return out, counts


def clean_tracks(unique_tracks: pd.DataFrame, features: pd.DataFrame,
                 source: str = "track_features.parquet") -> tuple[pd.DataFrame, CleaningReport]:
    """unique tracks + features -> one row per recording; impossible values rejected, none imputed."""
    checked, rejects = reject_out_of_range(features, source)
    joined = join_tracks(unique_tracks, checked)
    deduped, dup_ids, dup_songs, twins_kept = deduplicate(joined)
    clean, counts = finish(deduped)
    report = CleaningReport(
        input_rows=len(joined), duplicate_ids=dup_ids, duplicate_songs=dup_songs, missing_values=counts,
        tracks_without_features=int((clean["n_missing"] == len(FEATURE_COLUMNS)).sum()),
        twins_kept=twins_kept, output_rows=len(clean), rejects=rejects,
    )
    return clean, report
