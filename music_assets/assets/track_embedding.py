"""track_embedding: StandardScaler + PCA fitted on the clean tracks."""

import dagster as dg
import pandas as pd

from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.model import fit_embedding
from music_assets.core.schema import DEFAULT_MODEL_FEATURES, FEATURE_COLUMNS
from music_assets.resources import DataStore


class EmbeddingConfig(dg.Config):
    n_components: int = 2  # the seed notebook's choice; model_quality tells whether more helps
    features: list[str] = list(DEFAULT_MODEL_FEATURES)


def params_path(store: DataStore) -> storage.StorePath:
    return store.asset_path("track_embedding", ".params.json")


@dg.asset(group_name="model", kinds={"parquet", "scikitlearn"}, deps=["tracks"])
def track_embedding(context: dg.AssetExecutionContext, config: EmbeddingConfig, store: DataStore) -> dg.MaterializeResult:
    """PCA coordinates of every track (pc_1..pc_n) and the fitted parameters as JSON beside them."""
    unknown = [f for f in config.features if f not in FEATURE_COLUMNS]
    if unknown:
        raise dg.Failure(f"unknown feature(s) in config: {unknown}; known: {list(FEATURE_COLUMNS)}")
    tracks = storage.read_parquet(store.asset_path("tracks"), columns=["track_id", *config.features])
    embedding, coords = fit_embedding(tracks, config.features, config.n_components)
    out = pd.DataFrame(coords, columns=[f"pc_{i + 1}" for i in range(coords.shape[1])])
    out.insert(0, "track_id", tracks["track_id"].to_numpy())
    path = storage.write_parquet(out, store.asset_path("track_embedding"))
    storage.write_json(embedding.to_dict(), params_path(store))
    evr = embedding.explained_variance_ratio
    context.log.info(f"PCA: {len(evr)} components explain {sum(evr):.1%} of the variance")
    return dg.MaterializeResult(
        metadata=parquet_metadata(
            path,
            n_components=len(evr),
            explained_variance_ratio=dg.MetadataValue.json([round(v, 4) for v in evr]),
            explained_variance_total=dg.MetadataValue.float(float(sum(evr))),
            params_path=dg.MetadataValue.path(str(params_path(store))),
        )
    )
