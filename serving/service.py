"""The one recommendation flow both the page and the API use: resolve the song, then recommend.

Flask-free so it is tested like any function; routes only translate its outcome to HTML or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from music_assets.core.recommend import Recommendation, RecommendationError, recommend
from music_assets.core.search import QueryError, Resolution
from serving.model_store import LoadedModel
from serving.params import BadRequest, RecommendParams


class NotFound(LookupError):
    """The song is not in the catalog; carries closest-title suggestions (row indices)."""

    def __init__(self, message: str, suggestions: list[int]) -> None:
        super().__init__(message)
        self.message = message
        self.suggestions = suggestions


@dataclass
class Outcome:
    """Either `choices` (several songs share the title: the listener picks) or recommendations."""

    model: LoadedModel
    params: RecommendParams
    query: int | None = None
    results: list[Recommendation] = field(default_factory=list)
    choices: list[int] = field(default_factory=list)
    artist_ignored: bool = False


def resolve(model: LoadedModel, params: RecommendParams) -> Resolution:
    if params.track_id:
        row = model.bundle.id_index.get(params.track_id)
        if row is None:
            raise NotFound(f"No track with id {params.track_id} in model {model.version}.", [])
        return Resolution(params.song or params.track_id, matches=[row])
    try:
        return model.search.resolve(params.song, params.artist)
    except QueryError as exc:
        raise BadRequest(str(exc)) from None


def run(model: LoadedModel, params: RecommendParams, pick_first: bool) -> Outcome:
    """Resolve and recommend. With several matches and `pick_first` False, return the choices."""
    found = resolve(model, params)
    if found.status == "not_found":
        raise NotFound(f"{params.song!r} is not in the catalog.", found.suggestions)
    outcome = Outcome(model, params, artist_ignored=found.artist_ignored)
    if found.status == "ambiguous" and not pick_first:
        outcome.choices = found.matches
        return outcome
    outcome.query = found.matches[0]
    outcome.choices = found.matches[1:] if found.status == "ambiguous" else []
    try:
        outcome.results = recommend(model.bundle, outcome.query, params.mode, params.k)
    except RecommendationError as exc:  # e.g. genre mode for a song without genres
        raise BadRequest(str(exc), status=422) from None
    return outcome
