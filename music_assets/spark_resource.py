"""The `spark` resource: Dagster's LazyPySparkResource with this project's settings.

dagster-pyspark's resource fits: its `spark_config` is the whole Spark configuration, including
`spark.master` (`local[2]` in process, or a cluster's URL) and `spark.remote` (a Spark Connect
server), and the lazy variant starts the JVM only when a Spark asset first asks for a session.
It adds one thing: a clear failure when Java is missing, instead of py4j's "Java gateway
process exited". Importing this module imports pyspark: only the spark engine does.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Mapping

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from music_assets.core.spark.session import spark_conf, use_this_python_for_local_workers


class SparkResource(LazyPySparkResource):
    """A SparkSession created on first use from `spark_config` (see core/spark/session.py)."""

    @classmethod
    def for_master(cls, master: str, extra: Mapping[str, str] | None = None) -> "SparkResource":
        return cls(spark_config=spark_conf(master, extra))

    @property
    def master(self) -> str:
        return str(self.spark_config.get("spark.master", ""))

    def _init_session(self) -> None:
        remote = "spark.remote" in self.spark_config
        if not remote and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            raise dg.Failure("the spark engine needs Java 17 (apt-get install openjdk-17-jre-headless, or set "
                             "JAVA_HOME); MUSIC_ADVISER_ENGINE=local runs everything without it")
        use_this_python_for_local_workers(self.master)
        super()._init_session()

    @property
    def spark_session(self) -> Any:
        return super().spark_session
