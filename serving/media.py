"""Files the pages use: synthesized demo previews and the model's quality plots.

Plots are served only by name from a fixed list, from the bytes of the current bundle's
`plots/` read when the model was loaded (the bundle may live on an object store): a request can
never name an arbitrary file, and never reaches the store.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, abort, current_app, request

from music_assets.model.previews import is_synthesized, key_from_id, synthesize_preview
from serving.params import parse_track_id

bp = Blueprint("media", __name__)
PLOTS = {"elbow.png": "Elbow curve: KMeans inertia by k", "pca_map.png": "Tracks on the first two PCA axes"}


def _num(row, name: str, default: float) -> float:
    try:
        value = float(row[name])
    except (KeyError, TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


@bp.get("/preview/<track_id>.wav")
def preview(track_id: str):
    """A few seconds of audio at the demo track's tempo and key (cached in memory per track)."""
    track_id = parse_track_id(track_id) or ""
    bundle = current_app.extensions["model_store"].current().bundle
    row_index = bundle.id_index.get(track_id)
    if row_index is None:
        abort(404, description="No such track in the current model.")
    row = bundle.tracks.iloc[row_index]
    if not is_synthesized(row["preview_url"]):
        abort(404, description="This track has no synthesized preview.")
    key, major = key_from_id(track_id)
    if "key" in row.index and math.isfinite(_num(row, "key", math.nan)):
        key = int(_num(row, "key", key))
    if "mode" in row.index and math.isfinite(_num(row, "mode", math.nan)):
        major = _num(row, "mode", 1.0) >= 0.5
    audio = synthesize_preview(_num(row, "tempo", 120.0), key, major, _num(row, "energy", 0.6),
                               _num(row, "danceability", 0.6))
    response = Response(audio, mimetype="audio/wav")
    response.headers["Cache-Control"] = "public, max-age=3600"
    # Browsers fetch media with Range requests; answer them (206) so seeking and looping work.
    return response.make_conditional(request, accept_ranges=True, complete_length=len(audio))


@bp.get("/model/plots/<name>")
def plot(name: str):
    if name not in PLOTS:
        abort(404, description="No such plot.")
    data = current_app.extensions["model_store"].current().plots.get(name)
    if data is None:
        abort(404, description="This model has no such plot.")
    response = Response(data, mimetype="image/png")
    response.cache_control.public, response.cache_control.max_age = True, 300
    response.add_etag()
    return response.make_conditional(request)
