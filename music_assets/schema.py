"""Column names and documented value ranges shared by every stage (the data contracts)."""

from __future__ import annotations

CHART_COLUMNS: tuple[str, ...] = (
    "title", "rank", "date", "artist", "url", "region", "chart", "trend", "streams",
)
CHART_KINDS: frozenset[str] = frozenset({"top200", "viral50"})
TRENDS: frozenset[str] = frozenset({"SAME_POSITION", "MOVE_UP", "MOVE_DOWN", "NEW_ENTRY"})

# Spotify's audio features, with the ranges the Web API documents. Checks and tests use these.
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    "danceability": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "key": (0.0, 11.0),
    "loudness": (-60.0, 5.0),
    "mode": (0.0, 1.0),
    "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0),
    "instrumentalness": (0.0, 1.0),
    "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0),
    "tempo": (0.0, 250.0),
    "duration_ms": (1_000.0, 3_600_000.0),
    "time_signature": (1.0, 7.0),
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURE_RANGES)

# Features the model uses by default: the continuous "how it sounds" ones. key, mode and
# time_signature are categorical codes (Euclidean distance between key 0 and key 11 means
# nothing) and duration says little about sound, so they stay in the data but out of the model.
DEFAULT_MODEL_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "loudness", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo",
)
# The fewest of those a model is built from. Below 4, a distance is mostly one or two axes of
# "how it sounds" (energy and loudness move together), so neighbours agree on little else; a
# catalog that lost one or two columns to a spreadsheet (time_signature is not among the nine)
# still gets a model, one that has lost most of them fails, naming the columns it lacks.
MIN_MODEL_FEATURES = 4

# What a source returns for each track it was asked about (track_features asset).
TRACK_FEATURE_COLUMNS: tuple[str, ...] = (
    "track_id", *FEATURE_COLUMNS, "genres", "preview_url", "cover_url",
)

# What a source may tell beside the features (optional: None, NaN or [] where it has none): the
# artists' ids (artist seeds by id, /v1 artist objects), the album's name, and the catalog's own
# popularity 0..100 (else the bundle derives one from chart appearances, model/steer_index.py).
TRACK_DETAIL_COLUMNS: tuple[str, ...] = ("artist_ids", "album", "popularity")


def feature_file_columns(names: list[str]) -> list[str]:
    """The columns the tracks stage reads from a track_features file with columns `names`: every
    TRACK_FEATURE_COLUMNS one, and the details the file has (older files have none)."""
    return [*TRACK_FEATURE_COLUMNS, *[c for c in TRACK_DETAIL_COLUMNS if c in names]]

# A preview_url in this scheme has no audio behind it: serving synthesizes a few seconds from the
# track's own features (model/previews.py). The demo catalog writes it; real catalogs never do.
SYNTHESIZED_PREVIEW_SCHEME = "demo://preview/"

# One rejected feature value (or a whole feature row, column "*"): the files that keep what was
# refused. Readers write parse rejects (track_features), cleaning writes range rejects (tracks);
# `row` is the 1-based data row in `source` where the reader knows it, else -1.
FEATURE_REJECT_COLUMNS: tuple[str, ...] = ("source", "row", "track_id", "column", "value", "reason")
