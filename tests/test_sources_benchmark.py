"""The ingestion benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.ingest_charts import main


def test_ingest_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    figures = main(["--rows", "3000", "--repeat", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "rows/s" in out and "peak RSS" in out and "ratio pipeline / bare scan" in out
    bare = figures["bare DuckDB scan (count distinct url)"]
    pipe = figures["files source: chart_rows + unique_tracks"]
    assert figures["rows"] > 1000 and figures["ratio"] > 0
    # the pipeline keeps the tracks the bare scan sees (minus the few with only malformed rows)
    assert 0.95 * bare["tracks"] <= pipe["tracks"] <= bare["tracks"]
    assert list(tmp_path.iterdir()) == []  # the generated CSV and assets are cleaned up
