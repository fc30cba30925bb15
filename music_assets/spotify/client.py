"""The Spotify Web API of 2026 as a catalog: track metadata, artist genres, audio features, search.

Used by the `spotify` source (ingest/sources/spotify.py, for charted ids) and by serving's live
lookup (for a song a listener asks for that is not in the catalog). Per batch of `batch_size` ids
(500 by default): `/tracks?ids=` (50 a call) for duration, preview and cover art and the artist
ids; `/artists?ids=` (50 a call, each artist once per run) for genres; `/audio-features?ids=`
(100 a call) for the audio features. What the API refuses is detected once and the fallback used
for the rest of the run, and reported (`report`):

- batch `/tracks` or `/artists` -> 403 (development mode since Feb 2026): single `/tracks/{id}`,
  `/artists/{id}` calls;
- `/audio-features` -> 403 (apps created after 2024-11-27): the configured fallback, a local
  features file or ReccoBeats (a third party: only when the operator switched it on);
- any call -> 403 "Active premium subscription required": Spotify is not called again; audio
  features still come from the fallback, genres/preview/cover stay empty.
Retries, 429s and time-outs: see http.py. Data taken from the Web API stays under Spotify's
developer terms, which forbid training models on it (docs/sources.md).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import pandas as pd
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials

from music_assets.schema import FEATURE_COLUMNS, TRACK_DETAIL_COLUMNS, TRACK_FEATURE_COLUMNS
from music_assets.settings import SpotifySettings
from music_assets.spotify.http import PREMIUM_REQUIRED, CallStats, Forbidden, NotFound, RetryPolicy, call
from music_assets.spotify.reccobeats import ReccoBeats

Log = Callable[[str], None]  # a progress or fallback line for the run log
FileFeatures = Callable[[Sequence[str]], dict[str, dict[str, Any]]]

TRACKS_BATCH, ARTISTS_BATCH, FEATURES_BATCH = 50, 50, 100
SEARCH_LIMIT = 10  # Spotify's maximum since 2026

# spotipy logs request headers at DEBUG: the token request's Basic header (the client secret,
# base64-encoded) and the bearer token. Cap its loggers at INFO so no DEBUG setting can leak them.
def _quiet_spotipy_debug() -> None:
    for name in ("spotipy", "spotipy.client", "spotipy.oauth2"):
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (0) or DEBUG
            logger.setLevel(logging.INFO)


@dataclass(frozen=True)
class SpotifyConfig:
    client_id: str
    client_secret: str = field(repr=False)
    api_url: str = SpotifySettings.api_url
    token_url: str = SpotifySettings.token_url
    features_fallback: str = "none"  # none | file | reccobeats (a third party: switched on knowingly)
    reccobeats_url: str = SpotifySettings.reccobeats_url
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_retry_wait_s: float = 60.0
    batch_size: int = 500
    sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"SpotifyConfig(api_url={self.api_url!r}, features_fallback={self.features_fallback!r})"


@dataclass
class PathReport:
    """Which path each kind of data took in this run, and why: for the run log and metadata."""

    tracks: str = "batch /tracks?ids= (50 per call)"
    artists: str = "batch /artists?ids= (50 per call)"
    audio_features: str = "batch /audio-features?ids= (100 per call)"
    notes: list[str] = field(default_factory=list)

    def as_dict(self, stats: CallStats, n_tracks: int) -> dict[str, Any]:
        return {
            "tracks": self.tracks, "artists": self.artists, "audio_features": self.audio_features,
            "notes": self.notes, "api_calls": dict(stats.calls), "retries": dict(stats.retries),
            "api_calls_total": stats.total,
            "api_calls_per_1000_tracks": round(1000 * stats.total / n_tracks, 1) if n_tracks else None,
            "seconds_waited_for_retries": round(stats.waited_s, 1),
        }


class SpotifyCatalog:
    """Track metadata, artist genres and audio features from the Spotify Web API, with the
    fallbacks of 2026 (see the module docstring). `file_features` answers the `file` fallback
    (ids -> feature dicts from a local catalog file), when the caller has one."""

    def __init__(self, config: SpotifyConfig, file_features: FileFeatures | None = None):
        self.config, self.file_features = config, file_features
        _quiet_spotipy_debug()
        self.policy = RetryPolicy(config.max_attempts, config.backoff_s, config.max_retry_wait_s, config.sleep)
        self.stats = CallStats()
        self.report = PathReport()
        self.session = requests.Session()  # our session: spotipy's own urllib3 retries stay off
        auth = SpotifyClientCredentials(client_id=config.client_id, client_secret=config.client_secret,
                                        cache_handler=MemoryCacheHandler(), requests_session=self.session,
                                        requests_timeout=config.timeout_s)
        auth.OAUTH_TOKEN_URL = config.token_url
        self.sp = spotipy.Spotify(auth_manager=auth, requests_session=self.session,
                                  requests_timeout=config.timeout_s, retries=0, status_retries=0)
        self.sp.prefix = config.api_url.rstrip("/") + "/"
        self.reccobeats = ReccoBeats(config.reccobeats_url, self.session, config.timeout_s, self.policy, self.stats)
        self._tracks_batch_ok = self._artists_batch_ok = self._features_ok = self._spotify_ok = True
        self._artist_genres: dict[str, list[str]] = {}
        self.tracks_done = 0

    def metadata(self) -> dict[str, Any]:
        return self.report.as_dict(self.stats, self.tracks_done)

    # -- fetching -------------------------------------------------------------------------------

    def fetch_features(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        frames = [frame for _, frame in self.iter_features(track_ids, log)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TRACK_FEATURE_COLUMNS))

    def iter_features(self, track_ids: Sequence[str], log: Log | None = None) -> Iterator[tuple[list[str], pd.DataFrame]]:
        """(ids asked, rows found) per batch of `batch_size` ids, so the caller can checkpoint."""
        ids = list(dict.fromkeys(track_ids))
        for start in range(0, len(ids), self.config.batch_size):
            chunk = ids[start:start + self.config.batch_size]
            yield chunk, self._fetch_batch(chunk, log)
            self.tracks_done += len(chunk)

    def _fetch_batch(self, ids: list[str], log: Log | None) -> pd.DataFrame:
        meta = self._track_meta(ids, log)
        artist_ids = sorted({a for m in meta.values() for a in m["artist_ids"]} - set(self._artist_genres))
        self._fetch_artists(artist_ids, log)
        features = self._audio_features(ids, log)
        rows = []
        for tid in ids:
            if tid not in meta and tid not in features:
                continue
            m = meta.get(tid, {})
            row: dict[str, Any] = {c: None for c in FEATURE_COLUMNS}
            row.update(features.get(tid, {}))
            if row.get("duration_ms") is None and m.get("duration_ms") is not None:
                row["duration_ms"] = m["duration_ms"]
            genres = sorted({g for a in m.get("artist_ids", []) for g in self._artist_genres.get(a, [])})
            rows.append({**row, "track_id": tid, "genres": genres, "preview_url": m.get("preview_url"),
                         "cover_url": m.get("cover_url"), "artist_ids": m.get("artist_ids", []),
                         "album": m.get("album"), "popularity": m.get("popularity")})
        frame = pd.DataFrame(rows, columns=[*TRACK_FEATURE_COLUMNS, *TRACK_DETAIL_COLUMNS])
        return frame

    def _spotify(self, endpoint: str, fn: Callable[[], Any], log: Log | None) -> Any:
        try:
            return call(endpoint, fn, self.policy, self.stats, log)
        except Forbidden as exc:
            if exc.kind == PREMIUM_REQUIRED and self._spotify_ok:
                self._spotify_ok = False
                self._note(f"Spotify: {exc}; not calling Spotify again this run: audio features from the "
                           f"{self.config.features_fallback!r} fallback, no genres, previews or covers", log)
                self.report.tracks = self.report.artists = "none (Premium required)"
            raise

    def _note(self, message: str, log: Log | None) -> None:
        self.report.notes.append(message)
        if log:
            log(message)

    def _track_meta(self, ids: list[str], log: Log | None) -> dict[str, dict]:
        found: list[dict] = []
        if self._spotify_ok and self._tracks_batch_ok:
            try:
                for start in range(0, len(ids), TRACKS_BATCH):
                    part = ids[start:start + TRACKS_BATCH]
                    found += self._spotify("/tracks?ids=", lambda: self.sp.tracks(part), log).get("tracks") or []
            except Forbidden as exc:
                if exc.kind != PREMIUM_REQUIRED:
                    self._tracks_batch_ok = False
                    self.report.tracks = "single /tracks/{id} (batch /tracks answered 403)"
                    self._note(f"Spotify: batch {exc}; falling back to one /tracks/{{id}} call per track", log)
                found = []
        if self._spotify_ok and not self._tracks_batch_ok:
            found = []
            for tid in ids:
                try:
                    found.append(self._spotify("/tracks/{id}", lambda: self.sp.track(tid), log))
                except NotFound:
                    continue
                except Forbidden:
                    break
        out = {}
        for track in found:
            if not isinstance(track, dict) or not track.get("id"):
                continue
            images = (track.get("album") or {}).get("images") or []
            out[track["id"]] = {
                "artist_ids": [a["id"] for a in track.get("artists") or [] if a.get("id")],
                "duration_ms": track.get("duration_ms"),
                "preview_url": track.get("preview_url"),
                "cover_url": images[0].get("url") if images else None,
                "album": (track.get("album") or {}).get("name") or None,
                "popularity": track.get("popularity"),
            }
        return out

    def _fetch_artists(self, artist_ids: list[str], log: Log | None) -> None:
        if not artist_ids or not self._spotify_ok:
            return
        answers: list[dict] = []
        if self._artists_batch_ok:
            try:
                for start in range(0, len(artist_ids), ARTISTS_BATCH):
                    part = artist_ids[start:start + ARTISTS_BATCH]
                    answers += self._spotify("/artists?ids=", lambda: self.sp.artists(part), log).get("artists") or []
            except Forbidden as exc:
                if exc.kind == PREMIUM_REQUIRED:
                    return
                self._artists_batch_ok = False
                self.report.artists = "single /artists/{id} (batch /artists answered 403)"
                self._note(f"Spotify: batch {exc}; falling back to one /artists/{{id}} call per artist", log)
        if not self._artists_batch_ok:
            answers = []
            for aid in artist_ids:
                try:
                    answers.append(self._spotify("/artists/{id}", lambda: self.sp.artist(aid), log))
                except NotFound:
                    continue
                except Forbidden:
                    return
        missing_genres = 0
        for artist in answers:
            if isinstance(artist, dict) and artist.get("id"):
                genres = artist.get("genres")
                missing_genres += genres is None
                self._artist_genres[artist["id"]] = list(genres or [])
        if missing_genres and not any("genres" in n for n in self.report.notes):
            self._note(f"Spotify: {missing_genres} artist(s) came without a genres field; their tracks get no genres", log)

    def _audio_features(self, ids: list[str], log: Log | None) -> dict[str, dict]:
        if self._spotify_ok and self._features_ok:
            try:
                out: dict[str, dict] = {}
                for start in range(0, len(ids), FEATURES_BATCH):
                    part = ids[start:start + FEATURES_BATCH]
                    answer = self._spotify("/audio-features?ids=", lambda: self._audio_features_call(part), log)
                    for item in answer or []:
                        if isinstance(item, dict) and item.get("id"):
                            out[item["id"]] = {c: item.get(c) for c in FEATURE_COLUMNS}
                return out
            except Forbidden as exc:
                if exc.kind != PREMIUM_REQUIRED:
                    self._features_ok = False
                    self.report.audio_features = f"fallback {self.config.features_fallback!r} (/audio-features answered 403)"
                    self._note(f"Spotify: {exc}; audio features now come from the "
                               f"{self.config.features_fallback!r} fallback", log)
        if not self._spotify_ok:
            self.report.audio_features = f"fallback {self.config.features_fallback!r} (Spotify requires Premium)"
        return self._fallback_features(ids, log)

    def _audio_features_call(self, ids: list[str]) -> list | None:
        with warnings.catch_warnings():  # spotipy flags the endpoint deprecated; we handle its 403
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                return self.sp.audio_features(ids)
            except TypeError:  # spotipy indexes a non-JSON body (None) before returning: malformed
                return None

    def _fallback_features(self, ids: list[str], log: Log | None) -> dict[str, dict]:
        kind = self.config.features_fallback
        if kind == "reccobeats":
            return self.reccobeats.audio_features(ids, log)
        if kind == "file" and self.file_features is not None:
            return self.file_features(ids)
        if not any("no audio features" in n for n in self.report.notes):
            self._note(f"features fallback {kind!r} has nothing to offer: tracks get no audio features from this "
                       "run; set MUSIC_ADVISER_FEATURES to a features file, or MUSIC_ADVISER_RECCOBEATS=on to ask "
                       "ReccoBeats (a third party that receives the track ids)", log)
        return {}

    def search_track(self, title: str, artist: str | None = None, log: Log | None = None) -> list[dict]:
        """Title search, only for a query song that is not in the catalog (at most 10 results)."""
        query = f"track:{title}" + (f" artist:{artist}" if artist else "")
        answer = self._spotify("/search", lambda: self.sp.search(q=query, type="track", limit=SEARCH_LIMIT), log)
        return [t for t in ((answer or {}).get("tracks") or {}).get("items") or [] if isinstance(t, dict)]
