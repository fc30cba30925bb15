"""JSON API: /api/recommend, /api/search, /api/openapi.json and /healthz.

Errors are JSON `{"error": {"status", "message", ...}}` with the same status code (see app.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from music_assets.model.recommend import MODES
from music_assets.model.search import QueryError, check_query
from serving.model_store import ModelStore
from serving.openapi import openapi_document
from serving.params import BadRequest, parse_recommend
from serving.present import mode_help, mode_name, query_view, recommendation_view, track_view
from serving.service import NotFound, run

bp = Blueprint("api", __name__)
SEARCH_LIMIT = 10


def store() -> ModelStore:
    return current_app.extensions["model_store"]


@bp.get("/healthz")
def healthz():
    model = store().current()
    return jsonify({
        "status": "ok",
        "model_version": model.version,
        "tracks": int(len(model.bundle.tracks)),
        "default_mode": model.bundle.default_mode,
        "features": list(model.bundle.features),
        "tracks_in_model": int(model.bundle.in_model.sum()),
        "featureless_share": float(model.bundle.catalog.get("featureless_share", 0.0)),
    })


@bp.get("/api/recommend")
def api_recommend():
    model = store().current()
    params = parse_recommend(request.args, model.bundle.default_mode)
    try:
        outcome = run(model, params, pick_first=True, live_lookup=current_app.extensions["live_lookup"])
    except NotFound as exc:
        suggestions = [track_view(model.bundle, i) for i in exc.suggestions]
        return jsonify({"error": {"status": 404, "message": exc.message, "suggestions": suggestions}}), 404
    bundle = model.bundle
    return jsonify({
        "model_version": model.version,
        "mode": params.mode,
        "mode_description": mode_help(params.mode),
        "mode_name": mode_name(params.mode),
        "k": params.k,
        "query": query_view(bundle, outcome),
        "other_matches": [track_view(bundle, i) for i in outcome.choices],
        "artist_ignored": outcome.artist_ignored,
        "results": [recommendation_view(bundle, r) for r in outcome.results],
    })


@bp.get("/api/search")
def api_search():
    model = store().current()
    try:
        q = check_query(request.args.get("q"), "search text")
    except QueryError as exc:
        raise BadRequest(str(exc)) from None
    rows = model.search.complete(q, SEARCH_LIMIT)
    return jsonify({
        "model_version": model.version,
        "q": q,
        "results": [{k: v for k, v in track_view(model.bundle, i).items() if k in ("id", "title", "artist")}
                    for i in rows],
    })


@bp.get("/api/openapi.json")
def openapi():
    return jsonify(openapi_document(list(MODES)))
