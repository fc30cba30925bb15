"""The local engine against the Spark engine, stage by stage, on the same inputs in one run:
chart_rows + unique_tracks over a demo charts CSV, then tracks + track_embedding + cluster_k +
track_clusters over a demo catalog's unique tracks and features (made once by the local engine).
Also Spark's start-up, whether the two `tracks` files are identical, and how closely the two
engines' models agree (chosen k, adjusted Rand index, largest coordinate difference).

    .venv/bin/python -m benchmarks.spark_engine --tracks 100k --chart-rows 2M --master 'local[2]'
    .venv/bin/python -m benchmarks.spark_engine --tracks 100k --stages tracks --repeat 3

Each stage runs through Dagster (dg.materialize), local then Spark then local ... for --repeat
rounds (median quoted), so machine noise hits both alike. Seconds per stage come from Dagster's
event log. Spark runs in process (`--master`, default local[2]): on a 2-core machine it has no
more cores than the local engine, so the ratio shows Spark's overhead here, not its scale-out.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.parquet as pq

from benchmarks.common import print_table, sizes_arg, step_seconds
from benchmarks.ingest_charts import write_demo_charts_csv
from music_assets.defs.assets.chart_rows import chart_rows
from music_assets.defs.assets.cluster_k import cluster_k
from music_assets.defs.assets.track_clusters import track_clusters
from music_assets.defs.assets.track_embedding import track_embedding
from music_assets.defs.assets.track_features import track_features
from music_assets.defs.assets.tracks import tracks
from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.defs.resources import DataStore, EngineResource, SourceResource

STAGES = ("all", "tracks")


def run(assets: list, data_dir: Path, source: SourceResource, engine: EngineResource | None = None,
        run_config: dict | None = None) -> dict[str, float]:
    """Materialize `assets` on `engine` (default: local); seconds per step from Dagster's event log."""
    instance = dg.DagsterInstance.ephemeral()
    resources = {"store": DataStore(data_dir=str(data_dir)), "engine": engine or EngineResource(), "source": source}
    result = dg.materialize(assets, instance=instance, resources=resources, run_config=run_config)
    if not result.success:
        raise SystemExit(f"materialize failed in {data_dir}")
    return step_seconds(instance, result.run_id)


def write_tracks_inputs(n_tracks: int, prep: Path, data_dirs: list[Path]) -> int:
    """unique_tracks and track_features of an n-track demo catalog, made once by the local engine
    (chart_rows, unique_tracks, track_features; not timed) and copied into each engine's folder
    for the `tracks` stage. Returns the unique tracks."""
    run([chart_rows, unique_tracks, track_features], prep, SourceResource(kind="demo", demo_tracks=n_tracks, demo_seed=42))
    for d in data_dirs:
        (d / "assets").mkdir(parents=True, exist_ok=True)
        for name in ("unique_tracks", "track_features"):
            shutil.copyfile(prep / "assets" / f"{name}.parquet", d / "assets" / f"{name}.parquet")
    return pq.ParquetFile(prep / "assets" / "unique_tracks.parquet").metadata.num_rows


def same_tracks(local: Path, on_spark: Path) -> bool:
    """The two engines' tracks files hold the same table (schema, rows, order, every value)."""
    a, b = (pq.read_table(d / "assets" / "tracks.parquet").replace_schema_metadata(None) for d in (local, on_spark))
    return a.equals(b)


def agreement(local: Path, on_spark: Path) -> dict[str, object]:
    """Chosen k, adjusted Rand index and mean top-10 overlap between the engines' models."""
    from sklearn.metrics import adjusted_rand_score

    def k_of(d: Path) -> int:
        curve = pq.read_table(d / "assets" / "cluster_k.parquet").to_pandas()
        return int(curve.loc[curve["chosen"], "k"].iloc[0])

    a = pq.read_table(local / "assets" / "track_clusters.parquet").to_pandas()
    b = pq.read_table(on_spark / "assets" / "track_clusters.parquet").to_pandas()
    merged = a.merge(b, on="track_id", suffixes=("_l", "_s"))
    ea = pq.read_table(local / "assets" / "track_embedding.parquet").to_pandas().set_index("track_id")
    eb = pq.read_table(on_spark / "assets" / "track_embedding.parquet").to_pandas().set_index("track_id").loc[ea.index]
    return {"k local": k_of(local), "k spark": k_of(on_spark),
            "ARI": f"{adjusted_rand_score(merged['cluster_l'], merged['cluster_s']):.4f}",
            "max coordinate difference": f"{np.abs(ea.to_numpy() - eb.to_numpy()).max():.1e}"}


def fmt(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", default="100k", help="demo tracks for the model stages")
    parser.add_argument("--chart-rows", default="2M", help="rows of the demo charts CSV for the ingestion stages")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--max-k", type=int, default=15, help="the elbow's largest k (both engines)")
    parser.add_argument("--spark-n-init", type=int, default=None, help="Spark KMeans runs per fit, elbow and final (default: the assets')")
    parser.add_argument("--stages", choices=STAGES, default="all", help="every stage, or `tracks` alone")
    args = parser.parse_args(argv)
    elbow = {"max_k": args.max_k}
    runs = {"n_init": args.spark_n_init} if args.spark_n_init else {}
    model_config = {"local": {"ops": {"cluster_k": {"config": elbow}}},
                    "spark": {"ops": {"cluster_k": {"config": {**elbow, **runs}}, "track_clusters": {"config": runs}}}}
    n_tracks, n_rows = sizes_arg(args.tracks)[0], sizes_arg(args.chart_rows)[0]

    from music_assets.engines.spark.session import get_session

    t0 = time.perf_counter()
    get_session(args.master).range(1).count()
    startup_s = time.perf_counter() - t0
    # The same asset definitions on either engine; the spark resource's getOrCreate finds the session just started.
    engines = {"local": EngineResource(kind="local"), "spark": EngineResource(kind="spark", spark_master=args.master)}

    times: dict[tuple[str, str], list[float]] = {}
    only_tracks = args.stages == "tracks"
    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        root = Path(tmp)
        rows = 0
        if not only_tracks:
            csv_path = root / "charts.csv"
            rows = write_demo_charts_csv(csv_path, n_rows)
        source = SourceResource(kind="files", charts_path=str(root / "charts.csv"))
        ingest = [chart_rows, unique_tracks]
        model = [tracks] + ([] if only_tracks else [track_embedding, cluster_k, track_clusters])
        dirs = {e: root / e for e in ("local", "spark")}
        n_unique = write_tracks_inputs(n_tracks, root / "prep", list(dirs.values()))
        for round_ in range(args.repeat):
            for engine in ("local", "spark"):
                if not only_tracks:
                    for stage, secs in run(ingest, root / f"ingest-{engine}-{round_}", source, engines[engine]).items():
                        times.setdefault((stage, engine), []).append(secs)
                (dirs[engine] / "assets" / "cluster_k.fingerprint.json").unlink(missing_ok=True)  # refit each round
                config = model_config[engine] if not only_tracks else None
                for stage, secs in run(model, dirs[engine], source, engines[engine], config).items():
                    times.setdefault((stage, engine), []).append(secs)
        clean = pq.ParquetFile(dirs["local"] / "assets" / "tracks.parquet").metadata.num_rows
        agree = {"tracks identical": same_tracks(dirs["local"], dirs["spark"])}
        if not only_tracks:
            agree |= agreement(dirs["local"], dirs["spark"])

    table = []
    stages = [("chart_rows", f"{rows:,} chart rows (CSV)"), ("unique_tracks", f"{rows:,} chart rows"),
              ("tracks", f"{n_unique:,} unique tracks -> {clean:,}"), ("track_embedding", f"{clean:,} tracks"),
              ("cluster_k", f"{clean:,} tracks"), ("track_clusters", f"{clean:,} tracks")]
    for stage, size in stages:
        if (stage, "local") not in times:
            continue
        local_s, spark_s = times[(stage, "local")], times[(stage, "spark")]
        table.append({"stage": stage, "input": size, "local s": fmt(local_s), "spark s": fmt(spark_s),
                      "spark / local": f"{statistics.median(spark_s) / max(statistics.median(local_s), 1e-9):.2f}"})
    total = {e: sum(statistics.median(v) for (s, eng), v in times.items() if eng == e) for e in ("local", "spark")}
    table.append({"stage": "**all stages**", "input": "", "local s": f"{total['local']:.1f}",
                  "spark s": f"{total['spark']:.1f}", "spark / local": f"{total['spark'] / max(total['local'], 1e-9):.2f}"})
    print_table(table, title=f"Local vs Spark ({args.master}), median of {args.repeat} round(s)")
    print(f"\nSpark session start-up (JVM + SparkContext, once per run process): {startup_s:.1f} s")
    print_table([agree], title="Agreement of the two engines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
