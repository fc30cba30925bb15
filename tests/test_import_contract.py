"""The layers hold (pyproject.toml [tool.importlinter]): lint-imports passes on the project, and
fails on a copy of it with one wrong arrow added (an upward import, serving reaching into the
pipeline, a circle), so a broken layer fails CI rather than the next reader."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the copy's packages, not the installed ones
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_project_keeps_its_import_contracts() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " 0 broken" in done.stdout.split("Contracts:")[-1]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("music_assets", "serving"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize("module, source, contract", [
    ("music_assets/model/probe.py", "from music_assets.defs import resources\n", "Layers"),
    ("music_assets/ingest/probe.py", "from music_assets.training import fit\n", "Layers"),
    ("serving/probe.py", "from music_assets.ingest import cleaning\n", "Serving imports the model"),
    ("music_assets/model/probe.py", "import dagster\n", "Pure logic"),
    ("music_assets/model/probe.py", "import sklearn\n", "imports no scikit-learn"),
    ("music_assets/model/probe.py", "from music_assets.model import previews\n", None),  # allowed
])
def test_a_wrong_arrow_breaks_the_contract(copy: Path, module: str, source: str, contract: str | None) -> None:
    (copy / module).write_text(source)
    done = lint(copy)
    if contract is None:
        assert done.returncode == 0, done.stdout[-3000:]
        return
    assert done.returncode != 0
    broken = done.stdout.split("Broken contracts")[-1]
    assert contract in broken and "probe" in broken


def test_a_circle_breaks_the_contract(copy: Path) -> None:
    index = copy / "music_assets/model/recommend_index.py"  # recommend imports it: now both ways
    index.write_text(index.read_text() + "\nfrom music_assets.model import recommend  # noqa\n")
    done = lint(copy)
    assert done.returncode != 0 and "No import circles" in done.stdout.split("Broken contracts")[-1]
