"""The parameters of /v1/recommendations, read into a SteerRequest with errors that name them.

GET takes Spotify's query string (what spotipy sends) plus our extensions; POST takes a JSON
object with the same names, where seeds may be many (a whole playlist) and lists may be JSON
arrays. Unknown query parameters are ignored, as Spotify ignores them (a client sending extras
keeps working) and reported back in the answer's `music_adviser.ignored_parameters`; but a
`min_`/`max_`/`target_` of an attribute that is not tunable is refused: it is a typo that
would otherwise steer nothing in silence. A POST body is ours alone, so any unknown key is refused.

Ranges (a target outside an attribute's scale, min above max, a market the catalog does not know)
are steer's to judge (SteerError names the field); this module checks types and seed counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from music_assets.model.steer import MAX_LIMIT, MAX_SEEDS, MAX_SPOTIFY_SEEDS, STEER_MODES, TUNABLE, SteerRequest
from serving.params import BadRequest

DEFAULT_LIMIT = 20
# Seeds a POST may carry (steer's own cap); the body is limited too (app.MAX_BODY_BYTES: ~600 ids).
MAX_BODY_SEEDS = MAX_SEEDS
SEEDS = ("seed_tracks", "seed_artists", "seed_genres")
NEGATIVE = "negative_tracks"
LISTS = (*SEEDS, NEGATIVE, "exclude_tracks", "exclude_artists")
BOUNDS = {"min_": "minimum", "max_": "maximum", "target_": "target"}
SCALARS = ("limit", "market", "max_per_artist", "diversity", "mode")
KNOWN = frozenset((*LISTS, *SCALARS, *(p + a for p in BOUNDS for a in TUNABLE)))
_BOUND = re.compile(r"^(min_|max_|target_)(.+)$")
# spotipy strips these itself; other clients may send them whole
_TRACK_PREFIXES = ("spotify:track:", "https://open.spotify.com/track/")
_ARTIST_PREFIXES = ("spotify:artist:", "https://open.spotify.com/artist/")
MAX_ITEM_CHARS = 200


@dataclass(frozen=True)
class Parsed:
    request: SteerRequest
    ignored: list[str]  # query parameters this server does not know (GET only)


def _shown(raw: object) -> str:
    text = str(raw)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _items(name: str, raw: object, prefixes: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated string or (POST) a JSON array of strings; empty items are dropped."""
    if isinstance(raw, str):
        parts = raw.split(",")
    elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        parts = raw
    else:
        raise BadRequest(f"{name} must be a comma-separated string or a list of strings.")
    items = []
    for part in parts:
        item = part.strip()
        for prefix in prefixes:
            if item.startswith(prefix):
                item = item[len(prefix):].split("?", 1)[0]
        if len(item) > MAX_ITEM_CHARS:
            raise BadRequest(f"{name}: an item is longer than {MAX_ITEM_CHARS} characters.")
        if item:
            items.append(item)
    return tuple(items)


def _number(name: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise BadRequest(f"{name} must be a number; got {_shown(raw)}.")
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number; got {_shown(raw)}.") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number; got {_shown(raw)}.")
    return value


def _whole(name: str, raw: object, low: int, high: int | None = None) -> int:
    value = _number(name, raw)
    if not value.is_integer():
        raise BadRequest(f"{name} must be a whole number; got {_shown(raw)}.")
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{name} must be {span}; got {int(value)}.")
    return int(value)


def _text(name: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise BadRequest(f"{name} must be a string; got {_shown(raw)}.")
    return raw.strip()


def build(values: Mapping[str, Any], max_seeds: int) -> SteerRequest:
    """A SteerRequest from parameter names and raw values (strings, or JSON values for POST)."""
    lists = {name: _items(name, values[name], _TRACK_PREFIXES if "track" in name else
                          _ARTIST_PREFIXES if "artist" in name else ())
             for name in LISTS if name in values}
    n_seeds = sum(len(lists.get(name, ())) for name in SEEDS)
    if n_seeds == 0:
        raise BadRequest("At least one seed is required: give seed_tracks, seed_artists or seed_genres "
                         "(comma-separated).")
    if n_seeds > max_seeds:
        more = " (POST /v1/recommendations takes a whole playlist)" if max_seeds == MAX_SPOTIFY_SEEDS else ""
        raise BadRequest(f"seed_tracks, seed_artists and seed_genres together take at most {max_seeds} seeds; "
                         f"got {n_seeds}{more}.")
    bounds: dict[str, dict[str, float]] = {field: {} for field in BOUNDS.values()}
    for name, raw in values.items():
        found = _BOUND.match(name) if name not in SCALARS else None  # max_per_artist is no bound
        if found:
            prefix, attribute = found.groups()
            if attribute not in TUNABLE:
                raise BadRequest(f"{name}: {attribute!r} is not a tunable attribute; use one of {', '.join(TUNABLE)}.")
            bounds[BOUNDS[prefix]][attribute] = _number(name, raw)
    market = _text("market", values["market"]) if values.get("market") is not None else ""
    mode = _text("mode", values["mode"]).lower() if values.get("mode") is not None else "nearest"
    if mode not in STEER_MODES:
        raise BadRequest(f"mode must be one of {', '.join(STEER_MODES)}; got {_shown(mode)}.")
    diversity = _number("diversity", values["diversity"]) if values.get("diversity") is not None else 0.0
    max_per_artist = values.get("max_per_artist")
    return SteerRequest(
        seed_tracks=lists.get("seed_tracks", ()), seed_artists=lists.get("seed_artists", ()),
        seed_genres=lists.get("seed_genres", ()), negative_tracks=lists.get(NEGATIVE, ()),
        limit=_whole("limit", values["limit"], 1, MAX_LIMIT) if values.get("limit") is not None else DEFAULT_LIMIT,
        # "from_token" asks Spotify for the user's country: this server has no users, so no market
        market=market if market and market.lower() != "from_token" else None,
        minimum=bounds["minimum"], maximum=bounds["maximum"], target=bounds["target"],
        exclude_tracks=lists.get("exclude_tracks", ()), exclude_artists=lists.get("exclude_artists", ()),
        max_per_artist=_whole("max_per_artist", max_per_artist, 1) if max_per_artist is not None else None,
        diversity=diversity, mode=mode,
    )


def parse_query(args: Mapping[str, str] | Iterable[tuple[str, str]]) -> Parsed:
    """GET: Spotify's parameters (1..5 seeds) and ours; unknown names ignored and reported."""
    pairs = list(args.items()) if isinstance(args, Mapping) else list(args)
    values: dict[str, str] = {}
    for name, raw in pairs:  # a repeated parameter: the first counts, as Flask's args.get
        values.setdefault(name, raw)
    ignored = sorted({name for name in values if name not in KNOWN and not _BOUND.match(name)})
    known = {name: raw for name, raw in values.items() if name not in ignored and raw.strip() != ""}
    return Parsed(build(known, MAX_SPOTIFY_SEEDS), ignored)


def parse_body(body: object) -> Parsed:
    """POST: a JSON object with the same names; any number of seeds up to MAX_BODY_SEEDS."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object such as "
                         '{"seed_tracks": ["4uLU6hMCjMI75M1A2tKUQC"], "target_energy": 0.8}.')
    unknown = sorted(name for name in body if name not in KNOWN and not _BOUND.match(name))
    if unknown:
        raise BadRequest(f"Unknown field {_shown(unknown[0])} in the request body; fields are seed_tracks, "
                         "seed_artists, seed_genres, negative_tracks, exclude_tracks, exclude_artists, limit, "
                         "market, max_per_artist, diversity, mode and min_/max_/target_<attribute>.")
    return Parsed(build({k: v for k, v in body.items() if v is not None}, MAX_BODY_SEEDS), [])
