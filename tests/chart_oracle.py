"""The chart-row rules read one row at a time, written for clarity rather than speed: the reference
the vectorised validator (music_assets.core.charts.validate_chart_batch) is tested against.

Whitespace is Python's str.strip() set, which is exactly the set pyarrow's utf8_trim_whitespace
trims; inside the number and URL patterns "space" means RE2's \\s: tab, newline, form feed,
carriage return and space.
"""

from __future__ import annotations

import re
from datetime import date

from music_assets.core.schema import CHART_COLUMNS

S = r"[\t\n\f\r ]*"
RANK = re.compile(rf"{S}[1-9][0-9]{{0,5}}(\.0+)?{S}")
STREAMS = re.compile(rf"{S}[0-9]+(\.[0-9]*)?{S}")
DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
URL = re.compile(rf"{S}(?:https?://open\.spotify\.com/(?:intl-[a-z]{{2}}/)?track/|spotify:track:)"
                 rf"([0-9A-Za-z]{{22}})(?:[?#][^\n]*)?{S}")


def blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def real_date(value: str | None) -> date | None:
    match = DATE.fullmatch(value) if value is not None else None
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def track_id(value: str | None) -> str | None:
    match = URL.fullmatch(value) if value is not None else None
    return match.group(1) if match else None


def reason(row: dict[str, str | None]) -> str | None:
    """The first rule the row breaks, or None for a good row."""
    if blank(row["title"]):
        return "empty title"
    if blank(row["artist"]):
        return "empty artist"
    if row["rank"] is None or not RANK.fullmatch(row["rank"]):
        return "rank is not a positive integer"
    if real_date(row["date"]) is None:
        return "date is not a real YYYY-MM-DD date"
    if track_id(row["url"]) is None:
        return "url has no Spotify track id"
    if blank(row["region"]):
        return "empty region"
    if row["chart"] not in ("top200", "viral50"):
        return "chart is not top200/viral50"
    if not (blank(row["streams"]) or STREAMS.fullmatch(row["streams"] or "")):
        return "streams is not a number"
    return None


def typed(row: dict[str, str | None]) -> dict[str, object]:
    """A good row as chart_rows stores it."""
    return {
        "title": row["title"].strip(), "rank": int(float(row["rank"])), "date": real_date(row["date"]),
        "artist": row["artist"].strip(), "url": row["url"], "region": row["region"], "chart": row["chart"],
        "trend": row["trend"], "streams": None if blank(row["streams"]) else float(row["streams"]),
        "track_id": track_id(row["url"]),
    }


def split(rows: list[dict[str, str | None]]) -> tuple[list[dict[str, object]], list[dict[str, str | None]]]:
    """(good rows typed, rejected rows with their raw values and reason), in input order."""
    good, rejected = [], []
    for row in rows:
        why = reason(row)
        if why is None:
            good.append(typed(row))
        else:
            rejected.append({**{c: row[c] for c in CHART_COLUMNS}, "reason": why})
    return good, rejected
