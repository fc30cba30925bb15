"""track_embedding: StandardScaler + PCA fitted on the tracks that have every feature used."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.defs.stage_files import embedding_params_path, model_tracks_path
from music_assets.engines.base import EngineError
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS
from music_assets.training.features import TooFewFeatures, choose_features


class EmbeddingConfig(dg.Config):
    n_components: int = 2  # the seed notebook's choice; model_quality tells whether more helps
    features: list[str] = list(DEFAULT_MODEL_FEATURES)  # wanted; the ones the catalog has are used


def _features_source(source: SourceResource) -> str:
    """Where the features came from, as a person would name it in an error."""
    path = getattr(source, "features_path", None)
    return f"the features file {path}" if path else f"the {source.kind} source's features"


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet"}, deps=["tracks"], owners=OWNERS, tags=tags("model"),
          code_version="2")
def track_embedding(context: dg.AssetExecutionContext, config: EmbeddingConfig, store: DataStore,
                    engine: EngineResource, source: SourceResource) -> dg.MaterializeResult:
    """PCA coordinates (pc_1..pc_n) of the tracks with every feature used, and the fitted
    parameters and the feature choice as JSON beside them. Features the catalog lacks are not
    used (training/features.py); tracks lacking one of those used are left out of the model."""
    unknown = [f for f in config.features if f not in FEATURE_COLUMNS]
    if unknown:
        raise dg.Failure(f"unknown feature(s) in config: {unknown}; known: {list(FEATURE_COLUMNS)}")
    tracks_path = store.asset_path("tracks")
    with storage.open_parquet(tracks_path) as parquet:
        columns = [c for c in FEATURE_COLUMNS if c in parquet.schema_arrow.names]
    try:
        choice = choose_features(storage.read_parquet(tracks_path, columns=columns), list(config.features),
                                 where=_features_source(source))
    except TooFewFeatures as exc:
        raise dg.Failure(f"track_embedding: {exc}") from None
    runner = engine.engine()
    path = store.asset_path("track_embedding")
    try:
        embedding = runner.fit_embedding(tracks_path, choice.used, config.n_components, path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    except ValueError as exc:  # too few tracks for the components asked
        raise dg.Failure(f"track_embedding: {exc}") from exc
    storage.write_json(embedding.to_dict(), embedding_params_path(store))
    storage.write_json(choice.summary(), model_tracks_path(store))
    evr = embedding.explained_variance_ratio
    context.log.info(
        f"PCA ({runner.name}) on {choice.n_in_model:,} of {choice.n_tracks:,} tracks, features {choice.used}"
        + (f" (not used: {choice.dropped})" if choice.dropped else "")
        + f": {len(evr)} components explain {sum(evr):.1%} of the variance")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            engine=runner.name,
            n_components=len(evr),
            explained_variance_ratio=dg.MetadataValue.json([round(v, 4) for v in evr]),
            explained_variance_total=rounded(sum(evr)),
            params_path=dg.MetadataValue.path(str(embedding_params_path(store))),
            features_used=dg.MetadataValue.json(choice.used),
            features_dropped=dg.MetadataValue.json(choice.dropped),
            tracks_in_model=choice.n_in_model,
            tracks_left_out=choice.n_tracks - choice.n_in_model,
            tracks_without_features=choice.featureless,
            featureless_share=rounded(choice.featureless_share),
        )
    )
