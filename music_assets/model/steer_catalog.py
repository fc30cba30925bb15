"""What steer()'s API says about the catalog itself: genres for seeds, markets, one track's record
(/v1/tracks, /v1/audio-features). Re-exported by model/steer.py, where the interface names them.
Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from music_assets.model.bundle import ModelBundle
from music_assets.model.recommend_index import genre_index
from music_assets.model.steer_index import TUNABLE, steer_index


@dataclass(frozen=True)
class TrackRecord:
    track_id: str
    title: str
    artists: list[tuple[str | None, str]]
    album: str | None
    cover_url: str | None
    preview_url: str | None
    duration_ms: int | None
    popularity: int | None
    features: dict[str, float | None]
    regions: list[str]
    in_model: bool
    genres: list[str] = field(default_factory=list)


def available_genres(bundle: ModelBundle) -> list[str]:
    """Every genre a seed_genres value may name, sorted."""
    return sorted(genre_index(bundle))


def markets(bundle: ModelBundle) -> list[str]:
    """The chart regions the catalog knows, the most tracks first."""
    return [m for m, _ in steer_index(bundle).market_sizes()]


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text else None


def _list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [str(v) for v in list(value) if v is not None and str(v)]


def track_record(bundle: ModelBundle, row: int) -> TrackRecord:
    """Everything /v1/tracks and /v1/audio-features say about one row."""
    return track_records(bundle, [row])[0]


COLUMNS = ("track_id", "title", "artist", "artist_ids", "album", "cover_url", "preview_url", "regions", "genres")


class _Cells:
    """The COLUMNS of a bundle's tracks, read a few cells at a time: Arrow columns by chunk and
    offset (an Arrow take over a 1M-row chunked column costs milliseconds per column, more than a
    whole /v1 answer: benchmarks/spotify_http.py), other columns through their numpy view."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.columns: dict[str, tuple[list, np.ndarray] | np.ndarray] = {}
        for name in COLUMNS:
            if name not in bundle.tracks.columns:
                continue
            values = bundle.tracks[name].array
            if hasattr(values, "__arrow_array__"):
                chunked = pa.chunked_array(values.__arrow_array__())
                starts = np.cumsum([0, *(len(c) for c in chunked.chunks)])[:-1]
                self.columns[name] = (list(chunked.chunks), starts)
            else:
                self.columns[name] = bundle.tracks[name].to_numpy()

    def get(self, name: str, rows: np.ndarray) -> list:
        found = self.columns.get(name)
        if found is None:
            return [None] * len(rows)
        if isinstance(found, np.ndarray):
            return found[rows].tolist()
        chunks, starts = found
        at = np.searchsorted(starts, rows, side="right") - 1
        return [chunks[c][int(r - starts[c])].as_py() for c, r in zip(at.tolist(), rows.tolist())]


def track_records(bundle: ModelBundle, rows: list[int]) -> list[TrackRecord]:
    """The records of `rows`, in order, for a whole /v1 answer (up to 100 rows) at once."""
    si = steer_index(bundle)
    cells = bundle.derived("steer_catalog_cells", _Cells)
    at = np.asarray(rows, dtype=np.int64)
    cols = {c: cells.get(c, at) for c in COLUMNS}
    values = {f: si.values[f][at] for f in TUNABLE if f in si.values}
    in_model = bundle.in_model[at]
    records = []
    for i in range(len(rows)):
        name = str(cols["artist"][i] or "")
        ids = _list(cols["artist_ids"][i])
        names = [p.strip() for p in name.split(",")] if "," in name else [name]
        if ids and len(ids) == len(names):
            artists = list(zip(ids, names))
        else:
            artists = [(ids[0] if len(ids) == 1 else None, name)]
        features = {f: (float(values[f][i]) if f in values and math.isfinite(values[f][i]) else None) for f in TUNABLE}
        duration, popularity = features.get("duration_ms"), features.get("popularity")
        records.append(TrackRecord(
            track_id=str(cols["track_id"][i]), title=str(cols["title"][i] or ""), artists=artists,
            album=_text(cols["album"][i]), cover_url=_text(cols["cover_url"][i]), preview_url=_text(cols["preview_url"][i]),
            duration_ms=int(round(duration)) if duration is not None else None,
            popularity=int(round(popularity)) if popularity is not None else None,
            features=features, regions=_list(cols["regions"][i]), in_model=bool(in_model[i]),
            genres=_list(cols["genres"][i])))
    return records
