"""Chart ingestion: a stream of raw chart batches in, typed good rows out to a Parquet writer.

Reading (a reader thread: pyarrow's streaming CSV reader parses on the thread that asks for the
next batch), validation (this thread) and Parquet encoding (a writer thread) overlap, so both
cores of the machine are kept busy; one after the other, each was about a third of the wall time
(measured per thread). The pyarrow kernels involved release the GIL. Rejected rows are counted by
reason and the first `rejected_kept` are returned for inspection.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import pyarrow as pa

from music_assets.ingest.charts.rows import (
    CHART_ROW_SCHEMA, REJECTED_ROW_SCHEMA, ChartLoadReport, ValidatedBatch, validate_chart_batch,
)

UNSAMPLED = "wrong number of fields (beyond the sample)"
REJECTED_KEPT = 100_000  # rejected rows kept for chart_rows_rejected.parquet (all are counted)
ROW_GROUP_ROWS = 256_000  # batches are gathered (zero-copy) into row groups of about this many rows
WRITE_QUEUE = 2  # row groups waiting for the writer: bounds memory while it catches up
READ_AHEAD = 4  # batches the reader thread may parse ahead of validation

Drain = Callable[[], "tuple[pa.Table | None, int]"]
Progress = Callable[[ChartLoadReport, float], None]


@dataclass
class ChartIngest:
    """What one ingestion saw and kept aside."""

    report: ChartLoadReport
    rejected: pa.Table  # REJECTED_ROW_SCHEMA, at most `rejected_kept` rows
    elapsed_s: float


class _WriterThread:
    """Calls `write` for each table on a thread of its own, in order.

    An error in `write` is raised again in the caller at its next `put` or at `close`; after one,
    the thread keeps taking tables off the queue (and drops them), so `put` never blocks for good.
    """

    def __init__(self, write: Callable[[pa.Table], None], depth: int = WRITE_QUEUE):
        self._write = write
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chart-rows-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(table)
                except BaseException as exc:  # handed to the caller, which raises it
                    self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, table: pa.Table) -> None:
        self._raise_error()
        self._queue.put(table)

    def stop(self) -> None:
        """Wait until everything queued is written (or dropped after an error)."""
        self._queue.put(None)
        self._thread.join()

    def close(self) -> None:
        self.stop()
        self._raise_error()


class _ReaderThread:
    """Iterates `batches` on a thread of its own, up to `depth` batches ahead of the caller.

    The source's own error (a half-written file, a missing column) is raised in the caller, in
    order, after the batches read before it. `close` stops the thread (it checks between batches)
    and closes the source's generator on that thread, so a failed load leaves no thread behind.
    """

    _DONE = object()

    def __init__(self, batches: Iterable[pa.Table], depth: int = READ_AHEAD):
        self._batches = batches
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chart-rows-reader", daemon=True)
        self._thread.start()

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        iterator = iter(self._batches)
        try:
            for batch in iterator:
                if not self._offer(batch):
                    break
            else:
                self._offer(self._DONE)
        except BaseException as exc:  # handed to the caller, which raises it
            self._offer(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()

    def __iter__(self) -> Iterator[pa.Table]:
        while (item := self._queue.get()) is not self._DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _RowGroups:
    """Gathers good-row tables into tables of about `rows` rows: ParquetWriter makes a row group
    of every table it is given, and CSV blocks are small enough to keep in cache, not to store."""

    def __init__(self, rows: int):
        self.rows = rows
        self._pending: list[pa.Table] = []
        self._count = 0

    def add(self, table: pa.Table) -> pa.Table | None:
        if table.num_rows:
            self._pending.append(table)
            self._count += table.num_rows
        return self.flush() if self._count >= self.rows else None

    def flush(self) -> pa.Table | None:
        if not self._pending:
            return None
        table = pa.concat_tables(self._pending)
        self._pending, self._count = [], 0
        return table


def ingest_chart_batches(batches: Iterable[pa.Table], write: Callable[[pa.Table], None], *,
                         source: str = "chart rows", drain: Drain | None = None,
                         progress: Progress | None = None, progress_every_s: float = 5.0,
                         rejected_kept: int = REJECTED_KEPT, row_group_rows: int = ROW_GROUP_ROWS) -> ChartIngest:
    """Validate every batch, hand the good rows to `write` (on a writer thread) and count the rest.

    `drain`, if given, returns the lines the parser itself rejected since the last call and how
    many more it rejected beyond its sample; they are counted with the rejected rows, never fatal.
    `progress(report, elapsed_s)` is called about every `progress_every_s` seconds.
    """
    report = ChartLoadReport()
    rejected: list[pa.Table] = []
    kept_rejects = 0
    started = last_progress = time.monotonic()
    groups = _RowGroups(row_group_rows)
    writer = _WriterThread(write)
    reader = _ReaderThread(batches)
    def account(checked: ValidatedBatch) -> None:
        nonlocal kept_rejects
        unparsed, unsampled = drain() if drain else (None, 0)
        if unparsed is not None and unparsed.num_rows:
            checked = ValidatedBatch(checked.good, pa.concat_tables([checked.rejected, unparsed]))
        report.add(checked)
        if unsampled:  # lines the parser rejected beyond its per-batch sample: still counted
            report.rows_read += unsampled
            report.rows_rejected += unsampled
            report.reasons[UNSAMPLED] = report.reasons.get(UNSAMPLED, 0) + unsampled
        if checked.rejected.num_rows and kept_rejects < rejected_kept:
            rejected.append(checked.rejected.slice(0, rejected_kept - kept_rejects))
            kept_rejects += rejected[-1].num_rows

    try:
        for batch in reader:
            checked = validate_chart_batch(batch, source=source)
            account(checked)
            if (group := groups.add(checked.good)) is not None:
                writer.put(group)
            now = time.monotonic()
            if progress and now - last_progress >= progress_every_s:
                last_progress = now
                progress(report, now - started)
        account(ValidatedBatch(CHART_ROW_SCHEMA.empty_table(), REJECTED_ROW_SCHEMA.empty_table()))  # the parser's last word
        if (group := groups.flush()) is not None:
            writer.put(group)
    except BaseException:
        reader.close()
        writer.stop()  # the reader's error is the one to report
        raise
    reader.close()
    writer.close()
    rejected_table = pa.concat_tables(rejected) if rejected else REJECTED_ROW_SCHEMA.empty_table()
    return ChartIngest(report=report, rejected=rejected_table, elapsed_s=time.monotonic() - started)
