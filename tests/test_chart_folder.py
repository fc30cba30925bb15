"""Chart inputs beyond one CSV: a Parquet chart file and a folder of chart files, read by the files
source and materialized with Dagster; and the incoming sensor watching the folder the source reads,
so a file that lands starts a run that reads it."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.defs.sensors import SETTLE_SECONDS, incoming_dir, incoming_files_sensor, unread_warning
from music_assets.ingest.charts.inputs import ChartFolder, ParquetChartFile, open_chart_input
from music_assets.ingest.charts.csv_files import ChartFileConfig, ChartFileError
from music_assets.defs.resources import DataStore, SourceResource
from tests.test_sources_files import (
    BAD_VALUE_ROW, GOOD_ROWS, ID_A, ID_B, ID_C, WRONG_FIELDS_ROW, failure_message, materialize, read, write_charts,
)

ID_D = "3n3Ppam7vgaVa1iaRUc9Lp"
DAILY_HEADER = "date,position,track_id,track_name,artist,streams\n"


def typed_parquet(path: Path, timestamp_dates: bool = False) -> Path:
    """Kaggle-layout chart rows as a typed Parquet file: int ranks, date (or timestamp) dates."""
    dates = [dt.date(2018, 5, 1), dt.date(2018, 5, 2)]
    date_col = (pa.array([dt.datetime.combine(d, dt.time()) for d in dates], pa.timestamp("us")) if timestamp_dates
                else pa.array(dates, pa.date32()))
    table = pa.table({
        "title": ["Mr. Brightside", "Mr. Brightside"], "rank": pa.array([5, 9], pa.int64()), "date": date_col,
        "artist": ["The Killers", "The Killers"],
        "url": [f"https://open.spotify.com/track/{ID_D}"] * 2, "region": ["Global", "Global"],
        "chart": ["top200", "top200"], "trend": [None, "MOVE_DOWN"], "streams": pa.array([1000, None], pa.int64()),
    })
    pq.write_table(table, path)
    return path


def settle(path: Path) -> Path:
    then = time.time() - 2 * SETTLE_SECONDS
    os.utime(path, (then, then))
    return path


@pytest.mark.parametrize("timestamp_dates", [False, True])
def test_typed_parquet_chart_file_reads_like_csv(tmp_path: Path, timestamp_dates: bool) -> None:
    charts = typed_parquet(tmp_path / "charts.parquet", timestamp_dates)
    assert isinstance(open_chart_input(ChartFileConfig(str(charts))), ParquetChartFile)
    materialize(tmp_path / "data", [chart_rows, unique_tracks], charts_path=str(charts))
    rows = read(tmp_path / "data", "chart_rows").sort_values("date")
    assert list(rows["rank"]) == [5, 9]
    assert [d.isoformat()[:10] for d in rows["date"]] == ["2018-05-01", "2018-05-02"]
    assert rows["streams"].isna().tolist() == [False, True]
    assert len(read(tmp_path / "data", "chart_rows_rejected")) == 0
    assert read(tmp_path / "data", "unique_tracks").set_index("track_id").loc[ID_D, "chart_appearances"] == 2


def test_folder_of_mixed_chart_files_is_read_whole(tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    (folder / "ph").mkdir(parents=True)
    write_charts(folder / "2017-01.csv", GOOD_ROWS[:2] + [WRONG_FIELDS_ROW])
    write_charts(folder / "2017-02.csv.gz", GOOD_ROWS[2:] + [BAD_VALUE_ROW])
    typed_parquet(folder / "2018-05.parquet")
    (folder / "ph" / "daily.csv").write_text(DAILY_HEADER + f"2019-03-01,1,{ID_B},Vente Pa' Ca,Ricky Martin,4000\n")
    (folder / "2019-04.csv.part").write_text("still being copied")  # a copy in progress: not read
    (folder / ".hidden.csv").write_text("title\nx\n")
    (folder / "README.txt").write_text("not a chart file")

    result = materialize(tmp_path / "data", [chart_rows, unique_tracks], charts_path=str(folder))

    rows = read(tmp_path / "data", "chart_rows")
    assert len(rows) == 4 + 2 + 1
    assert set(rows["track_id"]) == {ID_A, ID_B, ID_C, ID_D}
    rejected = read(tmp_path / "data", "chart_rows_rejected")
    reasons = " | ".join(rejected["reason"])
    assert len(rejected) == 2, reasons  # one unparseable line in the first file, one bad value in the second
    assert "has 3 fields" in reasons and "rank is not a positive integer" in reasons
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert meta["rows_read"].value == 9 and meta["rows_rejected"].value == 2
    unique = read(tmp_path / "data", "unique_tracks").set_index("track_id")
    assert unique.loc[ID_B, "chart_appearances"] == 2  # once in the Kaggle file, once in the daily export


def test_folder_progress_reaches_the_end(tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    folder.mkdir()
    for i in range(3):
        write_charts(folder / f"part-{i}.csv", GOOD_ROWS)
    reader = ChartFolder(ChartFileConfig(str(folder)))
    fractions = [reader.fraction_read for _ in reader.batches()]
    assert len(fractions) == 3 and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert "3 files" in reader.describe


def test_empty_chart_folder_fails_with_a_clear_message(tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here")
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(folder))
    assert not result.success
    assert f"chart folder {folder} holds no chart file" in failure_message(result)


def test_half_written_parquet_in_a_folder_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    folder.mkdir()
    write_charts(folder / "a.csv", GOOD_ROWS)
    whole = typed_parquet(tmp_path / "whole.parquet").read_bytes()
    (folder / "b.parquet").write_bytes(whole[: len(whole) // 2])
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(folder))
    message = failure_message(result)
    assert "b.parquet" in message and "half-written or corrupt" in message
    assert not (tmp_path / "data" / "assets" / "chart_rows.parquet").exists()  # nothing half-published


def test_parquet_chart_file_missing_a_column_says_which(tmp_path: Path) -> None:
    table = pq.read_table(typed_parquet(tmp_path / "full.parquet")).drop_columns(["url"])
    pq.write_table(table, tmp_path / "no_url.parquet")
    with pytest.raises(ValueError, match="missing required column.*'url'"):
        list(ParquetChartFile(ChartFileConfig(str(tmp_path / "no_url.parquet"))).batches())
    with pytest.raises(ChartFileError, match="does not exist"):
        list(ParquetChartFile(ChartFileConfig(str(tmp_path / "absent.parquet"))).batches())


def test_sensor_watches_the_folder_the_source_reads_and_the_run_reads_the_new_file(tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    (folder / "2017").mkdir(parents=True)
    settle(write_charts(folder / "2017" / "01.csv", GOOD_ROWS[:2]))
    store = DataStore(data_dir=str(tmp_path / "data"))
    source = SourceResource(kind="files", charts_path=str(folder))
    assert incoming_dir(store, source) == folder and unread_warning(folder, source) is None

    def tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        with dg.build_sensor_context(cursor=cursor, resources={"store": store, "source": source}) as context:
            return incoming_files_sensor(context)

    first = tick(None)
    assert isinstance(first, dg.SensorResult) and json.loads(first.cursor).keys() == {"2017/01.csv"}
    assert isinstance(tick(first.cursor), dg.SkipReason)  # nothing new

    settle(write_charts(folder / "2017" / "02.csv", [f"Mr. Brightside,4,2017-02-01,The Killers,"
                                                     f"https://open.spotify.com/track/{ID_D},Global,top200,NEW_ENTRY,9\n"]))
    second = tick(first.cursor)
    assert isinstance(second, dg.SensorResult)
    assert second.run_requests[0].tags["music_adviser/files"] == "2017/02.csv"

    # the run the sensor requests reads the folder, new file included
    materialize(tmp_path / "data", [chart_rows, unique_tracks], charts_path=str(folder))
    assert ID_D in set(read(tmp_path / "data", "unique_tracks")["track_id"])


def test_sensor_says_when_landed_files_will_not_be_read(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    assert "demo catalog" in unread_warning(folder, SourceResource(kind="demo"))
    elsewhere = SourceResource(kind="files", charts_path=str(tmp_path / "charts.csv"))
    assert "point MUSIC_ADVISER_CHARTS at this folder" in unread_warning(folder, elsewhere)
    assert incoming_dir(DataStore(data_dir=str(tmp_path / "data")), elsewhere) == tmp_path / "data" / "incoming"
