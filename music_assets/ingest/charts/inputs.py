"""Chart inputs beyond one CSV file: a Parquet chart file, and a folder of chart files.

A team that keeps every daily export since 2017 drops files into one folder; pointing the files
source at that folder reads them all (the incoming-folder sensor watches the same folder and starts
a refresh when a new one lands). Each file is read with the reader its suffix calls for and its own
layout detection, so Kaggle-layout and daily-layout files can sit side by side.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from music_assets.ingest.incoming import is_candidate
from music_assets.schema import CHART_COLUMNS
from music_assets.ingest.charts.csv_files import (
    CHART_LAYOUTS, TRACK_URL_PREFIX, ChartFile, ChartFileConfig, ChartFileError, detect_layout, resolve_layout,
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


def is_chart_file(path: Path) -> bool:
    """A chart file a folder contributes: CSV (plain or gzip) or Parquet, and, as for the incoming
    sensor, not hidden and not a copy still in progress (the names copy tools use while writing)."""
    return is_candidate(path.name) and path.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


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
    """The reader for `config.path`: a folder of chart files, a Parquet file or a CSV file."""
    path = Path(config.path)
    if path.is_dir():
        return ChartFolder(config)
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return ParquetChartFile(config)
    return CsvChartFile(config)


class CsvChartFile(ChartFile):
    """ChartFile with the ChartInput shape (its parse rejects drained per batch)."""

    def drain_rejects(self) -> tuple[pa.Table | None, int]:
        return self.rejects.drain() if self.rejects else (None, 0)


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

    def batches(self) -> Iterator[pa.Table]:
        self.files = sorted(p for p in self.path.rglob("*") if p.is_file() and is_chart_file(p))
        if not self.files:
            raise ChartFileError(f"chart folder {self.path} holds no chart file "
                                 f"({', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})")
        self._sizes = [p.stat().st_size for p in self.files]
        for self._index, path in enumerate(self.files):
            if self._current is not None:
                self._finished_rejects.append(self._current.drain_rejects())
            self._current = open_chart_input(dataclasses.replace(self.config, path=str(path)))
            yield from self._current.batches()
