"""The OpenAPI description of the Spotify-compatible /v1/ routes (merged into /api/openapi.json).

What is ours and not Spotify's carries `x-extension: true` (an operation, a parameter or a field),
so a reader sees at a glance what a Spotify client will never send or read.
"""

from __future__ import annotations

from typing import Any

from music_assets.model.steer import MAX_SPOTIFY_SEEDS, STEER_MODES, TUNABLE
from serving.spotify_api import EXTENSION, MAX_FEATURE_IDS, MAX_TRACK_IDS
from serving.spotify_params import DEFAULT_LIMIT, MAX_BODY_SEEDS, MAX_LIMIT

OURS = {"x-extension": True}
_NULLABLE_STR = {"type": "string", "nullable": True}
_ARTIST = {"type": "object", "required": ["id", "name", "type", "uri", "href", "external_urls"], "properties": {
    "id": {**_NULLABLE_STR, "description": "null where the catalog has the artist's name only"},
    "name": {"type": "string"}, "type": {"type": "string", "enum": ["artist"]}, "uri": _NULLABLE_STR,
    "href": _NULLABLE_STR, "external_urls": {"type": "object"}}}
_SPOTIFY_TRACK = {"type": "object", "required": [
    "id", "name", "uri", "type", "artists", "album", "duration_ms", "popularity", "preview_url",
    "external_urls", "href", "is_playable"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "uri": {"type": "string", "example": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"},
    "type": {"type": "string", "enum": ["track"]},
    "artists": {"type": "array", "items": {"$ref": "#/components/schemas/SpotifyArtist"}},
    "album": {"type": "object", "required": ["name", "images"], "properties": {
        "name": _NULLABLE_STR, "images": {"type": "array", "items": {"type": "object", "required": ["url"],
                                                                     "properties": {"url": {"type": "string"}}}}}},
    "duration_ms": {"type": "integer", "nullable": True}, "popularity": {"type": "integer", "nullable": True},
    "preview_url": {**_NULLABLE_STR, "description": "usually null for real catalogs (Spotify stopped previews for new apps in 2024)"},
    "external_urls": {"type": "object", "required": ["spotify"], "properties": {"spotify": {"type": "string"}}},
    "href": {"type": "string"}, "is_playable": {"type": "boolean"}, "is_local": {"type": "boolean"}}}
_FEATURES = {"type": "object", "nullable": True, "required": ["id", "type", "uri", "track_href"], "properties": {
    **{name: {"type": "number", "nullable": True} for name in TUNABLE if name != "popularity"},
    "id": {"type": "string"}, "type": {"type": "string", "enum": ["audio_features"]}, "uri": {"type": "string"},
    "track_href": {"type": "string"}, "analysis_url": _NULLABLE_STR}}
_SEED = {"type": "object", "required": ["id", "type", "href", "initialPoolSize", "afterFilteringSize",
                                        "afterRelinkingSize"], "properties": {
    "id": {"type": "string"}, "type": {"type": "string", "enum": ["TRACK", "ARTIST", "GENRE"]}, "href": _NULLABLE_STR,
    "initialPoolSize": {"type": "integer"}, "afterFilteringSize": {"type": "integer"},
    "afterRelinkingSize": {"type": "integer"}}}
_OURS_OBJECT = {**OURS, "type": "object", "required": ["model_version", "mode", "pool_size", "adherence", "results",
                                                      "ignored_parameters"], "properties": {
    "model_version": {"type": "string"}, "mode": {"type": "string", "enum": list(STEER_MODES)},
    "market": {**_NULLABLE_STR, "description": "the market as the charts name the region (PH -> Philippines)"},
    "pool_size": {"type": "integer", "description": "candidates left after market, min/max and exclusions"},
    "adherence": {"type": "object", "description": "per target_ attribute: mean |value - target| over the "
                                                   "returned tracks (0 = every track on target)"},
    "results": {"type": "array", "items": {"type": "object", "required": ["id", "score", "match", "reason"], "properties": {
        "id": {"type": "string"}, "score": {"type": "number", "description": "similarity to the seeds in [0, 1]"},
        "match": {"type": "number", "description": "what the list is ranked by, in [0, 1]: the similarity less the "
                                                   "targets' penalties (equal to score without targets)"},
        "reason": {"type": "string", "example": "similar energy and mood"}}}},
    "ignored_parameters": {"type": "array", "items": {"type": "string"},
                           "description": "query parameters this server does not know (ignored, as Spotify does)"}}}
_RECOMMENDATIONS = {"type": "object", "required": ["tracks", "seeds", EXTENSION], "properties": {
    "tracks": {"type": "array", "items": {"$ref": "#/components/schemas/SpotifyTrack"}},
    "seeds": {"type": "array", "items": {"$ref": "#/components/schemas/SpotifySeed"}},
    EXTENSION: _OURS_OBJECT}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _common(*extra: tuple[str, str]) -> dict[str, Any]:
    answers = {status: _err(text) for status, text in extra}
    answers.update({
        "401": _err("API keys are required (MUSIC_ADVISER_API_KEYS) and the bearer token is missing or unknown; "
                    "WWW-Authenticate says which"),
        "429": _err("too many requests from this address; Retry-After gives the seconds to wait"),
        "503": _err("no model published yet; Retry-After"),
    })
    return answers


def _q(name: str, schema: dict[str, Any], description: str = "", ours: bool = False) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    return {**param, **OURS} if ours else param


_LIST = {"type": "string", "description": "comma-separated"}
_EXT_PARAMS = [
    _q("negative_tracks", _LIST, "track ids: less like these", ours=True),
    _q("exclude_tracks", _LIST, "track ids never returned", ours=True),
    _q("exclude_artists", _LIST, "artist ids or names never returned", ours=True),
    _q("max_per_artist", {"type": "integer", "minimum": 1}, "at most this many tracks per artist", ours=True),
    _q("diversity", {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
       "0 = pure similarity .. 1 = most varied", ours=True),
    _q("mode", {"type": "string", "enum": list(STEER_MODES), "default": "nearest"},
       "hybrid only where the model has hybrid vectors", ours=True),
]
_GET_PARAMS = [
    _q("seed_tracks", _LIST, f"track ids; seeds of all three kinds: 1 to {MAX_SPOTIFY_SEEDS} in all"),
    _q("seed_artists", _LIST, "artist ids where the catalog has them, else names"),
    _q("seed_genres", _LIST, "genres from available-genre-seeds"),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    _q("market", {"type": "string"}, "a chart region code the catalog knows: only tracks that charted there"),
    *[_q(f"{prefix}{name}", {"type": "number"}, text) for name in TUNABLE
      for prefix, text in (("min_", "hard filter"), ("max_", "hard filter"), ("target_", "steers the ranking"))],
    *_EXT_PARAMS,
]
_BODY = {"type": "object", "additionalProperties": False, "properties": {
    **{name: {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]}
       for name in ("seed_tracks", "seed_artists", "seed_genres", "negative_tracks", "exclude_tracks", "exclude_artists")},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "market": {"type": "string"},
    "max_per_artist": {"type": "integer", "minimum": 1}, "diversity": {"type": "number"},
    "mode": {"type": "string", "enum": list(STEER_MODES)},
    **{f"{prefix}{name}": {"type": "number"} for name in TUNABLE for prefix in ("min_", "max_", "target_")}},
    "example": {"seed_tracks": ["4uLU6hMCjMI75M1A2tKUQC", "0VjIjW4GlUZAMYd2vXMi3b"], "negative_tracks": [],
                "target_energy": 0.8, "min_tempo": 120, "max_per_artist": 2, "diversity": 0.3}}
_IDS = [_q("ids", {"type": "string"}, "comma-separated track ids"), _q("market", {"type": "string"}, "sets is_playable")]
_ID = [{"name": "track_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{1,64}$"}}]


def v1_paths() -> dict[str, Any]:
    """The /v1 operations, each marked as needing the bearer token (any, unless keys are set)."""
    paths = _paths()
    for operations in paths.values():
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
    return paths


def _paths() -> dict[str, Any]:
    recommendations = _ok("Spotify's answer, plus our music_adviser object", {"$ref": "#/components/schemas/SpotifyRecommendations"})
    return {
        "/v1/recommendations": {
            "get": {"summary": "Spotify's recommendations: tracks like the seeds, filtered and steered",
                    "description": "Unknown parameters are ignored (as Spotify does) and listed in "
                                   "music_adviser.ignored_parameters; a min_/max_/target_ of an attribute "
                                   "that is not tunable is refused.",
                    "parameters": _GET_PARAMS,
                    "responses": {"200": recommendations, **_common(("400", "a parameter that is not a number, out "
                                  "of range, an unknown seed or market, no seed or too many (the message names it)"))}},
            "post": {**OURS, "summary": f"Recommendations for up to {MAX_BODY_SEEDS} seeds (a whole playlist), as JSON",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}},
                     "responses": {"200": recommendations, **_common(
                         ("400", "invalid JSON, an unknown field, or a bad value (the message names it)"),
                         ("413", "a body over 16 KiB"), ("415", "a body that is not application/json"))}},
        },
        "/v1/recommendations/available-genre-seeds": {"get": {
            "summary": "The genres seed_genres accepts",
            "responses": {"200": _ok("genres", {"type": "object", "required": ["genres"], "properties": {
                "genres": {"type": "array", "items": {"type": "string"}}}}), **_common()}}},
        "/v1/tracks/{track_id}": {"get": {
            "summary": "One catalog track", "parameters": [*_ID, _IDS[1]],
            "responses": {"200": _ok("a track", {"$ref": "#/components/schemas/SpotifyTrack"}),
                          **_common(("400", "invalid id"), ("404", "non existing id: not in this catalog"))}}},
        "/v1/tracks": {"get": {
            "summary": f"Up to {MAX_TRACK_IDS} catalog tracks; null for an id the catalog does not hold",
            "parameters": _IDS,
            "responses": {"200": _ok("tracks", {"type": "object", "required": ["tracks"], "properties": {
                "tracks": {"type": "array", "items": {"$ref": "#/components/schemas/SpotifyTrackOrNull"}}}}),
                **_common(("400", f"ids missing or invalid, or more than {MAX_TRACK_IDS}"))}}},
        "/v1/audio-features/{track_id}": {"get": {
            "summary": "A catalog track's audio features", "parameters": _ID,
            "responses": {"200": _ok("audio features", {"$ref": "#/components/schemas/SpotifyAudioFeatures"}),
                          **_common(("400", "invalid id"), ("404", "no such track, or one without features"))}}},
        "/v1/audio-features": {"get": {
            "summary": f"Audio features of up to {MAX_FEATURE_IDS} tracks; null where unknown", "parameters": _IDS[:1],
            "responses": {"200": _ok("audio features", {"type": "object", "required": ["audio_features"], "properties": {
                "audio_features": {"type": "array", "items": {"$ref": "#/components/schemas/SpotifyAudioFeatures"}}}}),
                **_common(("400", f"ids missing or invalid, or more than {MAX_FEATURE_IDS}"))}}},
    }


def v1_schemas() -> dict[str, Any]:
    return {"SpotifyArtist": _ARTIST, "SpotifyTrack": _SPOTIFY_TRACK,
            "SpotifyTrackOrNull": {**_SPOTIFY_TRACK, "nullable": True}, "SpotifyAudioFeatures": _FEATURES,
            "SpotifySeed": _SEED, "SpotifyRecommendations": _RECOMMENDATIONS}
