"""Spark settings shared by the engine resource, the tests and the benchmark."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Mapping

# Settings for an in-process `local[N]` session on a developer machine or CI: no web UI (a port
# per session, never looked at in a run) and the driver on loopback (the machine has no routable
# name, and a test must never listen beyond 127.0.0.1). Neither is set for a cluster master,
# where executors must reach the driver by its real address.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # In local mode the executors live in the driver's JVM: its heap (default 1g) is all Spark has.
    "spark.driver.memory": "2g",
    # Few, small shuffles: the default of 200 partitions costs ~200 tasks per aggregation.
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",  # a progress bar on stderr, mixed into run logs
}
CLUSTER_DEFAULTS: dict[str, str] = {"spark.sql.session.timeZone": "UTC"}


def spark_conf(master: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full Spark configuration for `master` (local[N], spark://host:7077, yarn, k8s://...):
    defaults for that kind of master, then `extra` on top."""
    base = LOCAL_DEFAULTS if master.startswith("local") else CLUSTER_DEFAULTS
    return {**base, "spark.master": master, **dict(extra or {})}


def use_this_python_for_local_workers(master: str) -> None:
    """Python UDFs (the `tracks` stage's normalize_text) run in Python worker processes, which
    PySpark starts as $PYSPARK_PYTHON, else `python3` from the PATH: not this virtualenv, so they
    could not import pandas or music_assets. In local[N] the workers are on this machine, so they
    get this interpreter; a cluster's executors name theirs in their own deployment
    (spark.pyspark.python, with the project installed there). Must run before the SparkContext starts."""
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def require_java(conf: Mapping[str, str]) -> None:
    """A clear failure when Java is missing, instead of py4j's "Java gateway process exited"
    (Spark Connect, `spark.remote`, needs no local JVM)."""
    from music_assets.engines.base import EngineError

    if "spark.remote" not in conf and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise EngineError("the spark engine needs Java 17 (apt-get install openjdk-17-jre-headless, or set "
                          "JAVA_HOME); MUSIC_ADVISER_ENGINE=local runs everything without it")


def get_session(master: str = "local[2]", extra: Mapping[str, str] | None = None):
    """getOrCreate a SparkSession with `spark_conf(master, extra)` (for tests and benchmarks;
    Dagster runs get theirs from the `engine` resource, which applies the same settings)."""
    from pyspark.sql import SparkSession

    use_this_python_for_local_workers(master)
    builder = SparkSession.builder
    for key, value in spark_conf(master, extra).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
