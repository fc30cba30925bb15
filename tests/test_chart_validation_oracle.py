"""The vectorised chart validator against the row-at-a-time reference (tests/chart_oracle.py):
the same kept rows, typed the same, and the same rejected rows with the same reasons, on
hypothesis-generated batches that mix good values with every kind of bad one."""

from __future__ import annotations

import string

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from music_assets.ingest.charts import rows as charts
from music_assets.ingest.charts.rows import validate_chart_batch
from music_assets.schema import CHART_COLUMNS
from tests import chart_oracle

ID, SPACES, RE2_SPACES = chart_oracle.ID, chart_oracle.SPACES, chart_oracle.RE2_SPACES
BASE62 = string.digits + string.ascii_letters


def padded(core: st.SearchStrategy[str], spaces: list[str] = SPACES) -> st.SearchStrategy[str]:
    """A value with whitespace around it (by default any mix of ASCII and Unicode whitespace)."""
    return st.tuples(st.sampled_from(spaces), core, st.sampled_from(spaces)).map("".join)


def cell(good: list[str], bad: list[str], allowed_spaces: list[str] = SPACES) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """(valid values, padded with the whitespace the rule allows; anything else: padded or known-bad
    values, any text, or a null)."""
    valid = st.one_of(st.sampled_from(good), padded(st.sampled_from(good), allowed_spaces))
    anything = st.one_of(padded(st.sampled_from(good + bad)), st.sampled_from(bad), st.text(max_size=12), st.none())
    return valid, anything


track_urls = st.one_of(
    st.sampled_from(chart_oracle.GOOD_URLS),
    st.text(alphabet=BASE62, min_size=22, max_size=22).map(lambda t: f"spotify:track:{t}"),
)
not_track_urls = st.one_of(
    st.text(alphabet=BASE62, min_size=20, max_size=24).filter(lambda t: len(t) != 22).map(
        lambda t: f"https://open.spotify.com/track/{t}"),
    st.sampled_from(chart_oracle.BAD_URLS), st.text(max_size=12), st.none(),
)
CELLS: dict[str, tuple[st.SearchStrategy, st.SearchStrategy]] = {
    column: cell(good, bad, spaces) for column, (good, bad, spaces) in chart_oracle.VALUES.items() if column != "url"
}
CELLS["url"] = (st.one_of(track_urls, padded(track_urls, RE2_SPACES)), not_track_urls)
# a valid row with up to three cells replaced by anything: whole good rows are common, so their typing is checked
rows = st.builds(
    lambda base, damage: {**base, **damage},
    st.fixed_dictionaries({c: valid for c, (valid, _) in CELLS.items()}),
    st.lists(st.sampled_from(CHART_COLUMNS), max_size=3, unique=True).flatmap(
        lambda cols: st.fixed_dictionaries({c: CELLS[c][1] for c in cols})),
)


def as_table(batch: list[dict[str, str | None]]) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in batch], pa.string()) for c in CHART_COLUMNS})


def assert_agrees(batch: list[dict[str, str | None]]) -> None:
    checked = validate_chart_batch(as_table(batch))
    good, rejected = chart_oracle.split(batch)
    assert checked.good.num_rows + checked.rejected.num_rows == len(batch)  # nothing lost
    assert checked.good.schema == charts.CHART_ROW_SCHEMA
    assert checked.good.to_pylist() == good
    assert checked.rejected.to_pylist() == rejected


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, min_size=1, max_size=40))
def test_validator_agrees_with_the_reference_row_by_row(batch: list[dict[str, str | None]]) -> None:
    assert_agrees(batch)


@settings(max_examples=30, deadline=None)
@given(st.lists(rows, min_size=1, max_size=40))
def test_many_rejects_take_the_filter_path_with_the_same_result(batch: list[dict[str, str | None]]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(charts, "FEW_REJECTS", 0)  # past this many rejects a batch is filtered, not sliced
        assert_agrees(batch)


def test_whitespace_around_numbers_is_accepted_and_typed() -> None:
    """The rules accept ' 3 ' and '12 ' (ASCII whitespace around digits); the conversion must too."""
    row = {"title": " Song ", "rank": " 3 ", "date": "2018-05-01", "artist": "Max\u00a0",
           "url": f"https://open.spotify.com/track/{ID}", "region": "Global", "chart": "top200",
           "trend": "MOVE_UP", "streams": "\t12 "}
    good = validate_chart_batch(as_table([row])).good.to_pylist()
    assert [(g["title"], g["rank"], g["artist"], g["streams"]) for g in good] == [("Song", 3, "Max", 12.0)]


def test_an_empty_batch_is_empty_on_both_sides() -> None:
    checked = validate_chart_batch(as_table([]))
    assert checked.good.num_rows == 0 and checked.rejected.num_rows == 0
