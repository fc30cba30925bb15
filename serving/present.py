"""Tracks as plain dicts for templates and JSON, with preview and cover URLs made safe to use.

Only https URLs (and the demo scheme, mapped to serving's own synthesized-audio route) are
passed on: anything else (javascript:, http:, data:) becomes "no preview" / "no cover".
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for

from music_assets.model.bundle import ModelBundle
from music_assets.model.previews import is_synthesized
from music_assets.model.recommend import Recommendation
from music_assets.model.recommend_index import recommend_index

MODE_HELP = {
    "normal": "same KMeans cluster, then nearest in sound",
    "genre": "must share a genre, then nearest in sound",
    "nearest": "nearest in sound across the whole catalog",
    "hybrid": "songs the same listeners stream, in related genres, with a similar sound",
}
# What each mode does, in a listener's words: the page's mode picker and result heading.
MODE_NAMES = {
    "normal": "Sounds like (same family)",
    "genre": "Sounds like, same genre",
    "nearest": "Sounds like",
    "hybrid": "Listened together",
}


def mode_help(mode: str) -> str:
    return MODE_HELP.get(mode, "")


def mode_name(mode: str) -> str:
    return MODE_NAMES.get(mode, mode)


_ID_SLOT = "0music0adviser0id0"


def _preview_route(track_id: str) -> str:
    """url_for("media.preview", track_id=...), built once per mount point (SCRIPT_NAME) and
    filled in per track (url_for, eleven times per recommendation, showed in a request's time in
    benchmarks/serving_latency.py); ids that URL
    quoting would change (anything but ASCII letters and digits) still go through url_for."""
    if not (track_id.isascii() and track_id.isalnum()):
        return url_for("media.preview", track_id=track_id)
    routes = current_app.extensions.setdefault("preview_routes", {})
    parts = routes.get(request.script_root)
    if parts is None:
        head, _, tail = url_for("media.preview", track_id=_ID_SLOT).rpartition(_ID_SLOT)
        parts = routes[request.script_root] = (head, tail)
    return parts[0] + track_id + parts[1]


def playable_url(track_id: str, raw: object) -> str | None:
    """The URL an <audio> element can play, or None when the track has no usable preview."""
    if not isinstance(raw, str) or not raw:
        return None
    if is_synthesized(raw):
        return _preview_route(track_id)
    if raw.startswith("https://"):
        return raw
    return None


def safe_image(raw: object) -> str | None:
    return raw if isinstance(raw, str) and raw.startswith("https://") else None


def _view(track_id: str, title: str, artist: str, genres: list[str], preview: str, cover: str) -> dict[str, Any]:
    return {
        "id": track_id,
        "title": title,
        "artist": artist,
        "genres": genres,
        "preview_url": playable_url(track_id, preview),
        "cover_url": safe_image(cover),
    }


def track_view(bundle: ModelBundle, row: int) -> dict[str, Any]:
    (track_id, title, artist, preview, cover), genres = recommend_index(bundle).track(row)
    return _view(track_id, title, artist, genres, preview, cover)


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
    """A result as the page and the API show it (from the result itself: no catalog lookups)."""
    view = _view(rec.track_id, rec.title, rec.artist, list(rec.genres), rec.preview_url, rec.cover_url)
    view["distance"] = round(rec.distance, 4)
    if rec.similarity is not None:  # hybrid: a score in [0, 1] (model/hybrid.py similarity)
        view["similarity"] = round(rec.similarity, 4)
    view["reason"] = rec.reason
    return view
