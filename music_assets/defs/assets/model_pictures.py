"""model_pictures: the elbow curve and the PCA map, inside this run's build (plots/), so the web
app's model page shows the pictures of the model it serves; shown in the Dagster UI as well."""

import dagster as dg

from music_assets import storage
from music_assets.defs.bundle_io import BundleRef
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, pictures_metadata, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import chosen_k, elbow_curve
from music_assets.model.bundle import PLOT_FILES, PLOTS_DIR, TRACKS_FILE
from music_assets.training import plots

PICTURES_CHECK = "model_pictures_are_png"


def pictures_check(folder: storage.StorePath) -> dg.AssetCheckResult:
    bad = [p for p in PLOT_FILES if not storage.exists(folder / p) or not plots.is_png(folder / p)]
    return dg.AssetCheckResult(check_name=PICTURES_CHECK, passed=not bad,
                               description=f"missing or not PNG: {bad}" if bad else "both pictures are PNGs",
                               metadata={"folder": dg.MetadataValue.path(str(folder))})


@dg.asset(
    pool=DATA_FOLDER_POOL,
    group_name="pictures", kinds={"matplotlib", "png"}, deps=["cluster_k"], owners=OWNERS, tags=tags("pictures"),
    code_version="1",
    check_specs=[dg.AssetCheckSpec(PICTURES_CHECK, asset="model_pictures", blocking=True,
                                   description="The build holds elbow.png and pca_map.png, valid PNGs.")],
)
def model_pictures(context: dg.AssetExecutionContext, store: DataStore, recommender_model: BundleRef) -> dg.MaterializeResult:
    """Elbow curve with the chosen k and the 2-D PCA map coloured by cluster, in <build>/plots/."""
    bundle_dir = recommender_model.folder
    table = storage.read_table(bundle_dir / TRACKS_FILE)
    pcs = [c for c in table.column_names if c.startswith("pc_")]
    frame = table.select([*pcs, "cluster"]).to_pandas()
    frame = frame[frame["cluster"] >= 0]  # the model's tracks: the others have no coordinates
    folder = bundle_dir / PLOTS_DIR
    paths = {
        "elbow": plots.elbow(elbow_curve(store), chosen_k(store), folder / "elbow.png"),
        "pca_map": plots.pca_map(frame[pcs].to_numpy(), frame["cluster"].to_numpy(), folder / "pca_map.png"),
    }
    context.log.info(f"model pictures for {recommender_model.version} in {folder}")
    return dg.MaterializeResult(metadata={**pictures_metadata(paths), "version": recommender_model.version},
                                check_results=[pictures_check(folder)])
