"""Bounded retries and error diagnosis for calls to the Spotify Web API (and ReccoBeats).

Why our own retry loop instead of spotipy's: spotipy's built-in urllib3 retry sleeps the whole
`Retry-After` of a 429 (which can be hours) inside one request, then raises with the headers
dropped, so the caller can neither see nor cap the wait. We give spotipy our own
`requests.Session` (which disables its urllib3 retries) and wrap each call here:

- time-out, connection error, 5xx, or a 200 whose body is not JSON: retried up to
  `max_attempts` with exponential backoff (base * 2**n, capped at 30 s);
- 429 with `Retry-After` <= `max_retry_wait_s`: sleep that long and retry (same attempt budget);
- 429 with a longer `Retry-After`: raise `RetryLater(seconds)`; the Dagster asset turns it into
  `RetryRequested(seconds_to_wait=...)` after checkpointing, so the run resumes later without
  holding a worker asleep and without refetching what it has;
- 429 with reason `QUOTA_EXCEEDED`: raise `QuotaExceeded` (waiting will not help);
- 403: never retried: `Forbidden` carries a diagnosis (premium required, development-mode batch
  endpoint, audio-features removed for new apps) so the caller picks a fallback.

Messages carry endpoints and statuses, never credentials or tokens.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from spotipy.exceptions import SpotifyException, SpotifyOauthError

PREMIUM_REQUIRED = "premium_required"
FORBIDDEN = "forbidden"


class SpotifySourceError(RuntimeError):
    """Base of the errors this module raises; messages are safe to log."""


class Forbidden(SpotifySourceError):
    def __init__(self, endpoint: str, kind: str, detail: str):
        self.endpoint, self.kind, self.detail = endpoint, kind, detail
        super().__init__(f"{endpoint} answered 403 ({detail})")


class QuotaExceeded(SpotifySourceError):
    pass


class RetryLater(SpotifySourceError):
    def __init__(self, endpoint: str, seconds: float):
        self.endpoint, self.seconds = endpoint, seconds
        super().__init__(f"{endpoint} answered 429 with Retry-After {seconds:,.0f} s: "
                         "longer than this run waits in place; retry the run later")


class Unavailable(SpotifySourceError):
    pass


class NotFound(SpotifySourceError):
    """404/400 for a single-id call: the id is unknown; the track is recorded as not found."""


class HttpStatusError(Exception):
    """A non-spotipy HTTP error (ReccoBeats) in the shape the classifier understands."""

    def __init__(self, status: int, headers: dict[str, str], body: str):
        self.http_status, self.headers, self.body = status, headers, body
        super().__init__(f"HTTP {status}")


class MalformedResponse(Exception):
    pass


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_retry_wait_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep


@dataclass
class CallStats:
    calls: Counter = field(default_factory=Counter)  # endpoint -> HTTP requests sent
    retries: Counter = field(default_factory=Counter)  # endpoint -> retried requests
    waited_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "1")))
    except (TypeError, ValueError):
        return 1.0


def _status_and_text(exc: Exception) -> tuple[int, str, Any]:
    if isinstance(exc, SpotifyException):
        return exc.http_status, f"{exc.msg} {exc.reason or ''}", exc.headers
    if isinstance(exc, HttpStatusError):
        return exc.http_status, exc.body, exc.headers
    return 0, str(exc), {}


def diagnose_403(text: str) -> tuple[str, str]:
    lowered = text.lower()
    if "premium" in lowered:
        return PREMIUM_REQUIRED, "the app owner has no active Premium subscription: Spotify refuses every call"
    return FORBIDDEN, "endpoint not available to this app (development mode, or removed for apps created after 2024-11-27)"


def call(endpoint: str, fn: Callable[[], Any], policy: RetryPolicy, stats: CallStats,
         log: Callable[[str], None] | None = None) -> Any:
    """Run one API call with the policy above; return its JSON result."""
    attempt = 0
    while True:
        attempt += 1
        stats.calls[endpoint] += 1
        try:
            result = fn()
            if result is None:  # spotipy returns None when a 200 body is not JSON
                raise MalformedResponse(f"{endpoint} returned a body that is not JSON")
            return result
        except (SpotifyException, HttpStatusError) as exc:
            status, text, headers = _status_and_text(exc)
            if status == 403:
                kind, detail = diagnose_403(text)
                raise Forbidden(endpoint, kind, detail) from None
            if status == 429:
                if "QUOTA_EXCEEDED" in text.upper():
                    raise QuotaExceeded(f"{endpoint} answered 429 QUOTA_EXCEEDED: the app's quota is used up; "
                                        "waiting will not help: ask Spotify for extended quota or use the "
                                        "files source") from None
                wait = _retry_after(headers)
                if wait > policy.max_retry_wait_s:
                    raise RetryLater(endpoint, wait) from None
                reason = f"429, Retry-After {wait:.0f} s"
            elif status >= 500 or status == 0:
                wait, reason = min(30.0, policy.backoff_s * 2 ** (attempt - 1)), f"HTTP {status}"
            elif status in (400, 404):
                raise NotFound(f"{endpoint} answered HTTP {status}") from None
            else:
                raise Unavailable(f"{endpoint} answered HTTP {status}: {text.strip()[:200]}") from None
        except SpotifyOauthError as exc:
            if exc.error in ("invalid_client", "unauthorized_client", "invalid_grant"):
                raise Unavailable(f"the token endpoint rejected the client credentials ({exc.error}): check "
                                  "SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET") from None
            wait, reason = min(30.0, policy.backoff_s * 2 ** (attempt - 1)), "token endpoint error"
        except (requests.Timeout, requests.ConnectionError, MalformedResponse, ValueError) as exc:
            wait = min(30.0, policy.backoff_s * 2 ** (attempt - 1))
            reason = type(exc).__name__
        if attempt >= policy.max_attempts:
            raise Unavailable(f"{endpoint} failed {attempt} times (last: {reason}); "
                              "progress so far is checkpointed, rerun to resume") from None
        stats.retries[endpoint] += 1
        stats.waited_s += wait
        if log:
            log(f"{endpoint}: {reason}; retry {attempt}/{policy.max_attempts - 1} in {wait:.1f} s")
        policy.sleep(wait)
