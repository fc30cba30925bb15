"""Chart rows: validation of the Kaggle "spotify-charts" layout, track ids, unique tracks.

Validation is vectorised with pyarrow compute so that it runs batch by batch over files of
any size; a row that fails is kept in a rejected table with its reason, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

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


def validate_chart_batch(table: pa.Table, source: str = "chart rows") -> ValidatedBatch:
    """Split raw chart rows (any column types) into typed good rows and rejected rows with a reason."""
    require_columns(table.column_names, source)
    raw = _as_strings(table)
    n = raw.num_rows

    def blank(col: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(raw[col]), ""), True)

    rank_ok = pc.fill_null(pc.match_substring_regex(raw["rank"], r"^\s*[1-9]\d{0,5}(\.0+)?\s*$"), False)
    date_ok = pc.fill_null(pc.match_substring_regex(raw["date"], r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"), False)
    id_struct = pc.extract_regex(
        pc.fill_null(raw["url"], ""),
        pattern=rf"(?:https?://open\.spotify\.com/(?:intl-[a-z]{{2}}/)?track/|spotify:track:)(?P<id>{TRACK_ID_PATTERN})(?:[?#].*)?$",
    )
    url_ok = pc.is_valid(id_struct)
    chart_ok = pc.fill_null(pc.is_in(raw["chart"], value_set=pa.array(sorted(CHART_KINDS))), False)
    streams_blank = blank("streams")
    streams_ok = pc.or_(
        streams_blank,
        pc.fill_null(pc.match_substring_regex(raw["streams"], r"^\s*\d+(\.\d*)?\s*$"), False),
    )
    checks = [
        ("empty title", pc.invert(blank("title"))),
        ("empty artist", pc.invert(blank("artist"))),
        ("rank is not a positive integer", rank_ok),
        ("date is not YYYY-MM-DD", date_ok),
        ("url has no Spotify track id", url_ok),
        ("empty region", pc.invert(blank("region"))),
        ("chart is not top200/viral50", chart_ok),
        ("streams is not a number", streams_ok),
    ]
    reason = pa.nulls(n, pa.string())
    for message, ok in reversed(checks):  # the first failing check wins
        reason = pc.if_else(ok, reason, pa.scalar(message))
    good_mask = pc.is_null(reason)

    good_raw = raw.filter(good_mask)
    ids = pc.struct_field(id_struct, "id") if n else pa.array([], pa.string())
    good_ids = pc.filter(pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids, good_mask)
    # Dates that match the pattern but do not exist (2017-02-30) fail the cast: treat them as
    # malformed too instead of letting the cast abort the whole batch.
    # strptime rolls 2017-02-30 over to 2017-03-02, so a date is real only if it prints back the same.
    parsed_dates = pc.strptime(good_raw["date"], format="%Y-%m-%d", unit="s", error_is_null=True)
    bad_date = pc.fill_null(pc.not_equal(pc.strftime(parsed_dates, format="%Y-%m-%d"), good_raw["date"]), True)
    good = pa.table(
        {
            "title": pc.utf8_trim_whitespace(good_raw["title"]),
            "rank": pc.cast(pc.cast(good_raw["rank"], pa.float64()), pa.int32()),
            "date": pc.cast(parsed_dates, pa.date32()),
            "artist": pc.utf8_trim_whitespace(good_raw["artist"]),
            "url": good_raw["url"],
            "region": good_raw["region"],
            "chart": good_raw["chart"],
            "trend": good_raw["trend"],
            "streams": pc.cast(pc.if_else(pc.equal(pc.utf8_trim_whitespace(pc.fill_null(good_raw["streams"], "")), ""),
                                          pa.scalar(None, pa.string()), good_raw["streams"]), pa.float64()),
            "track_id": good_ids,
        },
        schema=CHART_ROW_SCHEMA,
    )
    rejected = raw.filter(pc.invert(good_mask)).append_column("reason", pc.filter(reason, pc.invert(good_mask)))
    if pc.any(bad_date).as_py():
        late = good_raw.filter(bad_date).append_column(
            "reason", pa.array(["date does not exist"] * pc.sum(bad_date).as_py(), pa.string())
        )
        good = good.filter(pc.invert(bad_date))
        rejected = pa.concat_tables([rejected, late])
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
        return con.sql(UNIQUE_TRACKS_SQL, params=[str(chart_rows_path)]).to_arrow_table()
    finally:
        con.close()
