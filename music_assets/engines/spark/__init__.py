"""The heavy stages on Apache Spark: chart ingestion, unique tracks and the model fit.

Importing anything here imports pyspark, which is an optional extra (`pip install -e ".[spark]"`)
and needs Java: only the Spark engine (MUSIC_ADVISER_ENGINE=spark) imports this package, so the
local engine never loads pyspark. Like the rest of music_assets/, nothing here imports dagster.
"""
