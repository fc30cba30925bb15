"""What steer()'s API says about the catalog itself: genres for seeds, markets, one track's record
(/v1/tracks, /v1/audio-features). Re-exported by model/steer.py, where the interface names them.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from music_assets.model.bundle import ModelBundle
from music_assets.model.recommend_index import genre_index
from music_assets.model.steer_index import TUNABLE, steer_index


@dataclass(frozen=True)
class TrackRecord:
    track_id: str
    title: str
    artists: list[tuple[str | None, str]]
    album: str | None
    cover_url: str | None
    preview_url: str | None
    duration_ms: int | None
    popularity: int | None
    features: dict[str, float | None]
    regions: list[str]
    in_model: bool
    genres: list[str] = field(default_factory=list)


def available_genres(bundle: ModelBundle) -> list[str]:
    """Every genre a seed_genres value may name, sorted."""
    return sorted(genre_index(bundle))


def markets(bundle: ModelBundle) -> list[str]:
    """The chart regions the catalog knows, the most tracks first."""
    return [m for m, _ in steer_index(bundle).market_sizes()]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text else None


def _list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [str(v) for v in list(value) if v is not None and str(v)]


def track_record(bundle: ModelBundle, row: int) -> TrackRecord:
    """Everything /v1/tracks and /v1/audio-features say about one row."""
    si = steer_index(bundle)
    t = bundle.tracks
    get = (lambda c: t[c].iat[row] if c in t.columns else None)  # noqa: E731
    name = str(get("artist") or "")
    ids = _list(get("artist_ids"))
    names = [p.strip() for p in name.split(",")] if "," in name else [name]
    if ids and len(ids) == len(names):
        artists = list(zip(ids, names))
    else:
        artists = [(ids[0] if len(ids) == 1 else None, name)]
    features = {f: (float(si.values[f][row]) if f in si.values and math.isfinite(si.values[f][row]) else None)
                for f in TUNABLE}
    duration, popularity = features.get("duration_ms"), features.get("popularity")
    preview = _text(get("preview_url"))
    return TrackRecord(
        track_id=str(get("track_id")), title=str(get("title") or ""), artists=artists, album=_text(get("album")),
        cover_url=_text(get("cover_url")), preview_url=preview,
        duration_ms=int(round(duration)) if duration is not None else None,
        popularity=int(round(popularity)) if popularity is not None else None,
        features=features, regions=_list(get("regions")), in_model=bool(bundle.in_model[row]),
        genres=_list(get("genres")))

