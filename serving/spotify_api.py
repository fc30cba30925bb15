"""A Spotify-compatible Web API under /v1/: what clients of Spotify's closed recommendations call.

    sp = spotipy.Spotify(auth="any-token"); sp.prefix = "http://127.0.0.1:8000/v1/"
    sp.recommendations(seed_tracks=[...], target_energy=0.8, min_tempo=120, limit=50)

Routes, answers and errors follow Spotify's reference (docs/api.md lists every difference);
the recommendation logic is music_assets.model.steer's. Ours beyond Spotify: POST
/v1/recommendations (a JSON body: a whole playlist of seeds, negative seeds, exclusions,
diversity), the same extensions as query parameters, and a top-level `music_adviser` object in
every recommendations answer (target adherence, pool size, scores, reasons, ignored parameters)
beside Spotify's untouched `tracks` and `seeds`.

Errors are Spotify's `{"error": {"status", "message"}}` (app.py renders them for every /v1 path,
unknown routes and 405s included). Any bearer token is accepted unless the operator set
MUSIC_ADVISER_API_KEYS: then a missing or unknown one gets 401 with WWW-Authenticate.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from music_assets.model.bundle import ModelBundle
from music_assets.model.markets import region_for_code
from music_assets.model.steer import SteerError, TrackRecord, available_genres, markets, steer, track_records
from serving.model_store import LoadedModel, ModelStore
from serving.params import BadRequest
from serving.spotify_objects import audio_features_object, seed_object, track_object
from serving.spotify_params import Parsed, parse_body, parse_query

bp = Blueprint("spotify", __name__, url_prefix="/v1")
EXTENSION = "music_adviser"  # our top-level object in recommendations answers
MAX_TRACK_IDS = 50  # Spotify's limits per multi-id call
MAX_FEATURE_IDS = 100
_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
REALM = 'Bearer realm="music-adviser"'


class ApiKeys:
    """The keys /v1/ requires (none: any bearer token). Held as bytes, compared in constant time
    against every key (no early exit), and kept out of repr so no log line can show one."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode("ascii") for k in keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._keys)} keys)"

    def accepts(self, token: str) -> bool:
        presented = token.encode("utf-8", "surrogateescape")
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(presented, key)
        return found


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": {"status": status, "message": message}})
    response.status_code = status
    return response


# CORS as Spotify's API answers it: any origin may call /v1/ from a browser. No cookie or other
# ambient credential is ever read here (a key travels in the Authorization header the page's own
# script sets), so a foreign page gains nothing it could not do from a server.
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {**CORS, "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
             "Access-Control-Allow-Headers": "Authorization, Content-Type", "Access-Control-Max-Age": "86400"}


@bp.after_app_request
def _cors(response: Response) -> Response:
    # app-wide, for every /v1 path: an unknown /v1 route or a wrong method never reaches this
    # blueprint, and a browser must still be able to read its Spotify-shaped error
    if request.path == "/v1" or request.path.startswith("/v1/"):
        response.headers.update(CORS)
    return response


@bp.before_request
def _authorize() -> Response | None:
    if request.method == "OPTIONS":  # a browser's preflight carries no token: answered before the key check
        return Response(status=204, headers=PREFLIGHT)
    keys: ApiKeys = current_app.extensions["api_keys"]
    if not keys:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        response = _error(401, "No token provided: this server requires an API key as 'Authorization: Bearer <key>'.")
        response.headers["WWW-Authenticate"] = REALM
        return response
    if not keys.accepts(token.strip()):
        response = _error(401, "Invalid access token.")
        response.headers["WWW-Authenticate"] = f'{REALM}, error="invalid_token"'
        return response
    return None


@bp.errorhandler(SteerError)
def _steer_error(exc: SteerError) -> Response:
    message = str(exc)
    field = getattr(exc, "field", "")
    return _error(400, message if not field or field in message else f"{field}: {message}")


def _model() -> LoadedModel:
    store: ModelStore = current_app.extensions["model_store"]
    return store.current()


def _base() -> tuple[str, str]:
    """This server's /v1/ URL and site root (the Host was checked against TRUSTED_HOSTS)."""
    return request.url_root + "v1/", request.url_root


def _recommendations(parsed: Parsed) -> Response:
    model = _model()
    bundle = model.bundle
    result = steer(bundle, parsed.request)
    base, root = _base()
    tracks = [track_object(record, base, root) for record in _records(bundle, [s.row for s in result.results])]
    return jsonify({
        "tracks": tracks,
        "seeds": [seed_object(seed, base) for seed in result.seeds],
        EXTENSION: {
            "model_version": model.version,
            "mode": parsed.request.mode,
            "market": result.market,  # the region as the charts name it (market=PH -> "Philippines")
            "pool_size": result.pool_size,
            "adherence": {name: round(value, 6) for name, value in result.adherence.items()},
            "results": [{"id": t["id"], "score": round(s.score, 4), "match": round(s.match, 4), "reason": s.reason}
                        for t, s in zip(tracks, result.results)],
            "ignored_parameters": parsed.ignored,
        },
    })


@bp.get("/recommendations")
def recommendations_get() -> Response:
    return _recommendations(parse_query(request.args.items(multi=True)))


@bp.post("/recommendations")
def recommendations_post() -> Response:
    if not request.is_json:
        raise BadRequest("POST /v1/recommendations takes a JSON body: send Content-Type: application/json.", 415)
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    return _recommendations(parse_body(body))


@bp.get("/recommendations/available-genre-seeds")
def genre_seeds() -> Response:
    return jsonify({"genres": available_genres(_model().bundle)})


def _row(bundle: ModelBundle, track_id: str) -> int | None:
    if not _ID.match(track_id):
        raise BadRequest(f"invalid id: {track_id[:40]!r} is not a track id (letters and digits, like "
                         "4uLU6hMCjMI75M1A2tKUQC).")
    return bundle.id_index.get(track_id)


def _ids(limit: int) -> list[str]:
    raw = request.args.get("ids", "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        raise BadRequest(f"ids is required: up to {limit} comma-separated track ids.")
    if len(ids) > limit:
        raise BadRequest(f"Too many ids requested: at most {limit} per call; got {len(ids)}.")
    return ids


def _market(bundle: ModelBundle) -> str | None:
    """The region ?market= names (a code like PH, or the region's name), None without one; an
    unknown market is refused as Spotify refuses an invalid market code (400)."""
    market = (request.args.get("market") or "").strip()
    if not market or market.lower() == "from_token":
        return None
    names = {market.casefold(), (region_for_code(market) or market).casefold()}
    known = markets(bundle)
    found = next((m for m in known if m.casefold() in names), None)
    if found is None:
        raise BadRequest(f"Invalid market code: {market!r} is not a chart region of this catalog "
                         f"(the largest: {', '.join(known[:5]) or 'none, the catalog has no charts'}).")
    return found


def _playable(regions: list[str], market: str | None) -> bool:
    """is_playable: with a market, whether the track charted there (markets are chart regions)."""
    return market is None or any(region.casefold() == market.casefold() for region in regions)


def _records(bundle: ModelBundle, rows: list[int | None]) -> list[TrackRecord | None]:
    """The catalog's records for `rows` (None stays None), for up to 100 rows per answer."""
    known = [row for row in rows if row is not None]
    found = iter(track_records(bundle, known))
    return [next(found) if row is not None else None for row in rows]


def _tracks(bundle: ModelBundle, rows: list[int | None]) -> list[dict[str, Any] | None]:
    base, root = _base()
    market = _market(bundle)
    return [track_object(r, base, root, playable=_playable(r.regions, market)) if r is not None else None
            for r in _records(bundle, rows)]


def _features(bundle: ModelBundle, rows: list[int | None]) -> list[dict[str, Any] | None]:
    base = _base()[0]
    return [audio_features_object(r, base) if r is not None else None for r in _records(bundle, rows)]


@bp.get("/tracks/<track_id>")
def track(track_id: str) -> Response:
    bundle = _model().bundle
    row = _row(bundle, track_id)
    if row is None:
        return _error(404, f"non existing id: no track {track_id} in this catalog.")
    return jsonify(_tracks(bundle, [row])[0])


@bp.get("/tracks")
@bp.get("/tracks/")  # spotipy sends tracks/?ids=: answered here, never redirected
def tracks() -> Response:
    bundle = _model().bundle
    return jsonify({"tracks": _tracks(bundle, [_row(bundle, track_id) for track_id in _ids(MAX_TRACK_IDS)])})


@bp.get("/audio-features/<track_id>")
def audio_features_one(track_id: str) -> Response:
    bundle = _model().bundle
    found = _features(bundle, [_row(bundle, track_id)])[0]
    if found is None:
        return _error(404, f"analysis not found: no audio features for track {track_id} in this catalog.")
    return jsonify(found)


@bp.get("/audio-features")
@bp.get("/audio-features/")  # spotipy sends audio-features/?ids=: answered here, never redirected
def audio_features() -> Response:
    bundle = _model().bundle
    rows = [_row(bundle, track_id) for track_id in _ids(MAX_FEATURE_IDS)]
    return jsonify({"audio_features": _features(bundle, rows)})
