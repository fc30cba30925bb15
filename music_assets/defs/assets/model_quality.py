"""model_quality: offline evaluation of this run's build, per mode, against a random floor.

Writes quality.json (metrics per mode and the winner) into the build before it is published, so
serving's default mode follows the measurement, and keeps a history across versions. Its check,
computed here from the same numbers, stops publishing when the build is worse than the served
model.
"""

from datetime import date, datetime, timezone
from time import perf_counter

import dagster as dg
import pandas as pd

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, rounded, tags
from music_assets.defs.resources import DataStore
from music_assets.model import registry
from music_assets.model.bundle import load_bundle, read_quality, write_quality
from music_assets.model.recommend import MODES
from music_assets.training import plots
from music_assets.model import hybrid as hybrid_files
from music_assets.model.hybrid import HybridWeights
from music_assets.training.cochart_eval import CutConfig
from music_assets.training.signals.chart_profile import ProfileParams
from music_assets.training.temporal_quality import COCHART_METRICS, evaluate_temporal, temporal_catalog, temporal_winner
from music_assets.training.evaluate import (
    METRICS, RANDOM_MODE, append_history, bundle_recommenders, catalog_from_bundle, evaluate_modes, genre_share,
    quality_report, regression, sample_queries,
)

QUALITY_TOLERANCE = 0.03  # genre hit rate may drop this much (sampling noise) before publishing stops
QUALITY_CHECK = "quality_not_worse_than_published"


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


def _temporal(context: dg.AssetExecutionContext, store: DataStore, bundle, config: QualityConfig
              ) -> tuple[dict, pd.DataFrame]:
    """The co-chart evaluation at the cut (and with the weights) hybrid_vectors chose them for;
    {"skipped": reason} when the build has no hybrid vectors or the charts are too short."""
    try:
        meta = storage.read_json(bundle.path / hybrid_files.META_FILE)
    except FileNotFoundError:
        return {"skipped": "the build has no hybrid vectors"}, pd.DataFrame()
    if not meta.get("cut"):  # a catalog brought without charts: no co-charting to measure
        return {"skipped": "the catalog has no chart rows"}, pd.DataFrame()
    cfg = CutConfig(fraction=float(meta.get("cut_fraction", 0.8)), cut=date.fromisoformat(meta["cut"]),
                    n_queries=config.n_queries, k=config.k, seed=config.seed)
    try:
        # profiles as the build's own were computed (hybrid.json records chart_profiles' parameters;
        # builds from before it was recorded chose their weights with the defaults)
        params = ProfileParams.from_dict(meta.get("profile_params", {}))
        result = evaluate_temporal(store.asset_path("chart_rows"), temporal_catalog(bundle), cfg, params,
                                   weights=HybridWeights.from_dict(meta["weights"]))
    except ValueError as exc:
        context.log.warning(f"temporal evaluation not measured: {exc}")
        return {"skipped": str(exc), "cut": meta["cut"]}, pd.DataFrame()
    context.log.info(f"temporal evaluation at {result.cut}:\n{result.table.to_string(index=False)}")
    return {**result.report(), "weights_chosen_on": meta.get("chosen_on", ""), "profile_params": params.to_dict()}, result.table


def quality_check(current: dict, store: DataStore, version: str) -> dg.AssetCheckResult:
    """Beats the random floor, and no mode is worse than the served model's by more than the tolerance."""
    published_version = registry.read_pointer(store.models_dir)
    published = read_quality(store.models_dir / published_version) if published_version else {}
    problems = regression(current, published, QUALITY_TOLERANCE)
    modes = current.get("modes", {})
    winner = current.get("winner")
    floor = modes.get(RANDOM_MODE, {}).get("genre_hit_rate")
    if not modes:
        problems.append(f"model {version} has no quality.json")
    metadata = {"version": version, "published_version": published_version or ""}
    if current.get("genre_labelled_share", 1.0) == 0:
        # Nothing to measure against: say so loudly, but a catalog without genres may still serve.
        return dg.AssetCheckResult(check_name=QUALITY_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description="no track has a genre: quality not comparable; " + "; ".join(problems),
                                   metadata=metadata)
    if winner in modes and floor is not None and modes[winner]["genre_hit_rate"] <= floor:
        problems.append(f"winner {winner} does not beat the random floor ({floor:.3f})")
    return dg.AssetCheckResult(
        check_name=QUALITY_CHECK, passed=not problems,
        description="; ".join(problems) or f"{version} is no worse than {published_version or 'nothing published'}",
        metadata={**metadata, "tolerance": QUALITY_TOLERANCE, "winner": str(winner)},
    )


@dg.asset(
    pool=DATA_FOLDER_POOL,
    group_name="model", kinds={"json", "parquet"}, owners=OWNERS, tags=tags("model"), code_version="3",
    deps=["hybrid_vectors"],
    check_specs=[dg.AssetCheckSpec(QUALITY_CHECK, asset="model_quality", blocking=True,
                                   description=f"Beats the random floor and is not worse than the published model "
                                               f"by more than {QUALITY_TOLERANCE}.")],
)
def model_quality(context: dg.AssetExecutionContext, config: QualityConfig, store: DataStore,
                  recommender_model: BundleRef) -> dg.MaterializeResult:
    """Genre and artist hit rate@k, coverage, intra-list diversity and popularity bias for every
    recommendation mode and a random recommender, on a seeded sample of query tracks."""
    started = perf_counter()
    path = recommender_model.folder
    bundle = load_bundle(path.parent, path.name, sealed=False)
    version = bundle.version
    catalog = catalog_from_bundle(bundle)
    queries = sample_queries(catalog, config.n_queries, config.seed)
    # a build without hybrid vectors (hybrid_vectors not in the run) is measured on the modes it has
    modes = [m for m in MODES if m != "hybrid" or storage.exists(path / hybrid_files.VECTORS_FILE)]
    table = evaluate_modes(catalog, bundle_recommenders(bundle, modes, config.k), queries, config.k, config.seed)
    labelled = genre_share(catalog)
    if labelled == 0:
        context.log.warning("no track has a genre: genre hit rate is not measurable; the winner falls back to normal")
    report = quality_report(table, version, config.k, len(queries), config.seed, labelled)
    temporal, temporal_table = _temporal(context, store, bundle, config)
    report["temporal"] = temporal
    report["winner"] = temporal_winner(report["winner"], temporal, modes)
    write_quality(path, report)

    now = datetime.now(timezone.utc).isoformat()
    old = storage.read_parquet(history_path(store)) if storage.exists(history_path(store)) else None
    history = append_history(old, table, version, now)
    storage.write_parquet(history, history_path(store))
    png = plots.quality_history(history, history_png_path(store))
    seconds = perf_counter() - started
    context.log.info(f"model quality of {version}: winner {report['winner']} "
                     f"({len(queries)} queries, {seconds:.1f}s)\n{table.to_string(index=False)}")
    per_mode = {f"{row['mode']}/{m}": rounded(row[m])
                for _, row in table.iterrows() for m in ("genre_hit_rate", "artist_hit_rate", "coverage")}
    per_mode.update({f"temporal/{row['mode']}/{m}": rounded(row[m])
                     for _, row in temporal_table.iterrows() for m in COCHART_METRICS[:2]})
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "winner": report["winner"],
            "quality": _table_metadata(table),
            "quality_markdown": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
            "n_queries": len(queries),
            "genre_labelled_share": rounded(labelled),
            "k": config.k,
            "seconds": rounded(seconds, 3),
            "quality_json": dg.MetadataValue.path(str(path / "quality.json")),
            "history_path": dg.MetadataValue.path(str(history_path(store))),
            "history_versions": int(history["version"].nunique()),
            "history_chart": dg.MetadataValue.md(plots.markdown_image(png, "genre hit rate across versions")),
            "temporal_quality": dg.MetadataValue.md(temporal_table.round(4).to_markdown(index=False)
                                                    if len(temporal_table) else f"not measured: {temporal.get('skipped')}"),
            "temporal_cut": str(temporal.get("cut", "")),
            **per_mode,  # numeric entries: the Dagster UI plots them across materializations
        },
        check_results=[quality_check(report, store, version)],
    )
