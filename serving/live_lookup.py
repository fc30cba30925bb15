"""Extension point: recommend for a song that is not in the catalog by looking it up live.

The seed looked unknown titles up on Spotify and recommended from their audio features. Here
that is an object with `find(title, artist) -> LiveTrack | None` handed to `create_app`. It is
built from the environment only when the spotify source is configured AND credentials are set
(`MUSIC_ADVISER_SOURCE=spotify`, `SPOTIPY_CLIENT_ID`, `SPOTIPY_CLIENT_SECRET`) and the spotify
source module provides `live_lookup()`; otherwise it is None and the app never touches the
network. (In 2026 Spotify answers /audio-features with 403 for new apps, so a real lookup
usually has no features: `find` then returns None and the page shows its did-you-mean list.)
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Protocol

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
