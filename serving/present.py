"""Tracks as plain dicts for templates and JSON, with preview and cover URLs made safe to use.

Only https URLs (and the demo scheme, mapped to serving's own synthesized-audio route) are
passed on: anything else (javascript:, http:, data:) becomes "no preview" / "no cover".
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from music_assets.core.bundle import ModelBundle
from music_assets.core.recommend import Recommendation
from music_assets.core.sources.demo import DEMO_PREVIEW_SCHEME

MODE_HELP = {
    "normal": "same KMeans cluster, then nearest in sound",
    "genre": "must share a genre, then nearest in sound",
    "nearest": "nearest in sound across the whole catalog",
}


def mode_help(mode: str) -> str:
    return MODE_HELP.get(mode, "")


def playable_url(track_id: str, raw: object) -> str | None:
    """The URL an <audio> element can play, or None when the track has no usable preview."""
    if not isinstance(raw, str) or not raw:
        return None
    if raw.startswith(DEMO_PREVIEW_SCHEME):
        return url_for("media.preview", track_id=track_id)
    if raw.startswith("https://"):
        return raw
    return None


def safe_image(raw: object) -> str | None:
    return raw if isinstance(raw, str) and raw.startswith("https://") else None


def track_view(bundle: ModelBundle, row: int) -> dict[str, Any]:
    t = bundle.tracks
    track_id = str(t["track_id"].iat[row])
    return {
        "id": track_id,
        "title": str(t["title"].iat[row]),
        "artist": str(t["artist"].iat[row]),
        "genres": [str(g) for g in t["genres"].iat[row]],
        "preview_url": playable_url(track_id, t["preview_url"].iat[row]),
        "cover_url": safe_image(t["cover_url"].iat[row]),
    }


def live_view(track) -> dict[str, Any]:
    """A song found by the live lookup (not in the catalog), shaped like track_view."""
    return {
        "id": track.track_id, "title": track.title, "artist": track.artist, "genres": list(track.genres),
        "preview_url": playable_url(track.track_id, track.preview_url) if track.preview_url.startswith("https://") else None,
        "cover_url": safe_image(track.cover_url), "live": True,
    }


def query_view(bundle: ModelBundle, outcome) -> dict[str, Any]:
    return live_view(outcome.live) if outcome.live is not None else track_view(bundle, outcome.query)


def recommendation_view(bundle: ModelBundle, rec: Recommendation) -> dict[str, Any]:
    view = track_view(bundle, rec.index)
    view["distance"] = round(rec.distance, 4)
    view["reason"] = rec.reason
    return view
