"""chart_profiles: who streams each track, from where and when it charts (the hybrid's main signal).

PPMI + truncated SVD of the track x (region, week) chart matrix (training/signals/chart_profile.py),
aggregated out of core by DuckDB from chart_rows; one row per clean track, with an artist-level
profile for tracks without chart history of their own, and the recency prior.
"""

from datetime import timedelta
from time import perf_counter

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from music_assets import storage
from music_assets.defs.metadata import DATA_FOLDER_POOL, OWNERS, parquet_metadata, pictures_metadata, rounded, tags
from music_assets.defs.resources import DataStore
from music_assets.defs.stage_files import pictures_dir
from music_assets.text import normalize_text
from music_assets.training.signals import pictures
from music_assets.training.signals.chart_profile import ChartProfiles, NoChartRows, ProfileParams, align, chart_period, \
    compute_profiles, with_params


class ChartProfileConfig(dg.Config):
    dims: int = ProfileParams.dims
    prior_half_life_weeks: float = ProfileParams.prior_half_life_weeks
    half_life_weeks: float = ProfileParams.half_life_weeks
    memory_limit: str = "2GB"  # DuckDB spills past it


@dg.asset(pool=DATA_FOLDER_POOL,
          group_name="signals", kinds={"duckdb", "parquet"}, deps=["chart_rows", "tracks"], owners=OWNERS,
          tags=tags("signals"), code_version="2")
def chart_profiles(context: dg.AssetExecutionContext, config: ChartProfileConfig, store: DataStore) -> dg.MaterializeResult:
    """Per clean track: its chart profile (chart_0.., unit length), recency prior, main region,
    peak year and where the profile comes from (its own chart rows, its artist's, or none)."""
    started = perf_counter()
    params = ProfileParams(dims=config.dims, half_life_weeks=config.half_life_weeks,
                           prior_half_life_weeks=config.prior_half_life_weeks)
    rows_path = store.asset_path("chart_rows")
    tracks = storage.read_parquet(store.asset_path("tracks"), columns=["track_id", "artist"])
    charted = True
    try:
        _, last = chart_period(rows_path)
        profiles = compute_profiles(rows_path, last + timedelta(days=1), params, config.memory_limit)
    except NoChartRows as exc:  # a catalog brought without charts: the hybrid blends sound and genres
        charted = False
        profiles = ChartProfiles.empty(params.dims)
        context.log.warning(f"chart_profiles: {exc}; every track is recorded without a chart profile")
    except ValueError as exc:
        raise dg.Failure(f"chart_profiles: {exc}") from exc
    vectors, recency, source, pos = align(profiles, tracks["track_id"].tolist(),
                                          [normalize_text(a) for a in tracks["artist"]])
    have = pos >= 0
    frame = pd.DataFrame({
        "track_id": tracks["track_id"].to_numpy(dtype=object),
        **{f"chart_{j}": vectors[:, j] for j in range(vectors.shape[1])},
        "recency": recency,
        "top_region": np.where(have, profiles.top_region[np.maximum(pos, 0)], "") if charted else "",
        "peak_year": np.where(have, profiles.peak_year[np.maximum(pos, 0)], 0).astype(np.int64) if charted else 0,
        "chart_source": source.astype(str),
    })
    path = store.asset_path("chart_profiles")
    # the parameters travel with the profiles: hybrid_vectors and model_quality recompute with them
    storage.write_parquet(with_params(pa.Table.from_pandas(frame, preserve_index=False), params), path)
    png = pictures.chart_profile_map(vectors[have], frame["top_region"][have], pictures_dir(store) / "chart_profiles.png")
    counts = frame["chart_source"].value_counts().to_dict()
    seconds = perf_counter() - started
    context.log.info(f"chart profiles of {len(frame):,} tracks ({counts}) from {len(profiles.track_ids):,} charted "
                     f"ids in {seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        **parquet_metadata(path, preview=frame.loc[:, ["track_id", "chart_0", "recency", "top_region", "peak_year",
                                                       "chart_source"]].head(5)),
        **pictures_metadata({"chart_profile_map": png}),
        "dims": vectors.shape[1], "prior_half_life_weeks": rounded(params.prior_half_life_weeks),
        "params": dg.MetadataValue.json(params.to_dict()),
        "tracks_with_own_history": int(counts.get("track", 0)), "tracks_with_artist_profile": int(counts.get("artist", 0)),
        "tracks_without_profile": int(counts.get("none", 0)), "charted_ids": len(profiles.track_ids),
        "chart_rows": "present" if charted else "none (a catalog without charts: no track has a profile)",
        "method": "PPMI + truncated SVD of track x (region, week), rank-weighted; recency prior decayed",
        "seconds": rounded(seconds, 2),
    })
