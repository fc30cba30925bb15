"""HTML pages: search, results (or pick among songs sharing a title, or did-you-mean), model.

Jinja autoescaping is on for every template: a title or query with HTML in it is shown as text.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from music_assets.model.recommend import MAX_K, MODES
from music_assets.model.search import MAX_QUERY_CHARS
from serving import model_view
from serving.model_store import ModelStore
from serving.params import DEFAULT_K, BadRequest, parse_recommend
from serving.present import MODE_HELP, example_fields, mode_help, mode_name, query_view, recommendation_view, track_view, with_listening
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
        # the form's maxlength is the server's own limit (search.py), so the two cannot disagree
        "max_query_chars": MAX_QUERY_CHARS,
        **example_fields(model),
        "form": {
            # kept whole up to 5x the limit: a too-long query comes back to be shortened, not cut
            "song": (values.get("song") if "song" in values else args.get("song", ""))[:5 * MAX_QUERY_CHARS],
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
        suggestions = [track_view(model.bundle, i) for i in exc.suggestions]  # links only: no player
        return render_template("not_found.html", message=exc.message, suggestions=suggestions,
                               params=request.args, **_form(model)), 404
    bundle = model.bundle
    if outcome.query is None and outcome.live is None:  # several songs share the title: the listener picks one
        return render_template("choose.html", choices=[track_view(bundle, i) for i in outcome.choices],
                               params=outcome.params, artist_ignored=outcome.artist_ignored, **_form(model))
    return render_template(
        "results.html",
        query=with_listening(bundle, query_view(bundle, outcome)),
        results=[with_listening(bundle, recommendation_view(bundle, r)) for r in outcome.results],
        params=outcome.params,
        mode_description=mode_help(outcome.params.mode),
        mode_name=mode_name(outcome.params.mode),
        is_default_mode=outcome.params.mode == bundle.default_mode,
        **_form(model),
    )


@bp.get("/model")
def model_page():
    model = store().current()
    bundle = model.bundle
    columns, rows = model_view.quality_table(bundle.quality, bundle.default_mode)
    plots = [(name, caption) for name, caption in PLOTS.items() if name in model.plots]
    return render_template(
        "model.html", plots=plots, summary=model_view.summary(bundle),
        quality=model_view.quality_facts(bundle.quality), quality_columns=columns, quality_rows=rows,
        **_form(model),
    )
