"""Readers, parsers, column maps, config and the inspect command of issue 13, at their boundaries:
files on disk, the assets materialized, the command run as a subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.track_features import track_features
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.ingest.layouts.values import parse_date, parse_number, split_list
from music_assets.ingest.tables.read import read_table
from music_assets.ingest.tables.sniff import TableReadError
from tests.byod_fixtures import FEATURES13, catalog, write_features_232k

ROOT = Path(__file__).resolve().parents[1]


# --- parsers (hypothesis) -----------------------------------------------------------------------

@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=99))
def test_numbers_with_thousands_separators_parse(whole: int, cents: int) -> None:
    text = f"{whole:,}.{cents:02d}"
    parsed, bad = parse_number(pd.Series([text, f" {whole} "]))
    assert not bad.any() and parsed[0] == pytest.approx(whole + cents / 100) and parsed[1] == whole


@given(st.text(alphabet="abcxyz-/:", min_size=1, max_size=8))
def test_words_are_not_numbers(text: str) -> None:
    parsed, bad = parse_number(pd.Series([text]))
    assert bad[0] and pd.isna(parsed[0])


@given(st.dates(min_value=date(1969, 1, 1), max_value=date(2068, 12, 31)))  # two-digit years: 69-99 -> 19xx, 00-68 -> 20xx
def test_dates_in_every_spelling_parse_to_the_same_day(day: date) -> None:
    spellings = [day.isoformat(), f"{day.month}/{day.day}/{day.year % 100:02d}", f"{day.month}/{day.day}/{day.year}",
                 f"{day.isoformat()}--{day.isoformat()}"]
    parsed, bad = parse_date(pd.Series(spellings))
    assert not bad.any() and set(parsed) == {day.isoformat()}


names = st.text(alphabet=st.characters(blacklist_characters="[]'\";|,\\", blacklist_categories=("Cs", "Cc", "Zs")),
                min_size=1, max_size=12)


@given(st.lists(names, min_size=1, max_size=5))
def test_list_strings_parse_as_python_lists_and_separated_text(items: list[str]) -> None:
    assert split_list(repr(items)) == items
    assert split_list(";".join(items)) == split_list("|".join(items)) == (items if len(items) > 1 else items)
    assert split_list(items) == items


def test_list_strings_are_data_never_code(tmp_path: Path) -> None:
    assert split_list("__import__('os').system('touch PWNED')") == ["__import__('os').system('touch PWNED')"]
    assert split_list("['a', __import__('os')]") is None  # a bracketed list that is not a literal: a reject


# --- readers --------------------------------------------------------------------------------

def test_wrong_encoding_names_the_file_and_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("track_id,title\n".encode() + b"x" * 70_000 + b",Caf\xe9\n")
    with pytest.raises(TableReadError, match=r"latin\.csv is not valid utf-8: byte 0xe9 at offset 70,019") as info:
        read_table(path)
    assert "half-written" not in str(info.value)
    assert read_table(path, encoding="latin-1").frame["title"][0] == "Café"


def test_json_object_json_lines_gzip_and_glob(tmp_path: Path) -> None:
    rows = [{"track_id": t.track_id, **t.features} for t in catalog("readers", 3)]
    (tmp_path / "a.json").write_text(json.dumps({"tracks": rows}))
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    assert list(read_table(tmp_path / "a.json").frame["track_id"]) == [r["track_id"] for r in rows]
    assert read_table(tmp_path / "b.jsonl.gz").format == "jsonl"
    from music_assets.ingest.tables.read import expand_paths

    assert [p.name for p in expand_paths(str(tmp_path / "*.json*"))] == ["a.json", "b.jsonl.gz"]
    with pytest.raises(TableReadError, match="matches no table file"):
        expand_paths(str(tmp_path / "*.csv"))


def test_note_line_and_semicolons_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(',,"Note that these figures are generated using a formula",\nPosition;Track Name;Artist;Streams\n1;"A; B";C;"1,234"\n')
    table = read_table(path)
    assert table.spelling is not None and table.spelling.skip_lines == 1 and table.spelling.delimiter == ";"
    assert table.frame.iloc[0].tolist() == ["1", "A; B", "C", "1,234"]


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gzip"])
def test_a_stray_quote_loses_its_own_line_only(tmp_path: Path, gz: bool) -> None:
    """One unbalanced quote in a layout read through the column maps (not the Kaggle stream):
    with newlines_in_values the value would run on and swallow the next rows; here the line is
    rejected alone, with its line number and reason, and every following row is read."""
    lines = ["Position,Track Name,Artist,Streams,URL", '1,"Bad title,Artist A,1234,u1',
             *[f'{i},Song {i},"Artist {i}",{i}000,u{i}' for i in range(2, 8)]]
    text = "\n".join(lines) + "\n"
    path = tmp_path / ("x.csv.gz" if gz else "x.csv")
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    table = read_table(path)
    assert table.frame["Position"].tolist() == [str(i) for i in range(2, 8)]
    assert table.frame["Artist"].tolist() == [f"Artist {i}" for i in range(2, 8)]
    assert table.bad_line_count == 1
    assert table.bad_lines == [{"row": 2, "value": lines[1], "reason": 'a line has an unbalanced quote (")'}]


# --- whole columns mangled, config ------------------------------------------------------------

def materialize(tmp_path: Path, assets: list, **source) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, raise_on_error=False, resources={
        "store": DataStore(data_dir=str(tmp_path / "data")), "engine": EngineResource(),
        "source": SourceResource(kind="files", **source)})


def failure(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


def test_a_column_mangled_as_a_whole_fails_naming_file_column_and_example(tmp_path: Path) -> None:
    write_features_232k(tmp_path)
    path = tmp_path / "SpotifyFeatures.csv"
    frame = pd.read_csv(path, dtype=str)
    frame["time_signature"] = "04-Apr"  # a spreadsheet turned every "4/4" into a date
    frame.to_csv(path, index=False)
    result = materialize(tmp_path, [chart_rows, unique_tracks, track_features], features_path=str(path))
    message = failure(result)
    assert not result.success
    assert str(path) in message and "'time_signature'" in message and "'04-Apr'" in message and "mangled" in message


def test_a_launchpad_config_naming_only_a_layout_fails_naming_kind(tmp_path: Path) -> None:
    """The bug of issue 13: run config {charts_layout: daily} replaced the files source with the demo."""
    charts = tmp_path / "charts.csv"
    charts.write_text("title,rank,date,artist,url,region,chart,trend,streams\n")
    defs = dg.Definitions(assets=[chart_rows], resources={
        "store": DataStore(data_dir=str(tmp_path / "data")), "engine": EngineResource(),
        "source": SourceResource(kind="files", charts_path=str(charts))})
    job = defs.resolve_implicit_global_asset_job_def()
    with pytest.raises(dg.DagsterInvalidConfigError, match='Missing required config entry "kind"'):
        job.execute_in_process(run_config={"resources": {"source": {"config": {"charts_layout": "daily"}}}})
    assert not (tmp_path / "data" / "models").exists()


@pytest.mark.parametrize("config, field", [
    ({"kind": "demo", "charts_layout": "daily"}, "charts_layout"),
    ({"kind": "demo", "charts_path": "x.csv"}, "charts_path"),
    ({"kind": "files"}, "charts_path and/or features_path"),
    ({"kind": "files", "charts_path": "x.csv", "charts_layout": "nonesuch"}, "charts_layout is 'nonesuch'"),
    ({"kind": "files", "features_path": "x.csv", "features_layout": "kaggle"}, "features_layout is 'kaggle'"),
])
def test_a_partial_or_wrong_source_config_fails_naming_the_field(config: dict, field: str, tmp_path: Path) -> None:
    result = dg.materialize([chart_rows], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(tmp_path / "data")), "engine": EngineResource(), "source": SourceResource(**config)})
    assert not result.success and field in failure(result) and "source config" in failure(result)


def test_environment_variables_keep_working_with_the_column_map_beside_them(tmp_path: Path, monkeypatch) -> None:
    from music_assets.defs.resources import build_resources

    monkeypatch.setenv("MUSIC_ADVISER_SOURCE", "files")
    monkeypatch.setenv("MUSIC_ADVISER_FEATURES", str(tmp_path / "f.csv"))
    monkeypatch.setenv("MUSIC_ADVISER_COLUMN_MAP", str(tmp_path / "map.yaml"))
    monkeypatch.delenv("MUSIC_ADVISER_CHARTS", raising=False)
    source = build_resources(data_dir=str(tmp_path))["source"]
    assert (source.kind, source.features_path, source.column_map_path, source.charts_path) == \
        ("files", str(tmp_path / "f.csv"), str(tmp_path / "map.yaml"), None)


def test_a_column_map_with_a_typo_fails_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text("files:\n  - path: a.csv\n    roles: [catalog]\n    colums: {track_id: id}\n")
    result = materialize(tmp_path, [chart_rows], column_map_path=str(tmp_path / "map.yaml"))
    assert "unknown field(s) colums" in failure(result) and "files[0]" in failure(result)


# --- inspect ----------------------------------------------------------------------------------

def inspect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "music_assets", "inspect", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_inspect_prints_layout_mapping_counts_and_problems(tmp_path: Path) -> None:
    write_features_232k(tmp_path)
    done = inspect(str(tmp_path / "SpotifyFeatures.csv"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "layout:  features_232k" in out and "key <- 'key'" in out and "catalog rows 150" in out
    assert "1  time_signature is not a time_signature" in out and "04-Apr" in out


def test_inspect_exits_non_zero_on_a_fatal_problem(tmp_path: Path) -> None:
    ts = catalog("inspect", 4)
    bad = tmp_path / "bad.csv"
    pd.DataFrame([{"track_id": t.track_id, **t.features, "time_signature": "04-Apr"} for t in ts])[["track_id", *FEATURES13]] \
        .to_csv(bad, index=False)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("foo,bar\n1,2\n")
    done = inspect(str(bad), str(unknown))
    assert done.returncode == 1
    assert "FATAL" in done.stdout and "'time_signature'" in done.stdout and "no known layout fits" in done.stdout


def test_a_spotifycharts_export_without_a_dated_name_fails_naming_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "my_export.csv"
    path.write_text('Position,Track Name,Artist,Streams,URL\n1,A,B,"1,000",https://open.spotify.com/track/6mICuAdrwEjh6Y6lroV2Kg\n')
    result = materialize(tmp_path, [chart_rows], charts_path=str(path))
    assert "my_export.csv" in failure(result) and "constants: {date: YYYY-MM-DD}" in failure(result)
    (tmp_path / "map.yaml").write_text("files:\n  - path: my_export.csv\n    layout: spotifycharts\n"
                                       "    constants: {date: '2020-01-01', region: Philippines}\n")
    result = materialize(tmp_path, [chart_rows], charts_path=str(path), column_map_path=str(tmp_path / "map.yaml"))
    assert result.success, failure(result)
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    understood = meta["layouts_understood"].value[0]
    assert understood["constants"] == {"date": "2020-01-01", "region": "Philippines"}
    assert understood["from_source_config"] == {"chart": "top200"}  # said, not silent
