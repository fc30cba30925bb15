"""The `files` source at its real boundaries: CSV/gzip files on disk in, Parquet assets out,
materialized with Dagster; bad input (missing column, malformed rows, empty or half-written
files) gives a clear error or is counted, never silently lost."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.track_features import track_features
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.schema import FEATURE_COLUMNS
from music_assets.ingest.charts.csv_files import ChartFile, ChartFileConfig, ChartFileError
from music_assets.ingest.features.files import FeaturesFile, FeaturesFileConfig, parse_genre_list
from music_assets.definitions import ALL_ASSETS
from music_assets.defs.resources import DataStore, EngineResource, SourceResource

HEADER = "title,rank,date,artist,url,region,chart,trend,streams\n"
ID_A, ID_B, ID_C = "6mICuAdrwEjh6Y6lroV2Kg", "7DM4BPaS7uofFul3ywMe46", "0kN8xEmgMW9mh7UmDYHlJP"
GOOD_ROWS = [
    f"Chantaje (feat. Maluma),1,2017-01-01,Shakira,https://open.spotify.com/track/{ID_A},Argentina,top200,SAME_POSITION,253019.0\n",
    f"\"Vente Pa' Ca, Remix\",2,2017-01-01,Ricky Martin,https://open.spotify.com/track/{ID_B},Argentina,top200,MOVE_UP,223988.0\n",
    f"Chantaje (feat. Maluma),3,2017-01-02,Shakira,https://open.spotify.com/track/{ID_A},Argentina,top200,MOVE_DOWN,200000.0\n",
    f"Versace on the Floor,7,2017-01-02,Bruno Mars,https://open.spotify.com/track/{ID_C},Global,viral50,NEW_ENTRY,\n",
]
BAD_VALUE_ROW = "Broken,N/A,2017-01-03,Nobody,https://open.spotify.com/track/notanid,Global,top200,MOVE_UP,1.0\n"
WRONG_FIELDS_ROW = "Too,few,fields\n"


def write_charts(path: Path, rows: list[str], header: str = HEADER) -> Path:
    text = header + "".join(rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def materialize(data_dir: Path, selection: list, raise_on_error: bool = True, **source) -> dg.ExecuteInProcessResult:
    return dg.materialize(selection, raise_on_error=raise_on_error, resources={
        "store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(), "source": SourceResource(kind="files", **source)})


def read(data_dir: Path, name: str) -> pd.DataFrame:
    return pq.read_table(data_dir / "assets" / f"{name}.parquet").to_pandas()


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    events = [e for e in result.all_events if e.is_step_failure]
    assert events, "expected a failed step"
    return "\n".join(str(e.step_failure_data.error.message) for e in events)


@pytest.mark.parametrize("name", ["charts.csv", "charts.csv.gz"])
def test_kaggle_file_loads_with_malformed_rows_counted(tmp_path: Path, name: str) -> None:
    charts = write_charts(tmp_path / name, GOOD_ROWS[:2] + [BAD_VALUE_ROW, WRONG_FIELDS_ROW] + GOOD_ROWS[2:])
    result = materialize(tmp_path / "data", [chart_rows, unique_tracks], charts_path=str(charts))
    rows = read(tmp_path / "data", "chart_rows")
    assert len(rows) == 4 and set(rows["track_id"]) == {ID_A, ID_B, ID_C}
    assert rows.loc[rows["chart"] == "viral50", "streams"].isna().all()
    assert "Vente Pa' Ca, Remix" in set(rows["title"])  # quoted comma survives
    rejected = read(tmp_path / "data", "chart_rows_rejected")
    assert len(rejected) == 2
    reasons = " | ".join(rejected["reason"])
    assert "rank is not a positive integer" in reasons and "has 3 fields, expected 9" in reasons
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert meta["rows_read"].value == 6 and meta["rows_rejected"].value == 2
    assert "Broken" in meta["rejected_sample"].value
    unique = read(tmp_path / "data", "unique_tracks")
    assert unique.set_index("track_id").loc[ID_A, "chart_appearances"] == 2


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    gz = write_charts(tmp_path / "charts.csv.gz", GOOD_ROWS)
    renamed = tmp_path / "charts_export.csv"
    shutil.copy(gz, renamed)
    batches = list(ChartFile(ChartFileConfig(str(renamed))).batches())
    assert sum(b.num_rows for b in batches) == len(GOOD_ROWS)


def test_many_blocks_stream_in_bounded_batches(tmp_path: Path) -> None:
    rows = [GOOD_ROWS[i % 4] for i in range(20_000)]
    charts = write_charts(tmp_path / "charts.csv", rows)
    chart_file = ChartFile(ChartFileConfig(str(charts), block_size=64 << 10))
    fractions, batches = [], []
    for batch in chart_file.batches():
        batches.append(batch)
        fractions.append(chart_file.fraction_read)
    assert len(batches) > 10  # read block by block, never the whole file at once
    assert sum(b.num_rows for b in batches) == 20_000
    assert fractions == sorted(fractions) and fractions[-1] == 1.0  # progress for the log (with read-ahead)


def test_missing_column_fails_naming_column_and_file(tmp_path: Path) -> None:
    header = "title,rank,date,artist,region,chart,trend,streams\n"  # no url
    charts = write_charts(tmp_path / "charts.csv", ["a,1,2017-01-01,b,Global,top200,SAME_POSITION,1\n"], header)
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(charts))
    assert not result.success
    message = failure_message(result)
    assert "'url'" in message and str(charts) in message


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"\n\n", "no header"),
])
def test_empty_file_is_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    charts = tmp_path / "charts.csv"
    charts.write_bytes(content)
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(charts))
    assert expected in failure_message(result) and str(charts) in failure_message(result)
    assert not (tmp_path / "data" / "assets" / "chart_rows.parquet").exists()


def test_header_only_file_is_a_clear_error(tmp_path: Path) -> None:
    charts = write_charts(tmp_path / "charts.csv", [])
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(charts))
    assert "no valid chart rows" in failure_message(result)


def test_half_written_gzip_is_a_clear_error_and_keeps_the_old_asset(tmp_path: Path) -> None:
    good = write_charts(tmp_path / "good.csv.gz", GOOD_ROWS)
    materialize(tmp_path / "data", [chart_rows], charts_path=str(good))
    before = (tmp_path / "data" / "assets" / "chart_rows.parquet").read_bytes()
    rows = [GOOD_ROWS[i % 4] for i in range(50_000)]
    full = write_charts(tmp_path / "full.csv.gz", rows).read_bytes()
    half = tmp_path / "half.csv.gz"
    half.write_bytes(full[: len(full) // 2])
    with pytest.raises(ChartFileError, match="half-written|truncated"):
        list(ChartFile(ChartFileConfig(str(half))).batches())
    result = materialize(tmp_path / "data", [chart_rows], raise_on_error=False, charts_path=str(half))
    assert "half-written" in failure_message(result)
    assert (tmp_path / "data" / "assets" / "chart_rows.parquet").read_bytes() == before


def test_half_written_plain_csv_counts_the_cut_line(tmp_path: Path) -> None:
    charts = write_charts(tmp_path / "charts.csv", GOOD_ROWS + ["Cut off,5,2017-01-0"])
    result = materialize(tmp_path / "data", [chart_rows], charts_path=str(charts))
    assert len(read(tmp_path / "data", "chart_rows")) == len(GOOD_ROWS)
    assert result.asset_materializations_for_node("chart_rows")[0].metadata["rows_rejected"].value == 1


DAILY = "date,position,track_id,track_name,artist,streams\n" + "".join(
    f"2017-01-0{d},{p},{tid},Song {tid[:3]},Artist {tid[:2]},{1000 - p}\n"
    for d in (1, 2) for p, tid in enumerate([ID_A, ID_B, ID_C], start=1)
)
DAILY_TRACKS = (
    "track_id,track_name,artist_id,artist_name,album_id,duration,release_date,popularity,danceability,energy,key,"
    "loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo\n"
    f"{ID_A},Song,art1,A,alb,261240,2016-11-17,76,0.578,0.574,2,-6.209,1,0.0454,0.196,0,0.083,0.301,174.152\n"
    f"{ID_B},Song,art2,B,alb,211466,2016-10-28,85,0.358,0.557,10,-7.398,1,0.059,0.695,0,0.0902,0.494,85.043\n"
)
DAILY_ARTISTS = (
    "artist_id,artist_name,total_followers,genres,popularity\n"
    "art1,A,30647606,\"['dance pop', 'pop']\",95\n"
    "art2,B,1,\"__import__('os').system('touch PWNED')\",87\n"
)


def test_daily_layout_maps_to_charts_and_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "daily.csv").write_text(DAILY)
    (tmp_path / "tracks.csv").write_text(DAILY_TRACKS)
    (tmp_path / "artists.csv").write_text(DAILY_ARTISTS)
    materialize(tmp_path / "data", [chart_rows, unique_tracks, track_features],
                charts_path=str(tmp_path / "daily.csv"), charts_region="Philippines",
                features_path=str(tmp_path / "tracks.csv"), artists_path=str(tmp_path / "artists.csv"))
    rows = read(tmp_path / "data", "chart_rows")
    assert len(rows) == 6 and set(rows["region"]) == {"Philippines"} and set(rows["chart"]) == {"top200"}
    assert rows["url"].str.startswith("https://open.spotify.com/track/").all()
    feats = read(tmp_path / "data", "track_features").set_index("track_id")
    assert list(feats.loc[ID_A, "genres"]) == ["dance pop", "pop"]
    # the file has no time_signature: absent, not invented (issue 13)
    assert feats.loc[ID_A, "duration_ms"] == 261240 and pd.isna(feats.loc[ID_A, "time_signature"])
    assert not feats.loc[ID_C, "found"] and feats.loc[ID_A, "found"]
    # the details the file has reach the store (the /v1 API's artist ids and popularity)
    assert list(feats.loc[ID_A, "artist_ids"]) == ["art1"] and feats.loc[ID_B, "popularity"] == 85
    assert list(feats.loc[ID_C, "artist_ids"]) == [] and pd.isna(feats.loc[ID_C, "popularity"])
    assert list(read(tmp_path / "data", "unique_tracks").set_index("track_id").loc[ID_A, "regions"]) == ["Philippines"]
    assert not (tmp_path / "PWNED").exists()  # genre lists are parsed as data, never evaluated


def test_genre_list_parsing() -> None:
    assert parse_genre_list("['dance pop', 'pop']") == ["dance pop", "pop"]
    assert parse_genre_list("[]") == [] and parse_genre_list("") == []
    assert parse_genre_list("['k-pop', \"girl's group\"]") == ["k-pop", "girl's group"]


def test_tracks_114k_layout(tmp_path: Path) -> None:
    header = ("Unnamed: 0,track_id,artists,album_name,track_name,popularity,duration_ms,explicit,danceability,energy,"
              "key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,time_signature,track_genre\n")
    row = "{i},{tid},Nat King Cole,Album,O Holy Night,0,176226,False,0.123,0.261,8,-11.245,1,0.0288,0.718,0.0,0.14,0.136,82.062,3,{g}\n"
    path = tmp_path / "dataset.csv"
    path.write_text(header + row.format(i=0, tid=ID_A, g="jazz") + row.format(i=1, tid=ID_A, g="soul")
                    + row.format(i=2, tid=ID_B, g="pop"))
    table = FeaturesFile(FeaturesFileConfig(str(path))).table.set_index("track_id")
    assert len(table) == 2 and table.loc[ID_A, "genres"] == ["jazz", "soul"]
    assert table.loc[ID_B, "time_signature"] == 3 and table.loc[ID_B, "key"] == 8
    assert table.loc[ID_B, "album"] == "Album" and table.loc[ID_B, "popularity"] == 0


def test_spotify_features_232k_layout_converts_spelled_values(tmp_path: Path) -> None:
    header = ("genre,artist_name,track_name,track_id,popularity,acousticness,danceability,duration_ms,energy,"
              "instrumentalness,key,liveness,loudness,mode,speechiness,tempo,time_signature,valence\n")
    path = tmp_path / "SpotifyFeatures.csv"
    path.write_text(header + f"Movie,Henri Salvador,C'est beau,{ID_A},0,0.611,0.389,99373,0.91,0,C#,0.346,-1.828,Major,0.0525,166.969,4/4,0.814\n"
                    f"Jazz,Henri Salvador,C'est beau,{ID_A},0,0.611,0.389,99373,0.91,0,C#,0.346,-1.828,Major,0.0525,166.969,4/4,0.814\n"
                    f"Pop,X,Y,{ID_B},0,0.1,0.2,1000,0.3,0,A,0.1,-5,Minor,0.1,100,3/4,0.5\n")
    table = FeaturesFile(FeaturesFileConfig(str(path))).table.set_index("track_id")
    assert table.loc[ID_A, "genres"] == ["Jazz", "Movie"]
    assert (table.loc[ID_A, "key"], table.loc[ID_A, "mode"], table.loc[ID_A, "time_signature"]) == (1, 1, 4)
    assert (table.loc[ID_B, "key"], table.loc[ID_B, "mode"], table.loc[ID_B, "time_signature"]) == (9, 0, 3)


def test_features_file_absent_columns_are_missing_not_invented(tmp_path: Path) -> None:
    path = tmp_path / "features.csv"
    path.write_text("track_id,danceability\n" + f"{ID_A},0.5\n")
    features = FeaturesFile(FeaturesFileConfig(str(path)))
    table = features.table.set_index("track_id")
    assert table.loc[ID_A, "danceability"] == 0.5 and table.drop(columns=["danceability", "genres", "preview_url",
                                                                          "cover_url", "artist_ids"]).loc[ID_A].isna().all()
    assert list(table.loc[ID_A, "artist_ids"]) == []
    assert "energy" in features.understood()[0]["absent_features"]


@pytest.mark.shared_data
def test_whole_graph_on_ph_daily_charts(tmp_path: Path, shared_data: Path) -> None:
    ph = shared_data / "ph_daily_charts"
    result = materialize(tmp_path / "data", ALL_ASSETS, charts_path=str(ph / "spotify_daily_charts.csv.gz"),
                         charts_region="Philippines", features_path=str(ph / "spotify_daily_charts_tracks.csv"),
                         artists_path=str(ph / "spotify_daily_charts_artists.csv"))
    assert result.success
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert meta["rows_read"].value == 319_600
    assert meta["rows_rejected"].value < 100  # a handful of odd rows in the real export, counted
    unique = read(tmp_path / "data", "unique_tracks")
    feats = read(tmp_path / "data", "track_features")
    assert feats["found"].all() and len(feats) == len(unique)  # every chart track is in the tracks file
    assert feats["genres"].map(len).gt(0).mean() > 0.85  # README: 93.8% of artists have genres
    tracks = read(tmp_path / "data", "tracks")
    # the few tracks the file gives no features for stay without (never imputed), out of the model
    carried = [c for c in FEATURE_COLUMNS if c != "time_signature"]  # the tracks file has no time_signature
    assert tracks[carried].notna().all(axis=1).mean() > 0.95
    assert tracks["time_signature"].isna().all()  # absent, not invented (issue 13)
    assert (tmp_path / "data" / "models" / "LATEST").is_file()
    # the bundle steers: the charts' one region is its market, artists by the file's ids, its popularity
    from music_assets.model.bundle import load_bundle
    from music_assets.model.steer import SteerRequest, markets, steer, track_record

    bundle = load_bundle(tmp_path / "data" / "models")
    assert markets(bundle) == ["Philippines"]
    row = int(bundle.in_model.argmax())
    record = track_record(bundle, row)
    assert record.artists[0][0] and record.popularity == bundle.tracks["popularity"].iat[row] and record.regions == ["Philippines"]
    result = steer(bundle, SteerRequest(seed_artists=(record.artists[0][0],), market="PH", target={"energy": 0.7}, limit=10))
    assert len(result.results) == 10 and result.market == "Philippines"


def test_source_chosen_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from music_assets.defs.resources import build_resources

    monkeypatch.delenv("MUSIC_ADVISER_SOURCE", raising=False)
    assert build_resources(data_dir=str(tmp_path))["source"].kind == "demo"
    charts = write_charts(tmp_path / "charts.csv", GOOD_ROWS)
    monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "files")
    monkeypatch.setenv("MUSIC_ADVISER_CHARTS", str(charts))
    source = build_resources(data_dir=str(tmp_path))["source"]
    assert source.kind == "files" and source.charts_path == str(charts)
    assert sum(b.num_rows for b in source.open().chart_batches()) == len(GOOD_ROWS)
    monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "spotify")
    spotify = SourceResource.from_env()
    # credentials stay EnvVar references: Dagster resolves them at launch, never stores the values
    assert isinstance(spotify.spotify_client_secret, dg.EnvVar) and spotify.kind == "spotify"


def test_spotify_kind_without_credentials_is_a_clear_error(tmp_path: Path) -> None:
    charts = write_charts(tmp_path / "charts.csv", GOOD_ROWS)
    with pytest.raises(dg.Failure, match="SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET"):
        SourceResource(kind="spotify", charts_path=str(charts)).open()
    with pytest.raises(dg.Failure, match="charts_path"):
        SourceResource(kind="files").open()


def test_definitions_load_with_the_spotify_source_and_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """EnvVar secrets resolve at launch: the code location loads without them (the UI still opens)."""
    from music_assets.definitions import build_definitions
    from music_assets.defs.resources import build_resources

    monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "spotify")
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET", raising=False)
    dg.Definitions.validate_loadable(build_definitions(resources=build_resources(data_dir="data")))


@pytest.mark.shared_data
def test_real_kaggle_sample_and_114k_features_layout(tmp_path: Path, shared_data: Path) -> None:
    charts = shared_data / "kaggle_charts_sample" / "charts_sample.csv"
    result = materialize(tmp_path / "data", [chart_rows, unique_tracks], charts_path=str(charts))
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    assert meta["rows_read"].value == 100 and meta["rows_rejected"].value == 0
    first = read(tmp_path / "data", "chart_rows").sort_values(["date", "region", "rank"]).iloc[0]
    assert (first["title"], first["track_id"], first["streams"]) == ("Chantaje (feat. Maluma)", "6mICuAdrwEjh6Y6lroV2Kg", 253019.0)
    table = FeaturesFile(FeaturesFileConfig(str(shared_data / "tracks_114k_sample" / "dataset_sample.csv"))).table
    assert table["track_id"].is_unique and len(table) > 9_000
    assert len({g for gs in table["genres"] for g in gs}) == 114  # README: all 114 genres
    assert table[list(FEATURE_COLUMNS)].notna().all().all()
