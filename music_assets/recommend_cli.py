"""Print recommendations for a song from the published model.

    python -m music_assets.recommend_cli "Song title" [--artist NAME] [--mode normal|genre|nearest] [-k 10]

Without a title it picks the most charted song of the catalog, so the demo has a visible end.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from music_assets import storage
from music_assets.model.bundle import BundleError, load_bundle
from music_assets.model.recommend import MODES, RecommendationError, find_tracks, recommend
from music_assets.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("title", nargs="?", help="song title (case and accents do not matter)")
    parser.add_argument("--artist", help="artist, to choose among songs that share a title")
    parser.add_argument("--mode", choices=MODES, default=None, help="default: the model's default mode")
    parser.add_argument("-k", type=int, default=10, help="number of recommendations (1-100)")
    parser.add_argument("--data-dir", default=Settings.from_env().data_dir, help="data folder (MUSIC_ADVISER_DATA_DIR)")
    args = parser.parse_args(argv)

    try:
        bundle = load_bundle(storage.as_path(args.data_dir) / "models")
    except (BundleError, storage.StorageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.title:
        hits = find_tracks(bundle, args.title, args.artist)
        if not hits:
            print(f"'{args.title}' is not in the catalog (model {bundle.version}).", file=sys.stderr)
            return 1
        query = hits[0]
    else:
        appearances = bundle.tracks["chart_appearances"].to_numpy(dtype=float)
        query = int(np.where(bundle.in_model, appearances, -np.inf).argmax())  # the most charted the model holds
    mode = args.mode or bundle.default_mode
    row = bundle.tracks.iloc[query]
    print(f"Model {bundle.version} ({len(bundle.tracks):,} tracks, k={bundle.meta['k']})")
    print(f"You searched for {row['title']} by {row['artist']} [{', '.join(row['genres'])}] - mode: {mode}")
    try:
        results = recommend(bundle, query, mode, args.k)
    except RecommendationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for n, rec in enumerate(results, 1):
        preview = "preview" if rec.preview_url else "no preview"
        closeness = f"similarity={rec.similarity:.3f}" if rec.similarity is not None else f"d={rec.distance:.3f}"
        print(f"{n:>3}. {rec.title} - {rec.artist}  [{', '.join(rec.genres)}]  {closeness}  ({rec.reason}; {preview})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
