"""Every benchmark run end to end at tiny sizes, so the scripts never rot. These check that they
run and print their tables; the figures themselves are only meaningful at full size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from benchmarks import ann, ingest_charts, pipeline, recommend_inprocess, steer_api
from benchmarks.common import CACHE_ENV, sizes_arg


@pytest.fixture(autouse=True)
def bench_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("MUSIC_ADVISER_TRACKS_CACHE", str(tmp_path / "tracks-cache"))  # servers with workers
    return tmp_path / "cache"


def test_sizes_arg() -> None:
    assert sizes_arg("10k,100k,1M,500") == [10_000, 100_000, 1_000_000, 500]


def test_recommend_inprocess_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert recommend_inprocess.main(["--sizes", "600", "--queries", "5", "--rounds", "1", "--ann-from", "500"]) == 0
    out = capsys.readouterr().out
    for subject in ("floor", "normal", "genre", "nearest"):
        assert f"| {subject} |" in out


def test_steer_api_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert steer_api.main(["--sizes", "3k", "--queries", "5", "--rounds", "1", "--ann-from", "2k"]) == 0
    out = capsys.readouterr().out
    assert "| nearest, 1 seed (recommend) |" in out and "5 seeds + 3 targets + market=Global" in out
    assert "inside min/max" in out and "100.0% of" in out


def test_ann_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    libs = [name for name, module in (("voyager", "voyager"), ("hnswlib", "hnswlib"), ("faiss", "faiss"))
            if importlib.util.find_spec(module)]  # hnswlib and faiss come with the `bench` extra
    assert ann.main(["--size", "600", "--queries", "5", "--efs", "16", "--libs", ",".join(libs)]) == 0
    out = capsys.readouterr().out
    assert "recall@10" in out and "| voyager |" in out


def test_pipeline_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--tracks", "400", "--load-size", "500"]) == 0
    out = capsys.readouterr().out
    assert "| ann_index |" in out and "| recommender_model |" in out and "load_bundle s" in out


def test_serving_latency_smoke(demo_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import serving_latency

    serving_latency.main(["--data-dir", str(demo_data_dir), "-n", "2"])
    out = capsys.readouterr().out
    assert "GET /api/recommend mode=nearest" in out and "waitress     GET /api/recommend over HTTP" in out


def _table(out: str) -> list[dict[str, str]]:
    """The rows of the last Markdown table printed."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


@pytest.mark.parametrize("client,server", [("python", "waitress"), ("auto", "granian")])
def test_http_load_smoke(client: str, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """waitress with the Python client; granian (`python -m serving --workers 2`) with wrk when it is
    installed (then a paced run too), else with the Python client."""
    import shutil

    from benchmarks import http_load

    http_load.main(["--sizes", "600", "--requests", "40", "--connections", "4", "--server-threads", "2",
                    "--servers", server, "--search", "exact", "--paced-rate", "20", "--paced-requests", "10",
                    "--client", client])
    rows = _table(capsys.readouterr().out)
    with_wrk = client == "auto" and shutil.which("wrk")
    assert [r["run"] for r in rows] == ["saturated, 4 conn"] + (["paced 20 req/s"] if with_wrk else [])
    assert all(r["server"] == server and r["search"] == "exact" for r in rows)
    assert all(r["errors"] == "0" and int(r["requests"]) >= 10 for r in rows)
    assert all(float(r["server CPU ms/req"]) > 0 for r in rows)


def test_load_bundle_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import load_bundle

    assert load_bundle.main(["--sizes", "600", "--runs", "1", "--remote", "memory,s3"]) == 0
    out = capsys.readouterr().out
    assert "| local, this code |" in out and "| memory:// |" in out and "| s3:// |" in out


def test_ingest_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    figures = ingest_charts.main(["--rows", "3000", "--repeat", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "rows/s" in out and "peak RSS" in out and "ratio pipeline / bare scan" in out and "CPU" in out
    assert "load average" in out and "linear extrapolation" in out and "pipeline / plain conversion" in out
    bare = figures["bare DuckDB scan (count distinct url)"]
    pipe = figures["files source: chart_rows + unique_tracks"]
    assert figures["rows"] > 1000 and figures["ratio"] > 0 and figures["cpu_ratio"] > 0
    assert set(pipe["steps"]) == {"chart_rows", "unique_tracks"}
    # the pipeline keeps the tracks the bare scan sees (minus the few with only malformed rows)
    assert 0.95 * bare["tracks"] <= pipe["tracks"] <= bare["tracks"]
    assert list(tmp_path.iterdir()) == []  # the generated CSV and assets are cleaned up


def test_serving_cold_start_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import serving_cold_start

    root = Path(serving_cold_start.__file__).resolve().parents[1]  # this code as its own "before"
    assert serving_cold_start.main(["--sizes", "600", "--runs", "1", "--before", str(root),
                                    "--servers", "waitress,granian-restart"]) == 0
    out = capsys.readouterr().out
    loads, served = out.split("### python -m serving")
    assert [r["code"] for r in _table(loads)] == ["before", "this code"]
    rows = _table(served)
    assert [(r["code"], r["server"]) for r in rows] == [
        ("before", "waitress (1 process)"), ("this code", "waitress (1 process)"),
        ("this code", "granian-restart (2 processes)")]
    assert all(r["failed requests"] == "0" and float(r["publish -> served s"]) > 0 for r in rows)


def test_serving_attacks_smoke(demo_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The attack benchmark's table, with its cheapest attacks on the default server."""
    from benchmarks import serving_attacks

    assert serving_attacks.main(["--data-dir", str(demo_data_dir), "--servers", "granian",
                                 "--attacks", "1 GiB body,SIGTERM ignored", "--body-seconds", "5"]) == 0
    rows = _table(capsys.readouterr().out)
    assert [(r["attack"], r["server"]) for r in rows] == [("1 GiB body", "granian"), ("SIGTERM ignored", "granian")]
    assert "413" in rows[0]["server did"] and rows[0]["temp files +MB"] == "0"
    assert rows[1]["server did"].startswith("stopped in")


def test_hybrid_quality_scale_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import hybrid_quality
    hybrid_quality.scale(rows=30_000, tracks=400, regions=4, days=90, folder=tmp_path)
    out = capsys.readouterr().out
    assert "chart profiles of a synthetic chart: 30,000 rows" in out and "DuckDB aggregation alone" in out
