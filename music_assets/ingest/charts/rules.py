"""The chart-row rules, defined once for both engines: the column each rule reads, what it accepts,
and the reason a row that breaks it is rejected with (rules run in order; the first broken one wins).

The local engine compiles this table to pyarrow compute (rows.validate_chart_batch), the Spark
engine to Spark SQL columns (engines/spark/charts.validate). The patterns are written in the part
of regex syntax where RE2 (pyarrow) and java.util.regex (Spark) mean the same thing:
- `\\A` ... `\\z` anchors: Java's `$` also matches before a final line break, RE2's does not;
- classes spelled out: `\\s` is [\\t\\n\\f\\r ] in RE2 but adds \\v in Java; `.` stops at \\n in RE2 but
  also at \\r, \\u0085, \\u2028 and \\u2029 in Java, so "anything but a newline" is `[^\\n]`;
- code points as `\\x{...}`, a named group as `(?<id>...)` (RE2 no longer needs `(?P<id>...)`).
The two compilations are two because pyarrow kernels and Spark columns share no code; what they
compile is this one table. Two checks cannot be one text even so: "blank" (pyarrow's utf8_is_space
kernel locally, WHITESPACE as a Java class on Spark) and "a real date" (Python's calendar locally,
Java's on Spark), and typing a good row is each engine's own cast. tests/test_engine_parity.py
holds them together: test_every_kind_of_cell_value_is_judged_as_the_reference runs every rule's
good and bad values (with every whitespace character, and a grid of calendar dates) through both
engines' chart_rows asset against the row-at-a-time reference (tests/chart_oracle.py), and
test_the_blank_rule_knows_the_same_characters_on_both_engines tries every character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from music_assets.schema import CHART_KINDS
from music_assets.spotify.ids import SPACE, TRACK_ID_PATTERN, TRACK_URL_PREFIX_PATTERN

# The characters Python's str.isspace() and pyarrow's utf8_is_space / utf8_trim_whitespace know
# (the same 29; test_engine_parity checks pyarrow's kernels against this class), as a regex class.
WHITESPACE = (r"[\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
              r"\x{202f}\x{205f}\x{3000}]")

RANK_PATTERN = rf"\A{SPACE}*[1-9][0-9]{{0,5}}(?:\.0+)?{SPACE}*\z"
DATE_PATTERN = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\z"  # the shape; "real_date" also asks the calendar
STREAMS_PATTERN = rf"\A{SPACE}*[0-9]+(?:\.[0-9]*)?{SPACE}*\z"
# group 1, named `id`, is the row's track_id
TRACK_URL_PATTERN = rf"\A{SPACE}*{TRACK_URL_PREFIX_PATTERN}(?<id>{TRACK_ID_PATTERN})(?:[?#][^\n]*)?{SPACE}*\z"

# A title or artist longer than this is not one (the longest titles on Spotify's charts are
# under 200 characters); the case that set it: one unbalanced quote made a 597-character "title"
# of the next seven rows, counted as valid.
MAX_TEXT_LENGTH = 300

Check = Literal["not_blank", "matches", "blank_or_matches", "real_date", "extracts", "one_of", "single_line",
                "max_length"]


@dataclass(frozen=True)
class Rule:
    """One rule: `check` says how `column` is judged.

    - not_blank: not null, not empty, not only WHITESPACE;
    - matches: `pattern` matches (the pattern anchors itself);
    - blank_or_matches: blank, or `pattern` matches;
    - real_date: `pattern` matches and the text names a day of the proleptic Gregorian calendar
      from year 1 (2017-02-30 and 0000-01-01 do not);
    - extracts: `pattern` matches; its group `id` becomes the row's track_id;
    - one_of: exactly one of `values`;
    - single_line: with surrounding WHITESPACE trimmed, no line break (\\n or \\r) is left in it;
    - max_length: with surrounding WHITESPACE trimmed, at most `max_length` characters (code points).
    """

    reason: str
    column: str
    check: Check
    pattern: str = ""
    values: tuple[str, ...] = ()
    max_length: int = 0


CHART_RULES: tuple[Rule, ...] = (
    Rule("empty title", "title", "not_blank"),
    Rule("empty artist", "artist", "not_blank"),
    Rule("title holds a line break (an unbalanced quote?)", "title", "single_line"),
    Rule("artist holds a line break (an unbalanced quote?)", "artist", "single_line"),
    Rule(f"title longer than {MAX_TEXT_LENGTH} characters", "title", "max_length", max_length=MAX_TEXT_LENGTH),
    Rule(f"artist longer than {MAX_TEXT_LENGTH} characters", "artist", "max_length", max_length=MAX_TEXT_LENGTH),
    Rule("rank is not a positive integer", "rank", "matches", RANK_PATTERN),
    Rule("date is not a real YYYY-MM-DD date", "date", "real_date", DATE_PATTERN),
    Rule("url has no Spotify track id", "url", "extracts", TRACK_URL_PATTERN),
    Rule("empty region", "region", "not_blank"),
    Rule("chart is not top200/viral50", "chart", "one_of", values=tuple(sorted(CHART_KINDS))),
    Rule("streams is not a number", "streams", "blank_or_matches", STREAMS_PATTERN),
)
# How a good row is typed (both engines): title and artist lose surrounding WHITESPACE; rank is
# the integer the matched text names; streams is null when blank, else the number; url, region,
# chart and trend stay as they are; track_id is the url's `id` group.
TRIMMED_COLUMNS: tuple[str, ...] = ("title", "artist")
