"""Rate limits per client address, with Flask-Limiter (its `limits` storage: memory by default,
a Redis-compatible server shared by replicas).

Two kinds:
- every page and API route together (not /healthz, which load balancers probe, nor static files):
  `LimitSettings.requests` per client, Flask-Limiter's application limits;
- live Spotify lookups, stricter, because each spends the operator's Spotify quota: per client
  (`live_lookup`) and for all clients together (`live_lookup_total`). Counted only when a
  request really looks a song up (an unknown title with the lookup configured), which no route
  decorator can know in advance, so `LimitedLookup` asks Flask-Limiter's own rate limiter (same
  storage, same strategy) just before the lookup.

Beyond a limit: 429 in the API's error shape with `Retry-After` (app.py renders it).
"""

from __future__ import annotations

import math
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from music_assets.settings import LimitSettings
from serving.live_lookup import LiveLookup, LiveLookupLimited, LiveTrack

KEY_PREFIX = "music-adviser"


def install(app: Flask, settings: LimitSettings) -> Limiter | None:
    """Flask-Limiter on `app` with the default per-client limit; None when every limit is off."""
    if not (settings.requests or settings.live_lookup or settings.live_lookup_total):
        return None
    limiter = Limiter(
        key_func=get_remote_address,  # the client address; ProxyFix (app.py) makes it the proxied one
        app=app,
        # application limits: one count per client across every route (default limits would
        # give each route its own count)
        application_limits=[settings.requests] if settings.requests else [],
        storage_uri=settings.storage_uri,
        strategy="fixed-window",  # one counter per client and window: the cheapest per request
        headers_enabled=True,  # X-RateLimit-* on answers, Retry-After on a 429
        key_prefix=KEY_PREFIX,
        # A shared storage that stops answering must not take the site down: count in memory
        # meanwhile (Flask-Limiter logs the switch once and checks the storage again later).
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    app.extensions["rate_limits"] = settings
    return limiter


def exempt(limiter: Limiter | None, app: Flask, endpoints: list[str]) -> None:
    for endpoint in endpoints:
        if limiter is not None:
            limiter.exempt(app.view_functions[endpoint])


class LimitedLookup:
    """A LiveLookup that refuses (LiveLookupLimited) once a client, or all clients together, used
    their live lookups; otherwise it asks the wrapped lookup."""

    def __init__(self, lookup: LiveLookup, limiter: Limiter, settings: LimitSettings) -> None:
        self.lookup = lookup
        self.limiter = limiter
        self.per_client: list[RateLimitItem] = parse_many(settings.live_lookup) if settings.live_lookup else []
        self.total: list[RateLimitItem] = parse_many(settings.live_lookup_total) if settings.live_lookup_total else []

    def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        reset = self.limiter.limiter.get_window_stats(item, KEY_PREFIX, "live-lookup", *key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def check(self) -> None:
        """Count one live lookup for this client; raise LiveLookupLimited when over a limit."""
        client = get_remote_address()
        checks = [(item, ("client", client), "from your address") for item in self.per_client]
        checks += [(item, ("all",), "from all listeners together") for item in self.total]
        strategy = self.limiter.limiter
        for item, key, whose in checks:  # test all first: a refused lookup uses up nothing
            if not strategy.test(item, KEY_PREFIX, "live-lookup", *key):
                raise LiveLookupLimited(
                    f"Too many live Spotify lookups {whose} (at most {item}); try again later.",
                    self._retry_after(item, *key))
        for item, key, _ in checks:
            strategy.hit(item, KEY_PREFIX, "live-lookup", *key)

    def find(self, title: str, artist: str | None) -> LiveTrack | None:
        self.check()
        return self.lookup.find(title, artist)
