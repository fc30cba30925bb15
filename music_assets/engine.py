"""Which engine runs the heavy stages: `local` (pyarrow, DuckDB, scikit-learn; the default, no
Java) or `spark` (Spark SQL and pyspark.ml through Dagster's PySpark resource).

The choice is deployment configuration, read once in definitions.py: MUSIC_ADVISER_ENGINE=spark
swaps chart_rows, unique_tracks, tracks, track_embedding, cluster_k and track_clusters for their Spark
definitions (same asset keys, configs, checks and files) and adds the `spark` resource. Swapping
definitions rather than branching inside each asset keeps the local assets untouched, keeps
pyspark out of the local engine's imports, and leaves every caller that passes its own resources
(tests, benchmarks) working without a `spark` resource.
"""

from __future__ import annotations

import json
import os
from typing import Literal, Sequence

import dagster as dg

ENGINE_ENV = "MUSIC_ADVISER_ENGINE"  # local (default) | spark
SPARK_MASTER_ENV = "MUSIC_ADVISER_SPARK_MASTER"  # local[N] (default local[2]), spark://host:7077, yarn, k8s://...
SPARK_CONF_ENV = "MUSIC_ADVISER_SPARK_CONF"  # a JSON object of further Spark settings
Engine = Literal["local", "spark"]
ENGINES: tuple[str, ...] = ("local", "spark")
DEFAULT_SPARK_MASTER = "local[2]"


def engine_from_env() -> Engine:
    engine = os.environ.get(ENGINE_ENV, "local").strip().lower() or "local"
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={engine!r}: use one of {', '.join(ENGINES)}")
    return engine  # type: ignore[return-value]


def spark_settings_from_env() -> tuple[str, dict[str, str]]:
    """The Spark master and extra settings named by the environment."""
    master = os.environ.get(SPARK_MASTER_ENV, DEFAULT_SPARK_MASTER)
    raw = os.environ.get(SPARK_CONF_ENV, "")
    try:
        extra = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{SPARK_CONF_ENV} must be a JSON object of Spark settings: {exc}") from None
    if not isinstance(extra, dict):
        raise ValueError(f"{SPARK_CONF_ENV} must be a JSON object of Spark settings, got {type(extra).__name__}")
    return master, {str(k): str(v) for k, v in extra.items()}


def engine_resources(engine: Engine) -> dict[str, dg.ConfigurableResource]:
    """The resources an engine adds: none for local, `spark` for spark."""
    if engine == "local":
        return {}
    from music_assets.spark_resource import SparkResource

    master, extra = spark_settings_from_env()
    return {"spark": SparkResource.for_master(master, extra)}


def assets_for(engine: Engine, local_assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`local_assets` with the engine's own definitions in place of the local ones, by asset key."""
    if engine == "local":
        return list(local_assets)
    from music_assets.assets.spark_stages import SPARK_ASSETS

    replacement = {a.key: a for a in SPARK_ASSETS}
    return [replacement.get(a.key, a) for a in local_assets]
