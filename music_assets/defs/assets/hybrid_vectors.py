"""hybrid_vectors: the hybrid mode's vectors, added to this run's build before it is published.

Blends the build's audio features, chart_profiles and genre_vectors (model/hybrid.py) with weights
chosen on a validation period *before* the evaluation's cut (training/temporal_quality.py), so
model_quality's temporal evaluation never scores weights that saw its test period. Writes
hybrid.parquet and hybrid.json into the build (published_model's seal records their checksums),
and from `ann_min_tracks` tracks an inner-product ANN index over them (model/hybrid_ann.py).
Charts too short to validate on (no query with a relevant track) keep the default weights, and
the metadata and hybrid.json say so.
"""

from datetime import date
from time import perf_counter

import dagster as dg
import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, pictures_metadata, rounded, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import pictures_dir
from music_assets.model.bundle import load_bundle
from music_assets.model import hybrid_ann
from music_assets.model.hybrid import SIGNALS, HybridWeights, blend, write_hybrid
from music_assets.training.cochart_eval import DEFAULT_FRACTION, CutConfig, cut_date
from music_assets.training.signals import pictures
from music_assets.training.signals.catalog_signals import audio_block
from music_assets.training.signals.chart_profile import NoChartRows, chart_period, read_params
from music_assets.training.temporal_quality import choose_hybrid_weights, temporal_catalog


class HybridConfig(dg.Config):
    cut_fraction: float = DEFAULT_FRACTION  # share of the chart period before the evaluation's cut
    cut_date: str = ""  # or an explicit cut (YYYY-MM-DD); model_quality evaluates at the same cut
    n_queries: int = 500
    seed: int = 0
    ann_min_tracks: int = 50_000  # from this size an inner-product ANN index is added (benchmarks/hybrid_ann.py)


def _aligned(store: DataStore, asset: str, track_ids: pd.Index) -> pd.DataFrame:
    frame = storage.read_parquet(store.asset_path(asset)).set_index("track_id")
    missing = track_ids.difference(frame.index)
    if len(missing):
        raise dg.Failure(f"{asset} lacks {len(missing):,} of the build's tracks (e.g. {missing[0]}): "
                         f"rematerialize {asset} with tracks")
    return frame.reindex(track_ids)


def cut_of(config: HybridConfig, start: date, end: date) -> date:
    if config.cut_date:
        try:
            return date.fromisoformat(config.cut_date)
        except ValueError as exc:
            raise dg.Failure(f"hybrid_vectors config field 'cut_date': {config.cut_date!r} is not a YYYY-MM-DD date") from exc
    return cut_date(start, end, config.cut_fraction)


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet", "json"}, deps=["chart_profiles", "genre_vectors", "chart_rows"],
          owners=OWNERS, tags=tags("model"), code_version="2")
def hybrid_vectors(context: dg.AssetExecutionContext, config: HybridConfig, recommender_model: BundleRef,
                   store: DataStore) -> dg.MaterializeResult:
    """One vector per track blending sound, chart co-listening and genres, weights chosen before the cut."""
    started = perf_counter()
    path = recommender_model.folder
    bundle = load_bundle(path.parent, path.name, sealed=False)
    ids = pd.Index(bundle.tracks["track_id"])
    charts = _aligned(store, "chart_profiles", ids)
    genres = _aligned(store, "genre_vectors", ids)
    rows_path = store.asset_path("chart_rows")
    try:  # chart_profiles' own parameters (its config, read there only): the folds recompute with them
        params = read_params(store.asset_path("chart_profiles"))
    except ValueError as exc:
        raise dg.Failure(f"hybrid_vectors: {exc}") from exc
    validation = pd.DataFrame(columns=["hit", "genre_hit", "chosen"])
    try:
        start, end = chart_period(rows_path)
    except NoChartRows as exc:  # features alone: sound and genres, default weights, nothing to validate on
        cut, validation_cut, weights = None, None, HybridWeights()
        chosen_on = f"defaults (not validated: {exc})"
        context.log.warning(f"hybrid weights: {chosen_on}")
    else:
        cut = cut_of(config, start, end)
        cfg = CutConfig(fraction=config.cut_fraction, cut=cut, n_queries=config.n_queries, seed=config.seed)
        try:
            weights, validation_cut, scored = choose_hybrid_weights(rows_path, temporal_catalog(bundle), start, cut,
                                                                    cfg, params)
            chosen_on = f"validation before {cut}: chart rows {start}..{validation_cut} fitted, {validation_cut}..{cut} scored"
            validation = pd.DataFrame([{**w.to_dict(), "hit": h, "genre_hit": g, "chosen": w == weights}
                                       for w, h, g in scored])
        except ValueError as exc:
            weights, validation_cut = HybridWeights(), None
            chosen_on = f"defaults (not validated: {exc})"
            context.log.warning(f"hybrid weights: {chosen_on}")
    chart_cols = [c for c in charts.columns if c.startswith("chart_") and c != "chart_source"]
    genre_cols = [c for c in genres.columns if c.startswith("genre_")]
    blocks = {"audio": audio_block(bundle.scaled), "chart": charts[chart_cols].to_numpy(dtype=np.float32),
              "genre": genres[genre_cols].to_numpy(dtype=np.float32)}
    catalog = temporal_catalog(bundle)
    present = {"audio": np.asarray(catalog.audio_present) & (np.abs(blocks["audio"]).sum(axis=1) > 0),
               "chart": (charts["chart_source"] != "none").to_numpy(), "genre": genres["has_genres"].to_numpy(dtype=bool)}
    vectors, layout = blend(blocks, present, charts["recency"].to_numpy(dtype=np.float32), weights)
    write_hybrid(path, ids.to_numpy(dtype=object), vectors, layout, weights,
                 {"top_region": charts["top_region"].fillna("").to_numpy(dtype=object),
                  "peak_year": charts["peak_year"].fillna(0).to_numpy(dtype=np.int64),
                  "chart_source": charts["chart_source"].to_numpy(dtype=object)},
                 {"cut": cut.isoformat() if cut else None, "cut_fraction": config.cut_fraction, "chosen_on": chosen_on,
                  "validation_cut": validation_cut.isoformat() if validation_cut else None,
                  "n_queries": config.n_queries, "seed": config.seed, "profile_params": params.to_dict()})
    indexed = len(ids) >= config.ann_min_tracks
    if indexed:
        t0 = perf_counter()
        hybrid_ann.write(path, vectors)
        context.log.info(f"hybrid ANN index over {len(ids):,} vectors in {perf_counter() - t0:.1f} s")
    png = pictures.validation_grid(validation, pictures_dir(store) / "hybrid_weights.png")
    seconds = perf_counter() - started
    context.log.info(f"hybrid vectors ({vectors.shape[1]} dims) for {len(ids):,} tracks, weights {weights.to_dict()}: "
                     f"{chosen_on} ({seconds:.1f} s)")
    top = validation.sort_values("hit", ascending=False).head(10) if len(validation) else validation
    return dg.MaterializeResult(metadata={
        "version": bundle.version, "bundle_path": dg.MetadataValue.path(str(path)), "dagster/row_count": len(ids),
        "dims": int(vectors.shape[1]), "ann_index": indexed, "weights": dg.MetadataValue.json(weights.to_dict()), "chosen_on": chosen_on,
        "profile_params": dg.MetadataValue.json(params.to_dict()),
        "cut": cut.isoformat() if cut else "none (no chart rows)", "validation_top": dg.MetadataValue.md(top.round(4).to_markdown(index=False)),
        **{f"tracks_with_{s}": int(present[s].sum()) for s in SIGNALS},
        **pictures_metadata({"hybrid_weights": png}), "seconds": rounded(seconds, 2),
    })
