"""Chart row validation and the track-id parser, including property tests."""

from __future__ import annotations

import string

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.ingest.charts.rows import MissingColumnsError, validate_chart_batch
from music_assets.schema import CHART_COLUMNS
from music_assets.spotify.ids import is_track_id, track_id_from_url

BASE62 = string.digits + string.ascii_letters
track_ids = st.text(alphabet=BASE62, min_size=22, max_size=22)

GOOD = {
    "title": "Chantaje (feat. Maluma)", "rank": "1", "date": "2017-01-01", "artist": "Shakira",
    "url": "https://open.spotify.com/track/6mICuAdrwEjh6Y6lroV2Kg", "region": "Argentina",
    "chart": "top200", "trend": "SAME_POSITION", "streams": "253019.0",
}


def table(*rows: dict) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in CHART_COLUMNS})


@given(track_ids)
def test_parser_finds_every_id_in_every_url_form(track_id: str) -> None:
    for url in (f"https://open.spotify.com/track/{track_id}", f"spotify:track:{track_id}",
                f"https://open.spotify.com/track/{track_id}?si=abc123", f"https://open.spotify.com/intl-de/track/{track_id}"):
        assert track_id_from_url(url) == track_id
    assert is_track_id(track_id)


@given(st.one_of(st.text(), st.none(), st.integers()))
def test_parser_returns_a_valid_id_or_none(value: object) -> None:
    parsed = track_id_from_url(value)
    assert parsed is None or (is_track_id(parsed) and parsed in str(value))


@given(st.text(alphabet=BASE62, min_size=0, max_size=40).filter(lambda s: len(s) != 22))
def test_parser_rejects_ids_of_the_wrong_length(bad_id: str) -> None:
    assert track_id_from_url(f"https://open.spotify.com/track/{bad_id}") is None


@settings(max_examples=50, deadline=None)
@given(track_ids, st.lists(st.sampled_from(CHART_COLUMNS), max_size=3))
def test_vectorised_parser_agrees_with_python_parser(track_id: str, damaged: list[str]) -> None:
    row = dict(GOOD, url=f"https://open.spotify.com/track/{track_id}")
    for col in damaged:
        row[col] = ""
    checked = validate_chart_batch(table(row))
    must_fail = bool(set(damaged) & {"title", "rank", "date", "artist", "url", "region", "chart"})
    assert checked.good.num_rows + checked.rejected.num_rows == 1  # nothing lost
    assert checked.rejected.num_rows == int(must_fail)
    if not must_fail:
        assert checked.good["track_id"][0].as_py() == track_id_from_url(row["url"])


def test_the_kaggle_first_row_parses_with_types() -> None:
    good = validate_chart_batch(table(GOOD)).good.to_pylist()[0]
    assert good["track_id"] == "6mICuAdrwEjh6Y6lroV2Kg"
    assert good["rank"] == 1 and good["streams"] == 253019.0 and str(good["date"]) == "2017-01-01"


@pytest.mark.parametrize(
    "column,value,reason",
    [("rank", "N/A", "rank"), ("rank", "0", "rank"), ("date", "2017-13-45", "date"), ("date", "2017-02-30", "date is not a real"),
     ("url", "https://open.spotify.com/track/short", "url"), ("chart", "top2000", "chart"),
     ("streams", "lots", "streams"), ("title", "  ", "title")],
)
def test_malformed_rows_are_rejected_with_a_reason(column: str, value: str, reason: str) -> None:
    checked = validate_chart_batch(table(GOOD, dict(GOOD, **{column: value})))
    assert checked.good.num_rows == 1
    assert checked.rejected.num_rows == 1
    assert reason in checked.rejected["reason"][0].as_py()
    assert checked.rejected[column][0].as_py() == value  # the raw value is kept for inspection


def test_viral50_rows_have_no_streams() -> None:
    good = validate_chart_batch(table(dict(GOOD, chart="viral50", streams=""))).good
    assert good["streams"][0].as_py() is None


def test_missing_column_is_named() -> None:
    broken = table(GOOD).drop_columns(["region"])
    with pytest.raises(MissingColumnsError, match="'region'") as err:
        validate_chart_batch(broken, source="charts.csv")
    assert "charts.csv" in str(err.value)
