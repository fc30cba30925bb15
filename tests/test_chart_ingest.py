"""Chart ingestion end to end on files seeded with every kind of malformed row: the streamed,
threaded path (CSV reader threads, validation, Parquet writer thread) keeps exactly the rows the
row-at-a-time reference keeps and rejects the rest with the same reasons and counts; a failing
write or read fails the load without hanging or publishing anything."""

from __future__ import annotations

import collections
import csv
import gzip
import io
import threading
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_assets.defs.assets.chart_rows import chart_rows
from music_assets import storage
from music_assets.ingest.charts.stream import ingest_chart_batches
from music_assets.ingest.charts.rows import CHART_ROW_SCHEMA, MissingColumnsError
from music_assets.schema import CHART_COLUMNS
from music_assets.ingest.charts.inputs import CsvChartFile
from music_assets.ingest.charts.csv_files import TRACK_URL_PREFIX, ChartFileConfig, ChartFileError
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from tests import chart_oracle
from tests.test_sources_files import GOOD_ROWS, failure_message, write_charts

IDS = ["6mICuAdrwEjh6Y6lroV2Kg", "7DM4BPaS7uofFul3ywMe46", "0kN8xEmgMW9mh7UmDYHlJP"]
KAGGLE_HEADER = list(CHART_COLUMNS)
DAILY_HEADER = ["date", "position", "track_id", "track_name", "artist", "streams"]
DAILY_MAP = {"title": "track_name", "rank": "position", "date": "date", "artist": "artist", "url": "track_id",
             "streams": "streams"}
REGION, CHART = "Philippines", "top200"


def kaggle_lines() -> list[str]:
    """Good rows (quoted commas, doubled quotes, a line break inside quotes, padded numbers) and one
    line for every way a row can be malformed."""
    good = [f"Song {i},{1 + i % 200},2017-01-{1 + i % 28:02d},Artist {i % 7},{TRACK_URL_PREFIX}{IDS[i % 3]},"
            f"Global,{'top200' if i % 5 else 'viral50'},MOVE_UP,{'' if i % 5 == 0 else f'{1000 + i}.0'}"
            for i in range(3_000)]
    u = f"{TRACK_URL_PREFIX}{IDS[0]}"
    odd = [
        f'"Vente Pa\' Ca, Remix",2,2017-01-01,Ricky Martin,{u},Argentina,top200,MOVE_UP,223988.0',
        f'"The ""Real"" Slim",3,2017-01-01,Eminem,{u},Global,top200,,1',
        f'"Line\nbreak",4,2017-01-01,Someone,{u},Global,top200,,1',
        f" Padded ,\t5 ,2017-01-01,Artist ,{u},Global,top200,NEW_ENTRY, 77 ",
        f"Uri,6,2017-01-01,X,spotify:track:{IDS[1]},Global,top200,,1",
        f"Si,7,2017-01-01,X,https://open.spotify.com/intl-de/track/{IDS[2]}?si=abc,Global,top200,,1",
        # one per reason
        f"\u00a0,1,2017-01-01,X,{u},Global,top200,,1",
        f"T,1,2017-01-01, ,{u},Global,top200,,1",
        f"T,N/A,2017-01-01,X,{u},Global,top200,,1",
        f"T,0,2017-01-01,X,{u},Global,top200,,1",
        f"T,1,2017-02-30,X,{u},Global,top200,,1",
        f"T,1,2017-13-45,X,{u},Global,top200,,1",
        "T,1,2017-01-01,X,https://open.spotify.com/track/notanid,Global,top200,,1",
        "T,1,2017-01-01,X,,Global,top200,,1",
        f"T,1,2017-01-01,X,{u},,top200,,1",
        f"T,1,2017-01-01,X,{u},Global,top2000,,1",
        f"T,1,2017-01-01,X,{u},Global,top200,,lots",
        # wrong number of fields
        "Too,few,fields",
        f"T,1,2017-01-01,X,{u},Global,top200,,1,extra",
        "",  # blank lines are not rows
    ]
    lines = good[:1500] + odd + good[1500:]
    return lines + ["Cut off,5,2017-01-0"]  # the last line, half-written, without a newline


def daily_lines() -> list[str]:
    good = [f"2017-01-{1 + i % 28:02d},{1 + i % 200},{IDS[i % 3]},Song {i},Artist {i % 7},{1000 + i}" for i in range(2_000)]
    odd = ["2017-01-01,1,notanid,Song,Artist,5", "2017-01-01,0,{0},Song,Artist,5".format(IDS[0]),
           f"2017-01-01,1,{IDS[0]},,Artist,5", "2017-01-01,1", f"2017-01-01,1,{IDS[0]},S,A,5,extra"]
    return good[:1000] + odd + good[1000:]


def write_lines(path: Path, header: list[str], lines: list[str], crlf: bool = False) -> Path:
    newline = "\r\n" if crlf else "\n"
    text = ",".join(header) + newline + newline.join(lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_bytes(text.encode())
    return path


def reference(header: list[str], lines: list[str], mapping: dict[str, str] | None = None):
    """What the rules say about the file: Python's csv module splits the lines, the reference
    validator judges them; lines with the wrong number of fields are rejected as such."""
    good, rejected = [], []
    # one row per physical line (ingest/tables/quotes.py): a line whose quotes do not pair up is
    # rejected as such, with its line number (the header is line 1)
    for number, line in enumerate("\n".join(lines).split("\n"), start=2):
        fields = next(csv.reader([line]), [])
        if not fields:
            continue
        by_name = dict(zip(header, fields))
        row = ({c: by_name.get(c, "") for c in CHART_COLUMNS} if mapping is None else
               {c: by_name.get(mapping[c], "") if c in mapping else {"region": REGION, "chart": CHART}.get(c, "")
                for c in CHART_COLUMNS})
        if mapping is not None:
            row["url"] = TRACK_URL_PREFIX + row["url"]
        if line.count('"') % 2:
            rejected.append({**row, "reason": f'line {number} has an unbalanced quote (")'})
            continue
        if len(fields) != len(header):
            rejected.append({**row, "reason": f"a line has {len(fields)} fields, expected {len(header)}"})
            continue
        kept, bad = chart_oracle.split([row])
        good += kept
        rejected += bad
    return good, rejected


def canonical(rows: list[dict]) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows)


@pytest.mark.parametrize("name,layout,crlf", [
    ("charts.csv", "kaggle", False), ("charts.csv.gz", "kaggle", True), ("daily.csv", "daily", False),
])
def test_seeded_file_through_the_asset_agrees_with_the_reference(tmp_path: Path, name: str, layout: str, crlf: bool) -> None:
    header, lines, mapping = ((KAGGLE_HEADER, kaggle_lines(), None) if layout == "kaggle" else
                              (DAILY_HEADER, daily_lines(), DAILY_MAP))
    charts = write_lines(tmp_path / name, header, lines, crlf=crlf)
    result = dg.materialize([chart_rows], resources={
        "store": DataStore(data_dir=str(tmp_path / "data")), "engine": EngineResource(),
        "source": SourceResource(kind="files", charts_path=str(charts), charts_region=REGION, charts_chart=CHART)})

    good, rejected = reference(header, lines, mapping)
    kept = pq.read_table(tmp_path / "data" / "assets" / "chart_rows.parquet")
    assert kept.schema == CHART_ROW_SCHEMA
    assert kept.to_pylist() == good  # the same rows, typed the same, in file order
    stored = pq.read_table(tmp_path / "data" / "assets" / "chart_rows_rejected.parquet").to_pylist()
    assert canonical(stored) == canonical(rejected)  # raw values and reasons
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert meta["rows_read"].value == len(good) + len(rejected)
    assert meta["rejected_reasons"].value == dict(collections.Counter(r["reason"] for r in rejected))


def test_many_small_blocks_are_gathered_into_few_row_groups(tmp_path: Path) -> None:
    lines = kaggle_lines()
    charts = CsvChartFile(ChartFileConfig(str(write_lines(tmp_path / "charts.csv", KAGGLE_HEADER, lines)),
                                          block_size=16 << 10))
    batches: list[int] = []

    def counted():
        for batch in charts.batches():
            batches.append(batch.num_rows)
            yield batch

    out = tmp_path / "chart_rows.parquet"
    with storage.parquet_writer(out, CHART_ROW_SCHEMA) as writer:
        result = ingest_chart_batches(counted(), writer.write_table, drain=charts.drain_rejects, row_group_rows=1_000)
    good, rejected = reference(KAGGLE_HEADER, lines)
    assert pq.read_table(out).to_pylist() == good
    assert result.report.rows_rejected == len(rejected) and canonical(result.rejected.to_pylist()) == canonical(rejected)
    row_groups = pq.ParquetFile(out).metadata.num_row_groups
    assert len(batches) > 20 and 2 <= row_groups <= len(good) // 1_000 + 1  # gathered, not one per block


def test_unbalanced_quotes_across_block_boundaries_cost_their_lines_only(tmp_path: Path) -> None:
    """Many values broken across lines, over many small blocks: each half is rejected with its line
    number, every good line between them loads (none swallowed into a title)."""
    lines = []
    for i in range(2_000):
        lines.append(f"Song {i},{1 + i % 200},2017-01-01,Artist,{TRACK_URL_PREFIX}{IDS[i % 3]},Global,top200,,1")
        if i % 4 == 0:
            lines.append(f'"Broken {i}\nPart two",1,2017-01-01,Artist,{TRACK_URL_PREFIX}{IDS[0]},Global,top200,,1')
    charts = CsvChartFile(ChartFileConfig(str(write_lines(tmp_path / "charts.csv", KAGGLE_HEADER, lines)),
                                          block_size=16 << 10))
    titles = [t for batch in charts.batches() for t in batch["title"].to_pylist()]
    assert titles == [f"Song {i}" for i in range(2_000)]
    rejected, unsampled = charts.drain_rejects()
    reasons = rejected["reason"].to_pylist()
    assert unsampled == 0 and len(reasons) == 2 * 500 and all("has an unbalanced quote" in r for r in reasons)
    assert rejected["title"].to_pylist()[:2] == ["Broken 0", 'Part two"']


def _ingest_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("chart-rows-") and t.is_alive()]


def test_a_failing_write_fails_the_load_and_leaves_no_thread(tmp_path: Path) -> None:
    table = pa.table({c: [r.split(",")[i] for r in GOOD_ROWS[:1]] for i, c in enumerate(CHART_COLUMNS)})

    def disk_full(_: pa.Table) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        ingest_chart_batches((table for _ in range(50)), disk_full, row_group_rows=1)
    assert _ingest_threads() == []


def test_a_batch_that_fails_validation_stops_the_reader() -> None:
    read: list[int] = []

    def endless():
        while True:
            read.append(1)
            yield pa.table({"title": ["no other column"]})

    with pytest.raises(MissingColumnsError, match="'rank'"):
        ingest_chart_batches(endless(), lambda _: None, source="fixture")
    assert _ingest_threads() == [] and len(read) < 20  # read ahead a little, then stopped


def test_a_failing_read_stops_the_writer_and_publishes_nothing(tmp_path: Path) -> None:
    good = write_charts(tmp_path / "good.csv", GOOD_ROWS)
    data = tmp_path / "data"
    dg.materialize([chart_rows], resources={"store": DataStore(data_dir=str(data)), "engine": EngineResource(),
                                            "source": SourceResource(kind="files", charts_path=str(good))})
    before = (data / "assets" / "chart_rows.parquet").read_bytes()
    full = gzip.compress("".join(["title,rank,date,artist,url,region,chart,trend,streams\n"]
                                 + [GOOD_ROWS[i % 4] for i in range(200_000)]).encode())
    half = tmp_path / "half.csv.gz"
    half.write_bytes(full[: len(full) // 2])
    with pytest.raises(ChartFileError, match="half-written|truncated"):
        with storage.parquet_writer(tmp_path / "out.parquet", CHART_ROW_SCHEMA) as writer:
            ingest_chart_batches(CsvChartFile(ChartFileConfig(str(half), block_size=64 << 10)).batches(),
                                 writer.write_table, row_group_rows=1_000)
    assert _ingest_threads() == [] and not (tmp_path / "out.parquet").exists()
    result = dg.materialize([chart_rows], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data)), "engine": EngineResource(), "source": SourceResource(kind="files", charts_path=str(half))})
    assert "half-written" in failure_message(result)
    assert (data / "assets" / "chart_rows.parquet").read_bytes() == before


def test_header_only_file_fails_and_keeps_the_previous_asset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = write_charts(tmp_path / "good.csv", GOOD_ROWS)
    dg.materialize([chart_rows], resources={"store": DataStore(data_dir=str(data)), "engine": EngineResource(),
                                            "source": SourceResource(kind="files", charts_path=str(good))})
    before = (data / "assets" / "chart_rows.parquet").read_bytes()
    empty = write_charts(tmp_path / "empty.csv", [])
    result = dg.materialize([chart_rows], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data)), "engine": EngineResource(), "source": SourceResource(kind="files", charts_path=str(empty))})
    assert "no valid chart rows" in failure_message(result)
    assert (data / "assets" / "chart_rows.parquet").read_bytes() == before
