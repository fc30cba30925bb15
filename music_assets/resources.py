"""Dagster resources: where data lives and where it comes from. Chosen in one place
(definitions.py) from the environment; tests pass their own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg

from music_assets.core.sources.base import CatalogSource
from music_assets.core.sources.demo import DemoCatalog, DemoConfig

DATA_DIR_ENV = "MUSIC_ADVISER_DATA_DIR"


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV, "data")


class DataStore(dg.ConfigurableResource):
    """The data folder: one Parquet file per asset under assets/, model bundles under models/."""

    data_dir: str = "data"

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    def asset_path(self, name: str, suffix: str = ".parquet") -> Path:
        return self.root / "assets" / f"{name}{suffix}"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"


class SourceResource(dg.ConfigurableResource):
    """Which catalog feeds the pipeline. `demo` (the default) needs no network and no account."""

    kind: Literal["demo"] = "demo"
    demo_tracks: int = 20_000
    demo_seed: int = 42

    def open(self) -> CatalogSource:
        return DemoCatalog(DemoConfig(n_tracks=self.demo_tracks, seed=self.demo_seed))
