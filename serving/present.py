"""Tracks as plain dicts for templates and JSON, with preview and cover URLs made safe to use.

Only https URLs (and the demo scheme, mapped to serving's own synthesized-audio route) are
passed on: anything else (javascript:, http:, data:) becomes "no preview" / "no cover".
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from flask import current_app, request, url_for

from music_assets.model.bundle import ModelBundle
from music_assets.schema import SYNTHESIZED_PREVIEW_SCHEME
from music_assets.model.previews import is_synthesized
from music_assets.model.recommend import Recommendation
from music_assets.model.recommend_index import recommend_index
from music_assets.text import normalize_text

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


def _example(bundle: ModelBundle) -> tuple[str, str] | None:
    """(title, artist) of the most charted song in the model whose title no other song has and
    is short enough for a placeholder: a newcomer's first search, copied from the box, finds it."""
    tracks = bundle.tracks
    popularity = tracks["chart_appearances"].to_numpy() if "chart_appearances" in tracks else np.zeros(len(tracks))
    rows = np.flatnonzero(bundle.in_model)
    for row in rows[np.argsort(-popularity[rows], kind="stable")][:200].tolist():
        title, artist = tracks["title"].iat[row], tracks["artist"].iat[row]
        if (isinstance(title, str) and isinstance(artist, str) and 0 < len(title) <= 40 and len(artist) <= 40
                and len(bundle.title_index.get(normalize_text(title), ())) == 1):
            return title, artist
    return None


def example_fields(model) -> dict[str, str]:
    """The search box's placeholder and example, from the loaded catalog (once per model)."""
    found = model.bundle.derived("listener_example", _example) if model is not None else None
    if found is None:
        return {"example_placeholder": "Type a song title", "example_query": ""}
    title, artist = found
    return {"example_placeholder": f"e.g. {title}, or {title} by {artist}", "example_query": title}


_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
SPOTIFY_TRACK = "https://open.spotify.com/track/"
SPOTIFY_EMBED = "https://open.spotify.com/embed/track/"  # the one origin the CSP lets frames come from


def _has_real_tracks(bundle: ModelBundle) -> bool:
    """False for the demo catalog (its previews are synthesized, its ids made up): no Spotify links."""
    urls = bundle.tracks["preview_url"]
    return not bool(urls.astype("string").str.startswith(SYNTHESIZED_PREVIEW_SCHEME, na=False).any())


def with_listening(bundle: ModelBundle, view: dict[str, Any]) -> dict[str, Any]:
    """A page's track view plus "Open in Spotify" and, when there is no preview to play (the normal
    case for real data since Spotify stopped previews in 2024), Spotify's embed player. Only for
    real catalogs (and songs looked up on Spotify) and ids shaped like Spotify's."""
    real = view.get("live") or bundle.derived("listener_real_tracks", _has_real_tracks)
    if real and isinstance(view.get("id"), str) and _SPOTIFY_ID.match(view["id"]):
        view["spotify_url"] = SPOTIFY_TRACK + view["id"]
        view["spotify_embed"] = None if view.get("preview_url") else SPOTIFY_EMBED + view["id"]
    return view
