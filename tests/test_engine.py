"""The engine is configuration: local by default without pyspark, spark from the settings with its
master and Spark settings, and a clear failure when the spark engine has no Java or no local folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from music_assets.defs.assets.unique_tracks import unique_tracks
from music_assets.defs.resources import DataStore, EngineResource, SourceResource
from music_assets.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_the_local_engine_is_the_default_and_never_imports_pyspark() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MUSIC_ADVISER_ENGINE"}
    code = ("import sys, music_assets.definitions as d; "
            "engine = d.defs.resources['engine']; "
            "assert engine.kind == 'local' and engine.engine().name == 'local'; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'dagster_pyspark')]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_unknown_engine_or_bad_spark_settings_are_refused_with_the_variable_named() -> None:
    with pytest.raises(SettingsError, match="MUSIC_ADVISER_ENGINE='dask'.*local, spark"):
        Settings.from_env({"MUSIC_ADVISER_ENGINE": "dask"})
    with pytest.raises(SettingsError, match="MUSIC_ADVISER_SPARK_CONF must be a JSON object"):
        Settings.from_env({"MUSIC_ADVISER_SPARK_CONF": "spark.executor.memory=4g"})
    with pytest.raises(SettingsError, match="JSON object"):
        Settings.from_env({"MUSIC_ADVISER_SPARK_CONF": '["spark.executor.memory"]'})


def test_the_spark_engine_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from music_assets.definitions import build_definitions
    from music_assets.defs.resources import build_resources

    monkeypatch.setenv("MUSIC_ADVISER_ENGINE", "Spark")
    monkeypatch.setenv("MUSIC_ADVISER_SPARK_MASTER", "spark://cluster.example:7077")
    monkeypatch.setenv("MUSIC_ADVISER_SPARK_CONF", '{"spark.executor.memory": "6g", "spark.executor.instances": 4}')
    defs = build_definitions(resources=build_resources())
    dg.Definitions.validate_loadable(defs)
    engine = defs.resources["engine"]
    conf = engine.spark_config()
    assert engine.kind == "spark" and conf["spark.master"] == "spark://cluster.example:7077"
    assert conf["spark.executor.memory"] == "6g" and conf["spark.executor.instances"] == "4"
    assert "spark.driver.host" not in conf  # loopback only for local[N]: executors must reach a cluster driver


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


@pytest.mark.spark
def test_the_spark_engine_without_java_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dagster_pyspark")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    result = dg.materialize([unique_tracks], raise_on_error=False, resources={
        "store": DataStore(data_dir=str(tmp_path)), "engine": EngineResource(kind="spark", spark_master="local[1]"),
        "source": SourceResource(kind="demo")})
    assert "needs Java 17" in _failure(result) and "MUSIC_ADVISER_ENGINE=local" in _failure(result)


@pytest.mark.spark
def test_the_spark_engine_refuses_an_object_store_data_folder_before_spark_starts() -> None:
    pytest.importorskip("dagster_pyspark")
    result = dg.materialize([unique_tracks], raise_on_error=False, resources={
        "store": DataStore(data_dir="memory://engine-test/data"), "engine": EngineResource(kind="spark", spark_master="local[1]"),
        "source": SourceResource(kind="demo")})
    message = _failure(result)
    assert "spark engine needs a data folder on a filesystem path" in message
    assert "memory://engine-test/data" in message
