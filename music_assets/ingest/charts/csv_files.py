"""Chart rows from a local CSV file (plain or gzip), read streaming with pyarrow.

The Kaggle "spotify-charts" charts.csv holds tens of millions of rows: it is read block by block with
`pyarrow.csv.open_csv`, every column as a string (validation and typing happen downstream in
`charts.validate_chart_batch`), so memory stays bounded by the block size, not the file size.

Two layouts are understood, each described by a small column map (chart column <- file column):
- `kaggle`: the Kaggle layout itself (title, rank, date, artist, url, region, chart, trend, streams).
- `daily`:  per-country daily exports (date, position, track_id, track_name, artist, streams);
  the url is built from track_id, region and chart come from configuration, trend is empty.
"""

from __future__ import annotations

import csv
import gzip
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from music_assets.ingest.tables.quotes import BalancedLines
from music_assets.ingest.charts.rows import MissingColumnsError, REJECTED_ROW_SCHEMA
from music_assets.schema import CHART_COLUMNS

# chart column <- file column. Columns not in a map are filled from configuration (see below).
KAGGLE_CHART_MAP: dict[str, str] = {c: c for c in CHART_COLUMNS}
DAILY_CHART_MAP: dict[str, str] = {
    "title": "track_name", "rank": "position", "date": "date", "artist": "artist",
    "url": "track_id", "streams": "streams",
}
CHART_LAYOUTS: dict[str, dict[str, str]] = {"kaggle": KAGGLE_CHART_MAP, "daily": DAILY_CHART_MAP}
TRACK_URL_PREFIX = "https://open.spotify.com/track/"
GZIP_MAGIC = b"\x1f\x8b"
REJECT_SAMPLE = 1_000  # parse-level rejects kept per batch (all are counted)


class ChartFileError(ValueError):
    """A chart file that cannot be read at all: absent, empty, truncated, unreadable."""


class LayoutColumnsError(MissingColumnsError):
    """A file lacks columns its layout needs; names the columns, the file and the layout."""

    def __init__(self, missing: list[str], source: str, layout: str, expected: list[str]):
        ValueError.__init__(
            self,
            f"{source} is missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"the {layout!r} layout needs: {', '.join(expected)}",
        )
        self.missing, self.source = missing, source


def resolve_layout(names: list[str], requested: str, layouts: dict[str, dict[str, str]],
                   detect: Callable[[list[str]], str], source: str, kind: str) -> tuple[str, dict[str, str]]:
    """The layout named (or detected from the header) and its column map, once every column it
    needs is present; otherwise an error naming the missing columns, the file and the layout."""
    layout = detect(names) if requested == "auto" else requested
    if layout not in layouts:
        raise ValueError(f"unknown {kind} layout {layout!r}; use auto or one of {', '.join(layouts)}")
    mapping = layouts[layout]
    missing = [src for src in mapping.values() if src not in names]
    if missing:
        raise LayoutColumnsError(missing, source, layout, list(mapping.values()))
    return layout, mapping


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_header(path: Path) -> list[str]:
    """The column names on the first line; a clear error for a missing, empty or unreadable file."""
    if not path.is_file():
        raise ChartFileError(f"chart file {path} does not exist")
    if path.stat().st_size == 0:
        raise ChartFileError(f"chart file {path} is empty (0 bytes): was it written completely?")
    try:
        opener = gzip.open if is_gzip(path) else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
            line = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ChartFileError(f"chart file {path} cannot be read ({exc}): half-written or corrupt?") from exc
    names = next(csv.reader([line]), [])
    if not [n for n in names if n.strip()]:
        raise ChartFileError(f"chart file {path} has no header line: empty or half-written?")
    return [n.strip() for n in names]


def detect_layout(names: list[str]) -> str:
    """`daily` when the file carries track ids and positions instead of URLs, else `kaggle`."""
    return "daily" if "url" not in names and ("track_id" in names or "position" in names) else "kaggle"


@dataclass
class ParseRejects:
    """Lines the CSV parser could not split into the header's fields: counted, a sample kept.

    A kept line's fields are matched to the header by position and put in the chart layout by
    `to_chart` (as the file's good rows are), so each value lands under its own column name.
    pyarrow calls the handler from its reader threads, hence the lock.
    """

    expected: int
    to_chart: Callable[[dict[str, str]], dict[str, str]] = lambda fields: {c: fields.get(c, "") for c in CHART_COLUMNS}
    names: list[str] = field(default_factory=lambda: list(CHART_COLUMNS))
    count: int = 0
    unsampled: int = 0
    rows: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, row: pacsv.InvalidRow) -> str:
        with self._lock:
            self.count += 1
            if len(self.rows) >= REJECT_SAMPLE:
                self.unsampled += 1
            else:
                fields = next(csv.reader([row.text]), [])
                record = self.to_chart(dict(zip(self.names, fields)))
                where = f"line {row.number}" if row.number is not None else "a line"
                record["reason"] = f"{where} has {row.actual_columns} fields, expected {row.expected_columns}"
                self.rows.append(record)
        return "skip"

    def line(self, number: int, text: str) -> None:
        """A line set aside before parsing (quotes.BalancedLines: its quotes do not pair up)."""
        with self._lock:
            self.count += 1
            if len(self.rows) >= REJECT_SAMPLE:
                self.unsampled += 1
                return
            record = self.to_chart(dict(zip(self.names, next(csv.reader([text]), []))))
            record["reason"] = f"line {number} has an unbalanced quote (\")"
            self.rows.append(record)

    def drain(self) -> tuple[pa.Table, int]:
        """Rejected rows seen since the last drain (rejected-row schema) and how many more were
        rejected beyond the sample."""
        with self._lock:
            rows, self.rows = self.rows, []
            unsampled, self.unsampled = self.unsampled, 0
        return pa.Table.from_pylist(rows, schema=REJECTED_ROW_SCHEMA), unsampled


@dataclass(frozen=True)
class ChartFileConfig:
    path: str
    layout: str = "auto"  # auto | a chart layout of ingest/layouts/builtin.py (kaggle, daily, spotifycharts, ...)
    region: str = "Global"  # layouts without a region (daily): the country the file charts
    chart: str = "top200"  # layouts without a chart kind: top200 | viral50
    # bytes per parsed block: bounds memory, and small enough to stay in cache; the size with the
    # lowest wall time and memory among those benchmarks/ingest_charts.py compared
    block_size: int = 4 << 20
    column_map: str | None = None  # a YAML/TOML column map (ingest/layouts/column_map.py)


class ChartFile:
    """Iterate a chart file as raw Kaggle-layout string tables, one per parsed block."""

    def __init__(self, config: ChartFileConfig):
        self.config = config
        self.path = Path(config.path)
        self.rejects: ParseRejects | None = None
        self.rows_parsed = 0
        self._raw: pa.NativeFile | None = None

    @property
    def fraction_read(self) -> float | None:
        """Share of the file's bytes consumed so far (compressed bytes for gzip), for progress."""
        try:
            size = self.path.stat().st_size
            return min(1.0, self._raw.tell() / size) if self._raw is not None and size else None
        except (OSError, ValueError):
            return None

    @property
    def describe(self) -> str:
        return f"chart file {self.path}"

    def _layout(self, names: list[str]) -> tuple[str, dict[str, str]]:
        return resolve_layout(names, self.config.layout, CHART_LAYOUTS, detect_layout, self.describe, "chart")

    def batches(self) -> Iterator[pa.Table]:
        names = read_header(self.path)
        layout, mapping = self._layout(names)
        self.rejects = ParseRejects(expected=len(names), names=names,
                                    to_chart=lambda fields: self._chart_record(fields, layout, mapping))
        try:
            reader = pacsv.open_csv(
                self._stream(),
                read_options=pacsv.ReadOptions(block_size=self.config.block_size, encoding="utf8"),
                # a quoted line break (a title can hold one) would otherwise put the parser out of sync
                # with the block boundaries and fail the whole file as "truncated"
                parse_options=pacsv.ParseOptions(invalid_row_handler=self.rejects, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    include_columns=sorted(set(mapping.values())),
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                self.rows_parsed += batch.num_rows
                yield self._to_chart_layout(pa.Table.from_batches([batch]), layout, mapping)
        except (pa.ArrowInvalid, OSError, EOFError) as exc:
            raise ChartFileError(
                f"{self.describe} ended unexpectedly after {self.rows_parsed:,} rows ({exc}): "
                "it looks half-written or truncated"
            ) from exc

    def _stream(self) -> BalancedLines:
        raw = self._raw = pa.OSFile(str(self.path), "rb")
        stream = pa.CompressedInputStream(raw, "gzip") if is_gzip(self.path) else raw
        # one row per line: a line whose quotes do not pair up is rejected alone (quotes.py)
        return BalancedLines(stream, self.rejects.line if self.rejects is not None else lambda n, t: None)

    def _chart_record(self, fields: dict[str, str], layout: str, mapping: dict[str, str]) -> dict[str, str]:
        """One unparsed line's fields (by file column) in the chart layout, as `_to_chart_layout` maps a batch."""
        record = {col: fields.get(mapping[col], "") if col in mapping else
                  {"region": self.config.region, "chart": self.config.chart}.get(col, "") for col in CHART_COLUMNS}
        if layout == "daily":
            record["url"] = TRACK_URL_PREFIX + record["url"]
        return record

    def _to_chart_layout(self, table: pa.Table, layout: str, mapping: dict[str, str]) -> pa.Table:
        n = table.num_rows
        cols: dict[str, pa.ChunkedArray | pa.Array] = {}
        for col in CHART_COLUMNS:
            if col in mapping:
                cols[col] = table[mapping[col]]
            elif col == "region":
                cols[col] = pa.repeat(pa.scalar(self.config.region, pa.string()), n)
            elif col == "chart":
                cols[col] = pa.repeat(pa.scalar(self.config.chart, pa.string()), n)
            else:
                cols[col] = pa.repeat(pa.scalar("", pa.string()), n)
        if layout == "daily":
            cols["url"] = pc.binary_join_element_wise(TRACK_URL_PREFIX, cols["url"], "")
        return pa.table(cols)
