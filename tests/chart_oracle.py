"""The chart-row rules read one row at a time, written for clarity rather than speed: the reference
the vectorised validator (music_assets.ingest.charts.rows.validate_chart_batch) is tested against.

Whitespace is Python's str.strip() set, which is exactly the set pyarrow's utf8_trim_whitespace
trims; inside the number and URL patterns "space" means RE2's \\s: tab, newline, form feed,
carriage return and space.

Also the cell values the validation tests draw from (VALUES): per column, good values, known-bad
ones and the whitespace a good value may carry. test_chart_validation_oracle.py samples them with
hypothesis; test_engine_parity.py runs every one of them through both engines.
"""

from __future__ import annotations

import re
from datetime import date

from music_assets.ingest.charts.rules import MAX_TEXT_LENGTH
from music_assets.schema import CHART_COLUMNS

S = r"[\t\n\f\r ]*"
RANK = re.compile(rf"{S}[1-9][0-9]{{0,5}}(\.0+)?{S}")
STREAMS = re.compile(rf"{S}[0-9]+(\.[0-9]*)?{S}")
DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
URL = re.compile(rf"{S}(?:https?://open\.spotify\.com/(?:intl-[a-z]{{2}}/)?track/|spotify:track:)"
                 rf"([0-9A-Za-z]{{22}})(?:[?#][^\n]*)?{S}")


ID = "6mICuAdrwEjh6Y6lroV2Kg"
SPACES = ["", " ", "\t", "\n", "\r", "\f", "\v", "\u00a0", "\u2003", "\u3000", "\x1c"]
RE2_SPACES = ["", " ", "\t", "\n", "\r", "\f"]
GOOD_URLS = [f"https://open.spotify.com/track/{ID}", "https://open.spotify.com/track/7DM4BPaS7uofFul3ywMe46",
             f"spotify:track:{ID}"] + [f"{scheme}open.spotify.com/{intl}track/{ID}{suffix}"
                                       for scheme in ("https://", "http://") for intl in ("", "intl-de/")
                                       for suffix in ("", "?si=abc", "#x", "?si=a\nb?", "?si=a\rb", "?x=\u2028\u0085")]
BAD_URLS = ["", "https://open.spotify.com/track/notanid", f"https://open.spotify.com/track/{ID[:21]}é",
            f"https://open.spotify.com/track/{ID}x", f"https://open.spotify.com/track/{ID[:21]}",
            f"https://open.spotify.com/album/{ID}", f"https://open.spotify.com/intl-DE/track/{ID}",
            f"https://open.spotify.com/track/{ID}/", f"spotify:album:{ID}", f"\u00a0https://open.spotify.com/track/{ID}",
            f"https://open.spotify.com/track/{ID}\v"]
# column -> (good values, known-bad values, the whitespace a good value may be padded with)
VALUES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "title": (["Chantaje", "Vente Pa' Ca, Remix", "ÉXITO", "é" * MAX_TEXT_LENGTH, "🎵" * MAX_TEXT_LENGTH],
              ["", "  ", "Two\nlines", "Song A,1,2017-01-01\r\nSong B", "x" * (MAX_TEXT_LENGTH + 1),
               "🎵" * (MAX_TEXT_LENGTH + 1)], SPACES),
    "rank": (["1", "200", "3.0", "999999"], ["0", "-1", "1e2", "1000000", "3.5", "٣", "N/A", "3."], RE2_SPACES),
    "date": (["2017-01-01", "2020-02-29"], ["2017-02-30", "2019-02-29", "0000-01-01", "2017-13-01", "2017-1-1",
                                           "２０１７-01-01", "٢٠١٧-01-01", "2017-01-01\n", "yesterday"], [""]),
    "artist": (["Shakira", "Bad Bunny", "a" * MAX_TEXT_LENGTH], ["", " ", "A\rB", "a" * (MAX_TEXT_LENGTH + 1)], SPACES),
    "url": (GOOD_URLS, BAD_URLS, RE2_SPACES),
    "region": (["Argentina", "Global"], ["", "\u2003"], SPACES),
    "chart": (["top200", "viral50"], ["top2000", "Top200", " top200", ""], [""]),
    "trend": (["MOVE_UP", "NEW_ENTRY", ""], ["anything goes"], SPACES),  # trend is kept as it is
    "streams": (["253019.0", "12", "0", "", "7."], ["lots", "1e5", "-3", ".5", "1,000", "١٢"], RE2_SPACES),
}


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
    for column in ("title", "artist"):
        if "\n" in row[column].strip() or "\r" in row[column].strip():
            return f"{column} holds a line break (an unbalanced quote?)"
    for column in ("title", "artist"):
        if len(row[column].strip()) > MAX_TEXT_LENGTH:
            return f"{column} longer than {MAX_TEXT_LENGTH} characters"
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
