"""The engine is configuration: local by default without pyspark, spark from the environment with
its master and settings, and a clear failure when the spark engine has no Java."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from music_assets.engine import ENGINE_ENV, SPARK_CONF_ENV, SPARK_MASTER_ENV, engine_from_env, spark_settings_from_env

ROOT = Path(__file__).resolve().parents[1]


def test_the_local_engine_is_the_default_and_never_imports_pyspark() -> None:
    env = {k: v for k, v in os.environ.items() if k != ENGINE_ENV}
    code = ("import sys, music_assets.definitions as d; "
            "assert d.engine_from_env() == 'local'; "
            "assert 'spark' not in d.defs.resources; "
            "kinds = {k for a in d.defs.assets for spec in a.specs for k in spec.kinds}; "
            "assert 'spark' not in kinds, kinds; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'dagster_pyspark')]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_unknown_engine_or_bad_spark_settings_are_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV, "dask")
    with pytest.raises(ValueError, match=f"{ENGINE_ENV}='dask'.*local, spark"):
        engine_from_env()
    monkeypatch.setenv(SPARK_CONF_ENV, "spark.executor.memory=4g")
    with pytest.raises(ValueError, match=f"{SPARK_CONF_ENV} must be a JSON object"):
        spark_settings_from_env()
    monkeypatch.setenv(SPARK_CONF_ENV, '["spark.executor.memory"]')
    with pytest.raises(ValueError, match="JSON object"):
        spark_settings_from_env()


@pytest.mark.spark
def test_the_spark_engine_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dagster_pyspark")
    import dagster as dg

    from music_assets.definitions import build_definitions

    monkeypatch.setenv(ENGINE_ENV, "Spark")
    monkeypatch.setenv(SPARK_MASTER_ENV, "spark://cluster.example:7077")
    monkeypatch.setenv(SPARK_CONF_ENV, '{"spark.executor.memory": "6g", "spark.executor.instances": 4}')
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    conf = defs.resources["spark"].spark_config
    assert conf["spark.master"] == "spark://cluster.example:7077"
    assert conf["spark.executor.memory"] == "6g" and conf["spark.executor.instances"] == "4"
    assert "spark.driver.host" not in conf  # loopback only for local[N]: executors must reach a cluster driver
    kinds = {spec.key.to_user_string(): spec.kinds for a in defs.assets for spec in a.specs}
    for name in ("chart_rows", "unique_tracks", "tracks", "track_embedding", "cluster_k", "track_clusters"):
        assert "spark" in kinds[name], name
    for name in ("track_features", "recommender_model"):
        assert "spark" not in kinds[name], name


@pytest.mark.spark
def test_the_spark_engine_without_java_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dagster_pyspark")
    import dagster as dg

    from music_assets.spark_resource import SparkResource

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(dg.Failure, match="needs Java 17.*MUSIC_ADVISER_ENGINE=local"):
        SparkResource.for_master("local[1]").spark_session


@pytest.mark.spark
def test_the_spark_engine_refuses_an_object_store_data_folder_before_spark_starts() -> None:
    pytest.importorskip("dagster_pyspark")
    import dagster as dg

    from music_assets.assets.spark_stages import unique_tracks_spark
    from music_assets.resources import DataStore
    from music_assets.spark_resource import SparkResource

    spark = SparkResource.for_master("local[1]")
    result = dg.materialize([unique_tracks_spark], raise_on_error=False,
                            resources={"store": DataStore(data_dir="memory://engine-test/data"), "spark": spark})
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "spark engine needs a data folder on a filesystem path" in failure.message
    assert "memory://engine-test/data" in failure.message
