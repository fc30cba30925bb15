"""Chart inputs beyond one CSV file: a Parquet chart file, a file in any other layout (normalized
by its column map), and a folder or glob of chart files.

A team that keeps every daily export since 2017 drops files into one folder; pointing the files
source at that folder reads them all (the incoming-folder sensor watches the same folder and starts
a refresh when a new one lands). Each file is read with the reader its suffix calls for and its own
layout detection, so Kaggle-layout and daily-layout files can sit side by side.

Kaggle and daily CSV/Parquet files stream through pyarrow as before (benchmarks/ingest_charts.py
measures that path); every other layout (spotifycharts exports, weekly dumps, year-end lists, JSON)
is read whole by ingest/tables, mapped by ingest/layouts and handed on in the same raw chart layout,
so one set of chart rules judges every row. Such files are a chart's worth of rows each, not 26M.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from music_assets.ingest.charts.rows import REJECTED_ROW_SCHEMA
from music_assets.ingest.layouts.apply import Mapped
from music_assets.ingest.layouts.builtin import STREAMED_CHART_LAYOUTS
from music_assets.ingest.layouts.choose import LayoutChoice, choose_map, column_map_file, map_file
from music_assets.ingest.tables.read import GLOB_CHARS, expand_paths, file_format, is_table_file
from music_assets.ingest.tables.sniff import TableReadError, sniff_csv
from music_assets.schema import CHART_COLUMNS
from music_assets.ingest.charts.csv_files import (
    CHART_LAYOUTS, TRACK_URL_PREFIX, ChartFile, ChartFileConfig, ChartFileError, detect_layout, read_header,
    resolve_layout,
)

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)


class ChartInput(Protocol):
    """What FilesSource needs from a chart input (ChartFile has the same shape)."""

    @property
    def describe(self) -> str: ...

    @property
    def fraction_read(self) -> float | None: ...

    def batches(self) -> Iterator[pa.Table]: ...

    def drain_rejects(self) -> tuple[pa.Table | None, int]: ...

    def understood(self) -> list[dict[str, object]]: ...


def is_chart_file(path: Path) -> bool:
    """A chart file a folder contributes: CSV (plain or gzip), Parquet, JSON or JSON Lines, and, as
    for the incoming sensor, not hidden and not a copy still in progress."""
    return is_table_file(path)


def choice_of(config: ChartFileConfig) -> LayoutChoice:
    return LayoutChoice(config.layout, config.column_map, config.region, config.chart)


def streams_directly(path: Path, config: ChartFileConfig) -> str | None:
    """'csv' or 'parquet' when the file can take the streaming reader (a Kaggle or daily layout
    exactly as the streaming reader reads it: no note line, commas, UTF-8, no column map for it);
    None when it must be normalized by its column map first."""
    try:
        kind = file_format(path)
    except TableReadError as exc:
        raise ChartFileError(f"chart file {exc}") from None
    user = column_map_file(config.column_map)
    if kind not in ("csv", "parquet") or (user is not None and user.for_file(path) is not None):
        return None
    if config.layout in STREAMED_CHART_LAYOUTS:
        return kind
    if config.layout != "auto":
        return None
    if kind == "parquet":
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise ChartFileError(f"chart file {path} is not a readable Parquet file ({exc}): half-written or corrupt?") from exc
    else:
        try:
            spelling = sniff_csv(path)
        except TableReadError as exc:
            raise ChartFileError(f"chart file {exc}") from None
        if spelling.skip_lines or spelling.delimiter != "," or spelling.encoding != "utf-8":
            return None
        names = list(spelling.names)
    return kind if choose_map(path, names, "charts", choice_of(config)).name in STREAMED_CHART_LAYOUTS else None


class ParquetChartFile:
    """Chart rows from a Parquet file in either chart layout, read one row group at a time.

    Columns may be typed (int ranks, date or timestamp dates); they are turned into the same plain
    strings a CSV gives, so validation treats both formats alike.
    """

    def __init__(self, config: ChartFileConfig, batch_rows: int = 256_000):
        self.config = config
        self.path = Path(config.path)
        self.batch_rows = batch_rows
        self._done = 0
        self._total = 0

    @property
    def describe(self) -> str:
        return f"chart file {self.path}"

    @property
    def fraction_read(self) -> float | None:
        return self._done / self._total if self._total else None

    def drain_rejects(self) -> tuple[pa.Table | None, int]:
        return None, 0  # Parquet has no lines with a wrong number of fields

    def understood(self) -> list[dict[str, object]]:
        return [{"file": str(self.path), "format": "parquet", "reader": "streamed by row group", "roles": ["charts"]}]

    def _open(self) -> pq.ParquetFile:
        if not self.path.is_file():
            raise ChartFileError(f"chart file {self.path} does not exist")
        try:
            return pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ChartFileError(f"chart file {self.path} is not a readable Parquet file ({exc}): "
                                 "half-written or corrupt?") from exc

    def batches(self) -> Iterator[pa.Table]:
        parquet = self._open()
        names = parquet.schema_arrow.names
        layout, mapping = resolve_layout(names, self.config.layout, CHART_LAYOUTS, detect_layout, self.describe, "chart")
        self._total, self._done = parquet.metadata.num_rows, 0
        try:
            for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=sorted(set(mapping.values()))):
                self._done += batch.num_rows
                yield self._to_chart_layout(pa.Table.from_batches([batch]), layout, mapping)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ChartFileError(f"{self.describe} ended unexpectedly after {self._done:,} rows ({exc}): "
                                 "it looks half-written or truncated") from exc

    def _to_chart_layout(self, table: pa.Table, layout: str, mapping: dict[str, str]) -> pa.Table:
        n = table.num_rows
        cols: dict[str, pa.ChunkedArray | pa.Array] = {}
        for col in CHART_COLUMNS:
            if col in mapping:
                cols[col] = as_plain_strings(table[mapping[col]])
            else:
                fill = {"region": self.config.region, "chart": self.config.chart}.get(col, "")
                cols[col] = pa.repeat(pa.scalar(fill, pa.string()), n)
        if layout == "daily":
            cols["url"] = pc.binary_join_element_wise(TRACK_URL_PREFIX, cols["url"], "")
        return pa.table(cols)


def as_plain_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A typed Parquet column as the text a CSV would hold: dates as YYYY-MM-DD, nulls as ''."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.date32())  # 2017-01-01 00:00:00 -> 2017-01-01, as charts mean it
    return pc.fill_null(pc.cast(column, pa.string()), "")


def open_chart_input(config: ChartFileConfig) -> ChartInput:
    """The reader for `config.path`: a folder or glob of chart files, or one file: streamed when it
    is a Kaggle or daily CSV/Parquet file, else normalized by its column map."""
    path = Path(config.path)
    if path.is_dir() or (any(c in config.path for c in GLOB_CHARS) and not path.exists()):
        return ChartFolder(config)
    if not path.is_file():
        raise ChartFileError(f"chart file {path} does not exist")
    kind = streams_directly(path, config) if path.stat().st_size else "csv"  # an empty file: the CSV reader says so
    if kind == "parquet":
        return ParquetChartFile(config)
    if kind == "csv":
        return CsvChartFile(config)
    return MappedChartFile(config)


class CsvChartFile(ChartFile):
    """ChartFile with the ChartInput shape (its parse rejects drained per batch)."""

    def drain_rejects(self) -> tuple[pa.Table | None, int]:
        return self.rejects.drain() if self.rejects else (None, 0)

    def understood(self) -> list[dict[str, object]]:
        return [{"file": str(self.path), "format": "csv", "reader": "streamed", "roles": ["charts"],
                 "layout": self.config.layout if self.config.layout != "auto" else detect_layout(read_header(self.path))}]


class MappedChartFile:
    """A chart file in a layout the streaming reader does not read (spotifycharts exports with their
    note line, weekly dumps, year-end lists, JSON...): read whole, mapped to the raw chart layout by
    its column map, handed on in batches. Lines with a wrong field count are chart rejects."""

    def __init__(self, config: ChartFileConfig, batch_rows: int = 256_000):
        self.config = config
        self.path = Path(config.path)
        self.batch_rows = batch_rows
        self.mapped: Mapped | None = None
        self._rejects: tuple[pa.Table | None, int] = (None, 0)
        self._done = 0.0

    @property
    def describe(self) -> str:
        return f"chart file {self.path}"

    @property
    def fraction_read(self) -> float | None:
        return self._done

    def drain_rejects(self) -> tuple[pa.Table | None, int]:
        out, self._rejects = self._rejects, (None, 0)
        return out

    def understood(self) -> list[dict[str, object]]:
        return [self.mapped.understood()] if self.mapped else []

    def batches(self) -> Iterator[pa.Table]:
        try:
            self.mapped = map_file(self.path, "charts", choice_of(self.config))
        except TableReadError as exc:
            raise ChartFileError(f"chart file {exc}") from None
        charts = self.mapped.charts
        assert charts is not None
        bad = self.mapped.rejects[self.mapped.rejects["column"] == "*"]
        if len(bad):
            rows = [{**{c: "" for c in CHART_COLUMNS}, "title": str(v)[:200], "reason": f"line {r}: {why}"}
                    for r, v, why in zip(bad["row"], bad["value"], bad["reason"])]
            self._rejects = (pa.Table.from_pylist(rows, schema=REJECTED_ROW_SCHEMA), 0)
        for start in range(0, max(charts.num_rows, 1), self.batch_rows):
            self._done = min(1.0, (start + self.batch_rows) / max(charts.num_rows, 1))
            yield charts.slice(start, self.batch_rows)


class ChartFolder:
    """Every chart file in a folder and its subfolders, in path order (daily exports are named by
    date, so that is chronological). A folder without a single chart file is an error: the
    configuration probably points at the wrong place."""

    def __init__(self, config: ChartFileConfig):
        self.config = config
        self.path = Path(config.path)
        self.files: list[Path] = []  # listed when reading starts, so files that land until then count
        self._sizes: list[int] = []
        self._current: ChartInput | None = None
        self._index = 0
        self._finished_rejects: list[tuple[pa.Table | None, int]] = []  # drained from files already done
        self._understood: list[dict[str, object]] = []

    @property
    def describe(self) -> str:
        return f"chart folder {self.path}" + (f" ({len(self.files)} files)" if self.files else "")

    @property
    def fraction_read(self) -> float | None:
        total = sum(self._sizes)
        if not total:
            return None
        inner = (self._current.fraction_read or 0.0) if self._current is not None else 0.0
        return min(1.0, (sum(self._sizes[: self._index]) + inner * self._sizes[self._index]) / total)

    def drain_rejects(self) -> tuple[pa.Table | None, int]:
        drained = self._finished_rejects + ([self._current.drain_rejects()] if self._current is not None else [])
        self._finished_rejects = []
        tables = [t for t, _ in drained if t is not None and t.num_rows]
        return (pa.concat_tables(tables) if tables else None), sum(n for _, n in drained)

    def understood(self) -> list[dict[str, object]]:
        return self._understood + (self._current.understood() if self._current is not None else [])

    def batches(self) -> Iterator[pa.Table]:
        try:
            self.files = expand_paths(self.config.path, "chart")
        except TableReadError as exc:
            raise ChartFileError(f"chart {exc}") from None
        self._understood = []
        self._sizes = [p.stat().st_size for p in self.files]
        for self._index, path in enumerate(self.files):
            if self._current is not None:
                self._finished_rejects.append(self._current.drain_rejects())
                self._understood += self._current.understood()
            self._current = open_chart_input(dataclasses.replace(self.config, path=str(path)))
            yield from self._current.batches()
