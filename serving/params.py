"""Request parameters checked once, with messages a listener can act on.

Out-of-range `k` is refused with 400 (not clamped): a silent clamp would hide a client bug, and
the page's form cannot send one. Documented in the OpenAPI document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from music_assets.model.recommend import MAX_K, MODES
from music_assets.model.search import QueryError, check_query

DEFAULT_K = 10
_TRACK_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")


class BadRequest(ValueError):
    """A parameter that cannot be used; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_mode(raw: str | None, default: str) -> str:
    """A known mode (MODES is read at call time, so a mode added to core appears here too)."""
    mode = (raw or "").strip().lower() or default
    if mode not in MODES:
        shown = raw if len(raw or "") <= 40 else (raw or "")[:40] + "..."
        raise BadRequest(f"Unknown mode {shown!r}: choose one of {', '.join(MODES)}.")
    return mode


def parse_k(raw: str | None) -> int:
    if raw is None or raw.strip() == "":
        return DEFAULT_K
    try:
        k = int(raw.strip())
    except ValueError:
        raise BadRequest(f"The number of results must be a whole number from 1 to {MAX_K}.") from None
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"The number of results must be from 1 to {MAX_K}; got {k}.")
    return k


def parse_track_id(raw: str | None) -> str | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not _TRACK_ID.match(raw):
        raise BadRequest("A track id is letters and digits only (like 4uLU6hMCjMI75M1A2tKUQC).")
    return raw


@dataclass(frozen=True)
class RecommendParams:
    song: str
    artist: str | None
    track_id: str | None
    mode: str
    k: int


def parse_recommend(args, default_mode: str) -> RecommendParams:
    """song (or id), artist, mode, k from a query-string mapping."""
    track_id = parse_track_id(args.get("id"))
    try:
        song = check_query(args.get("song")) if not track_id else (args.get("song") or "").strip()[:200]
        artist = (args.get("artist") or "").strip() or None
        if artist:
            artist = check_query(artist, "artist")
    except QueryError as exc:
        raise BadRequest(str(exc)) from None
    return RecommendParams(song, artist, track_id, parse_mode(args.get("mode"), default_mode), parse_k(args.get("k")))
