"""The `files` source: chart rows and audio features from local files, no network.

Charts: see files_charts (Kaggle charts.csv or daily per-country exports, plain or gzip, streamed)
and chart_inputs (a Parquet chart file, or a folder of chart files).
Features: see files_features (the common public layouts, mapped by small column maps).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import pandas as pd
import pyarrow as pa

from music_assets.schema import TRACK_FEATURE_COLUMNS
from music_assets.ingest.sources.base import Log
from music_assets.ingest.charts.inputs import open_chart_input
from music_assets.ingest.charts.csv_files import ChartFileConfig
from music_assets.ingest.features.files import FeaturesFile, FeaturesFileConfig


class FilesSource:
    """A CatalogSource over a chart file and an optional features file."""

    name = "files"

    def __init__(self, charts: ChartFileConfig, features: FeaturesFileConfig | None = None):
        self.chart_file_config = charts  # engines that read chart files themselves (Spark) start here
        self.charts = open_chart_input(charts)
        self.features = FeaturesFile(features) if features else None

    @property
    def describe(self) -> str:
        return self.charts.describe

    def chart_batches(self) -> Iterator[pa.Table]:
        return self.charts.batches()

    @property
    def fraction_read(self) -> float | None:
        return self.charts.fraction_read

    def parse_rejects(self) -> tuple[pa.Table | None, int]:
        """Lines the CSV parser rejected (wrong field count) since the last call, and how many
        more beyond the sample: the caller counts them with the rejected rows, never fatal."""
        return self.charts.drain_rejects()

    def fetch_features(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        if self.features is None:
            if log:
                log("files source: no features file configured; every track is recorded as not found")
            return pd.DataFrame(columns=list(TRACK_FEATURE_COLUMNS))
        return self.features.lookup(track_ids, log)
