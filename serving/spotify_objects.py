"""Catalog tracks as Spotify Web API objects (track, artist, album, audio features, seed).

Shapes follow Spotify's reference so a client written for Spotify reads them unchanged. What the
catalog does not know is null (an artist without an id has null id, uri and href) or left out
(album ids, track numbers), never invented. `href`s name this server where it serves the object
(tracks, audio features) and Spotify's API where it does not (artists); `external_urls` always
point to open.spotify.com, since catalog ids are Spotify's.
"""

from __future__ import annotations

import re
from typing import Any

from music_assets.model.steer import SeedReport, TrackRecord
from serving.present import playable_url, safe_image

OPEN = "https://open.spotify.com"
SPOTIFY_API = "https://api.spotify.com/v1/"
# Spotify's audio-features keys, in its order; popularity is a track field, not a feature
AUDIO_FEATURES = ("danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
                  "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature")
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")  # an artist seed given by name has no href
WHOLE = frozenset({"key", "mode", "time_signature", "duration_ms"})


def artist_object(artist_id: str | None, name: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"{OPEN}/artist/{artist_id}"} if artist_id else {},
        "href": f"{SPOTIFY_API}artists/{artist_id}" if artist_id else None,
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}" if artist_id else None,
    }


def _absolute(url: str | None, root: str) -> str | None:
    """A preview on this server (the demo's synthesized audio) as an absolute URL, as Spotify's are."""
    return root.rstrip("/") + url if url and url.startswith("/") else url


def track_object(record: TrackRecord, base: str, root: str, playable: bool = True) -> dict[str, Any]:
    """Spotify's track object. `base`: this server's /v1/ URL; `root`: its site root."""
    tid = record.track_id
    artists = [artist_object(aid, name) for aid, name in record.artists]
    cover = safe_image(record.cover_url)
    return {
        "album": {"album_type": None, "artists": artists, "images": [{"url": cover, "height": None, "width": None}]
                  if cover else [], "name": record.album, "type": "album"},
        "artists": artists,
        "duration_ms": record.duration_ms,
        "external_urls": {"spotify": f"{OPEN}/track/{tid}"},
        "href": f"{base}tracks/{tid}",
        "id": tid,
        "is_local": False,
        "is_playable": playable,
        "name": record.title,
        "popularity": record.popularity,
        "preview_url": _absolute(playable_url(tid, record.preview_url), root),
        "type": "track",
        "uri": f"spotify:track:{tid}",
    }


def _feature(name: str, value: float | None) -> float | int | None:
    if value is None or value != value:  # NaN: the catalog has no value
        return None
    return int(round(value)) if name in WHOLE else float(value)


def audio_features_object(record: TrackRecord, base: str) -> dict[str, Any] | None:
    """Spotify's audio-features object; None (Spotify's null) when the catalog has no feature at all."""
    values = {name: _feature(name, record.features.get(name)) for name in AUDIO_FEATURES}
    if values["duration_ms"] is None and record.duration_ms is not None:  # the track's own duration
        values["duration_ms"] = int(record.duration_ms)
    if all(values[name] is None for name in AUDIO_FEATURES if name != "duration_ms"):
        return None
    tid = record.track_id
    return {**values, "type": "audio_features", "id": tid, "uri": f"spotify:track:{tid}",
            "track_href": f"{base}tracks/{tid}", "analysis_url": None}


def seed_object(seed: SeedReport, base: str) -> dict[str, Any]:
    href = (f"{base}tracks/{seed.id}" if seed.type == "TRACK" else
            f"{SPOTIFY_API}artists/{seed.id}" if seed.type == "ARTIST" and SPOTIFY_ID.match(seed.id) else None)
    return {"afterFilteringSize": seed.after_filtering_size, "afterRelinkingSize": seed.after_relinking_size,
            "href": href, "id": seed.id, "initialPoolSize": seed.initial_pool_size, "type": seed.type}
