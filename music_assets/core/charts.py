"""Chart rows: validation of the Kaggle "spotify-charts" layout, track ids, unique tracks.

Validation is vectorised with pyarrow compute so that it runs batch by batch over files of
any size; a row that fails is kept in a rejected table with its reason, never dropped silently.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.core import storage
from music_assets.core.schema import CHART_COLUMNS, CHART_KINDS

TRACK_ID_PATTERN = r"[0-9A-Za-z]{22}"
_SPACE = r"[\t\n\f\r ]"  # what RE2's \s means; spelled out so Python's re (Unicode \s) agrees
_URL_RE = re.compile(  # read by Python's re (track_id_from_url) and by pyarrow's RE2 (validation) alike
    rf"^{_SPACE}*(?:https?://open\.spotify\.com/(?:intl-[a-z]{{2}}/)?track/|spotify:track:)(?P<id>{TRACK_ID_PATTERN})(?:[?#].*)?{_SPACE}*$"
)
_ID_RE = re.compile(rf"^{TRACK_ID_PATTERN}$")


class MissingColumnsError(ValueError):
    """The input lacks columns the chart layout needs; the message names them and the source."""

    def __init__(self, missing: list[str], source: str):
        self.missing = missing
        self.source = source
        super().__init__(
            f"{source} is missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected the Kaggle spotify-charts layout: {', '.join(CHART_COLUMNS)}"
        )


def track_id_from_url(url: object) -> str | None:
    """The 22-character base62 Spotify id in a track URL or URI, or None if there is none."""
    if not isinstance(url, str):
        return None
    match = _URL_RE.match(url)
    return match.group("id") if match else None


def is_track_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


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
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANK_RE = r"^\s*[1-9]\d{0,5}(\.0+)?\s*$"  # RE2 (pyarrow): \s is [\t\n\f\r ], $ only at the end
_STREAMS_RE = r"^\s*\d+(\.\d*)?\s*$"
_NO_STRING = pa.scalar(None, pa.string())
FEW_REJECTS = 256  # up to this many rejected rows a batch, good rows are cut out by zero-copy slices


def _strict_date(text: str | None) -> date | None:
    """A real calendar date in YYYY-MM-DD form (2017-02-30 is not), else None."""
    if text is None or not _DATE_RE.match(text):
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
    """date32 per value, null where the text is not a real date (pyarrow's strptime is lenient
    about 2017-02-30, and there are only a few thousand distinct dates to parse in Python)."""
    return pa.array([_strict_date(v) for v in values.to_pylist()], pa.date32())


def _track_ids(url: pa.Array) -> pa.Array:
    """The track id of each URL, null where there is none.

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
        matched = pc.extract_regex(pc.filter(url, others), pattern=_URL_RE.pattern)
        ids = pc.replace_with_mask(ids, others, pc.struct_field(matched, "id"))
    return ids


def _blank(column: pa.Array) -> pa.Array:
    """Null, empty or only whitespace (utf8_is_space knows the same characters as utf8_trim_whitespace)."""
    return pc.fill_null(pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column)), True)


def _matches(column: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


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

    Each rule is a boolean mask over the batch; the first rule a row breaks is its reason. Nothing
    is dropped: every input row is either in `good` or in `rejected` with its raw values.
    """
    require_columns(table.column_names, source)
    raw = _as_strings(table)
    cols = {c: raw[c].chunk(0) for c in CHART_COLUMNS}
    rank, date_, url = _Distinct.of(cols["rank"]), _Distinct.of(cols["date"]), _Distinct.of(cols["url"])
    rank_ok = _matches(rank.values, _RANK_RE)
    # the regex admits only ASCII whitespace around the digits: trim it before the cast
    rank_values = pc.cast(pc.cast(pc.if_else(rank_ok, pc.ascii_trim_whitespace(rank.values), _NO_STRING),
                                  pa.float64()), pa.int32())
    dates, ids = _dates(date_.values), _track_ids(url.values)
    streams_blank = _blank(cols["streams"])
    checks = [
        ("empty title", pc.invert(_blank(cols["title"]))),
        ("empty artist", pc.invert(_blank(cols["artist"]))),
        ("rank is not a positive integer", pc.fill_null(rank.spread(rank_ok), False)),
        ("date is not a real YYYY-MM-DD date", pc.fill_null(date_.spread(pc.is_valid(dates)), False)),
        ("url has no Spotify track id", pc.fill_null(url.spread(pc.is_valid(ids)), False)),
        ("empty region", pc.invert(_blank(cols["region"]))),
        ("chart is not top200/viral50",
         pc.fill_null(pc.is_in(cols["chart"], value_set=pa.array(sorted(CHART_KINDS))), False)),
        ("streams is not a number", pc.or_(streams_blank, _matches(cols["streams"], _STREAMS_RE))),
    ]
    keep = checks[0][1]
    for _, ok in checks[1:]:
        keep = pc.and_(keep, ok)
    bad = pc.indices_nonzero(pc.invert(keep))

    reason = pa.nulls(len(bad), pa.string())
    for message, ok in reversed(checks):  # the first failing check wins
        reason = pc.if_else(pc.take(ok, bad), reason, pa.scalar(message))
    rejected = raw.take(bad).append_column("reason", reason).cast(REJECTED_ROW_SCHEMA)

    kept = _without(pa.table({
        "title": cols["title"], "rank": rank.indices, "date": date_.indices, "artist": cols["artist"],
        "url": cols["url"], "region": cols["region"], "chart": cols["chart"], "trend": cols["trend"],
        "streams": cols["streams"], "streams_blank": streams_blank, "url_index": url.indices,
    }), bad, keep)
    streams = pc.ascii_trim_whitespace(kept["streams"])
    good = pa.table(
        {
            "title": pc.utf8_trim_whitespace(kept["title"]),
            "rank": pc.take(rank_values, kept["rank"]),
            "date": pc.take(dates, kept["date"]),
            "artist": pc.utf8_trim_whitespace(kept["artist"]),
            "url": kept["url"],
            "region": kept["region"],
            "chart": kept["chart"],
            "trend": kept["trend"],
            "streams": pc.cast(pc.if_else(kept["streams_blank"], _NO_STRING, streams), pa.float64()),
            "track_id": pc.take(ids, kept["url_index"]),
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


UNIQUE_TRACKS_SQL = """
SELECT
    track_id,
    first(title ORDER BY date, region, chart, rank) AS title,
    first(artist ORDER BY date, region, chart, rank) AS artist,
    min(date) AS first_date,
    max(date) AS last_date,
    count(*)::BIGINT AS chart_appearances,
    count(DISTINCT region)::INTEGER AS n_regions,
    min(rank)::INTEGER AS best_rank,
    coalesce(sum(streams), 0)::DOUBLE AS total_streams
FROM read_parquet(?)
GROUP BY track_id
ORDER BY track_id
"""


def unique_tracks_from_parquet(chart_rows_path: str | Path, memory_limit: str = "2GB") -> pa.Table:
    """One row per track id with its chart history, aggregated out of core by DuckDB.

    DuckDB streams the Parquet file and spills when needed, so this stays within a few GB
    for the full 26M-row Kaggle file (about 1 GB RSS measured), which pandas' groupby would not.
    It spills to a temporary folder of its own: its default, `.tmp` in the working directory,
    would put spill files wherever Dagster happens to run.
    """
    with tempfile.TemporaryDirectory(prefix="unique-tracks-spill-") as spill:
        con = duckdb.connect()
        try:
            con.execute(f"SET memory_limit='{memory_limit}'")
            con.execute("SET temp_directory='" + spill.replace("'", "''") + "'")
            return con.sql(UNIQUE_TRACKS_SQL, params=[storage.duckdb_path(con, chart_rows_path)]).to_arrow_table()
        finally:
            con.close()
