"""benchmarks/spark_engine.py end to end at a tiny size, so the script never rots (the figures
only mean something at full size)."""

from __future__ import annotations

import pytest

from tests.spark_support import spark  # noqa: F401 - the shared session, reused by the benchmark

pytestmark = pytest.mark.spark


def test_spark_engine_benchmark_smoke(spark, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from benchmarks import spark_engine

    assert spark_engine.main(["--tracks", "600", "--chart-rows", "3000", "--max-k", "3", "--spark-n-init", "1"]) == 0
    out = capsys.readouterr().out
    for stage in ("chart_rows", "unique_tracks", "tracks", "track_embedding", "cluster_k", "track_clusters"):
        assert f"| {stage} |" in out
    assert "| **all stages** |" in out and "start-up" in out and "ARI" in out
    assert "| tracks identical |" in out and "| True |" in out.split("tracks identical")[1]
