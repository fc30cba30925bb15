"""Every picture is a valid PNG where the UI and the web app look for it, and shows in metadata."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_assets.training import plots

FEATURES = list(plots.DISTRIBUTION_FEATURES)


def test_catalog_pictures_written_beside_the_assets(demo_data_dir: Path) -> None:
    folder = demo_data_dir / "assets" / "pictures"
    for name in ("genre_pie.png", "genre_distributions.png", "quality_history.png"):
        assert plots.is_png(folder / name), name
        assert (folder / name).stat().st_size > 5_000, name  # a drawn picture, not an empty canvas


def test_model_pictures_written_into_the_bundle(demo_bundle) -> None:
    for name in ("elbow.png", "pca_map.png"):
        assert plots.is_png(demo_bundle.path / "plots" / name)


def test_markdown_image_embeds_the_png(tmp_path: Path) -> None:
    path = plots.elbow(pd.DataFrame({"k": [2, 3, 4], "inertia": [9.0, 4.0, 3.0]}), 3, tmp_path / "e.png")
    md = plots.markdown_image(path, "elbow")
    assert md.startswith("![elbow](data:image/png;base64,")
    assert base64.b64decode(md.split(",", 1)[1].rstrip(")")) == path.read_bytes()


def test_pictures_render_on_awkward_inputs(tmp_path: Path) -> None:
    assert plots.is_png(plots.genre_pie([[], []], tmp_path / "pie.png"))  # no genre at all
    one_pc = plots.pca_map(np.arange(10.0).reshape(-1, 1), np.zeros(10, int), tmp_path / "map.png")
    assert plots.is_png(one_pc)
    frame = pd.DataFrame({"genres": [["latin"], ["pop"], []], **{f: [0.1, 0.2, 0.3] for f in FEATURES}})
    assert plots.compared_genres(list(frame["genres"])) == ["latin", "pop"]
    assert plots.is_png(plots.genre_distributions(frame, tmp_path / "d.png", ["latin", "pop"]))
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary file


def test_seed_genres_are_compared_when_present() -> None:
    genres = [["dance pop"], ["latin"], ["boy band"], ["rock"], ["rock"], ["rock"]]
    assert plots.compared_genres(genres) == ["dance pop", "latin", "boy band"]
    assert plots.top_genres(genres, 2) == [("rock", 3), ("boy band", 1)]


@pytest.mark.parametrize("name", ["x.txt"])
def test_is_png_rejects_other_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("not a picture")
    assert not plots.is_png(tmp_path / name)
