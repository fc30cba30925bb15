"""HTML pages: search, results (or pick among songs sharing a title, or did-you-mean), model.

Jinja autoescaping is on for every template: a title or query with HTML in it is shown as text.
"""

from __future__ import annotations

import math

from flask import Blueprint, current_app, render_template, request

from music_assets.model.recommend import MAX_K, MODES
from serving.model_store import ModelStore
from serving.params import DEFAULT_K, BadRequest, parse_recommend
from serving.present import MODE_HELP, mode_help, mode_name, query_view, recommendation_view, track_view
from serving.media import PLOTS
from serving.service import NotFound, run

bp = Blueprint("pages", __name__)


def store() -> ModelStore:
    return current_app.extensions["model_store"]


def _form(model, **values):
    """Template values for the search form, pre-filled from the request where given."""
    args = request.args
    return {
        "modes": [(m, mode_name(m), MODE_HELP.get(m, "")) for m in MODES],
        "default_mode": model.bundle.default_mode if model else "normal",
        # "best measured" only once the quality step has measured the modes (it writes quality.json)
        "default_label": "best measured" if model and model.bundle.quality else "default",
        "max_k": MAX_K,
        "form": {
            "song": (values.get("song") if "song" in values else args.get("song", ""))[:300],
            "artist": (args.get("artist") or "")[:300],
            "mode": args.get("mode") if args.get("mode") in MODES else (model.bundle.default_mode if model else ""),
            "k": args.get("k") if (args.get("k") or "").isdigit() and 1 <= int(args["k"]) <= MAX_K else DEFAULT_K,
        },
        "model": model,
    }


@bp.get("/")
def search():
    model = store().current()
    return render_template("search.html", **_form(model))


@bp.get("/recommend")
def results():
    model = store().current()
    try:
        params = parse_recommend(request.args, model.bundle.default_mode)
        outcome = run(model, params, pick_first=False, live_lookup=current_app.extensions["live_lookup"])
    except BadRequest as exc:
        return render_template("search.html", error=exc.message, **_form(model)), exc.status
    except NotFound as exc:
        suggestions = [track_view(model.bundle, i) for i in exc.suggestions]
        return render_template("not_found.html", message=exc.message, suggestions=suggestions,
                               params=request.args, **_form(model)), 404
    bundle = model.bundle
    if outcome.query is None and outcome.live is None:  # several songs share the title: the listener picks one
        return render_template("choose.html", choices=[track_view(bundle, i) for i in outcome.choices],
                               params=outcome.params, artist_ignored=outcome.artist_ignored, **_form(model))
    return render_template(
        "results.html",
        query=query_view(bundle, outcome),
        results=[recommendation_view(bundle, r) for r in outcome.results],
        params=outcome.params,
        mode_description=mode_help(outcome.params.mode),
        mode_name=mode_name(outcome.params.mode),
        is_default_mode=outcome.params.mode == bundle.default_mode,
        **_form(model),
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return "n/a" if value is None else str(value)[:200]


def _quality(model) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, list[str]]]]:
    """From the bundle's quality.json (written by the quality step before publishing), if any:
    its top-level facts, and a per-mode metrics table (metric names, then one row per mode)."""
    data = model.bundle.quality  # read with the bundle: pages never touch the (maybe remote) store
    if not data:
        return [], [], []
    facts = [(str(k), _fmt(v)) for k, v in data.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)][:20]
    modes = data.get("modes")
    metrics: list[str] = []
    rows: list[tuple[str, list[str]]] = []
    if isinstance(modes, dict):
        for per_mode in modes.values():
            if isinstance(per_mode, dict):
                metrics.extend(m for m in per_mode if m not in metrics)
        metrics = metrics[:12]
        rows = [(str(mode), [_fmt(per_mode.get(m)) for m in metrics])
                for mode, per_mode in list(modes.items())[:20] if isinstance(per_mode, dict)]
    return facts, metrics, rows


@bp.get("/model")
def model_page():
    model = store().current()
    bundle = model.bundle
    facts, metrics, rows = _quality(model)
    plots = [(name, caption) for name, caption in PLOTS.items() if name in model.plots]
    return render_template(
        "model.html", plots=plots, quality=facts, quality_metrics=metrics, quality_rows=rows,
        summary={
            "version": bundle.version,
            "tracks": len(bundle.tracks),
            "k": bundle.meta.get("k"),
            "default_mode": bundle.default_mode,
            "features": ", ".join(bundle.features),
            "features_dropped": "; ".join(f"{name} ({why})" for name, why in bundle.catalog.get("features_dropped", {}).items()),
            "in_model": int(bundle.in_model.sum()),
            "featureless": int(bundle.catalog.get("tracks_without_features", 0)),
            "featureless_share": float(bundle.catalog.get("featureless_share", 0.0)),
            "created_at": bundle.meta.get("created_at", ""),
        },
        **_form(model),
    )
