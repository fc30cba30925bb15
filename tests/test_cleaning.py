"""Deduplication and imputation, with property tests."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.ingest.cleaning import clean_tracks, dedup_key, deduplicate, impute
from music_assets.text import normalize_text
from music_assets.schema import FEATURE_COLUMNS


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
              st.one_of(st.none(), st.floats(0, 1))),
    min_size=1, max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(songs)
def test_deduplicate_keeps_one_per_song_and_loses_no_id(rows) -> None:
    df = pd.DataFrame(
        [{"track_id": f"{i:022d}", "title": t, "artist": a, "chart_appearances": n, "danceability": d}
         for i, (t, a, n, d) in enumerate(rows)]
    )
    out, dup_ids, dup_songs = deduplicate(df)
    keys = [dedup_key(t, a) for t, a in zip(out["title"], out["artist"])]
    assert len(keys) == len(set(keys)) == len({dedup_key(t, a) for t, a, _, _ in rows})
    every_id = set(out["track_id"]) | {a for aliases in out["alias_ids"] for a in aliases}
    assert every_id == set(df["track_id"])  # every id is kept or reachable as an alias
    assert dup_ids == 0 and dup_songs == len(df) - len(out)
    # the survivor has features when any copy has them, and otherwise is the most charted copy
    for _, row in out.iterrows():
        group = df[[dedup_key(t, a) == dedup_key(row["title"], row["artist"]) for t, a in zip(df["title"], df["artist"])]]
        if group["danceability"].notna().any():
            assert pd.notna(row["danceability"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=40).filter(lambda v: any(x is not None for x in v)))
def test_impute_fills_with_the_column_mean(values) -> None:
    df = pd.DataFrame({"track_id": [str(i) for i in range(len(values))], "danceability": values})
    out, counts = impute(df, numeric=("danceability",))
    present = [v for v in values if v is not None]
    assert out["danceability"].notna().all()
    assert counts["danceability"] == len(values) - len(present)
    filled = out.loc[[v is None for v in values], "danceability"]
    assert np.allclose(filled, np.mean(present))
    assert (out["n_imputed"] == [int(v is None) for v in values]).all()


def test_impute_text_with_empty_string_and_flags_previews() -> None:
    df = pd.DataFrame({"track_id": ["a", "b"], "title": ["x", None], "artist": [None, "y"],
                       "preview_url": [None, "https://p.scdn.co/x"], "danceability": [0.1, 0.2]})
    out, _ = impute(df, numeric=("danceability",))
    assert list(out["title"]) == ["x", ""] and list(out["artist"]) == ["", "y"]
    assert list(out["has_preview"]) == [False, True]


def test_a_feature_with_no_values_at_all_is_an_error() -> None:
    df = pd.DataFrame({"track_id": ["a"], "danceability": [None]})
    try:
        impute(df, numeric=("danceability",))
    except ValueError as exc:
        assert "danceability" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_clean_tracks_reports_what_it_did() -> None:
    unique = pd.DataFrame({"track_id": ["a", "b", "c"], "title": ["Song", "SONG", "Other"],
                           "artist": ["Max", "max", "Max"], "chart_appearances": [5, 1, 2]})
    features = pd.DataFrame({"track_id": ["a", "b"], **{c: [0.5, 0.5] for c in FEATURE_COLUMNS}})
    clean, report = clean_tracks(unique, features)
    assert list(clean["track_id"]) == ["a", "c"]
    assert clean.loc[clean["track_id"] == "a", "alias_ids"].iloc[0] == ["b"]
    assert report.duplicate_songs == 1 and report.tracks_without_features == 1
    assert clean["n_imputed"].tolist() == [0, len(FEATURE_COLUMNS)]
