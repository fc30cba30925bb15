"""Spotify track ids and the URL/URI forms they come in (chart URLs, ReccoBeats hrefs).

The pieces of a track URL are defined here once. Python's `re` reads TRACK_URL_RE
(track_id_from_url); chart validation builds its pattern from the same pieces in the regex syntax
RE2 (pyarrow) and Java (Spark) share (ingest/charts/rules.py), so the URLs one accepts the other does.
"""

from __future__ import annotations

import re

TRACK_ID_PATTERN = r"[0-9A-Za-z]{22}"
TRACK_URL_PREFIX_PATTERN = r"(?:https?://open\.spotify\.com/(?:intl-[a-z]{2}/)?track/|spotify:track:)"
SPACE = r"[\t\n\f\r ]"  # what RE2's \s means; spelled out so Python's re (Unicode \s) and Java (+ \v) agree
TRACK_URL_RE = re.compile(
    rf"^{SPACE}*{TRACK_URL_PREFIX_PATTERN}(?P<id>{TRACK_ID_PATTERN})(?:[?#].*)?{SPACE}*$"
)
_ID_RE = re.compile(rf"^{TRACK_ID_PATTERN}$")


def track_id_from_url(url: object) -> str | None:
    """The 22-character base62 Spotify id in a track URL or URI, or None if there is none."""
    if not isinstance(url, str):
        return None
    match = TRACK_URL_RE.match(url)
    return match.group("id") if match else None


def is_track_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))
