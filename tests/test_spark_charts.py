"""Chart files read and validated by Spark give the local engine's rows and reasons: Kaggle and
daily layouts, gzip detected from content, Parquet, folders, malformed lines and values; and the
same clear errors for a truncated file or a missing column."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from music_assets.core.charts import ChartLoadReport, MissingColumnsError, ValidatedBatch, validate_chart_batch
from music_assets.core.sources.files import FilesSource
from music_assets.core.sources.files_charts import ChartFileConfig, ChartFileError
from tests.spark_support import SPARK_MASTER, spark  # noqa: F401 - the session fixture

pytestmark = pytest.mark.spark

ID = "4uLU6hMCjMI75M1A2tKUQC"
ID2 = "7qiZfU4dY1lWllzX7mPBI3"
HEADER = "title,rank,date,artist,url,region,chart,trend,streams"
GOOD = [
    f"Song A,1,2017-01-01,Artist A,https://open.spotify.com/track/{ID},Global,top200,SAME_POSITION,1000.0",
    f'"Song, with comma",2,2017-01-02,Artist A,https://open.spotify.com/track/{ID}?si=abc,Global,top200,MOVE_UP,',
    f'"He said ""hi""",3,2017-01-03, Artist B ,spotify:track:{ID2},Argentina,viral50,NEW_ENTRY,',
    f"  Padded  ,4.0,2017-01-04,Artist B,https://open.spotify.com/intl-de/track/{ID2},Argentina,top200,MOVE_DOWN,12",
    f"Leap,5,2020-02-29,Artist C,https://open.spotify.com/track/{ID2},Brazil,top200,,7.",
]
BAD = [
    f",1,2017-01-01,Artist A,https://open.spotify.com/track/{ID},Global,top200,,1",  # empty title
    f"T,1,2017-01-01,   ,https://open.spotify.com/track/{ID},Global,top200,,1",  # empty artist
    f"T,N/A,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200,,1",  # rank
    f"T,0,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200,,1",  # rank 0
    f"T,1,2017-02-30,A,https://open.spotify.com/track/{ID},Global,top200,,1",  # not a real date
    f"T,1,2017-1-5,A,https://open.spotify.com/track/{ID},Global,top200,,1",  # not YYYY-MM-DD
    "T,1,2017-01-01,A,https://open.spotify.com/track/notanid,Global,top200,,1",  # url
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID}x,Global,top200,,1",  # 23 characters
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID},,top200,,1",  # empty region
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top2000,,1",  # chart
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200,,lots",  # streams
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200",  # too few fields
    f"T,1,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200,,1,extra",  # too many
]


def local_load(config: ChartFileConfig) -> tuple[pa.Table, pa.Table, ChartLoadReport]:
    """What the local chart_rows asset does with a chart input: validate batch by batch."""
    src = FilesSource(config)
    report, good, bad = ChartLoadReport(), [], []
    for batch in src.chart_batches():
        checked = validate_chart_batch(batch)
        unparsed, _ = src.parse_rejects()
        if unparsed is not None and unparsed.num_rows:
            checked = ValidatedBatch(checked.good, pa.concat_tables([checked.rejected, unparsed]))
        report.add(checked)
        good.append(checked.good)
        bad.append(checked.rejected)
    return pa.concat_tables(good), pa.concat_tables(bad), report


def spark_load(spark, config: ChartFileConfig, tmp_path: Path):  # noqa: F811
    from music_assets.core.spark.charts import load_chart_rows, read_chart_files

    out = tmp_path / "spark_chart_rows.parquet"
    load = load_chart_rows(read_chart_files(spark, config, tmp_path / "staging"), out, 1_000, config.path)
    return pq.read_table(out), load.rejected, load.report


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=repr)


def reasons(table: pa.Table) -> list[str]:
    # pyarrow sometimes names the line ("line 14 has ..."); Spark's reader cannot.
    return sorted(re.sub(r"^line \d+ has", "a line has", r) for r in table["reason"].to_pylist())


def assert_same(spark, config: ChartFileConfig, tmp_path: Path) -> ChartLoadReport:  # noqa: F811
    good_l, bad_l, report_l = local_load(config)
    good_s, bad_s, report_s = spark_load(spark, config, tmp_path)
    assert good_s.schema == good_l.schema
    assert sorted_rows(good_s) == sorted_rows(good_l)
    assert reasons(bad_s) == reasons(bad_l)
    assert sorted_rows(bad_s.drop_columns("reason")) == sorted_rows(bad_l.drop_columns("reason"))
    assert (report_s.rows_read, report_s.rows_kept, report_s.rows_rejected) == \
        (report_l.rows_read, report_l.rows_kept, report_l.rows_rejected)
    return report_s


def test_a_gzip_kaggle_file_without_gz_suffix_gives_the_local_rows_and_reasons(spark, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "charts.csv"  # gzip content, plain name: both engines look at the bytes
    path.write_bytes(gzip.compress(("\ufeff" + "\n".join([HEADER, *GOOD, *BAD]) + "\n").encode()))
    report = assert_same(spark, ChartFileConfig(path=str(path)), tmp_path)
    assert report.rows_kept == len(GOOD) and report.rows_rejected == len(BAD)
    assert report.reasons["url has no Spotify track id"] == 2
    assert report.reasons["a line has 7 fields, expected 9"] == report.reasons["a line has 10 fields, expected 9"] == 1


def test_a_folder_of_daily_csv_and_typed_parquet_files(spark, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "incoming"
    (folder / "2017").mkdir(parents=True)
    (folder / "2017" / "ph-2017-01-01.csv").write_text(
        "date,position,track_id,track_name,artist,streams\n"
        f"2017-01-01,1,{ID},Song A,Artist A,100\n2017-01-01,2,{ID2},Song B,Artist B,\n"
        "2017-01-01,3,bad,Song C,Artist C,5\n2017-02-31,4,{ID},Song A,Artist A,7\n", encoding="utf-8")
    (folder / "2017" / ".ph-2017-01-02.csv.part").write_text("still being copied", encoding="utf-8")
    pq.write_table(pa.table({
        "title": ["Song A", ""], "rank": pa.array([7, 8], pa.int64()),
        "date": pa.array([pa.scalar(0, pa.date32()).as_py()] * 2, pa.date32()),
        "artist": ["Artist A", "Artist B"], "url": [f"https://open.spotify.com/track/{ID}"] * 2,
        "region": ["Global", "Global"], "chart": ["top200", "top200"], "trend": [None, None],
        "streams": pa.array([10.0, None], pa.float64()),
    }), folder / "global.parquet")
    config = ChartFileConfig(path=str(folder), region="Philippines", chart="top200")
    report = assert_same(spark, config, tmp_path)
    assert report.rows_kept == 3 and report.rows_rejected == 3


def test_a_truncated_gzip_file_fails_clearly(spark, tmp_path: Path) -> None:  # noqa: F811
    data = gzip.compress(("\n".join([HEADER, *GOOD * 2000]) + "\n").encode())
    path = tmp_path / "charts.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ChartFileError, match="truncated"):
        spark_load(spark, ChartFileConfig(path=str(path)), tmp_path)


def test_a_missing_column_is_named_before_spark_reads(spark, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "charts.csv"
    path.write_text("title,rank,date,artist,region,chart,trend,streams\nT,1,2017-01-01,A,Global,top200,,1\n")
    with pytest.raises(MissingColumnsError, match="'url'.*kaggle"):
        spark_load(spark, ChartFileConfig(path=str(path)), tmp_path)


def test_the_files_source_through_the_spark_assets(spark, tmp_path: Path) -> None:  # noqa: F811
    from music_assets.assets.chart_rows import chart_rows
    from music_assets.assets.spark_stages import chart_rows_spark, unique_tracks_spark
    from music_assets.assets.unique_tracks import unique_tracks
    from music_assets.resources import DataStore, SourceResource
    from music_assets.spark_resource import SparkResource

    path = tmp_path / "charts.csv"
    path.write_text("\n".join([HEADER, *GOOD, *BAD]) + "\n", encoding="utf-8")
    source = SourceResource(kind="files", charts_path=str(path))
    for name, assets, extra in (("local", [chart_rows, unique_tracks], {}),
                                ("spark", [chart_rows_spark, unique_tracks_spark],
                                 {"spark": SparkResource.for_master(SPARK_MASTER)})):
        result = dg.materialize(assets, resources={"store": DataStore(data_dir=str(tmp_path / name)), "source": source, **extra})
        assert result.success
    local, on_spark = (pq.read_table(tmp_path / n / "assets" / "unique_tracks.parquet") for n in ("local", "spark"))
    assert on_spark.num_rows == 2 and on_spark.equals(local)
    rejected = pq.read_table(tmp_path / "spark" / "assets" / "chart_rows_rejected.parquet")
    assert rejected.num_rows == len(BAD)
