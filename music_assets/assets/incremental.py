"""Skip a refit whose inputs, config and code are unchanged since the last one.

Dagster's code and data versions tell the UI what is stale, but a job run still executes every
selected step; this marker file lets an expensive step (the elbow's many KMeans fits) return its
previous result when the fingerprint of what it would read matches the one it recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from music_assets.core import storage


def fingerprint(inputs: list[Path], config: dict[str, Any], code_version: str) -> str:
    """A hash of the input files' bytes, the step's config and its code version."""
    parts = {"inputs": {p.name: storage.file_sha256(p) for p in inputs}, "config": config, "code_version": code_version}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def unchanged(marker: Path, current: str, outputs: list[Path]) -> bool:
    """True when the last run recorded `current` and left every output in place."""
    if not all(p.exists() for p in outputs) or not marker.exists():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == current
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def record(marker: Path, current: str) -> None:
    storage.write_json({"fingerprint": current}, marker)
