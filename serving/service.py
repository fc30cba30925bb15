"""The one recommendation flow both the page and the API use: resolve the song, then recommend.

Flask-free so it is tested like any function; routes only translate its outcome to HTML or JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from music_assets.model.external import recommend_for_features
from music_assets.model.recommend import Recommendation, RecommendationError, recommend
from music_assets.model.search import QueryError, Resolution
from serving.live_lookup import LiveLookup, LiveLookupLimited, LiveTrack
from serving.model_store import LoadedModel
from serving.params import BadRequest, RecommendParams

log = logging.getLogger(__name__)


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
    live: LiveTrack | None = None  # the query song came from a live lookup, not the catalog


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


def _live(model: LoadedModel, params: RecommendParams, lookup: LiveLookup, suggestions: list[int]) -> Outcome:
    """Recommend for a song found by the live lookup; any lookup failure falls back to suggestions."""
    try:
        track = lookup.find(params.song, params.artist)
    except LiveLookupLimited:
        raise  # a 429 with Retry-After: the listener asked for more lookups than allowed
    except Exception as exc:  # an outage must not turn "did you mean" into a 500
        log.warning("live lookup failed for a %d-character query: %s", len(params.song), type(exc).__name__)
        track = None
    if track is None:
        raise NotFound(f"“{params.song}” is not in the catalog.", suggestions)
    if not any(name in track.features for name in model.bundle.features):
        # e.g. Spotify refused /audio-features and no fallback is on: a vector of catalog means
        # would "recommend" the same middling songs for anything
        raise NotFound(f"“{params.song}” is not in the catalog, and no audio features were found to compare it by.",
                       suggestions)
    try:
        results = recommend_for_features(model.bundle, track.features, track.genres, params.mode, params.k,
                                         exclude_title_artist=(track.title, track.artist))
    except RecommendationError as exc:
        raise BadRequest(str(exc), status=422) from None
    return Outcome(model, params, results=results, live=track)


def run(model: LoadedModel, params: RecommendParams, pick_first: bool,
        live_lookup: LiveLookup | None = None) -> Outcome:
    """Resolve and recommend. With several matches and `pick_first` False, return the choices.

    A song not in the catalog is looked up live only when a lookup is configured (never offline).
    """
    found = resolve(model, params)
    if found.status == "not_found":
        if live_lookup is not None and not params.track_id:
            return _live(model, params, live_lookup, found.suggestions)
        raise NotFound(f"“{params.song}” is not in the catalog.", found.suggestions)
    outcome = Outcome(model, params, artist_ignored=found.artist_ignored)
    # the model's tracks first: a twin without audio features is listed, but never picked first
    matches = sorted(found.matches, key=lambda row: not model.bundle.in_model[row])
    if found.status == "ambiguous" and not pick_first:
        outcome.choices = matches
        return outcome
    outcome.query = matches[0]
    outcome.choices = matches[1:] if found.status == "ambiguous" else []
    try:
        outcome.results = recommend(model.bundle, outcome.query, params.mode, params.k)
    except RecommendationError as exc:  # e.g. genre mode for a song without genres
        raise BadRequest(str(exc), status=422) from None
    return outcome
