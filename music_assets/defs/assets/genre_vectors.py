"""genre_vectors: each clean track's artists' genres as a TF-IDF vector (genres and their words),
reduced to a fixed width (training/signals/genre_vectors.py): the hybrid's genre signal."""

from time import perf_counter

import dagster as dg
import numpy as np
import pandas as pd

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, pictures_metadata, rounded, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import pictures_dir
from music_assets.training.signals import pictures
from music_assets.training.signals.genre_vectors import DEFAULT_GENRE_DIMS, genre_vectors as fit_genre_vectors


class GenreVectorConfig(dg.Config):
    dims: int = DEFAULT_GENRE_DIMS


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="signals", kinds={"scikitlearn", "parquet"}, deps=["tracks"], owners=OWNERS,
          tags=tags("signals"), code_version="1")
def genre_vectors(context: dg.AssetExecutionContext, config: GenreVectorConfig, store: DataStore) -> dg.MaterializeResult:
    """Per clean track: genre_0.. (unit length; zero when the track has no genre) and has_genres."""
    started = perf_counter()
    tracks = storage.read_parquet(store.asset_path("tracks"), columns=["track_id", "genres"])
    genres = [list(g) for g in tracks["genres"]]
    vectors = fit_genre_vectors(genres, config.dims)
    has = np.abs(vectors).sum(axis=1) > 0
    frame = pd.DataFrame({"track_id": tracks["track_id"].to_numpy(dtype=object),
                          **{f"genre_{j}": vectors[:, j] for j in range(vectors.shape[1])}, "has_genres": has})
    path = store.asset_path("genre_vectors")
    storage.write_parquet(frame, path)
    png = pictures.genre_token_bars(genres, pictures_dir(store) / "genre_vectors.png")
    if not has.any():
        context.log.warning("no track has a genre: the hybrid leaves the genre signal out for every track")
    return dg.MaterializeResult(metadata={
        **parquet_metadata(path, preview=frame.loc[:, ["track_id", "genre_0", "has_genres"]].head(5)),
        **pictures_metadata({"genre_tokens": png}),
        "dims": vectors.shape[1], "tracks_with_genres": int(has.sum()), "tracks_without_genres": int((~has).sum()),
        "distinct_genres": len({g for gs in genres for g in gs}), "seconds": rounded(perf_counter() - started, 2),
    })
