"""Extension point: recommend for a song that is not in the catalog by looking it up live.

The seed looked unknown titles up on Spotify and recommended from their audio features. Here
that is an object with `find(title, artist) -> LiveTrack | None` handed to `create_app`.
`SourceLiveLookup` adapts anything offering `search_track(title, artist)` (Spotify track objects)
and `fetch_features(ids)` (a TRACK_FEATURE_COLUMNS frame), as `music_assets.spotify.client`'s
SpotifyCatalog does. From the settings it is built only when the spotify source is configured AND
credentials are set (`MUSIC_ADVISER_SOURCE=spotify`, `SPOTIPY_CLIENT_ID`,
`SPOTIPY_CLIENT_SECRET`); otherwise it is None and the app never touches the network. Audio
features Spotify refuses come from ReccoBeats only when the operator switched it on
(`MUSIC_ADVISER_RECCOBEATS=on`); the pipeline's local features file is not consulted here (its
tracks reach the catalog through the pipeline). In 2026 Spotify answers /audio-features with 403
for new apps, so a lookup usually has no features: `find` then returns None and the page shows
its did-you-mean list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import pandas as pd

from music_assets.schema import FEATURE_COLUMNS
from music_assets.settings import ServingSettings, Settings, spotify_credentials
from music_assets.spotify.client import SpotifyCatalog, SpotifyConfig

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


class LiveLookupLimited(RuntimeError):
    """A live lookup refused by a rate limit (serving/limits.py): the listener gets a 429 with
    `Retry-After`, not a did-you-mean list, since the lookup would otherwise have been made."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


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


def live_lookup_for(settings: ServingSettings) -> LiveLookup | None:
    """The configured live lookup, or None (offline, demo or files source, or no credentials)."""
    if settings.source.kind != "spotify":
        return None
    credentials = spotify_credentials()
    if credentials is None:
        log.info("spotify source selected but SPOTIPY_CLIENT_ID/SECRET are not set: no live lookup")
        return None
    client_id, client_secret = credentials
    spotify = settings.spotify
    # Short time-outs and few retries: a listener is waiting on this request.
    config = SpotifyConfig(
        client_id=client_id, client_secret=client_secret, api_url=spotify.api_url, token_url=spotify.token_url,
        reccobeats_url=spotify.reccobeats_url, features_fallback="reccobeats" if settings.source.reccobeats else "none",
        max_attempts=2, timeout_s=5.0, max_retry_wait_s=2.0,
    )
    return SourceLiveLookup(SpotifyCatalog(config))


def live_lookup_from_env() -> LiveLookup | None:
    """live_lookup_for the settings in the environment."""
    return live_lookup_for(Settings.from_env().serving())
