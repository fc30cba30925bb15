"""Bookkeeping for incremental feature fetches: which ids to ask for, and merging answers in.

Every id that was asked for gets a row, with `found` false when the source had nothing, so
that a refresh never asks again for what it already asked (tracks without features are then
imputed downstream rather than refetched on every run).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from music_assets.core.schema import FEATURE_COLUMNS, TRACK_FEATURE_COLUMNS

STORE_COLUMNS = (*TRACK_FEATURE_COLUMNS, "found", "source", "fetched_at")


def ids_to_fetch(wanted: pd.Series, known: pd.DataFrame | None, source: str) -> list[str]:
    """Ids in `wanted` that this source has not been asked about yet, in a stable order."""
    have = set() if known is None or known.empty else set(known.loc[known["source"] == source, "track_id"])
    return sorted(set(wanted) - have)


def _empty_store() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in FEATURE_COLUMNS}).assign(
        track_id=pd.Series(dtype="str"), genres=pd.Series(dtype="object"),
        preview_url=pd.Series(dtype="str"), cover_url=pd.Series(dtype="str"),
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
    return out.loc[:, list(TRACK_FEATURE_COLUMNS)]


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
    merged = merged.drop_duplicates("track_id", keep="last").sort_values("track_id", kind="stable")
    return merged.loc[:, list(STORE_COLUMNS)].reset_index(drop=True)
