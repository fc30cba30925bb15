"""The ReccoBeats audio-features API: a free fallback when Spotify's /audio-features answers 403.

`GET {base}/audio-features?ids=<spotify ids>` answers `{"content": [...]}`; each item's `href`
is the Spotify track URL, which is how answers are matched back to the ids asked (its own `id`
is a ReccoBeats uuid). It carries no duration_ms or time_signature: duration comes from
Spotify's track objects, and time_signature gets the documented constant 4 (common time).
"""

from __future__ import annotations

from typing import Callable, Sequence

import requests

from music_assets.schema import FEATURE_COLUMNS
from music_assets.spotify.http import CallStats, HttpStatusError, RetryPolicy, call
from music_assets.spotify.ids import track_id_from_url

BATCH = 40  # ReccoBeats asks for small batches
DEFAULT_TIME_SIGNATURE = 4.0


class ReccoBeats:
    def __init__(self, base_url: str, session: requests.Session, timeout_s: float, policy: RetryPolicy,
                 stats: CallStats):
        self.base_url = base_url.rstrip("/") + "/"
        self.session, self.timeout_s, self.policy, self.stats = session, timeout_s, policy, stats

    def _get(self, ids: Sequence[str]) -> dict:
        response = self.session.get(self.base_url + "audio-features", params={"ids": ",".join(ids)},
                                    timeout=self.timeout_s)
        if response.status_code >= 400:
            raise HttpStatusError(response.status_code, dict(response.headers), response.text[:500])
        return response.json()

    def audio_features(self, ids: Sequence[str], log: Callable[[str], None] | None = None) -> dict[str, dict]:
        """Spotify id -> feature dict (our column names) for the ids ReccoBeats knows."""
        out: dict[str, dict] = {}
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start:start + BATCH])
            answer = call("reccobeats /audio-features", lambda: self._get(chunk), self.policy, self.stats, log)
            for item in (answer.get("content") or []) if isinstance(answer, dict) else []:
                spotify_id = track_id_from_url(item.get("href")) if isinstance(item, dict) else None
                if spotify_id in chunk:
                    features = {c: item.get(c) for c in FEATURE_COLUMNS if item.get(c) is not None}
                    features.setdefault("time_signature", DEFAULT_TIME_SIGNATURE)
                    out[spotify_id] = features
        return out
