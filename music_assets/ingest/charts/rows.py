"""Chart rows: validation of the Kaggle "spotify-charts" layout (the rules are rules.py's), track ids.

Validation is vectorised with pyarrow compute so that it runs batch by batch over files of
any size; a row that fails is kept in a rejected table with its reason, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from music_assets.ingest.charts.rules import CHART_RULES, Rule
from music_assets.schema import CHART_COLUMNS
from music_assets.spotify.ids import TRACK_ID_PATTERN

class MissingColumnsError(ValueError):
    """The input lacks columns the chart layout needs; the message names them and the source."""

    def __init__(self, missing: list[str], source: str):
        self.missing = missing
        self.source = source
        super().__init__(
            f"{source} is missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected the Kaggle spotify-charts layout: {', '.join(CHART_COLUMNS)}"
        )


CHART_ROW_SCHEMA = pa.schema(
    [
        ("title", pa.string()),
        ("rank", pa.int32()),
        ("date", pa.date32()),
        ("artist", pa.string()),
        ("url", pa.string()),
        ("region", pa.string()),
        ("chart", pa.string()),
        ("trend", pa.string()),
        ("streams", pa.float64()),
        ("track_id", pa.string()),
    ]
)
# Columns whose min/max statistics let a reader skip row groups (dates, ranks, regions); titles,
# artists, URLs and ids are spread over every row group, so their statistics would cost ~10% of
# the Parquet encoding and never skip anything.
CHART_ROW_STATISTICS = ["rank", "date", "region", "chart", "streams"]
REJECTED_ROW_SCHEMA = pa.schema(
    [(name, pa.string()) for name in CHART_COLUMNS] + [("reason", pa.string())]
)


@dataclass
class ValidatedBatch:
    good: pa.Table
    rejected: pa.Table


def require_columns(names: list[str], source: str, required: tuple[str, ...] = CHART_COLUMNS) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise MissingColumnsError(missing, source)


def _as_strings(table: pa.Table) -> pa.Table:
    """The chart columns as strings, one chunk each (a batch is small; kernels then run once)."""
    return pa.table({c: pc.cast(table[c], pa.string()).combine_chunks() for c in CHART_COLUMNS})


_URL_PREFIX = "https://open.spotify.com/track/"
_NO_STRING = pa.scalar(None, pa.string())
FEW_REJECTS = 256  # up to this many rejected rows a batch, good rows are cut out by zero-copy slices
# Columns whose values repeat all through a batch (a few thousand dates, ranks and URLs): their
# rules run once per distinct value and the verdicts are spread back to the rows.
_DISTINCT_COLUMNS = frozenset({"rank", "date", "url"})


def _real_date(text: str | None) -> date | None:
    """The day a YYYY-MM-DD text (already matched by the rule's pattern) names, None if there is
    no such day (2017-02-30, 0000-01-01)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class _Distinct:
    """A column as its distinct values plus one index per row (null for a null cell).

    A batch of chart rows repeats a few thousand dates, ranks and URLs over and over, so checks and
    conversions run once per distinct value and are spread back with `take`: dictionary encoding
    costs less than one regex or one string copy per row.
    """

    values: pa.Array
    indices: pa.Array

    @classmethod
    def of(cls, column: pa.Array) -> "_Distinct":
        encoded = pc.dictionary_encode(column)
        return cls(encoded.dictionary, encoded.indices)

    def spread(self, per_value: pa.Array) -> pa.Array:
        return pc.take(per_value, self.indices)


def _dates(values: pa.Array) -> pa.Array:
    """date32 per YYYY-MM-DD value, null where it names no real day (pyarrow's strptime is lenient
    about 2017-02-30, and there are only a few thousand distinct dates to parse in Python)."""
    return pa.array([_real_date(v) for v in values.to_pylist()], pa.date32())


def _track_ids(url: pa.Array, pattern: str) -> pa.Array:
    """The track id (`pattern`'s group `id`) of each URL, null where there is none.

    Nearly every chart URL is exactly https://open.spotify.com/track/<id>, which one anchored regex
    and a byte slice settle; only the rest (URIs, ?si= suffixes, intl- paths, garbage) pays for the
    regex that extracts the id.
    """
    url = pc.fill_null(url, "")
    plain = pc.match_substring_regex(url, rf"^{re.escape(_URL_PREFIX)}{TRACK_ID_PATTERN}$")
    # the slice is plain ASCII wherever `plain` holds, and only kept there
    sliced = pc.binary_slice(url.cast(pa.binary()), len(_URL_PREFIX), len(_URL_PREFIX) + 22).view(pa.string())
    ids = pc.if_else(plain, sliced, _NO_STRING)
    others = pc.invert(plain)
    if pc.any(others).as_py():
        matched = pc.extract_regex(pc.filter(url, others), pattern=pattern)
        ids = pc.replace_with_mask(ids, others, pc.struct_field(matched, "id"))
    return ids


def _blank(column: pa.Array) -> pa.Array:
    """Null, empty or only whitespace (rules.WHITESPACE: the characters utf8_is_space and
    utf8_trim_whitespace know)."""
    return pc.fill_null(pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column)), True)


def _matches(column: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


def _judge(rule: Rule, values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """`rule` on `values`: whether each passes (never null), and what the check learnt that typing
    the good rows reuses (the match, the date, the track id, the blank mask), if anything."""
    match rule.check:
        case "not_blank":
            return pc.invert(_blank(values)), None
        case "matches":
            matched = _matches(values, rule.pattern)
            return matched, matched
        case "blank_or_matches":
            blank = _blank(values)
            return pc.or_(blank, _matches(values, rule.pattern)), blank
        case "real_date":  # the shape by the shared pattern, then Python's calendar
            shaped = pc.if_else(_matches(values, rule.pattern), values, _NO_STRING)
            dates = _dates(shaped)
            return pc.is_valid(dates), dates
        case "extracts":
            ids = _track_ids(values, rule.pattern)
            return pc.is_valid(ids), ids
        case "one_of":
            return pc.fill_null(pc.is_in(values, value_set=pa.array(rule.values, pa.string())), False), None
        case "single_line":
            return pc.invert(_matches(pc.utf8_trim_whitespace(values), "[\n\r]")), None
        case "max_length":
            return pc.fill_null(pc.less_equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), rule.max_length), True), None
    raise ValueError(f"unknown chart rule check {rule.check!r}")


def _without(table: pa.Table, bad: pa.Array, keep: pa.Array) -> pa.Table:
    """`table` minus the rows at the sorted positions `bad`: zero-copy slices around a few rejected
    rows (the usual case), a filter when there are many."""
    if len(bad) == 0:
        return table
    if len(bad) > FEW_REJECTS:
        return table.filter(keep)
    pieces, start = [], 0
    for row in bad.to_pylist():
        if row > start:
            pieces.append(table.slice(start, row - start))
        start = row + 1
    if start < table.num_rows:
        pieces.append(table.slice(start))
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def validate_chart_batch(table: pa.Table, source: str = "chart rows") -> ValidatedBatch:
    """Split raw chart rows (any column types) into typed good rows and rejected rows with a reason.

    The rules are rules.CHART_RULES, compiled here to pyarrow compute (the Spark engine compiles
    the same table to Spark SQL; tests/test_engine_parity.py holds the two together). Each rule is
    a boolean mask over the batch; the first rule a row breaks is its reason. Nothing is dropped:
    every input row is either in `good` or in `rejected` with its raw values.
    """
    require_columns(table.column_names, source)
    raw = _as_strings(table)
    cols = {c: raw[c].chunk(0) for c in CHART_COLUMNS}
    distinct = {c: _Distinct.of(cols[c]) for c in _DISTINCT_COLUMNS}
    checks, learnt = [], {}
    for rule in CHART_RULES:
        if rule.column in distinct:
            column = distinct[rule.column]
            ok, learnt[rule.column] = _judge(rule, column.values)
            ok = pc.fill_null(column.spread(ok), rule.check == "blank_or_matches")  # a null cell is blank
        else:
            ok, learnt[rule.column] = _judge(rule, cols[rule.column])
        checks.append((rule.reason, ok))
    keep = checks[0][1]
    for _, ok in checks[1:]:
        keep = pc.and_(keep, ok)
    bad = pc.indices_nonzero(pc.invert(keep))

    reason = pa.nulls(len(bad), pa.string())
    for message, ok in reversed(checks):  # the first failing check wins
        reason = pc.if_else(pc.take(ok, bad), reason, pa.scalar(message))
    rejected = raw.take(bad).append_column("reason", reason).cast(REJECTED_ROW_SCHEMA)

    rank = distinct["rank"]
    # the rank pattern admits only ASCII whitespace around the digits: trim it before the cast
    rank_values = pc.cast(pc.cast(pc.if_else(learnt["rank"], pc.ascii_trim_whitespace(rank.values), _NO_STRING),
                                  pa.float64()), pa.int32())
    kept = _without(pa.table({
        "title": cols["title"], "rank": rank.indices, "date": distinct["date"].indices, "artist": cols["artist"],
        "url": cols["url"], "region": cols["region"], "chart": cols["chart"], "trend": cols["trend"],
        "streams": cols["streams"], "streams_blank": learnt["streams"], "url_index": distinct["url"].indices,
    }), bad, keep)
    streams = pc.ascii_trim_whitespace(kept["streams"])
    good = pa.table(
        {
            "title": pc.utf8_trim_whitespace(kept["title"]),
            "rank": pc.take(rank_values, kept["rank"]),
            "date": pc.take(learnt["date"], kept["date"]),
            "artist": pc.utf8_trim_whitespace(kept["artist"]),
            "url": kept["url"],
            "region": kept["region"],
            "chart": kept["chart"],
            "trend": kept["trend"],
            "streams": pc.cast(pc.if_else(kept["streams_blank"], _NO_STRING, streams), pa.float64()),
            "track_id": pc.take(learnt["url"], kept["url_index"]),
        },
        schema=CHART_ROW_SCHEMA,
    )
    return ValidatedBatch(good=good, rejected=rejected)


@dataclass
class ChartLoadReport:
    """What a chart load saw: counts and a sample of rejected rows for the run log and metadata."""

    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, batch: ValidatedBatch) -> None:
        self.rows_read += batch.good.num_rows + batch.rejected.num_rows
        self.rows_kept += batch.good.num_rows
        self.rows_rejected += batch.rejected.num_rows
        if batch.rejected.num_rows:
            for row in pc.value_counts(batch.rejected["reason"]).to_pylist():
                self.reasons[row["values"]] = self.reasons.get(row["values"], 0) + row["counts"]
