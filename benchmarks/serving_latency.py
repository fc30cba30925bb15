"""Print serving figures: model load (= hot-reload swap cost), request latency in-process and over HTTP.

    .venv/bin/python benchmarks/serving_latency.py                    # a fresh 20,000-track demo model
    .venv/bin/python benchmarks/serving_latency.py --data-dir data    # the model the demo published

Medians over repeated requests, all measured in one run on the same machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from music_assets.model.recommend import MODES  # noqa: E402
from serving import create_app  # noqa: E402
from serving.model_store import load_model  # noqa: E402


def materialize(data_dir: Path, n_tracks: int) -> None:
    import dagster as dg

    from music_assets.definitions import ALL_ASSETS
    from music_assets.defs.resources import DataStore, EngineResource, SourceResource

    result = dg.materialize(ALL_ASSETS, resources={"store": DataStore(data_dir=str(data_dir)), "engine": EngineResource(),
                                                   "source": SourceResource(kind="demo", demo_tracks=n_tracks, demo_seed=42)})
    assert result.success


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--tracks", type=int, default=20_000)
    parser.add_argument("-n", type=int, default=50, help="requests per figure")
    args = parser.parse_args(argv)
    data_dir = args.data_dir
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="serving-bench-"))
        print(f"materializing a {args.tracks:,}-track demo model in {data_dir} ...", flush=True)
        materialize(data_dir, args.tracks)

    loads = [load_model(data_dir / "models").load_seconds for _ in range(3)]
    model = load_model(data_dir / "models")
    tracks = model.bundle.tracks
    print(f"model {model.version}: {len(tracks):,} tracks")
    print(f"model load + search index (the hot-reload swap cost, off the request path): "
          f"median {statistics.median(loads) * 1000:.0f} ms of 3")

    counts = tracks["title"].value_counts()  # a title no other song shares, so the page recommends
    unique = tracks[tracks["title"].map(counts).eq(1) & model.bundle.in_model]  # and in the model
    title = unique["title"].iat[int(unique["chart_appearances"].to_numpy().argmax())]
    app = create_app(data_dir, live_lookup=None)
    client = app.test_client()
    for mode in MODES:
        ms = median_ms(lambda: client.get("/api/recommend", query_string={"song": title, "mode": mode}), args.n)
        print(f"test client  GET /api/recommend mode={mode:<8} median {ms:6.2f} ms")
    print(f"test client  GET /recommend (HTML)          median "
          f"{median_ms(lambda: client.get('/recommend', query_string={'song': title}), args.n):6.2f} ms")
    print(f"test client  GET /api/search?q=<3 letters>  median "
          f"{median_ms(lambda: client.get('/api/search', query_string={'q': title[:3]}), args.n):6.2f} ms")
    print(f"test client  GET /api/recommend (typo -> did-you-mean) median "
          f"{median_ms(lambda: client.get('/api/recommend', query_string={'song': title + 'qx'}), args.n):6.2f} ms")

    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()  # daemon: ends with the script
    url = f"http://127.0.0.1:{server.effective_port}/api/recommend?" + urllib.parse.urlencode({"song": title})
    ms = median_ms(lambda: urllib.request.urlopen(url, timeout=10).read(), args.n)
    print(f"waitress     GET /api/recommend over HTTP   median {ms:6.2f} ms")


if __name__ == "__main__":
    main()
