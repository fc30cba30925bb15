"""The seed notebook's pictures as PNG files, shown in the Dagster UI through markdown metadata.

catalog_pictures: genre pie and per-genre feature distributions, beside the assets.
model_pictures:   elbow curve and PCA map, inside the built bundle (plots/) so the web app's
                  model page shows the pictures of the model it serves.
"""

import dagster as dg

from music_assets.assets.cluster_k import chosen_k
from music_assets.assets.recommender_model import built_version
from music_assets.core import plots, storage
from music_assets.core.bundle import PLOTS_DIR, TRACKS_FILE
from music_assets.resources import DataStore

MODEL_PLOTS: tuple[str, ...] = ("elbow.png", "pca_map.png")


def pictures_dir(store: DataStore) -> storage.StorePath:
    return store.root / "assets" / "pictures"


def _shown(paths: dict[str, storage.StorePath]) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {}
    for name, path in paths.items():
        meta[name] = dg.MetadataValue.md(plots.markdown_image(path, name))
        meta[f"{name}_path"] = dg.MetadataValue.path(str(path))
    return meta


@dg.asset(group_name="pictures", kinds={"matplotlib", "png"}, deps=["tracks"])
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
    return dg.MaterializeResult(metadata={**_shown(paths), "compared_genres": dg.MetadataValue.json(chosen)})


@dg.asset(group_name="pictures", kinds={"matplotlib", "png"}, deps=["recommender_model", "cluster_k"])
def model_pictures(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    """Elbow curve with the chosen k and the 2-D PCA map coloured by cluster, in <bundle>/plots/."""
    version = built_version(store)
    bundle_dir = store.models_dir / version
    table = storage.read_table(bundle_dir / TRACKS_FILE)
    pcs = [c for c in table.column_names if c.startswith("pc_")]
    frame = table.select([*pcs, "cluster"]).to_pandas()
    curve = storage.read_parquet(store.asset_path("cluster_k"))
    folder = bundle_dir / PLOTS_DIR
    paths = {
        "elbow": plots.elbow(curve, chosen_k(store), folder / "elbow.png"),
        "pca_map": plots.pca_map(frame[pcs].to_numpy(), frame["cluster"].to_numpy(), folder / "pca_map.png"),
    }
    context.log.info(f"model pictures for {version} in {folder}")
    return dg.MaterializeResult(metadata={**_shown(paths), "version": version})
