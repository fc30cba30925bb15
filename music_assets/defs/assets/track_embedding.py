"""track_embedding: StandardScaler + PCA fitted on the clean tracks."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, rounded, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.defs.stage_files import embedding_params_path
from music_assets.engines.base import EngineError
from music_assets.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS


class EmbeddingConfig(dg.Config):
    n_components: int = 2  # the seed notebook's choice; model_quality tells whether more helps
    features: list[str] = list(DEFAULT_MODEL_FEATURES)


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet"}, deps=["tracks"], owners=OWNERS, tags=tags("model"),
          code_version="1")
def track_embedding(context: dg.AssetExecutionContext, config: EmbeddingConfig, store: DataStore,
                    engine: EngineResource) -> dg.MaterializeResult:
    """PCA coordinates of every track (pc_1..pc_n) and the fitted parameters as JSON beside them."""
    unknown = [f for f in config.features if f not in FEATURE_COLUMNS]
    if unknown:
        raise dg.Failure(f"unknown feature(s) in config: {unknown}; known: {list(FEATURE_COLUMNS)}")
    runner = engine.engine()
    path = store.asset_path("track_embedding")
    try:
        embedding = runner.fit_embedding(store.asset_path("tracks"), config.features, config.n_components, path)
    except EngineError as exc:
        raise dg.Failure(str(exc)) from exc
    except ValueError as exc:  # too few tracks for the components asked
        raise dg.Failure(f"track_embedding: {exc}") from exc
    storage.write_json(embedding.to_dict(), embedding_params_path(store))
    evr = embedding.explained_variance_ratio
    context.log.info(f"PCA ({runner.name}): {len(evr)} components explain {sum(evr):.1%} of the variance")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            engine=runner.name,
            n_components=len(evr),
            explained_variance_ratio=dg.MetadataValue.json([round(v, 4) for v in evr]),
            explained_variance_total=rounded(sum(evr)),
            params_path=dg.MetadataValue.path(str(embedding_params_path(store))),
        )
    )
