"""cluster_k: the elbow curve and the k chosen from it by a stated rule."""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from music_assets.assets import incremental
from music_assets.assets.metadata import parquet_metadata
from music_assets.core import storage
from music_assets.core.model import elbow_curve, knee_k
from music_assets.resources import DataStore


CODE_VERSION = "1"  # bump when the elbow or knee logic changes: forces a refit


class ElbowConfig(dg.Config):
    min_k: int = 2
    max_k: int = 15
    sample_size: int = 50_000  # KMeans per k on a fixed sample keeps large catalogs quick
    seed: int = 0


def pc_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c.startswith("pc_")]


@dg.asset(group_name="model", kinds={"parquet", "scikitlearn"}, deps=["track_embedding"], code_version=CODE_VERSION)
def cluster_k(context: dg.AssetExecutionContext, config: ElbowConfig, store: DataStore) -> dg.MaterializeResult:
    """KMeans inertia for k = min_k..max_k and the knee of that curve (Kneedle rule: the point
    farthest below the chord joining the curve's ends), replacing the seed's k=7 picked by eye."""
    def fit(embedding: storage.StorePath) -> pd.DataFrame:
        emb = storage.read_parquet(embedding)
        coords = emb.loc[:, pc_columns(list(emb.columns))].to_numpy()
        return elbow_curve(coords, range(config.min_k, config.max_k + 1), config.seed, config.sample_size)

    return materialize_elbow(context, config, store, fit)


def materialize_elbow(context: dg.AssetExecutionContext, config: ElbowConfig, store: DataStore,
                      fit: Callable[[storage.StorePath], pd.DataFrame], engine: str = "",
                      code_version: str = CODE_VERSION) -> dg.MaterializeResult:
    """The cluster_k step on any engine: `fit` turns the embedding file into the inertia curve;
    the knee rule, the refit-only-when-inputs-changed marker (keyed by `code_version`, so switching
    engines refits), the file and the metadata are shared."""
    if not 2 <= config.min_k < config.max_k:
        raise dg.Failure(f"need 2 <= min_k < max_k, got min_k={config.min_k}, max_k={config.max_k}")
    inputs, path = [store.asset_path("track_embedding")], store.asset_path("cluster_k")
    marker = store.asset_path("cluster_k", ".fingerprint.json")
    current = incremental.fingerprint(inputs, config.model_dump(), code_version)
    refit = not incremental.unchanged(marker, current, [path])
    if refit:
        curve = fit(inputs[0])
        k = knee_k(curve)
        curve["chosen"] = curve["k"] == k
        storage.write_parquet(curve, path)
        incremental.record(marker, current)
        context.log.info(f"elbow rule chose k={k} from k={config.min_k}..{config.max_k}" + (f" ({engine})" if engine else ""))
    else:
        curve = storage.read_parquet(path)
        k = int(curve.loc[curve["chosen"], "k"].iloc[0])
        context.log.info(f"elbow rule chose k={k} (embedding and config unchanged: previous fit reused)")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(current[:16]),
        metadata=parquet_metadata(
            path,
            preview=curve,
            chosen_k=k,
            refit=refit,
            **({"engine": engine} if engine else {}),
            rule="Kneedle: max distance below the chord of the normalized inertia curve",
            elbow_curve=dg.MetadataValue.md(curve.to_markdown(index=False)),
        )
    )


def chosen_k(store: DataStore) -> int:
    curve = storage.read_parquet(store.asset_path("cluster_k"))
    return int(curve.loc[curve["chosen"], "k"].iloc[0])
