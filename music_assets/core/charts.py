"""Chart rows: validation of the Kaggle "spotify-charts" layout, track ids, unique tracks.

Validation is vectorised with pyarrow compute so that it runs batch by batch over files of
any size; a row that fails is kept in a rejected table with its reason, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from music_assets.core import storage
from music_assets.core.schema import CHART_COLUMNS, CHART_KINDS

TRACK_ID_PATTERN = r"[0-9A-Za-z]{22}"
_URL_RE = re.compile(
    rf"^\s*(?:https?://open\.spotify\.com/(?:intl-[a-z]{{2}}/)?track/|spotify:track:)(?P<id>{TRACK_ID_PATTERN})(?:[?#].*)?\s*$"
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
    return pa.table({c: pc.cast(table[c], pa.string()) for c in CHART_COLUMNS})


_URL_PREFIX = "https://open.spotify.com/track/"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _strict_date(text: str | None) -> date | None:
    """A real calendar date in YYYY-MM-DD form (2017-02-30 is not), else None."""
    if text is None or not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_dates(column: pa.ChunkedArray) -> pa.Array:
    """date32 per row, null where the text is not a real date.

    A chart file has a few thousand distinct dates in millions of rows, so each distinct value
    is parsed once (dictionary encoding) and the result spread back with `take`: about 50x
    cheaper than pyarrow's strptime + strftime round trip, which is also lenient about 02-30.
    """
    encoded = pc.dictionary_encode(column).combine_chunks()
    parsed = pa.array([_strict_date(v) for v in encoded.dictionary.to_pylist()], pa.date32())
    return pc.take(parsed, encoded.indices)


def _track_ids(url: pa.ChunkedArray) -> pa.Array:
    """The track id of each URL, null where there is none.

    Nearly every chart URL is exactly https://open.spotify.com/track/<id>, which a prefix test
    and a slice settle; only the rest (URIs, ?si= suffixes, intl- paths, garbage) pays for the regex.
    """
    url = pc.fill_null(url, "").combine_chunks()
    plain = pc.and_(pc.starts_with(url, _URL_PREFIX), pc.equal(pc.utf8_length(url), len(_URL_PREFIX) + 22))
    ids = pc.if_else(plain, pc.utf8_slice_codeunits(url, len(_URL_PREFIX)), pa.scalar(None, pa.string()))
    ids = pc.if_else(pc.fill_null(pc.ascii_is_alnum(ids), False), ids, pa.scalar(None, pa.string()))
    others = pc.invert(plain)
    if pc.any(others).as_py():
        matched = pc.extract_regex(pc.filter(url, others), pattern=_URL_RE.pattern)
        ids = pc.replace_with_mask(ids, others, pc.struct_field(matched, "id"))
    return ids


def validate_chart_batch(table: pa.Table, source: str = "chart rows") -> ValidatedBatch:
    """Split raw chart rows (any column types) into typed good rows and rejected rows with a reason."""
    require_columns(table.column_names, source)
    raw = _as_strings(table)

    def blank(col: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(raw[col]), ""), True)

    dates = _parse_dates(raw["date"])
    ids = _track_ids(raw["url"])
    streams_blank = blank("streams")
    checks = [
        ("empty title", pc.invert(blank("title"))),
        ("empty artist", pc.invert(blank("artist"))),
        ("rank is not a positive integer",
         pc.fill_null(pc.match_substring_regex(raw["rank"], r"^\s*[1-9]\d{0,5}(\.0+)?\s*$"), False)),
        ("date is not a real YYYY-MM-DD date", pc.is_valid(dates)),
        ("url has no Spotify track id", pc.is_valid(ids)),
        ("empty region", pc.invert(blank("region"))),
        ("chart is not top200/viral50", pc.fill_null(pc.is_in(raw["chart"], value_set=pa.array(sorted(CHART_KINDS))), False)),
        ("streams is not a number",
         pc.or_(streams_blank, pc.fill_null(pc.match_substring_regex(raw["streams"], r"^\s*\d+(\.\d*)?\s*$"), False))),
    ]
    reason = pa.nulls(raw.num_rows, pa.string())
    for message, ok in reversed(checks):  # the first failing check wins
        reason = pc.if_else(ok, reason, pa.scalar(message))
    good_mask = pc.is_null(reason)
    bad_mask = pc.invert(good_mask)

    good_raw = raw.filter(good_mask)
    good = pa.table(
        {
            "title": pc.utf8_trim_whitespace(good_raw["title"]),
            "rank": pc.cast(pc.cast(good_raw["rank"], pa.float64()), pa.int32()),
            "date": pc.filter(dates, good_mask),
            "artist": pc.utf8_trim_whitespace(good_raw["artist"]),
            "url": good_raw["url"],
            "region": good_raw["region"],
            "chart": good_raw["chart"],
            "trend": good_raw["trend"],
            "streams": pc.cast(pc.if_else(pc.filter(streams_blank, good_mask), pa.scalar(None, pa.string()),
                                          good_raw["streams"]), pa.float64()),
            "track_id": pc.filter(ids, good_mask),
        },
        schema=CHART_ROW_SCHEMA,
    )
    rejected = raw.filter(bad_mask).append_column("reason", pc.filter(reason, bad_mask))
    return ValidatedBatch(good=good, rejected=rejected.cast(REJECTED_ROW_SCHEMA))


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
    for the full 26M-row Kaggle file, which pandas' groupby would not.
    """
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit='{memory_limit}'")
        return con.sql(UNIQUE_TRACKS_SQL, params=[storage.duckdb_path(con, chart_rows_path)]).to_arrow_table()
    finally:
        con.close()
