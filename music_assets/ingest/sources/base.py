"""The contract every source fulfils, so assets do not care where data comes from."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

import pandas as pd
import pyarrow as pa

from music_assets.spotify.client import Log  # one progress-line callback type for every source



class CatalogSource(Protocol):
    name: str

    def chart_batches(self) -> Iterator[pa.Table]:
        """Raw chart rows in the Kaggle layout (strings as read), in batches."""
        ...

    def fetch_features(self, track_ids: Sequence[str], log: Log) -> pd.DataFrame:
        """Audio features, genres, preview and cover URLs for the ids it can find.

        Columns: schema.TRACK_FEATURE_COLUMNS. An id the source knows nothing about is simply
        absent from the result (the caller records it as fetched-but-missing).
        """
        ...
