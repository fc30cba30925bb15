"""What a serving process pays before its first answer and at each publish: only what serving
needs is imported, and a replaced model leaves no memory behind."""

from __future__ import annotations

import subprocess
import time
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


def test_a_replaced_model_is_freed_and_its_memory_returned(demo_data_dir: Path, demo_bundle, tmp_path: Path,
                                                           monkeypatch) -> None:
    """Nothing keeps the previous model alive after a swap (it would double the memory at every
    publish), and the freed pages are handed back once it is gone."""
    import weakref

    from serving import memory
    from serving.model_store import ModelStore
    from tests.serving_support import copy_models, publish_variant

    returned = []
    monkeypatch.setattr(memory, "return_freed_memory", lambda: returned.append(True))
    models = copy_models(demo_data_dir, tmp_path)
    store = ModelStore(models, check_interval=0, retry_after=0)
    first = weakref.ref(store.current().bundle)
    new = publish_variant(models, demo_bundle, demo_bundle.tracks.iloc[:-10])
    deadline = time.monotonic() + 30
    while store.current().version != new and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.current().version == new
    while (first() is not None or not returned) and time.monotonic() < deadline:
        time.sleep(0.05)  # no gc.collect(): reference counting alone must free it
    assert first() is None and returned
