"""Bookkeeping for incremental feature fetches: which ids to ask for, and merging answers in.

Every id that was asked for gets a row, with `found` false when the source had nothing, so
that a refresh never asks again for what it already asked (tracks without features are then
imputed downstream rather than refetched on every run).
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from music_assets import storage

from music_assets.schema import FEATURE_COLUMNS, TRACK_DETAIL_COLUMNS, TRACK_FEATURE_COLUMNS

STORE_COLUMNS = (*TRACK_FEATURE_COLUMNS, *TRACK_DETAIL_COLUMNS, "found", "source", "fetched_at")


def ids_to_fetch(wanted: pd.Series, known: pd.DataFrame | None, source: str) -> list[str]:
    """Ids in `wanted` that this source has not been asked about yet, in a stable order."""
    have = set() if known is None or known.empty else set(known.loc[known["source"] == source, "track_id"])
    return sorted(set(wanted) - have)


def _empty_store() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in FEATURE_COLUMNS}).assign(
        track_id=pd.Series(dtype="str"), genres=pd.Series(dtype="object"),
        preview_url=pd.Series(dtype="str"), cover_url=pd.Series(dtype="str"),
        artist_ids=pd.Series(dtype="object"), album=pd.Series(dtype="str"), popularity=pd.Series(dtype="float64"),
        found=pd.Series(dtype="bool"), source=pd.Series(dtype="str"),
        fetched_at=pd.Series(dtype="datetime64[us, UTC]"),
    ).loc[:, list(STORE_COLUMNS)]


def normalize_fetched(fetched: pd.DataFrame) -> pd.DataFrame:
    """Coerce a source's answer to the store's columns and types."""
    out = fetched.copy() if not fetched.empty else _empty_store().drop(columns=["found", "source", "fetched_at"])
    for col in FEATURE_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64") if col in out else np.nan
    for col in ("preview_url", "cover_url"):
        out[col] = out[col].astype("object").where(out[col].notna(), None) if col in out else None
    out["genres"] = [list(g) if isinstance(g, (list, tuple, np.ndarray)) else [] for g in out.get("genres", [[]] * len(out))]
    return with_details(out).loc[:, [*TRACK_FEATURE_COLUMNS, *TRACK_DETAIL_COLUMNS]]


def with_details(frame: pd.DataFrame) -> pd.DataFrame:
    """The optional detail columns in the store's types, added empty where a source (or a store
    written before they existed) has none."""
    out = frame.copy()
    ids = out["artist_ids"] if "artist_ids" in out else [None] * len(out)
    out["artist_ids"] = [[str(a) for a in v if a is not None and str(a)] if isinstance(v, (list, tuple, np.ndarray)) else []
                         for v in ids]
    album = out["album"] if "album" in out else pd.Series([None] * len(out), index=out.index)
    out["album"] = album.astype("object").where(album.notna(), None)
    out["popularity"] = (pd.to_numeric(out["popularity"], errors="coerce").astype("float64") if "popularity" in out
                         else np.nan)
    return out


def merge_fetched(known: pd.DataFrame | None, fetched: pd.DataFrame, asked: list[str], source: str,
                  now: datetime) -> pd.DataFrame:
    """The store after a fetch: earlier rows + a row for every id asked (found or not)."""
    answer = normalize_fetched(fetched).drop_duplicates("track_id")
    answer = answer[answer["track_id"].isin(asked)]
    missing = sorted(set(asked) - set(answer["track_id"]))
    blanks = pd.DataFrame({"track_id": missing})
    new = pd.concat([answer.assign(found=True), blanks.assign(found=False)], ignore_index=True)
    new = normalize_fetched(new).assign(found=new["found"].astype(bool).to_numpy())
    new["source"] = source
    new["fetched_at"] = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
    parts = [p for p in (known, new) if p is not None and not p.empty]
    merged = pd.concat(parts, ignore_index=True) if parts else _empty_store()
    merged = with_details(merged.drop_duplicates("track_id", keep="last")).sort_values("track_id", kind="stable")
    return merged.loc[:, list(STORE_COLUMNS)].reset_index(drop=True)


# -- checkpoints: a long fetch writes what it has every N batches, so a killed run resumes --------

def checkpoint_dir(store_path: storage.StorePath) -> storage.StorePath:
    """`track_features.checkpoint/` beside `track_features.parquet`: one small part per checkpoint."""
    return store_path.with_name(store_path.stem + ".checkpoint")


def _parts(parts_dir: storage.StorePath) -> list[storage.StorePath]:
    """Checkpoint parts in write order (their names sort by time)."""
    return [parts_dir / name for name in storage.list_names(parts_dir) if fnmatch.fnmatch(name, "part-*.parquet")]


def load_store(store_path: storage.StorePath, parts_dir: storage.StorePath) -> pd.DataFrame | None:
    """The store as last published plus every checkpoint part written since (newest wins)."""
    frames = [storage.read_table(store_path).to_pandas()] if storage.exists(store_path) else []
    frames += [storage.read_table(p).to_pandas() for p in _parts(parts_dir)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return None
    merged = with_details(pd.concat(frames, ignore_index=True).drop_duplicates("track_id", keep="last"))
    return merged.sort_values("track_id", kind="stable").loc[:, list(STORE_COLUMNS)].reset_index(drop=True)


def checkpoint_rows(parts_dir: storage.StorePath) -> int:
    total = 0
    for part in _parts(parts_dir):
        with storage.open_parquet(part) as parquet:
            total += parquet.metadata.num_rows
    return total


def write_checkpoint(parts_dir: storage.StorePath, rows: pd.DataFrame) -> storage.StorePath:
    """Write one part atomically; names sort in write order."""
    path = parts_dir / f"part-{time.time_ns():020d}.parquet"
    return storage.write_parquet(rows, path)


def clear_checkpoints(parts_dir: storage.StorePath) -> None:
    storage.remove_tree(parts_dir)


@dataclass
class Progress:
    """done / total, rate and ETA of a long fetch, for the run log."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, n: int) -> None:
        self.done += n

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:,.0f} s" if eta != float("inf") else "unknown"
        pct = 100 * self.done / self.total if self.total else 100.0
        return f"{self.done:,}/{self.total:,} tracks ({pct:.1f}%), {rate:,.1f} tracks/s, ETA {eta_text}"
