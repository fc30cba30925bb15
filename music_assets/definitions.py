"""The code location: everything in music_assets/defs/, loaded the way Dagster 1.13 projects are.

`dg dev` finds it through pyproject.toml ([tool.dg]); `dagster dev -w workspace.yaml` and
`dagster ... -m music_assets.definitions` load this module. Resources come from the settings
(defs/resources.py); tests and tools pass their own to `build_definitions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import dagster as dg

PROJECT = Path(__file__).resolve().parent


def build_definitions(resources: Mapping[str, dg.ConfigurableResource] | None = None) -> dg.Definitions:
    """Everything in defs/; with `resources`, those in place of the ones the settings name."""
    loaded = dg.load_from_defs_folder(path_within_project=PROJECT)
    if resources is None:
        return loaded
    return dg.Definitions(assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
                          schedules=loaded.schedules, sensors=loaded.sensors, executor=loaded.executor,
                          resources=dict(resources))


defs = build_definitions()
ALL_ASSETS: list[dg.AssetsDefinition] = list(defs.assets or [])
ALL_CHECKS: list[dg.AssetChecksDefinition] = list(defs.asset_checks or [])
