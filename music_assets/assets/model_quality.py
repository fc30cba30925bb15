"""model_quality: offline evaluation of the built bundle, per mode, against a random floor.

Writes quality.json (metrics per mode and the winner) into the bundle before it is published, so
serving's default mode follows the measurement, and keeps a history across versions.
"""

from datetime import datetime, timezone
from time import perf_counter

import dagster as dg
import pandas as pd

from music_assets.assets.recommender_model import built_version
from music_assets.core import plots, storage
from music_assets.core.bundle import load_bundle, write_quality
from music_assets.core.evaluate import (
    METRICS, append_history, bundle_recommenders, catalog_from_bundle, evaluate_modes, genre_share, quality_report,
    sample_queries,
)
from music_assets.core.recommend import MODES
from music_assets.resources import DataStore


class QualityConfig(dg.Config):
    n_queries: int = 500  # held-out query tracks, the same seeded sample for every mode
    k: int = 10
    seed: int = 0


def history_path(store: DataStore) -> storage.StorePath:
    return store.asset_path("quality_history")


def history_png_path(store: DataStore) -> storage.StorePath:
    return store.root / "assets" / "pictures" / "quality_history.png"


def _table_metadata(table: pd.DataFrame) -> dg.MetadataValue:
    schema = dg.TableSchema(columns=[dg.TableColumn("mode", "string"),
                                     *[dg.TableColumn(m, "float") for m in METRICS]])
    records = [dg.TableRecord({"mode": str(r["mode"]), **{m: round(float(r[m]), 4) for m in METRICS}})
               for _, r in table.iterrows()]
    return dg.MetadataValue.table(records, schema=schema)


@dg.asset(group_name="model", kinds={"json", "parquet"}, deps=["recommender_model"])
def model_quality(context: dg.AssetExecutionContext, config: QualityConfig, store: DataStore) -> dg.MaterializeResult:
    """Genre and artist hit rate@k, coverage, intra-list diversity and popularity bias for every
    recommendation mode and a random recommender, on a seeded sample of query tracks."""
    started = perf_counter()
    version = built_version(store)
    bundle = load_bundle(store.models_dir, version)
    catalog = catalog_from_bundle(bundle)
    queries = sample_queries(catalog, config.n_queries, config.seed)
    table = evaluate_modes(catalog, bundle_recommenders(bundle, MODES, config.k), queries, config.k, config.seed)
    labelled = genre_share(catalog)
    if labelled == 0:
        context.log.warning("no track has a genre: genre hit rate is not measurable; the winner falls back to normal")
    report = quality_report(table, version, config.k, len(queries), config.seed, labelled)
    write_quality(bundle.path, report)

    now = datetime.now(timezone.utc).isoformat()
    old = storage.read_parquet(history_path(store)) if storage.exists(history_path(store)) else None
    history = append_history(old, table, version, now)
    storage.write_parquet(history, history_path(store))
    png = plots.quality_history(history, history_png_path(store))
    seconds = perf_counter() - started
    context.log.info(f"model quality of {version}: winner {report['winner']} "
                     f"({len(queries)} queries, {seconds:.1f}s)\n{table.to_string(index=False)}")
    per_mode = {f"{row['mode']}/{m}": dg.MetadataValue.float(float(row[m]))
                for _, row in table.iterrows() for m in ("genre_hit_rate", "artist_hit_rate", "coverage")}
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "winner": report["winner"],
            "quality": _table_metadata(table),
            "quality_markdown": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
            "n_queries": len(queries),
            "genre_labelled_share": dg.MetadataValue.float(labelled),
            "k": config.k,
            "seconds": dg.MetadataValue.float(round(seconds, 3)),
            "quality_json": dg.MetadataValue.path(str(bundle.path / "quality.json")),
            "history_path": dg.MetadataValue.path(str(history_path(store))),
            "history_versions": int(history["version"].nunique()),
            "history_chart": dg.MetadataValue.md(plots.markdown_image(png, "genre hit rate across versions")),
            **per_mode,  # numeric entries: the Dagster UI plots them across materializations
        }
    )
