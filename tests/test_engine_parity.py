"""The parity suite: the same cases through the same Dagster assets on both engines (local, spark).

Over 300 lines on purpose: every case both engines run lives here once, with the reference it is
held to, so no case has a second copy.
- Chart files (chart_rows + unique_tracks): every kind of cell value, with every whitespace and a
  grid of calendar dates, held to the row-at-a-time reference (tests/chart_oracle.py) and a plain
  Python aggregation; CSV quirks (gzip without .gz, BOM, quotes, wrong field counts); a folder of
  daily CSVs and typed Parquet; a truncated gzip and a missing column fail alike. Where the rules
  cannot be one definition (blank, the calendar), these cases are what holds the two together.
- tracks: hand-made files with every dedupe and impute corner, held to ingest/cleaning.py's
  clean_tracks (the file to the last bit, and the report).
- The whole demo job on each engine: every asset and check, the same files, coordinates within
  1e-9, the same k, clusterings and recommendations that agree, the Spark-built bundle served.
`-m "not spark"` runs the local half; the Spark half (marked `spark`) shares one session.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from music_assets import storage
from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.tracks import tracks
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.ingest.charts.csv_files import TRACK_URL_PREFIX
from music_assets.ingest.charts.rows import CHART_ROW_SCHEMA
from music_assets.ingest.charts.unique import UNIQUE_TRACKS_SCHEMA
from music_assets.ingest.cleaning import CleaningReport, clean_tracks
from music_assets.schema import CHART_COLUMNS, FEATURE_COLUMNS, FEATURE_RANGES, feature_file_columns
from tests import chart_oracle
from tests.spark_support import SPARK_MASTER, spark  # noqa: F401 - the session fixture

ENGINES = [pytest.param("local", id="local"), pytest.param("spark", id="spark", marks=pytest.mark.spark)]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine under test; for spark, the session is started first (once per pytest session)."""
    if request.param == "spark":
        request.getfixturevalue("spark")
    return request.param


def runner_name(engine: str) -> str:
    return "local" if engine == "local" else f"spark {SPARK_MASTER}"


def materialize(engine: str, assets: list[dg.AssetsDefinition], data_dir: Path,
                source: SourceResource | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, raise_on_error=False, resources={
        "store": DataStore(data_dir=str(data_dir)), "source": source or SourceResource(kind="demo"),
        "engine": EngineResource(kind=engine, spark_master=SPARK_MASTER)})


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    return next({k: v.value for k, v in e.materialization.metadata.items()} for e in result.get_asset_materialization_events()
                if e.materialization.asset_key.to_user_string() == asset)


def failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's error message and those of its causes (an exception the asset did not turn into a Failure)."""
    assert not result.success
    error, messages = result.get_step_failure_events()[0].step_failure_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


# ---------------------------------------------------------------------------------------------
# Chart files: chart_rows and unique_tracks against the reference rules.
# ---------------------------------------------------------------------------------------------

ID, ID2 = "4uLU6hMCjMI75M1A2tKUQC", "7qiZfU4dY1lWllzX7mPBI3"
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


@dataclass
class Expected:
    """What a chart input must give: typed good rows, rejected rows with reasons, unique tracks."""

    good: list[dict[str, Any]]
    rejected: list[dict[str, Any]]

    @classmethod
    def of(cls, raw_rows: list[dict[str, str]], malformed: list[list[str]] = ()) -> "Expected":
        """The reference's verdict on rows as the file's layout gives them, plus lines whose
        fields did not match the header (their fields matched to columns by position)."""
        good, rejected = chart_oracle.split(raw_rows)
        for fields in malformed:
            rejected.append({**{c: (fields[i] if i < len(fields) else "") for i, c in enumerate(CHART_COLUMNS)},
                             "reason": f"a line has {len(fields)} fields, expected {len(CHART_COLUMNS)}"})
        return cls(good, rejected)

    @property
    def unique(self) -> list[dict[str, Any]]:
        """unique_tracks by its definition, in plain Python: the first row by (date, region, chart,
        rank, title, artist) names the track; counts and sums over all its rows."""
        out = []
        for track_id, rows in itertools.groupby(sorted(self.good, key=lambda r: r["track_id"]), lambda r: r["track_id"]):
            rows = list(rows)
            first = min(rows, key=lambda r: (r["date"], r["region"], r["chart"], r["rank"], r["title"], r["artist"]))
            out.append({"track_id": track_id, "title": first["title"], "artist": first["artist"],
                        "first_date": min(r["date"] for r in rows), "last_date": max(r["date"] for r in rows),
                        "chart_appearances": len(rows), "n_regions": len({r["region"] for r in rows}),
                        "best_rank": min(r["rank"] for r in rows),
                        "total_streams": math.fsum(r["streams"] for r in rows if r["streams"] is not None),
                        "regions": sorted({r["region"] for r in rows})})
        return out


def normalized(reason: str) -> str:
    return re.sub(r"^line \d+ has", "a line has", reason)  # the local reader names the line; Spark cannot


def by_repr(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=repr)


def assert_chart_load(engine: str, result: dg.ExecuteInProcessResult, data_dir: Path, expected: Expected) -> dict[str, Any]:
    """chart_rows, its rejects and metadata, and unique_tracks as the reference says; the metadata returned."""
    assert result.success, failure(result)
    good = pq.read_table(data_dir / "assets" / "chart_rows.parquet")
    assert good.schema.remove_metadata() == CHART_ROW_SCHEMA
    assert by_repr(good.to_pylist()) == by_repr(expected.good)
    rejected = [{**r, "reason": normalized(r["reason"])}
                for r in pq.read_table(data_dir / "assets" / "chart_rows_rejected.parquet").to_pylist()]
    assert by_repr(rejected) == by_repr(expected.rejected)
    meta = metadata(result, "chart_rows")
    reasons = Counter()
    for reason, count in meta["rejected_reasons"].items():
        reasons[normalized(reason)] += count
    assert reasons == Counter(r["reason"] for r in expected.rejected)
    assert (meta["rows_read"], meta["rows_rejected"], meta["engine"]) == \
        (len(expected.good) + len(expected.rejected), len(expected.rejected), runner_name(engine))
    unique = pq.read_table(data_dir / "assets" / "unique_tracks.parquet")
    assert unique.schema.remove_metadata() == UNIQUE_TRACKS_SCHEMA
    assert unique.to_pylist() == expected.unique
    return meta


def every_cell_value() -> list[dict[str, str]]:
    """Rows that differ from a good row in one cell: every good and bad value of every column
    (chart_oracle.VALUES), bare and padded with each whitespace character and a few look-alikes;
    dates across a grid of years, months and days; then seeded rows with up to three damaged cells."""
    base = {c: good[0] for c, (good, _, _) in chart_oracle.VALUES.items()}
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["\x1b", "\u200b", "\u180e", "\ufeff"]
    rows = []
    for column, (good, bad, _) in chart_oracle.VALUES.items():
        for value in good + bad:
            rows.append({**base, column: value})
            rows += [{**base, column: p + value + q} for s in spaces for p, q in ((s, ""), ("", s), (s, s))]
    days = [f"{y}-{m:02d}-{d:02d}" for y in ("0000", "0001", "1582", "1900", "2000", "2019", "2020", "9999")
            for m in range(14) for d in range(33)]
    rows += [{**base, "date": day} for day in days]
    rng = random.Random(12)
    anything = {c: good + bad + [s + v for v in good for s in spaces[:12]] for c, (good, bad, _) in chart_oracle.VALUES.items()}
    for _ in range(2_000):
        rows.append({**base, **{c: rng.choice(anything[c]) for c in rng.sample(CHART_COLUMNS, rng.randint(1, 3))}})
    return rows


def test_every_kind_of_cell_value_is_judged_as_the_reference(engine: str, tmp_path: Path) -> None:
    """The case that holds the two compilations of rules.CHART_RULES together (and their blank and
    calendar checks, which cannot be one text): same verdict, reason and typed value for every row.
    A Parquet chart file, so that values with line breaks reach the rules as they are."""
    rows = every_cell_value()
    path = tmp_path / "charts.parquet"
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in CHART_COLUMNS}), path)
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data",
                         SourceResource(kind="files", charts_path=str(path)))
    expected = Expected.of(rows)
    assert len(expected.good) > 5_000 and len(expected.rejected) > 9_000  # both verdicts, many times over
    assert set(Counter(r["reason"] for r in expected.rejected)) == {
        "empty title", "empty artist", "rank is not a positive integer", "date is not a real YYYY-MM-DD date",
        "url has no Spotify track id", "empty region", "chart is not top200/viral50", "streams is not a number",
        "title holds a line break (an unbalanced quote?)", "artist holds a line break (an unbalanced quote?)",
        "title longer than 300 characters", "artist longer than 300 characters"}
    assert_chart_load(engine, result, tmp_path / "data", expected)


def test_a_gzip_kaggle_file_without_gz_suffix(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "charts.csv"  # gzip content, plain name: both engines look at the bytes
    path.write_bytes(gzip.compress(("\ufeff" + "\n".join([HEADER, *GOOD, *BAD]) + "\n").encode()))
    lines = list(csv.reader(GOOD + BAD))
    expected = Expected.of([dict(zip(CHART_COLUMNS, f)) for f in lines if len(f) == 9], [f for f in lines if len(f) != 9])
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data",
                         SourceResource(kind="files", charts_path=str(path)))
    meta = assert_chart_load(engine, result, tmp_path / "data", expected)
    assert meta["rows_read"] - meta["rows_rejected"] == len(GOOD) and meta["rows_rejected"] == len(BAD)
    reasons = Counter(r["reason"] for r in expected.rejected)
    assert reasons["url has no Spotify track id"] == 2
    assert reasons["a line has 7 fields, expected 9"] == reasons["a line has 10 fields, expected 9"] == 1
    assert len(expected.unique) == 2


def test_a_folder_of_daily_csv_and_typed_parquet_files(engine: str, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    (folder / "2017").mkdir(parents=True)
    (folder / "2017" / "ph-2017-01-01.csv").write_text(
        "date,position,track_id,track_name,artist,streams\n"
        f"2017-01-01,1,{ID},Song A,Artist A,100\n2017-01-01,2,{ID2},Song B,Artist B,\n"
        f"2017-01-01,3,bad,Song C,Artist C,5\n2017-02-31,4,{ID},Song A,Artist A,7\n", encoding="utf-8")
    (folder / "2017" / ".ph-2017-01-02.csv.part").write_text("still being copied", encoding="utf-8")
    pq.write_table(pa.table({
        "title": ["Song A", ""], "rank": pa.array([7, 8], pa.int64()),
        "date": pa.array([pa.scalar(0, pa.date32()).as_py()] * 2, pa.date32()),
        "artist": ["Artist A", "Artist B"], "url": [f"https://open.spotify.com/track/{ID}"] * 2,
        "region": ["Global", "Global"], "chart": ["top200", "top200"], "trend": [None, None],
        "streams": pa.array([10.0, None], pa.float64()),
    }), folder / "global.parquet")

    def daily(date: str, rank: str, track: str, title: str, artist: str, streams: str) -> dict[str, str]:
        return {"title": title, "rank": rank, "date": date, "artist": artist, "url": TRACK_URL_PREFIX + track,
                "region": "Philippines", "chart": "top200", "trend": "", "streams": streams}

    typed = {"rank": "7", "date": "1970-01-01", "url": f"https://open.spotify.com/track/{ID}", "region": "Global",
             "chart": "top200", "trend": ""}
    expected = Expected.of([
        daily("2017-01-01", "1", ID, "Song A", "Artist A", "100"), daily("2017-01-01", "2", ID2, "Song B", "Artist B", ""),
        daily("2017-01-01", "3", "bad", "Song C", "Artist C", "5"), daily("2017-02-31", "4", ID, "Song A", "Artist A", "7"),
        {**typed, "title": "Song A", "artist": "Artist A", "streams": "10"},
        {**typed, "title": "", "rank": "8", "artist": "Artist B", "streams": ""},
    ])
    source = SourceResource(kind="files", charts_path=str(folder), charts_region="Philippines", charts_chart="top200")
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data", source)
    meta = assert_chart_load(engine, result, tmp_path / "data", expected)
    assert meta["rows_read"] == 6 and meta["rows_rejected"] == 3


def test_a_folder_of_spotifycharts_exports_and_a_json_weekly_dump(engine: str, tmp_path: Path) -> None:
    """Layouts the streaming reader does not read (issue 13): normalized by their column maps on the
    driver for both engines, then judged by the same rules. The spotifycharts files have their note
    line, thousands separators, and date and region only in the file name; the JSON dump a bad date."""
    folder = tmp_path / "exports"
    folder.mkdir()
    note = ',,,"Note that these figures are generated using a formula that protects against any artificial inflation of chart positions.",\n'
    (folder / "regional-ph-daily-2020-01-01.csv").write_text(
        note + "Position,Track Name,Artist,Streams,URL\n"
        f'1,Song A,Artist A,"1,234,567",https://open.spotify.com/track/{ID}\n'
        f'N/A,Song B,Artist B,"12,000",https://open.spotify.com/track/{ID2}\n', encoding="utf-8")
    (folder / "weekly.json").write_text(json.dumps([
        {"country": "global", "freq": "weekly", "date": "2020-01-02", "rank": 2, "track_id": ID2,
         "artist_names": ["Artist B", "Guest"], "track_name": "Song B", "streams": 5000},
        {"country": "us", "freq": "weekly", "date": "02-Jan", "rank": 3, "track_id": ID, "artist_names": "Artist A",
         "track_name": "Song A", "streams": 10},
    ]), encoding="utf-8")

    def row(title: str, rank: str, date: str, artist: str, track: str, region: str, streams: str) -> dict[str, str]:
        return {"title": title, "rank": rank, "date": date, "artist": artist, "url": TRACK_URL_PREFIX + track,
                "region": region, "chart": "top200", "trend": "", "streams": streams}

    expected = Expected.of([
        row("Song A", "1", "2020-01-01", "Artist A", ID, "ph", "1234567"),
        row("Song B", "N/A", "2020-01-01", "Artist B", ID2, "ph", "12000"),
        row("Song B", "2", "2020-01-02", "Artist B, Guest", ID2, "global", "5000"),
        row("Song A", "3", "02-Jan", "Artist A", ID, "us", "10"),
    ])
    source = SourceResource(kind="files", charts_path=str(folder))
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data", source)
    meta = assert_chart_load(engine, result, tmp_path / "data", expected)
    assert [u["layout"] for u in meta["layouts_understood"]] == ["spotifycharts", "weekly_dump"]


def test_a_quoted_line_break_in_a_csv_value(engine: str, tmp_path: Path) -> None:
    """One row per line on both engines (was the one known disagreement: pyarrow read the value
    whole, Spark split it): each half of a value broken across lines has an odd number of quotes
    and is rejected, naming the quote; the next row is read as it is."""
    lines = ['"Two', f'lines",1,2017-01-01,A,https://open.spotify.com/track/{ID},Global,top200,,1']
    path = tmp_path / "charts.csv"
    path.write_text(f"{HEADER}\n" + "\n".join([*lines, GOOD[0]]) + "\n")
    expected = Expected.of([dict(zip(CHART_COLUMNS, next(csv.reader([GOOD[0]]))))])
    for line in lines:
        fields = next(csv.reader([line]))
        expected.rejected.append({**{c: (fields[i] if i < len(fields) else "") for i, c in enumerate(CHART_COLUMNS)},
                                  "reason": 'a line has an unbalanced quote (")'})
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data", SourceResource(kind="files", charts_path=str(path)))
    assert_chart_load(engine, result, tmp_path / "data", expected)


def test_an_unbalanced_quote_is_rejected_alone_and_the_rows_after_it_come_back(engine: str, tmp_path: Path) -> None:
    """A real chart day: one stray `"` swallowed that day's next rows into one 597-character title,
    counted as valid. The line is rejected alone; the rows after it are read as they are."""
    day = [f"Song {i},{i},2017-01-01,Artist {i},https://open.spotify.com/track/{ID},Global,top200,,{i}000" for i in range(1, 8)]
    broken = f'"Tusa (feat. Nicki Minaj,8,2017-01-01,KAROL G,https://open.spotify.com/track/{ID2},Global,top200,,900'
    body = "\n".join([broken, *day, GOOD[2], GOOD[0]]) + "\n"
    path = tmp_path / "charts.csv"
    path.write_text(f"{HEADER}\n{body}")
    rows = [dict(zip(CHART_COLUMNS, next(csv.reader([line])))) for line in [*day, GOOD[2], GOOD[0]]]
    expected = Expected.of(rows)
    expected.rejected.append({**{c: "" for c in CHART_COLUMNS}, "title": broken[1:], "reason": 'a line has an unbalanced quote (")'})
    assert len(expected.good) == 9 and not expected.rejected[:-1]
    result = materialize(engine, [chart_rows, unique_tracks], tmp_path / "data", SourceResource(kind="files", charts_path=str(path)))
    meta = assert_chart_load(engine, result, tmp_path / "data", expected)
    assert meta["rows_read"] == 10 and meta["rows_rejected"] == 1


def test_a_truncated_gzip_file_fails_clearly_and_keeps_the_previous_rows(engine: str, tmp_path: Path) -> None:
    data = gzip.compress(("\n".join([HEADER, *GOOD * 2000]) + "\n").encode())
    path = tmp_path / "charts.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    previous = tmp_path / "data" / "assets" / "chart_rows.parquet"
    previous.parent.mkdir(parents=True)
    previous.write_bytes(b"the previous run's rows")
    result = materialize(engine, [chart_rows], tmp_path / "data", SourceResource(kind="files", charts_path=str(path)))
    message = failure(result)
    assert "truncated" in message and "charts.csv.gz" in message
    assert previous.read_bytes() == b"the previous run's rows"


def test_a_missing_column_is_named_before_anything_is_read(engine: str, tmp_path: Path) -> None:
    path = tmp_path / "charts.csv"
    path.write_text("title,rank,date,artist,region,chart,trend,streams\nT,1,2017-01-01,A,Global,top200,,1\n")
    result = materialize(engine, [chart_rows], tmp_path / "data", SourceResource(kind="files", charts_path=str(path)))
    assert re.search("'url'.*kaggle", failure(result))


@pytest.mark.spark
def test_the_blank_rule_knows_the_same_characters_on_both_engines(spark) -> None:  # noqa: F811
    """Blank is one check written twice (pyarrow's utf8_is_space locally, rules.WHITESPACE as a
    Java regex on Spark): one character alone is blank on both or neither. Locally over every code
    point, which finds none past the Basic Multilingual Plane; so Spark is asked about that plane."""
    from pyspark.sql import functions as F

    from music_assets.engines.spark.charts import BLANK_RE

    every = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    local = [c for c, blank in zip(every, pc.utf8_is_space(pa.array([chr(c) for c in every])).to_pylist()) if blank]
    assert len(local) == 29 and max(local) < 0x10000  # Python's str.isspace() set
    points = spark.range(0x10000).where((F.col("id") < 0xD800) | (F.col("id") > 0xDFFF))  # no lone surrogates
    # each code point as UTF-32 after an "A" (a leading U+FEFF would be read as a byte-order mark), then alone
    utf32 = F.unhex(F.concat(F.lit("00000041"), F.lpad(F.hex("id"), 8, "0")))
    chars = points.select("id", F.substring(F.decode(utf32, "UTF-32"), 2, 1).alias("c"))
    assert chars.where(F.length("c") != 1).count() == 0
    assert sorted(r["id"] for r in chars.where(F.col("c").rlike(BLANK_RE)).collect()) == local


# ---------------------------------------------------------------------------------------------
# tracks: the dedupe and impute corners against ingest/cleaning.py's clean_tracks.
# ---------------------------------------------------------------------------------------------

UNIQUE_SCHEMA = pa.schema([("track_id", pa.string()), ("title", pa.string()), ("artist", pa.string()),
                           ("chart_appearances", pa.int64()), ("best_rank", pa.int32())])
# (id, title, artist, chart appearances); ids are out of order on purpose.
UNIQUE = [
    ("id09", "Déjà Vu", "Beyoncé", 5),  # one song in four spellings; 05 and 09 tie on charts...
    ("id05", "DEJA VU!", "beyonce", 5),
    ("id01", "Deja  Vu", "Beyoncé ", 9),  # ...01 is the most charted but has no features: it loses
    ("id07", "déjà-vu", "BEYONCÉ", 5),
    ("id12", "<script>alert('x')</script> & Co", "Ｍａｘ", 2),  # HTML; fullwidth letters (NFKD)
    ("id02", "script alert x script co", "max", 2),  # the same key as id12
    ("id03", "ﬁre", "Strasse", 1),  # a ligature...
    ("id04", "FIRE", "Straße", None),  # ...and ß casefold to the same key; no chart count: loses
    ("id06", "!!!", "A", 3),  # a title that normalizes to nothing
    ("id08", "...", "A", 3),  # the same empty title: ties on charts, both with features
    ("id10", None, "Nobody", 1),  # no title at all
    ("id11", "Lonely", "Solo", 4),  # no features and no twin
    ("id11", "Lonely (dup row)", "Solo", 4),  # a repeated id: the first row counts
    ("id13", "e\u0301te\u0301", "Ι\u0345", 1),  # combining accents; U+0345 casefolds to a letter
    ("id14", "été", "ΙΙ", 2),
]


def tricky_features() -> pa.Table:
    """Features for most ids (not id01, id11), one id twice, one id nobody charted, NaN as well as
    null gaps, an empty and a missing genres list, a column (cover_url) with no value at all."""
    rows = ["id09", "id05", "id07", "id12", "id02", "id03", "id04", "id06", "id08", "id10", "id13", "id14",
            "id05", "id99"]
    rng = np.random.default_rng(11)
    cols: dict[str, pa.Array] = {"track_id": pa.array(rows, pa.string())}
    scale = {"key": (0, 11), "loudness": (-30, 0), "tempo": (60, 200), "duration_ms": (150_000, 400_000), "time_signature": (3, 5)}
    bad = {("id06", "duration_ms"): 7_200_000.0, ("id08", "time_signature"): 0.0, ("id02", "tempo"): np.inf,
           ("id99", "loudness"): 12.0}  # a two-hour track, a time signature of 0, infinity; an uncharted id
    for i, name in enumerate(FEATURE_COLUMNS):
        lo, hi = scale.get(name, (0, 1))
        values = lo + (hi - lo) * rng.uniform(0.1, 0.9, len(rows))
        for twin, recording in (("id09", "id05"), ("id07", "id05"), ("id04", "id03"), ("id14", "id13")):
            values[rows.index(twin)] = values[rows.index(recording)]  # one recording under two ids
        if name == "danceability":  # says "has features": present except id10's, a NaN
            values[rows.index("id10")], mask = np.nan, np.zeros(len(rows), bool)
        else:
            values[(np.arange(len(rows)) + i) % 5 == 0] = np.nan  # NaN stored as NaN (not null) in Parquet
            mask = (np.arange(len(rows)) + i) % 7 == 0  # and some stored as null
        for (track, column), value in bad.items():
            if column == name:
                values[rows.index(track)], mask[rows.index(track)] = value, False
        cols[name] = pa.array(values, pa.float64(), mask=mask, from_pandas=False)
    cols["genres"] = pa.array([["pop", "r&b"], [], None, ["k-pop"], ["pop"], [], ["rock"], None, [], ["x"], [], [],
                               ["late"], ["never"]], pa.list_(pa.string()))
    cols["preview_url"] = pa.array(["https://p.scdn.co/a", None, "", "https://p.scdn.co/b"] + [None] * 10, pa.large_string())
    cols["cover_url"] = pa.nulls(len(rows))
    cols["found"] = pa.array([True] * len(rows))  # a column the asset does not read
    return pa.table(cols)


def tracks_case(data_dir: Path, unique: pa.Table, features: pa.Table) -> tuple[Path, Path]:
    """The two input files, where the tracks asset reads them."""
    (data_dir / "assets").mkdir(parents=True)
    paths = data_dir / "assets" / "unique_tracks.parquet", data_dir / "assets" / "track_features.parquet"
    pq.write_table(unique, paths[0])
    pq.write_table(features, paths[1])
    return paths


def reference_tracks(unique: Path, features: Path, tmp: Path) -> tuple[pa.Table, CleaningReport]:
    """The file and report of ingest/cleaning.py's rules on the two files, written as a stage writes a frame."""
    columns = feature_file_columns(pq.read_schema(features).names)  # what the local engine reads
    clean, report = clean_tracks(storage.read_parquet(unique), storage.read_parquet(features, columns=columns))
    storage.write_parquet(clean, tmp / "reference.parquet")
    return pq.read_table(tmp / "reference.parquet"), report


def run_tracks(engine: str, data_dir: Path) -> tuple[dg.ExecuteInProcessResult, Path]:
    """The tracks asset on `engine` over the data folder's two input files."""
    return materialize(engine, [tracks], data_dir), data_dir / "assets" / "tracks.parquet"


def assert_tracks(result: dg.ExecuteInProcessResult, path: Path, reference: pa.Table, report: CleaningReport) -> pa.Table:
    """The stage's file is the reference's (schema, rows, order, every bit) and so is its report."""
    assert result.success, failure(result)
    got = pq.read_table(path)
    pd.testing.assert_frame_equal(got.to_pandas(), reference.to_pandas(), check_exact=True)  # a readable diff first
    assert got.schema.remove_metadata() == reference.schema.remove_metadata()
    assert got.replace_schema_metadata(None).equals(reference.replace_schema_metadata(None))
    meta = metadata(result, "tracks")
    assert (meta["input_rows"], meta["duplicate_ids_removed"], meta["duplicate_songs_removed"], meta["twins_kept_apart"],
            meta["tracks_without_features"], meta["missing_values"], meta["values_rejected"], meta["rejected_by_reason"]) == \
        (report.input_rows, report.duplicate_ids, report.duplicate_songs, report.twins_kept, report.tracks_without_features,
         report.missing_values, len(report.rejects), report.rejected_by_reason)
    rejects = pd.read_parquet(path.parent / "tracks_rejected.parquet")
    pd.testing.assert_frame_equal(rejects, report.rejects.reset_index(drop=True), check_dtype=False)
    return got


def test_every_tricky_case_gives_the_reference_file_and_report(engine: str, tmp_path: Path) -> None:
    unique = pa.Table.from_pylist([dict(zip(["track_id", "title", "artist", "chart_appearances"], r), best_rank=1)
                                   for r in UNIQUE], schema=UNIQUE_SCHEMA)
    reference, report = reference_tracks(*tracks_case(tmp_path / "data", unique, tricky_features()), tmp_path)
    got = assert_tracks(*run_tracks(engine, tmp_path / "data"), reference, report)
    # the cases happened (so equality is not vacuous), as the local rules say they should
    rows = {r["track_id"]: r for r in got.to_pylist()}
    assert rows["id05"]["alias_ids"] == ["id07", "id09"]  # the same recording; id01 (no features) stays
    assert rows["id01"]["alias_ids"] == [] and rows["id01"]["n_missing"] == len(FEATURE_COLUMNS)
    assert rows["id03"]["alias_ids"] == ["id04"] or rows["id04"]["alias_ids"] == ["id03"]
    assert {"id06", "id08", "id02", "id12"} <= set(rows)  # same title+artist, other recordings: all stay
    assert "id11" in rows and rows["id11"]["title"] == "Lonely" and rows["id11"]["n_missing"] == len(FEATURE_COLUMNS)
    assert report.duplicate_ids == 2  # id11 twice, id05 twice in features
    rejected = {(r["track_id"], r["column"]): r["value"] for r in report.rejects.to_dict("records")}
    assert rejected == {("id06", "duration_ms"): "7200000.0", ("id08", "time_signature"): "0.0",
                        ("id02", "tempo"): "inf", ("id99", "loudness"): "12.0"}
    assert rows["id06"]["duration_ms"] is None and rows["id08"]["time_signature"] is None
    assert got.schema.field("cover_url").type == pa.large_string() and set(got["cover_url"].to_pylist()) == {""}
    assert got.schema.field("chart_appearances").type == pa.float64()  # a null in the file: pandas' float64
    assert got["genres"].to_pylist()[list(rows).index("id11")] == []


def test_a_large_catalog_of_many_twins_gives_the_reference_file(engine: str, tmp_path: Path) -> None:
    """1,500 ids over a few hundred spellings of few songs: twins far apart and close, values out of range."""
    rng = np.random.default_rng(5)
    n = 1_500
    words = ["Butterflies", "Black", "Swan", "Dynamite", "Café", "Noir", "Ñandú", "Straße", "Love", "Night"]
    base = [f"{a} {b}" for a, b in zip(rng.choice(words, n), rng.choice(words, n))]  # 100 songs
    spell = rng.integers(0, 4, n)
    titles = [[t, t.upper(), f" {t.lower()}!", t.replace("a", "á")][s] for t, s in zip(base, spell)]
    ids = [f"{i:06d}{rng.integers(0, 1 << 30):010d}" for i in rng.permutation(n)]
    unique = pa.table({"track_id": ids, "title": titles, "artist": rng.choice(["MAX", "max", "BTS", "Rosalía", "rosalia"], n),
                       "chart_appearances": rng.integers(1, 6, n), "best_rank": pa.array(rng.integers(1, 200, n), pa.int32())},
                      schema=UNIQUE_SCHEMA)
    has = rng.random(n) < 0.8
    features = {"track_id": pa.array(np.array(ids)[has])}
    artists = [str(a).lower().replace("í", "i") for a in unique["artist"].to_pylist()]
    song = {key: i for i, key in enumerate(sorted(set(zip(base, artists))))}
    # ids sharing a recording share its features: most twins are one recording, the rest another
    recording = np.where(rng.random(n) < 0.6, [song[k] for k in zip(base, artists)], 1_000 + np.arange(n))[has]
    for name in FEATURE_COLUMNS:
        lo, hi = FEATURE_RANGES[name]
        per_recording = rng.uniform(lo, hi, 3_000)
        wild = rng.random(3_000) < 0.03  # out of range: rejected, value by value
        per_recording[wild] = hi + 1 + np.abs(rng.standard_normal(int(wild.sum()))) * 10.0 ** rng.uniform(-3, 6, int(wild.sum()))
        features[name] = pa.array(per_recording[recording], mask=rng.random(has.sum()) < 0.1)
    features |= {"genres": pa.array([["pop"]] * int(has.sum())), "preview_url": pa.nulls(int(has.sum()), pa.string()),
                 "cover_url": pa.nulls(int(has.sum()), pa.string())}
    reference, report = reference_tracks(*tracks_case(tmp_path / "data", unique, pa.table(features)), tmp_path)
    assert report.duplicate_songs > 100 and report.twins_kept > 100 and len(report.rejects) > 100
    assert_tracks(*run_tracks(engine, tmp_path / "data"), reference, report)


def test_no_twins_and_no_genres_give_the_same_null_lists(engine: str, tmp_path: Path) -> None:
    unique = pa.table({"track_id": ["b", "a"], "title": ["One", "Two"], "artist": ["X", "Y"],
                       "chart_appearances": [1, 2], "best_rank": pa.array([1, 2], pa.int32())}, schema=UNIQUE_SCHEMA)
    features = pa.table({"track_id": ["a", "b"], **{c: [0.5, None] for c in FEATURE_COLUMNS},
                         "genres": pa.array([[], None], pa.list_(pa.string())), "preview_url": ["", None], "cover_url": [None, None]})
    reference, report = reference_tracks(*tracks_case(tmp_path / "data", unique, features), tmp_path)
    assert pa.types.is_null(reference.schema.field("alias_ids").type.value_type)  # what pandas infers from []
    assert_tracks(*run_tracks(engine, tmp_path / "data"), reference, report)


@pytest.mark.parametrize("regions", [[["Global", "Philippines"], ["United States"]], [[], []]],
                         ids=["charted", "catalog-only"])
def test_chart_regions_pass_through_tracks_alike(engine: str, tmp_path: Path, regions: list[list[str]]) -> None:
    """unique_tracks' regions (empty lists for a catalog without charts) reach `tracks` on both engines."""
    unique = pa.table({"track_id": ["b", "a"], "title": ["One", "Two"], "artist": ["X", "Y"],
                       "chart_appearances": [1, 2], "best_rank": pa.array([1, 2], pa.int32()),
                       "regions": pa.array(regions, pa.list_(pa.string()))})
    features = pa.table({"track_id": ["a", "b"], **{c: [0.5, 0.25] for c in FEATURE_COLUMNS},
                         "genres": pa.array([["pop"], []], pa.list_(pa.string())), "preview_url": ["", None], "cover_url": [None, None],
                         # the optional details (schema.TRACK_DETAIL_COLUMNS) as the features store writes them
                         "artist_ids": pa.array([["x1", "x2"], []], pa.list_(pa.string())), "album": ["Album", None],
                         "popularity": [55.0, None]})
    reference, report = reference_tracks(*tracks_case(tmp_path / "data", unique, features), tmp_path)
    got = assert_tracks(*run_tracks(engine, tmp_path / "data"), reference, report)
    by_id = {r["track_id"]: r for r in got.to_pylist()}
    assert {k: r["regions"] for k, r in by_id.items()} == {"b": regions[0], "a": regions[1]}
    assert (by_id["a"]["artist_ids"], by_id["a"]["album"], by_id["a"]["popularity"]) == (["x1", "x2"], "Album", 55.0)


def test_a_feature_with_no_value_stays_missing_and_is_not_invented(engine: str, tmp_path: Path) -> None:
    """Was `ValueError: feature 'tempo' has no value for any track`: the column stays empty, counted."""
    unique = pa.table({"track_id": ["a", "b"], "title": ["One", "Two"], "artist": ["X", "Y"],
                       "chart_appearances": [1, 2], "best_rank": pa.array([1, 2], pa.int32())}, schema=UNIQUE_SCHEMA)
    features = pa.table({"track_id": ["a", "b"], **{c: [0.5, 0.25] for c in FEATURE_COLUMNS},
                         "tempo": pa.nulls(2, pa.float64()), "genres": pa.array([[], []], pa.list_(pa.string())),
                         "preview_url": ["", ""], "cover_url": ["", ""]})
    reference, report = reference_tracks(*tracks_case(tmp_path / "data", unique, features), tmp_path)
    got = assert_tracks(*run_tracks(engine, tmp_path / "data"), reference, report)
    assert got["tempo"].null_count == 2 and report.missing_values["tempo"] == 2


# ---------------------------------------------------------------------------------------------
# The whole demo job on each engine.
# ---------------------------------------------------------------------------------------------

N_TRACKS = 2_000
N_QUERIES = 300
# Observed on this catalog: ARI 0.99+, nearest overlap 1.000, normal overlap 0.99+ (benchmarks/spark_engine.py
# prints the same agreement figures at scale). The bounds leave room for KMeans local optima on boundary
# points; a different k from the elbow (ARI ~0.8) or a scaling/PCA convention error (overlap far below 1) fails them.
MIN_ARI = 0.90
MIN_OVERLAP = {"nearest": 0.99, "normal": 0.90}
HEAVY_STAGES = ("chart_rows", "unique_tracks", "tracks", "track_embedding", "cluster_k", "track_clusters")


@dataclass
class DemoRun:
    data_dir: Path
    result: dg.ExecuteInProcessResult

    def read(self, name: str) -> pd.DataFrame:
        return pq.read_table(self.data_dir / "assets" / f"{name}.parquet").to_pandas()


def run_demo_job(engine: str, data_dir: Path) -> DemoRun:
    """The demo job, as `dg launch` runs it, with only the engine resource differing."""
    from music_assets.definitions import build_definitions

    defs = build_definitions({"store": DataStore(data_dir=str(data_dir)), "source": SourceResource(kind="demo", demo_tracks=N_TRACKS),
                              "engine": EngineResource(kind=engine, spark_master=SPARK_MASTER)})
    return DemoRun(data_dir, defs.resolve_job_def("music_adviser_job").execute_in_process(raise_on_error=False))


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return run_demo_job("local", tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def spark_demo(spark, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:  # noqa: F811
    return run_demo_job("spark", tmp_path_factory.mktemp("spark"))


@pytest.fixture
def demo(engine: str, request: pytest.FixtureRequest) -> DemoRun:
    return request.getfixturevalue(f"{engine}_demo")


def test_the_demo_job_materializes_every_asset_and_passes_every_check(engine: str, demo: DemoRun) -> None:
    from music_assets.definitions import ALL_ASSETS

    result = demo.result
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    done = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert done == {a.key.to_user_string() for a in ALL_ASSETS}
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks if c.severity.value == "ERROR")
    for name in HEAVY_STAGES:
        assert metadata(result, name)["engine"] == runner_name(engine), name
    assert (demo.data_dir / "models" / "LATEST").read_text().strip()


def test_the_built_bundle_is_served(demo: DemoRun) -> None:
    from music_assets.settings import ServingSettings
    from serving.app import create_app

    client = create_app(ServingSettings(data_dir=str(demo.data_dir), background_reload=False), live_lookup=None).test_client()
    track = demo.read("tracks").iloc[7]
    data = client.get("/api/recommend", query_string={"id": track["track_id"]}).get_json()
    assert data["query"]["id"] == track["track_id"] and len(data["results"]) == 10


@pytest.mark.spark
def test_same_chart_rows_rejected_rows_and_unique_tracks(local_demo: DemoRun, spark_demo: DemoRun) -> None:
    key = ["track_id", "date", "region", "chart", "rank", "streams", "title"]
    a, b = (run.read("chart_rows").sort_values(key, ignore_index=True) for run in (local_demo, spark_demo))
    assert len(a) > 10 * N_TRACKS * 0.9
    pd.testing.assert_frame_equal(a, b)
    columns = ["url", "rank", "date", "title", "reason"]
    ra, rb = (run.read("chart_rows_rejected").sort_values(columns, ignore_index=True) for run in (local_demo, spark_demo))
    assert len(ra) > 0
    pd.testing.assert_frame_equal(ra, rb)
    ua, ub = (pq.read_table(run.data_dir / "assets" / "unique_tracks.parquet") for run in (local_demo, spark_demo))
    assert ua.num_rows > 0.95 * N_TRACKS
    assert ua.schema == ub.schema and ua.equals(ub)


@pytest.mark.spark
def test_same_tracks_file_and_report(local_demo: DemoRun, spark_demo: DemoRun) -> None:
    """Spark's `tracks` is the local file value for value (rejected values, twins merged or kept
    apart), in the same schema and row order, with the same figures in the asset's metadata."""
    a, b = (pq.read_table(run.data_dir / "assets" / "tracks.parquet") for run in (local_demo, spark_demo))
    assert (a["n_missing"].to_numpy() > 0).any() and any(len(x) for x in a["alias_ids"].to_pylist())  # gaps, re-releases
    assert [(f.name, str(f.type)) for f in a.schema] == [(f.name, str(f.type)) for f in b.schema]
    assert a.schema.remove_metadata() == b.schema.remove_metadata()
    assert a.replace_schema_metadata(None).equals(b.replace_schema_metadata(None))
    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)
    local, on_spark = ({k: v for k, v in metadata(run.result, "tracks").items() if k not in ("engine", "path", "rejects_path")}
                       for run in (local_demo, spark_demo))
    assert local["duplicate_songs_removed"] > 0 and local == on_spark


@pytest.mark.spark
def test_embedding_parameters_and_coordinates_agree(local_demo: DemoRun, spark_demo: DemoRun) -> None:
    params = [json.loads((run.data_dir / "assets" / "track_embedding.params.json").read_text()) for run in (local_demo, spark_demo)]
    for name in ("mean", "scale", "components", "explained_variance_ratio"):
        np.testing.assert_allclose(params[1][name], params[0][name], rtol=1e-9, atol=1e-12, err_msg=name)
    a, b = local_demo.read("track_embedding"), spark_demo.read("track_embedding")
    merged = a.merge(b, on="track_id", suffixes=("_l", "_s"), validate="one_to_one")
    assert len(merged) == len(a) == len(b)
    np.testing.assert_allclose(merged[["pc_1_s", "pc_2_s"]], merged[["pc_1_l", "pc_2_l"]], atol=1e-9)


@pytest.mark.spark
def test_same_k_and_clusterings_that_match_closely(local_demo: DemoRun, spark_demo: DemoRun) -> None:
    from sklearn.metrics import adjusted_rand_score

    k = [int(run.read("cluster_k").query("chosen")["k"].iloc[0]) for run in (local_demo, spark_demo)]
    merged = local_demo.read("track_clusters").merge(spark_demo.read("track_clusters"), on="track_id", suffixes=("_l", "_s"))
    ari = adjusted_rand_score(merged["cluster_l"], merged["cluster_s"])
    print(f"\nchosen k local={k[0]} spark={k[1]}; adjusted Rand index {ari:.4f} on {len(merged):,} tracks")
    assert k[0] == k[1]
    assert ari >= MIN_ARI


@pytest.mark.spark
def test_recommendations_overlap_strongly(local_demo: DemoRun, spark_demo: DemoRun) -> None:
    from music_assets.model.bundle import load_bundle
    from music_assets.model.recommend import recommend

    local, on_spark = (load_bundle(run.data_dir / "models") for run in (local_demo, spark_demo))
    assert list(local.tracks["track_id"]) == list(on_spark.tracks["track_id"])
    assert (local.in_model == on_spark.in_model).all()
    queries = np.random.default_rng(0).choice(np.flatnonzero(local.in_model), N_QUERIES, replace=False)
    for mode, bound in MIN_OVERLAP.items():
        overlap = np.mean([len({r.track_id for r in recommend(local, int(q), mode)}
                               & {r.track_id for r in recommend(on_spark, int(q), mode)}) / 10 for q in queries])
        print(f"\n{mode}: mean top-10 overlap {overlap:.3f} over {N_QUERIES} queries")
        assert overlap >= bound, mode


# ---------------------------------------------------------------------------------------------
# A Spark-only helper held to the local function it wraps.
# ---------------------------------------------------------------------------------------------

@pytest.mark.spark
def test_the_pandas_udf_gives_the_local_dedup_key_on_any_text(spark) -> None:  # noqa: F811
    import string

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from music_assets.engines.spark.cleaning import dedup_keys
    from music_assets.ingest.cleaning import dedup_key

    schema = T.StructType([T.StructField("t", T.StringType()), T.StructField("a", T.StringType())])

    @settings(max_examples=4, deadline=None)
    @given(st.lists(st.one_of(st.none(), st.text(), st.text(alphabet=string.punctuation + "éÉ ßﬁ\u0301\u0345Σς")),
                    min_size=50, max_size=120))
    def check(texts: list[str | None]) -> None:
        pairs = list(zip(texts, reversed(texts)))
        got = spark.createDataFrame(pairs, schema).select(dedup_keys(F.col("t"), F.col("a")).alias("k")).collect()
        assert [r["k"] for r in got] == [dedup_key(t, a) for t, a in pairs]

    check()
