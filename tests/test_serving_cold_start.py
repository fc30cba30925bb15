"""What a serving process pays before its first answer: only what serving needs is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_serving_loads_a_model_without_importing_the_pipeline_libraries(demo_data_dir: Path) -> None:
    """scikit-learn alone cost each serving process ~2 s and ~100 MB before its first request."""
    code = ("import sys; from serving.model_store import load_model; import serving.wsgi; "
            f"m = load_model({str(demo_data_dir / 'models')!r}); assert len(m.search) == len(m.bundle.tracks); "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('sklearn', 'scipy', 'matplotlib', 'dagster', 'duckdb', 'pyspark')]; assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
