"""Helpers for the serving tests: copy a published model, publish variants, run waitress."""

from __future__ import annotations

import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
from waitress.server import create_server

from music_assets import storage
from music_assets.model import registry
from music_assets.model.bundle import ModelBundle, write_bundle


def copy_models(src_data_dir: Path, dst_data_dir: Path) -> Path:
    """A private copy of a data folder's models/ (the session demo folder is shared, read-only)."""
    dst = dst_data_dir / "models"
    shutil.copytree(src_data_dir / "models", dst)
    return dst


def publish_variant(models_dir: storage.Location, bundle: ModelBundle, tracks: pd.DataFrame | None = None,
                    default_mode: str | None = None, extra_files: dict[str, bytes] | None = None) -> str:
    """Publish a new bundle through the real writer (write folder, add extra files, replace LATEST)."""
    tracks = bundle.tracks if tracks is None else tracks
    settings = dict(bundle.meta.get("settings", {}))
    if default_mode:
        settings["default_mode"] = default_mode
    version, path = write_bundle(models_dir, tracks.reset_index(drop=True), bundle.embedding, bundle.centroids,
                                 settings)
    for name, data in (extra_files or {}).items():
        storage.write_bytes(data, path / name)
    registry.publish_pointer(models_dir, version)
    return version


def publish_corrupt(models_dir: Path, bundle: ModelBundle) -> str:
    """A bundle whose tracks.parquet was damaged after its checksum was taken, then published."""
    version, path = write_bundle(models_dir, bundle.tracks, bundle.embedding, bundle.centroids,
                                 dict(bundle.meta.get("settings", {})))
    data = (path / "tracks.parquet").read_bytes()
    (path / "tracks.parquet").write_bytes(data[: len(data) // 2])
    registry.publish_pointer(models_dir, version)
    return version


def publish_half_written(models_dir: Path) -> str:
    """LATEST pointing at a folder that has only the start of its model.json."""
    version = "20991231T000000000000Z-halfdone"
    (models_dir / version).mkdir()
    (models_dir / version / "model.json").write_text('{"format_version": 1, "vers', encoding="utf-8")
    registry.publish_pointer(models_dir, version)
    return version


def plot_png(kind: str, bundle: ModelBundle | None = None) -> bytes:
    """A real PNG standing in for the quality step's pictures (elbow curve or PCA map)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=80)
    if kind == "pca_map" and bundle is not None:
        ax.scatter(bundle.tracks["pc_1"], bundle.tracks["pc_2"], c=bundle.clusters, s=3, cmap="tab10")
        ax.set(xlabel="PC 1", ylabel="PC 2", title="Tracks by cluster")
    else:
        ks = list(range(2, 16))
        ax.plot(ks, [1000 / k ** 0.8 for k in ks], marker="o")
        ax.set(xlabel="k", ylabel="inertia", title="Elbow curve")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until(server, stop: threading.Event) -> None:
    """Run a waitress server's loop until `stop` is set, then close it from the same thread.
    (Closing it from another thread races with its poll loop: EBADF on the trigger pipe.)"""
    from waitress import wasyncore

    while not stop.is_set():
        wasyncore.loop(timeout=0.05, map=server._map, count=1)
    server.task_dispatcher.shutdown()
    wasyncore.close_all(server._map)


@contextmanager
def waitress_thread(app, threads: int = 4) -> Iterator[str]:
    """Serve `app` with waitress on a free local port in a background thread; yields the base URL."""
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="music-adviser-test")
    stop = threading.Event()
    thread = threading.Thread(target=serve_until, args=(server, stop), name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=10)
