"""The `files` source: chart rows and the catalog (audio features, genres) from local files, no network.

Charts: ingest/charts/inputs (a file, folder or glob; Kaggle and daily CSV/Parquet streamed, every
other layout normalized by its column map). Catalog: ingest/features/files. Charts are optional: a
catalog alone (features, and artists for genres) makes a catalog, its tracks taken from the catalog
file (see `catalog_tracks`). A chart file whose layout also carries features (a year-end list, a
top-200 summary) is the catalog too when no features file is given.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Iterator, Sequence

import pandas as pd
import pyarrow as pa

from music_assets.schema import TRACK_FEATURE_COLUMNS
from music_assets.ingest.sources.base import Log
from music_assets.ingest.charts.inputs import ChartInput, choice_of, open_chart_input
from music_assets.ingest.charts.csv_files import ChartFileConfig
from music_assets.ingest.features.files import FeaturesFile, FeaturesFileConfig
from music_assets.ingest.layouts.apply import empty_rejects
from music_assets.ingest.layouts.choose import choose_map, header_names
from music_assets.ingest.tables.read import expand_paths


class FilesSource:
    """A CatalogSource over chart files (optional) and catalog files (optional; one of the two)."""

    name = "files"

    def __init__(self, charts: ChartFileConfig | None, features: FeaturesFileConfig | None = None):
        if charts is None and features is None:
            raise ValueError("the files source needs charts_path or features_path (or a column map naming them)")
        self.chart_file_config = charts  # engines that read chart files themselves (Spark) start here
        self.charts: ChartInput | None = open_chart_input(charts) if charts else None
        self._features_config = features

    @property
    def has_charts(self) -> bool:
        return self.charts is not None

    @cached_property
    def features(self) -> FeaturesFile | None:
        if self._features_config is not None:
            return FeaturesFile(self._features_config)
        assert self.chart_file_config is not None
        # no features file: the chart files whose layout is a catalog too (year-end lists, summaries)
        catalog_charts = [p for p in expand_paths(self.chart_file_config.path)
                          if "catalog" in choose_map(p, header_names(p), "charts", choice_of(self.chart_file_config)).roles]
        if not catalog_charts:
            return None
        return FeaturesFile(FeaturesFileConfig(self.chart_file_config.path, column_map=self.chart_file_config.column_map,
                                               also_charts=True))

    @property
    def describe(self) -> str:
        return self.charts.describe if self.charts else f"catalog {self._features_config.path if self._features_config else ''}"

    def chart_batches(self) -> Iterator[pa.Table]:
        if self.charts is None:
            return iter(())
        return self.charts.batches()

    @property
    def fraction_read(self) -> float | None:
        return self.charts.fraction_read if self.charts else None

    def parse_rejects(self) -> tuple[pa.Table | None, int]:
        """Lines the CSV parser rejected (wrong field count) since the last call, and how many
        more beyond the sample: the caller counts them with the rejected rows, never fatal."""
        return self.charts.drain_rejects() if self.charts else (None, 0)

    def charts_understood(self) -> list[dict[str, Any]]:
        """What was understood of each chart file: as read (local engine), or, when an engine read
        the files itself (Spark), each file's layout and mapping from its header."""
        if self.charts is None:
            return []
        seen = self.charts.understood()
        if seen:
            return seen
        assert self.chart_file_config is not None
        choice = choice_of(self.chart_file_config)
        return [{"file": str(p), **choose_map(p, header_names(p), "charts", choice).describe()}
                for p in expand_paths(self.chart_file_config.path)]

    def catalog_tracks(self) -> pd.DataFrame:
        """Without charts, the tracks are the catalog's: track_id, title, artist, popularity."""
        if self.features is None:
            return pd.DataFrame(columns=["track_id", "title", "artist", "popularity"])
        return self.features.catalog.loc[:, ["track_id", "title", "artist", "popularity"]]

    def feature_rejects(self) -> pd.DataFrame:
        return self.features.rejects if self.features is not None else empty_rejects()

    def features_understood(self) -> list[dict[str, Any]]:
        return self.features.understood() if self.features is not None else []

    def fetch_features(self, track_ids: Sequence[str], log: Log | None = None) -> pd.DataFrame:
        if self.features is None:
            if log:
                log("files source: no features file configured; every track is recorded as not found")
            return pd.DataFrame(columns=list(TRACK_FEATURE_COLUMNS))
        return self.features.lookup(track_ids, log)
