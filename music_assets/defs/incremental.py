"""Skip a refit whose inputs, config and code are unchanged since the last one.

Dagster's code and data versions tell the UI what is stale, but a job run still executes every
selected step; this marker file lets an expensive step (the elbow's many KMeans fits) return its
previous result when the fingerprint of what it would read matches the one it recorded.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from music_assets import storage


def fingerprint(inputs: list[storage.StorePath], config: dict[str, Any], code_version: str) -> str:
    """A hash of the input files' bytes, the step's config and its code version."""
    parts = {"inputs": {p.name: storage.file_sha256(p) for p in inputs}, "config": config, "code_version": code_version}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def unchanged(marker: storage.StorePath, current: str, outputs: list[storage.StorePath]) -> bool:
    """True when the last run recorded `current` and left every output in place."""
    if not all(storage.exists(p) for p in outputs):
        return False
    try:
        return storage.read_json(marker).get("fingerprint") == current
    except (OSError, ValueError, AttributeError):  # missing or damaged marker: refit
        return False


def record(marker: storage.StorePath, current: str) -> None:
    storage.write_json({"fingerprint": current}, marker)
