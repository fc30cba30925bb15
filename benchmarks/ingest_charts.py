"""Ingestion benchmark: the files source (chart_rows + unique_tracks through Dagster) against a
bare DuckDB scan of the same CSV (count distinct urls), side by side in one run.

    .venv/bin/python -m benchmarks.ingest_charts --rows 2000000 --repeat 3

Generates a Kaggle-layout charts CSV with the demo generator, streamed to disk batch by batch
(default 200,000 rows; the real file has 26,173,514), then runs each measurement in its own
child process so each peak RSS is that phase's own. Besides the bare scan, a plain conversion of
the CSV to Parquet by DuckDB (no validation) shows what storing the rows costs at all.
Prints wall time (median of --repeat),
rows/s, CPU time (all threads; steadier than wall time when the machine is shared), peak RSS,
each asset's step time, the pipeline/bare ratios, the load average, and a linear extrapolation
to the full Kaggle file. At full size:

    .venv/bin/python -m benchmarks.ingest_charts --rows 26173514 --write-csv /tmp/charts26m.csv --repeat 3
    .venv/bin/python -m benchmarks.ingest_charts --from-csv /tmp/charts26m.csv --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

KAGGLE_ROWS = 26_173_514
BARE = "bare DuckDB scan (count distinct url)"
CONVERT = "plain conversion: DuckDB COPY CSV -> Parquet"
PIPELINE = "files source: chart_rows + unique_tracks"
CHART_ROWS = "files source: chart_rows alone"
ROWS_PER_TRACK = 10.0  # chart rows the demo generator writes per track at its default 12 (10.7 at 210k tracks, 10.05 at 1M)
MAX_TRACKS = 1_000_000  # the largest demo catalog


def write_demo_charts_csv(path: Path, rows: int, seed: int = 7, n_tracks: int | None = None) -> int:
    """A Kaggle-layout charts CSV of about `rows` rows (or of an `n_tracks` demo catalog),
    written batch by batch (bounded memory)."""
    from music_assets.ingest.sources.demo import DemoCatalog, DemoConfig

    n_tracks = n_tracks or int(min(MAX_TRACKS, max(10, rows / ROWS_PER_TRACK)))
    config = DemoConfig(n_tracks=n_tracks, seed=seed)
    if rows > n_tracks * ROWS_PER_TRACK:  # beyond the largest demo catalog: more chart weeks per track
        config = dataclasses.replace(config, rows_per_track=config.rows_per_track * rows / (n_tracks * ROWS_PER_TRACK))
    catalog = DemoCatalog(config)
    written = 0
    with pacsv.CSVWriter(str(path), next(catalog.chart_batches(tracks_per_batch=10)).schema,
                         write_options=pacsv.WriteOptions(quoting_style="needed")) as writer:
        for batch in catalog.chart_batches(tracks_per_batch=20_000):
            writer.write_table(batch)
            written += batch.num_rows
    return written


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds this process has used, all threads: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase_bare(csv_path: str) -> dict:
    import duckdb

    cpu, started = _cpu_s(), time.perf_counter()
    con = duckdb.connect()
    con.execute("SET memory_limit='2GB'")
    rows, distinct = con.execute(
        "SELECT count(*), count(DISTINCT url) FROM read_csv(?, all_varchar=true, header=true)", [csv_path]
    ).fetchone()
    return {"wall_s": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu, "rows": rows, "tracks": distinct,
            "rss_mb": _peak_rss_mb()}


def phase_convert(csv_path: str, out_dir: str) -> dict:
    """What storing the rows costs at all: DuckDB copies the CSV to a zstd Parquet file, every
    column a string, no validation. Any pipeline that keeps the rows pays at least this."""
    import duckdb

    out = Path(out_dir) / "plain.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    cpu, started = _cpu_s(), time.perf_counter()
    con = duckdb.connect()
    con.execute("SET memory_limit='2GB'")
    con.execute(f"COPY (SELECT * FROM read_csv(?, all_varchar=true, header=true)) TO '{out}' "
                "(FORMAT parquet, COMPRESSION zstd)", [csv_path])
    rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone()[0]
    wall = time.perf_counter() - started
    return {"wall_s": wall, "cpu_s": _cpu_s() - cpu, "rows": rows, "tracks": 0, "rss_mb": _peak_rss_mb()}


def _step_seconds(result: object) -> dict[str, float]:
    """Each asset's own step time, from Dagster's step-success events."""
    return {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events  # type: ignore[attr-defined]
            if e.event_type_value == "STEP_SUCCESS"}


def phase_pipeline(csv_path: str, data_dir: str, only_chart_rows: bool = False) -> dict:
    import dagster as dg
    import pyarrow.parquet as pq

    from music_assets.defs.assets.chart_rows import chart_rows
    from music_assets.defs.assets.unique_tracks import unique_tracks
    from music_assets.defs.resources import DataStore, EngineResource, SourceResource

    cpu, started = _cpu_s(), time.perf_counter()
    result = dg.materialize([chart_rows] if only_chart_rows else [chart_rows, unique_tracks], resources={
        "store": DataStore(data_dir=data_dir), "engine": EngineResource(), "source": SourceResource(kind="files", charts_path=csv_path)})
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
    assert result.success
    meta = result.asset_materializations_for_node("chart_rows")[0].metadata
    tracks = 0 if only_chart_rows else pq.ParquetFile(Path(data_dir) / "assets" / "unique_tracks.parquet").metadata.num_rows
    return {"wall_s": wall, "cpu_s": cpu, "rows": meta["rows_read"].value, "rejected": meta["rows_rejected"].value,
            "tracks": tracks, "rss_mb": _peak_rss_mb(), "steps": _step_seconds(result)}


def _run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.ingest_charts", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="chart rows to generate (default 200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; medians are printed")
    parser.add_argument("--from-csv", help="measure this existing charts CSV (e.g. the real Kaggle charts.csv) "
                                           "instead of generating one")
    parser.add_argument("--write-csv", help="generate the CSV here and keep it (a 26M-row file takes ~6 min "
                                            "to generate and 3.5 GB), then measure it; reuse it with --from-csv")
    parser.add_argument("--workdir", help="where to write the CSV and assets (default: a temporary folder)")
    parser.add_argument("--phase", choices=["bare", "convert", "pipeline", "chart_rows"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase == "bare":
        print(json.dumps(phase_bare(args.csv)))
        return {}
    if args.phase == "convert":
        print(json.dumps(phase_convert(args.csv, args.data_dir)))
        return {}
    if args.phase in ("pipeline", "chart_rows"):
        print(json.dumps(phase_pipeline(args.csv, args.data_dir, only_chart_rows=args.phase == "chart_rows")))
        return {}

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        started = time.perf_counter()
        if args.from_csv:
            csv_path = Path(args.from_csv)
            written = None
        else:
            csv_path = Path(args.write_csv) if args.write_csv else Path(tmp) / "charts.csv"
            written = write_demo_charts_csv(csv_path, args.rows)
            print(f"generated {written:,} rows in {time.perf_counter() - started:,.1f} s")
        size_mb = csv_path.stat().st_size / 2**20
        bare, convert, pipe, charts = [], [], [], []
        load_before = f"{os.getloadavg()[0]:.1f}"
        for i in range(args.repeat):  # alternate, so all see the same machine load
            bare.append(_run_child(["--phase", "bare", "--csv", str(csv_path)]))
            convert.append(_run_child(["--phase", "convert", "--csv", str(csv_path), "--data-dir", f"{tmp}/convert{i}"]))
            shutil.rmtree(f"{tmp}/convert{i}")  # 1 GB at full size
            pipe.append(_run_child(["--phase", "pipeline", "--csv", str(csv_path), "--data-dir", f"{tmp}/data{i}"]))
            charts.append(_run_child(["--phase", "chart_rows", "--csv", str(csv_path), "--data-dir", f"{tmp}/charts{i}"]))
    written = written or bare[0]["rows"]
    print(f"file: {csv_path.name}, {written:,} rows, {size_mb:,.0f} MiB; load average {load_before} before, "
          f"{os.getloadavg()[0]:.1f} after (2 cores: above 2, the machine was shared)")
    figures = {}
    for name, runs in ((BARE, bare), (CONVERT, convert), (PIPELINE, pipe), (CHART_ROWS, charts)):
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        steps = {k: statistics.median(r["steps"][k] for r in runs) for k in runs[0].get("steps", {})}
        figures[name] = {"wall_s": wall, "cpu_s": cpu, "rows_per_s": written / wall, "peak_rss_mb": rss,
                         "tracks": runs[0]["tracks"], "steps": steps}
        step_text = "".join(f"  {k} {v:.1f} s" for k, v in steps.items())
        print(f"{name:45s} median {wall:8.2f} s  {written / wall:12,.0f} rows/s  CPU {cpu:7.1f} s  "
              f"peak RSS {rss:8,.0f} MiB  tracks {runs[0]['tracks']:,}{step_text}")
    ratio = figures[PIPELINE]["wall_s"] / figures[BARE]["wall_s"]
    cpu_ratio = figures[PIPELINE]["cpu_s"] / figures[BARE]["cpu_s"]
    pipe_rate = figures[PIPELINE]["rows_per_s"]
    print(f"ratio pipeline / bare scan: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
          f"(repeat={args.repeat}, {written:,} rows, {size_mb:,.0f} MiB)")
    print(f"ratio plain conversion / bare scan: {figures[CONVERT]['wall_s'] / figures[BARE]['wall_s']:.2f}x wall; "
          f"pipeline / plain conversion: {figures[PIPELINE]['wall_s'] / figures[CONVERT]['wall_s']:.2f}x wall, "
          f"{figures[PIPELINE]['cpu_s'] / figures[CONVERT]['cpu_s']:.2f}x CPU")
    print(f"linear extrapolation to the full Kaggle file ({KAGGLE_ROWS:,} rows): pipeline about "
          f"{KAGGLE_ROWS / pipe_rate / 60:,.1f} min. chart_rows streams in fixed-size blocks; unique_tracks' "
          f"memory follows the number of distinct tracks ({written / max(1, figures[PIPELINE]['tracks']):,.0f} chart "
          f"rows per track here), under DuckDB's memory limit")
    return {"rows": written, "ratio": ratio, "cpu_ratio": cpu_ratio, **figures}


if __name__ == "__main__":
    main()
