"""catalog_pictures: the seed notebook's pictures of the catalog, beside the assets."""

import dagster as dg

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, pictures_metadata, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import pictures_dir
from music_assets.training import plots


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="pictures", kinds={"matplotlib", "png"}, deps=["tracks"], owners=OWNERS, tags=tags("pictures"),
          code_version="1")
def catalog_pictures(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    """Pie of the 15 most common genres; danceability, energy, loudness and liveness by genre."""
    tracks = storage.read_parquet(store.asset_path("tracks"), columns=["genres", *plots.DISTRIBUTION_FEATURES])
    genres = [list(g) for g in tracks["genres"]]
    chosen = plots.compared_genres(genres)
    folder = pictures_dir(store)
    paths = {
        "genre_pie": plots.genre_pie(genres, folder / "genre_pie.png"),
        "genre_distributions": plots.genre_distributions(tracks, folder / "genre_distributions.png", chosen),
    }
    context.log.info(f"catalog pictures in {folder}: compared genres {chosen}")
    return dg.MaterializeResult(metadata={**pictures_metadata(paths), "compared_genres": dg.MetadataValue.json(chosen)})
