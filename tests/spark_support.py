"""One SparkSession (local[2]) for the whole pytest session; Spark tests skip without pyspark/Java."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

SPARK_MASTER = "local[2]"


def spark_available() -> bool:
    return importlib.util.find_spec("pyspark") is not None and bool(shutil.which("java") or os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="session")
def spark():
    """The shared session: getOrCreate, so Dagster's resource in a test run gets this same one."""
    if not spark_available():
        message = "pyspark or Java is missing (bash scripts/setup.sh --spark installs both)"
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the Spark tests: {message}")  # a CI without Spark must not pass quietly
        pytest.skip(message)
    from music_assets.core.spark.session import get_session

    return get_session(SPARK_MASTER)
