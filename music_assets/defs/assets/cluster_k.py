"""cluster_k: the elbow curve and the k chosen from it by a stated rule."""

from typing import Optional

import dagster as dg

from music_assets import storage
from music_assets.defs import incremental
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, tags
from music_assets.defs.resources import DataStore, EngineResource
from music_assets.engines.base import EngineError
from music_assets.training.fit import knee_k

CODE_VERSION = "1"  # bump when the elbow or knee logic changes: the UI flags the asset stale and it refits


class ElbowConfig(dg.Config):
    min_k: int = 2
    max_k: int = 15
    sample_size: int = 50_000  # KMeans per k on a fixed sample keeps large catalogs quick
    seed: int = 0
    n_init: Optional[int] = None  # KMeans restarts per k (None: the engine's default)
    max_iter: Optional[int] = None  # iterations per restart (None: the engine's default)


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="model", kinds={"parquet"}, deps=["track_embedding"], owners=OWNERS, tags=tags("model"),
          code_version=CODE_VERSION)
def cluster_k(context: dg.AssetExecutionContext, config: ElbowConfig, store: DataStore,
              engine: EngineResource) -> dg.MaterializeResult:
    """KMeans inertia for k = min_k..max_k and the knee of that curve (Kneedle rule: the point
    farthest below the chord joining the curve's ends), replacing the seed's k=7 picked by eye.
    The slowest step of the model: refitted only when the embedding, the config, this code or
    the engine changed (the run log says when the previous fit is reused)."""
    if not 2 <= config.min_k < config.max_k:
        raise dg.Failure(f"need 2 <= min_k < max_k, got min_k={config.min_k}, max_k={config.max_k}")
    runner = engine.engine()
    embedding, path = store.asset_path("track_embedding"), store.asset_path("cluster_k")
    marker = store.asset_path("cluster_k", ".fingerprint.json")
    current = incremental.fingerprint([embedding], config.model_dump(), f"{CODE_VERSION}/{runner.fingerprint}")
    refit = not incremental.unchanged(marker, current, [path])
    if refit:
        try:
            curve = runner.elbow_curve(embedding, range(config.min_k, config.max_k + 1), config.seed,
                                       config.sample_size, config.n_init, config.max_iter)
        except EngineError as exc:
            raise dg.Failure(str(exc)) from exc
        k = knee_k(curve)
        curve["chosen"] = curve["k"] == k
        storage.write_parquet(curve, path)
        incremental.record(marker, current)
        context.log.info(f"elbow rule chose k={k} from k={config.min_k}..{config.max_k} ({runner.name})")
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
            engine=runner.name,
            rule="Kneedle: max distance below the chord of the normalized inertia curve",
            elbow_curve=dg.MetadataValue.md(curve.round(4).to_markdown(index=False)),
        )
    )
