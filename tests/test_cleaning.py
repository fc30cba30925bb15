"""Range rejects, deduplication by recording, no imputation: the cleaning rules, with property tests."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.ingest.cleaning import (
    SAME_RECORDING_DISTANCE, clean_tracks, dedup_key, deduplicate, finish, reject_out_of_range,
)
from music_assets.text import normalize_text
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS, FEATURE_REJECT_COLUMNS


def test_normalize_ignores_case_accents_punctuation_spaces() -> None:
    assert normalize_text("  Déjà   Vu! ") == normalize_text("deja vu") == "deja vu"
    assert normalize_text(None) == ""


# Latin letters with and without accents: case-folding is not invertible for every script
# (Turkish dotless i upper-cases to I), so the property is stated for the alphabets it covers.
latin = st.text(alphabet=st.sampled_from(list(string.printable + "éÉèàÀçÇñÑöÖüÜ")))


@given(latin, latin)
def test_dedup_key_is_stable_under_case_and_spacing(title: str, artist: str) -> None:
    assert dedup_key(title, artist) == dedup_key(f" {title.upper()} ", artist.lower())


songs = st.lists(
    st.tuples(st.sampled_from(["Butterflies", "butterflies ", "BLACK SWAN", "Black Swan", "Dynamite"]),
              st.sampled_from(["MAX", "max", "BTS"]), st.integers(1, 50),
              st.one_of(st.none(), st.sampled_from([0.2, 0.2001, 0.8]))),
    min_size=1, max_size=30,
)


def _features(value: float | None) -> dict[str, float | None]:
    """Every model feature from one number: twins with the same number are one recording."""
    return {c: (None if value is None else value * (100.0 if c == "tempo" else 1.0)) for c in DEFAULT_MODEL_FEATURES}


@settings(max_examples=60, deadline=None)
@given(songs)
def test_deduplicate_merges_only_the_same_recording_and_loses_no_id(rows) -> None:
    background = [{"track_id": f"bg{i:03d}", "title": f"Other {i}", "artist": "Someone", "chart_appearances": 1,
                   **_features(i / 20)} for i in range(21)]  # the catalog the distances are scaled by
    df = pd.DataFrame(
        [{"track_id": f"{i:022d}", "title": t, "artist": a, "chart_appearances": n, **_features(d)}
         for i, (t, a, n, d) in enumerate(rows)] + background
    )
    out, dup_ids, dup_songs, kept_apart = deduplicate(df)
    every_id = list(out["track_id"]) + [a for aliases in out["alias_ids"] for a in aliases]
    assert sorted(every_id) == sorted(df["track_id"])  # every id kept once or reachable as an alias, once
    assert dup_ids == 0 and dup_songs == len(df) - len(out)
    by_id = df.set_index("track_id")
    for _, row in out.iterrows():
        for alias in row["alias_ids"]:  # merged: same key, and the same recording (same features)
            twin = by_id.loc[alias]
            assert dedup_key(twin["title"], twin["artist"]) == row["dedup_key"]
            assert pd.notna(twin["danceability"]) and abs(twin["danceability"] - row["danceability"]) < 0.01
    # a twin without features is never merged (nothing shows it is the same recording), and in each
    # song the survivor's recording is kept once: every twin of that recording merged into it
    featureless = set(df.loc[df["danceability"].isna(), "track_id"])
    assert not featureless & {a for aliases in out["alias_ids"] for a in aliases}
    for key in set(out["dedup_key"]):
        kept = out[out["dedup_key"] == key]
        survivor = kept[kept["alias_ids"].map(len) > 0]
        if len(survivor):
            recording = round(float(survivor["danceability"].iloc[0]), 1)
            assert (kept["danceability"].round(1) == recording).sum() == 1


def test_twins_far_apart_both_stay_close_ones_merge() -> None:
    rng = np.random.default_rng(0)
    base = {c: rng.uniform(0.2, 0.8, 40) for c in DEFAULT_MODEL_FEATURES}  # a catalog to scale by
    rows = [{"track_id": f"x{i:03d}", "title": f"Song {i}", "artist": "Other", "chart_appearances": 1,
             **{c: base[c][i] for c in base}} for i in range(40)]
    same = {c: 0.5 for c in DEFAULT_MODEL_FEATURES}
    live = {**same, "energy": 0.95, "liveness": 0.98, "acousticness": 0.05, "valence": 0.1}
    rows += [{"track_id": "a", "title": "Hit", "artist": "Max", "chart_appearances": 9, **same},
             {"track_id": "b", "title": "HIT!", "artist": "max", "chart_appearances": 2, **same},  # re-release
             {"track_id": "c", "title": "Hit", "artist": "Max", "chart_appearances": 3, **live},  # a live take
             {"track_id": "d", "title": "Hit", "artist": "Max", "chart_appearances": 1}]  # no features: unknown
    out, _, merged, kept_apart = deduplicate(pd.DataFrame(rows))
    hits = out[out["title"].str.lower().str.startswith("hit")].set_index("track_id")
    assert sorted(hits.index) == ["a", "c", "d"] and hits.loc["a", "alias_ids"] == ["b"]
    assert merged == 1 and kept_apart == 2


def test_duration_and_isrc_decide_when_features_cannot() -> None:
    rows = [{"track_id": "a", "title": "T", "artist": "A", "chart_appearances": 3, "duration_ms": 200_000.0, "isrc": "USAAA1"},
            {"track_id": "b", "title": "T", "artist": "A", "chart_appearances": 2, "duration_ms": 201_500.0, "isrc": "usaaa1"},
            {"track_id": "c", "title": "T", "artist": "A", "chart_appearances": 1, "duration_ms": 200_000.0, "isrc": "GBBBB2"},
            {"track_id": "d", "title": "T", "artist": "A", "chart_appearances": 1, "duration_ms": 200_900.0, "isrc": None},
            {"track_id": "e", "title": "T", "artist": "A", "chart_appearances": 1, "duration_ms": 230_000.0, "isrc": None}]
    out, _, merged, kept_apart = deduplicate(pd.DataFrame(rows))
    assert dict(zip(out["track_id"], out["alias_ids"])) == {"a": ["b", "d"], "c": [], "e": []}
    assert merged == 2 and kept_apart == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-1e7, 1e7, allow_nan=False)), min_size=1, max_size=40))
def test_out_of_range_values_become_missing_with_one_reject_each(values) -> None:
    df = pd.DataFrame({"track_id": [f"t{i}" for i in range(len(values))], "duration_ms": values})
    out, rejects = reject_out_of_range(df, "f.parquet")
    outside = [i for i, v in enumerate(values) if v is not None and not 1_000.0 <= v <= 3_600_000.0]
    assert list(rejects.columns) == list(FEATURE_REJECT_COLUMNS)
    assert list(rejects["row"]) == [i + 1 for i in outside] and list(rejects["track_id"]) == [f"t{i}" for i in outside]
    assert set(rejects["reason"]) <= {"out of range 1000..3.6e+06"} and set(rejects["source"]) <= {"f.parquet"}
    assert out["duration_ms"].isna().sum() == sum(v is None for v in values) + len(outside)


def test_finish_imputes_nothing_and_counts_what_is_missing() -> None:
    df = pd.DataFrame({"track_id": ["a", "b"], "title": ["x", None], "artist": [None, "y"],
                       "preview_url": [None, "https://p.scdn.co/x"], "danceability": [0.1, None]})
    out, counts = finish(df)
    assert list(out["title"]) == ["x", ""] and list(out["artist"]) == ["", "y"]
    assert list(out["has_preview"]) == [False, True]
    assert out["danceability"].isna().tolist() == [False, True]  # not the mean: missing
    assert out["time_signature"].isna().all()  # an absent column is not invented
    assert counts["danceability"] == 1 and counts["time_signature"] == 2
    assert out["n_missing"].tolist() == [len(FEATURE_COLUMNS) - 1, len(FEATURE_COLUMNS)]


def test_a_column_with_one_parsed_value_is_not_spread_to_every_track() -> None:
    unique = pd.DataFrame({"track_id": ["a", "b", "c"], "title": ["1", "2", "3"], "artist": ["x", "y", "z"],
                           "chart_appearances": [1, 1, 1]})
    features = pd.DataFrame({"track_id": ["a", "b", "c"], "danceability": [0.1, 0.2, 0.3],
                             "time_signature": [4.0, None, None]})  # "4/4" became "04-Apr" on two rows
    clean, report = clean_tracks(unique, features)
    assert clean["time_signature"].tolist()[1:] == [None, None] or clean["time_signature"].isna().sum() == 2
    assert report.missing_values["time_signature"] == 2


def test_clean_tracks_reports_what_it_did() -> None:
    unique = pd.DataFrame({"track_id": ["a", "b", "c"], "title": ["Song", "SONG", "Other"],
                           "artist": ["Max", "max", "Max"], "chart_appearances": [5, 1, 2]})
    features = pd.DataFrame({"track_id": ["a", "b"], **{c: [0.5, 0.5] for c in FEATURE_COLUMNS}})
    features["time_signature"] = [4.0, 4.0]
    features["duration_ms"] = [200_000.0, 3_600_000.0 * 1.5]  # a 90-minute track: that value only is refused
    clean, report = clean_tracks(unique, features, "feats.parquet")
    assert list(clean["track_id"]) == ["a", "c"]
    assert clean.loc[clean["track_id"] == "a", "alias_ids"].iloc[0] == ["b"]
    assert report.duplicate_songs == 1 and report.tracks_without_features == 1 and report.output_rows == 2
    assert clean["n_missing"].tolist() == [0, len(FEATURE_COLUMNS)]
    assert report.rejects.to_dict("records") == [{"source": "feats.parquet", "row": 2, "track_id": "b",
                                                  "column": "duration_ms", "value": "5400000.0",
                                                  "reason": "out of range 1000..3.6e+06"}]
    assert report.rejected_by_reason == {"duration_ms: out of range 1000..3.6e+06": 1}
    assert 0 < SAME_RECORDING_DISTANCE < 2.0
