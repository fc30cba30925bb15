"""Value parsers a column map names (`parse: {streams: number}`): each turns a column of text as a
file spells it into the value the pipeline means, and says which values it could not read.

A parser returns (parsed, bad): `bad` marks the non-blank values it could not read; blank values
are simply missing. `judge_column` then decides whether those are single bad values (rejects,
kept with their reason) or a column mangled as a whole (a spreadsheet turned "4/4" into
"04-Apr" in every row), which fails naming the file, the column and an example.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

PITCH_CLASSES = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6, "GB": 6,
                 "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
MODES = {"major": 1.0, "minor": 0.0}
# A column whose non-blank values fail to parse in this share or more (and at least MANGLED_MIN of
# them) is mangled as a whole, not a few bad values: failing is clearer than a column of rejects.
MANGLED_SHARE = 0.5
MANGLED_MIN = 3

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_YEAR = re.compile(r"\d{4}")
_YEAR_MONTH = re.compile(r"\d{4}-\d{2}")


class ColumnMangled(ValueError):
    """Most values of a column cannot be read: the message names the file, the column and an example."""


def _blank(text: pd.Series) -> pd.Series:
    return text.isna() | text.astype("string").str.strip().fillna("").eq("")


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def as_text(values: pd.Series) -> pd.Series:
    """Any column as text (None for missing), so every parser starts from what the file said."""
    return values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype(object)


def parse_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"48,633,449.00" -> 48633449.0, " 0.5 " -> 0.5; numbers typed by the file stay as they are."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = values.astype("float64")
        return out, pd.Series(False, index=values.index)
    text = as_text(values).map(lambda v: v.strip() if isinstance(v, str) else v)
    ok = text.map(lambda v: isinstance(v, str) and bool(v) and _NUMBER.fullmatch(v) is not None and any(c.isdigit() for c in v))
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    if ok.any():
        out[ok] = text[ok].str.replace(",", "", regex=False).astype("float64")
    return out, ~ok & ~_blank(text)


def _one_date(text: str) -> str | None:
    from datetime import datetime

    text = text.strip()
    if "--" in text:  # a week "2021-07-23--2021-07-30" (spotifycharts): its first day
        text = text.split("--", 1)[0]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    if _YEAR.fullmatch(text):  # a year-end list's year: the chart's last day
        return f"{text}-12-31"
    if _YEAR_MONTH.fullmatch(text):
        return f"{text}-01"
    return None


def parse_date(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"2/4/22" (US month/day/year) and "2017-01-01" and a few more -> "YYYY-MM-DD" text (what the
    chart rules check); a year alone -> its 31 December; a two-digit year is 1969-2068 (strptime's
    pivot). Unknown spellings are bad values."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.dt.strftime("%Y-%m-%d").astype(object).where(values.notna(), None)
        return out, pd.Series(False, index=values.index)
    text = as_text(values)
    out = text.map(lambda v: _one_date(v) if isinstance(v, str) and v.strip() else None)
    return out.astype(object), out.isna() & ~_blank(text)


def split_list(value: object) -> list[str] | None:
    """"['pop', 'k-pop']" -> ['pop', 'k-pop']; "pop;k-pop" and "pop|k-pop" too; a list stays a list.
    literal_eval, never eval: the file is data. None when a bracketed list does not parse."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        if not isinstance(parsed, (list, tuple)):
            return None
        return [str(v).strip() for v in parsed if str(v).strip()]
    for sep in (";", "|"):
        if sep in text:
            return [p.strip() for p in text.split(sep) if p.strip()]
    return [text]


def parse_list(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    out = values.map(split_list)
    bad = out.isna()
    return out.map(lambda v: [] if v is None else v), bad


def parse_key(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"C#" -> 1, "Bb" -> 10, or a pitch-class number as it is."""
    names = as_text(values).map(lambda v: PITCH_CLASSES.get(v.strip().upper()) if isinstance(v, str) else None)
    numbers, bad = parse_number(values if _numeric(values) else as_text(values).where(names.isna(), None))
    out = names.astype("float64").fillna(numbers)
    return out, bad & names.isna()


def parse_mode(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"Major" -> 1, "Minor" -> 0, or 1/0 as they are."""
    names = as_text(values).map(lambda v: MODES.get(v.strip().lower()) if isinstance(v, str) else None)
    numbers, bad = parse_number(values if _numeric(values) else as_text(values).where(names.isna(), None))
    return names.astype("float64").fillna(numbers), bad & names.isna()


def parse_time_signature(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """"4/4" -> 4 (beats per bar), "3" -> 3."""
    text = as_text(values).map(lambda v: v.split("/", 1)[0] if isinstance(v, str) and re.fullmatch(r"\s*\d+\s*/\s*\d+\s*", v) else v)
    return parse_number(values if _numeric(values) else text)


def parse_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return as_text(values).map(lambda v: v.strip() if isinstance(v, str) else v), pd.Series(False, index=values.index)


def parse_names(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Artist names as one text: "['Bad Bunny', 'Drake']" -> "Bad Bunny, Drake"; "A;B" stays as
    written (a name may hold any character); plain text as it is."""
    def one(v: object) -> object:
        if isinstance(v, (list, tuple, np.ndarray)):
            return ", ".join(str(x) for x in v)
        if isinstance(v, str) and v.strip().startswith("["):
            names = split_list(v)
            return ", ".join(names) if names is not None else v.strip()
        return v.strip() if isinstance(v, str) else (None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return values.map(one).astype(object), pd.Series(False, index=values.index)


PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "number": parse_number, "date": parse_date, "list": parse_list, "key": parse_key, "mode": parse_mode,
    "time_signature": parse_time_signature, "text": parse_text, "names": parse_names,
}


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series  # True where a non-blank value could not be read
    parser: str


def parse_column(values: pd.Series, parser: str, source: str, column: str, file_column: str) -> Parsed:
    """Parse one column and fail fast when it is mangled as a whole (see MANGLED_SHARE)."""
    if parser not in PARSERS:
        raise ValueError(f"unknown parser {parser!r} for column {column!r}; use one of {', '.join(PARSERS)}")
    out, bad = PARSERS[parser](values)
    nonblank = int((~_blank(as_text(values))).sum())
    n_bad = int(bad.sum())
    if n_bad and (n_bad == nonblank or (n_bad >= MANGLED_MIN and n_bad / nonblank >= MANGLED_SHARE)):
        example = values[bad].iloc[0]
        raise ColumnMangled(f"{source}: column {file_column!r} (our {column!r}, read as {parser}) cannot be read in "
                            f"{n_bad:,} of {nonblank:,} values, e.g. {str(example)[:60]!r}: the column looks mangled "
                            "as a whole (a spreadsheet's reformatting?); fix the file or its column map")
    return Parsed(out, bad, parser)
