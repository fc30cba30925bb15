"""The OpenAPI 3 description of the JSON API (served at /api/openapi.json).

Written by hand (a dozen routes do not justify a spec generator); tests check that every path in
it exists and answers with the documented status codes and fields. The Spotify-compatible /v1/
routes are described in openapi_v1.py, our extensions there marked `x-extension: true`.
"""

from __future__ import annotations

from typing import Any

from music_assets.model.recommend import MAX_K
from music_assets.model.search import MAX_QUERY_CHARS
from serving.openapi_v1 import v1_paths, v1_schemas
from serving.params import DEFAULT_K

_TRACK = {
    "type": "object",
    "required": ["id", "title", "artist", "genres", "preview_url", "cover_url"],
    "properties": {
        "id": {"type": "string", "description": "Spotify track id (22 base62 characters)"},
        "title": {"type": "string"},
        "artist": {"type": "string"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "preview_url": {"type": "string", "nullable": True,
                        "description": "playable audio: an https preview, or this server's synthesized "
                                       "demo preview (/preview/<id>.wav); null when the track has none"},
        "cover_url": {"type": "string", "nullable": True},
        "live": {"type": "boolean", "description": "query only: found by the live Spotify lookup, not in the catalog"},
    },
}
_RECOMMENDATION = {"allOf": [{"$ref": "#/components/schemas/Track"}, {
    "type": "object", "required": ["distance", "reason"],
    "properties": {"distance": {"type": "number", "minimum": 0,
                                "description": "audio modes: Euclidean, standardized features; hybrid: 1 - similarity"},
                   "similarity": {"type": "number", "minimum": 0, "maximum": 1,
                                  "description": "hybrid only: the blended score over its largest possible value"},
                   "reason": {"type": "string", "example": "shares k-pop; close on energy and valence"}},
}]}
_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {
        "status": {"type": "integer"}, "message": {"type": "string"},
        "suggestions": {"type": "array", "items": {"$ref": "#/components/schemas/Track"},
                        "description": "closest titles (404 from /api/recommend only)"}}}},
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(modes: list[str]) -> dict[str, Any]:
    q_limit = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Music Adviser API", "version": "1.0.0",
                 "description": "Content-based song recommendations from the published model. "
                                "The model is reloaded without restart when a new one is published. "
                                "/v1/ is Spotify-compatible (docs/api.md); what Spotify never had is marked "
                                "x-extension."},
        "paths": {
            "/api/recommend": {"get": {
                "summary": "Songs that sound like the given one",
                "description": "Song forms: 'black swan', 'Black Swan BTS', 'Black Swan by BTS'. When several "
                               "songs share the title, the most charted is used and the others are listed in "
                               f"other_matches (pass artist= or id= to choose). k outside 1..{MAX_K} is refused "
                               "with 400, not clamped.",
                "parameters": [
                    {"name": "song", "in": "query", "required": False, "schema": q_limit,
                     "description": "title, optionally with the artist; required unless id is given"},
                    {"name": "artist", "in": "query", "required": False, "schema": q_limit},
                    {"name": "id", "in": "query", "required": False,
                     "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{1,64}$"}},
                    {"name": "mode", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": modes},
                     "description": "default: the model's default mode (the measured best)"},
                    {"name": "k", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K}},
                ],
                "responses": {
                    "200": _ok("recommendations", {"type": "object", "required": [
                        "model_version", "mode", "k", "query", "other_matches", "results"], "properties": {
                        "model_version": {"type": "string"}, "mode": {"type": "string", "enum": modes},
                        "mode_description": {"type": "string"},
                        "mode_name": {"type": "string", "example": "Listened together"},
                        "k": {"type": "integer"}, "artist_ignored": {"type": "boolean"},
                        "query": {"$ref": "#/components/schemas/Track"},
                        "other_matches": {"type": "array", "items": {"$ref": "#/components/schemas/Track"}},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Recommendation"}},
                    }}),
                    "400": _err("empty or too long song, unknown mode, k not an integer in range"),
                    "404": _err("song not in the catalog (with did-you-mean suggestions) or unknown id"),
                    "422": _err("the mode cannot answer for this song (genre mode, song without genres; a song with no audio features in the catalog)"),
                    "429": _err("too many requests from this address, or too many live Spotify lookups "
                                "(a stricter limit); Retry-After gives the seconds to wait"),
                    "503": _err("no model published yet"),
                },
            }},
            "/api/search": {"get": {
                "summary": "Autocomplete: songs whose title starts with (then contains) q",
                "parameters": [{"name": "q", "in": "query", "required": True, "schema": q_limit}],
                "responses": {
                    "200": _ok("up to 10 songs", {"type": "object", "required": ["model_version", "q", "results"],
                                                  "properties": {
                        "model_version": {"type": "string"}, "q": {"type": "string"},
                        "results": {"type": "array", "items": {"type": "object", "required": ["id", "title", "artist"],
                                                               "properties": {"id": {"type": "string"},
                                                                              "title": {"type": "string"},
                                                                              "artist": {"type": "string"}}}}}}),
                    "400": _err("empty or too long q"),
                    "429": _err("too many requests from this address; Retry-After gives the seconds to wait"),
                    "503": _err("no model published yet"),
                },
            }},
            "/healthz": {"get": {
                "summary": "Liveness and the model version being served",
                "responses": {
                    "200": _ok("serving", {"type": "object", "required": ["status", "model_version", "tracks"],
                                           "properties": {"status": {"type": "string", "enum": ["ok"]},
                                                          "model_version": {"type": "string"},
                                                          "tracks": {"type": "integer"},
                                                          "default_mode": {"type": "string"},
                                                          "features": {"type": "array", "items": {"type": "string"}},
                                                          "tracks_in_model": {"type": "integer"},
                                                          "featureless_share": {"type": "number"}}}),
                    "503": _err("no model published yet"),
                },
            }},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": _ok("OpenAPI 3 document", {"type": "object", "required": ["openapi", "paths"]})},
            }},
            **v1_paths(),
        },
        "components": {
            "schemas": {"Track": _TRACK, "Recommendation": _RECOMMENDATION, "Error": _ERROR, **v1_schemas()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "any token, unless the operator set API keys"}},
        },
    }
