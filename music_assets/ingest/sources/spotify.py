"""The `spotify` source: chart rows from a chart file, features from the Spotify Web API of 2026.

Track ids come from the chart URLs, so no search call is needed for chart tracks. The Web API
half (batching, 403 diagnosis and fallbacks, retries) is `music_assets.spotify.client`, shared
with serving's live lookup; this source adds the chart file and, for the `file` fallback, the
local features file.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import pyarrow as pa

from music_assets.ingest.charts.csv_files import ChartFileConfig
from music_assets.ingest.sources.files import FilesSource
from music_assets.schema import FEATURE_COLUMNS
from music_assets.spotify.client import SpotifyCatalog, SpotifyConfig


class SpotifySource(SpotifyCatalog):
    """A CatalogSource: charts from a file, features from Spotify with fallbacks."""

    name = "spotify"

    def __init__(self, files: FilesSource, config: SpotifyConfig):
        super().__init__(config, file_features=self._file_features if files.features is not None else None)
        self.files = files

    def _file_features(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        assert self.files.features is not None
        frame = self.files.features.lookup(ids)
        return {r["track_id"]: {c: r[c] for c in FEATURE_COLUMNS} for r in frame.to_dict("records")}

    @property
    def chart_file_config(self) -> ChartFileConfig:
        return self.files.chart_file_config

    @property
    def describe(self) -> str:
        return self.files.describe

    def chart_batches(self) -> Iterator[pa.Table]:
        return self.files.chart_batches()

    @property
    def fraction_read(self) -> float | None:
        return self.files.fraction_read

    def parse_rejects(self) -> tuple[pa.Table | None, int]:
        return self.files.parse_rejects()
