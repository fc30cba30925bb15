"""Extension point: recommend for a song that is not in the catalog by looking it up live.

The seed looked unknown titles up on Spotify and recommended from their audio features. Here
that is an object with `find(title, artist) -> LiveTrack | None` handed to `create_app`.
`SourceLiveLookup` adapts any catalog source offering `search_track(title, artist)` (Spotify
track objects) and `fetch_features(ids)` (a TRACK_FEATURE_COLUMNS frame), as the spotify source
does. From the environment it is built only when the spotify source is configured AND
credentials are set (`MUSIC_ADVISER_SOURCE=spotify`, `SPOTIPY_CLIENT_ID`,
`SPOTIPY_CLIENT_SECRET`) and `music_assets.core.sources.spotify` provides a `live_lookup()`
factory (e.g. `return SourceLiveLookup(SpotifySource(...))`); otherwise it is None and the app
never touches the network. (In 2026 Spotify answers /audio-features with 403 for new apps, so a real lookup
usually has no features: `find` then returns None and the page shows its did-you-mean list.)
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import pandas as pd

from music_assets.core.schema import FEATURE_COLUMNS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveTrack:
    track_id: str
    title: str
    artist: str
    features: dict[str, float]
    genres: list[str] = field(default_factory=list)
    preview_url: str = ""
    cover_url: str = ""


class LiveLookup(Protocol):
    def find(self, title: str, artist: str | None) -> LiveTrack | None: ...


class SearchableSource(Protocol):
    def search_track(self, title: str, artist: str | None = None) -> list[dict[str, Any]]: ...
    def fetch_features(self, track_ids: Sequence[str]) -> pd.DataFrame: ...


class SourceLiveLookup:
    """A LiveLookup over a source: the first search hit, with the features the source finds for it."""

    def __init__(self, source: SearchableSource) -> None:
        self.source = source

    def find(self, title: str, artist: str | None) -> LiveTrack | None:
        items = self.source.search_track(title, artist)
        item = next((i for i in items if isinstance(i, dict) and i.get("id")), None)
        if item is None:
            return None
        frame = self.source.fetch_features([str(item["id"])])
        if frame is None or frame.empty:
            return None
        row = frame.iloc[0]
        features = {c: float(row[c]) for c in FEATURE_COLUMNS if c in row.index and pd.notna(row[c])}
        if not features:  # Spotify's 403 on /audio-features and no fallback: nothing to compare
            return None
        genres = row["genres"] if "genres" in row.index and isinstance(row["genres"], (list, tuple)) else []
        text = lambda name: str(row[name]) if name in row.index and isinstance(row[name], str) else ""  # noqa: E731
        artists = ", ".join(a.get("name", "") for a in item.get("artists") or [] if isinstance(a, dict))
        return LiveTrack(track_id=str(item["id"]), title=str(item.get("name") or title), artist=artists or (artist or ""),
                         features=features, genres=[str(g) for g in genres],
                         preview_url=text("preview_url"), cover_url=text("cover_url"))


def live_lookup_from_env() -> LiveLookup | None:
    """The configured live lookup, or None (offline, demo source, or no credentials)."""
    if os.environ.get("MUSIC_ADVISER_SOURCE", "demo").strip().lower() != "spotify":
        return None
    if not (os.environ.get("SPOTIPY_CLIENT_ID") and os.environ.get("SPOTIPY_CLIENT_SECRET")):
        log.info("spotify source selected but SPOTIPY_CLIENT_ID/SECRET are not set: no live lookup")
        return None
    try:
        module = importlib.import_module("music_assets.core.sources.spotify")
        factory = getattr(module, "live_lookup")
    except (ImportError, AttributeError):
        log.info("the spotify source offers no live_lookup(): unknown songs get suggestions only")
        return None
    return factory()
