"""Which rows a steer() request allows: in the model, in the market, inside min/max, not excluded;
asked of a few rows at a time (an ANN shortlist) or of a whole pool (the exact scan); and the
exact pool size the answer reports. Pure logic: imports neither dagster nor flask.
"""

from __future__ import annotations

import math

import numpy as np

from music_assets.model.steer_index import SteerIndex


class Filters:
    """What a request allows: recommendable, in the market, inside min/max, not excluded."""

    def __init__(self, si: SteerIndex, market: str | None, lo: dict[str, float], hi: dict[str, float],
                 excluded: np.ndarray) -> None:
        self.si = si
        if market:
            self.group, self.market_mask, _ = si.market(market)
        else:
            self.group, self.market_mask = si.ix.all, None
        self.names = sorted(lo.keys() | hi.keys())
        self.bounds = [(si.values[f], lo.get(f, -math.inf), hi.get(f, math.inf)) for f in self.names]
        self.excluded = excluded
        self._group_mask: np.ndarray | None = None

    def group_inside(self) -> np.ndarray:
        """min/max over the pool group's rows, computed once per request (the exact scan and the
        pool size both need it)."""
        if self._group_mask is None:
            self._group_mask = np.broadcast_to(self._inside(self.group.rows), (len(self.group),))
        return self._group_mask

    def _inside(self, rows: np.ndarray | None) -> np.ndarray | bool:
        ok: np.ndarray | bool = True
        for values, lo, hi in self.bounds:
            v = values if rows is None else values[rows]
            ok = ok & (v >= lo) & (v <= hi)  # NaN fails both: a track without the value never passes
        return ok

    def _is_excluded(self, rows: np.ndarray) -> np.ndarray:
        if not len(self.excluded):
            return np.zeros(len(rows), dtype=bool)
        pos = np.minimum(np.searchsorted(self.excluded, rows), len(self.excluded) - 1)
        return self.excluded[pos] == rows

    def allowed(self, rows: np.ndarray) -> np.ndarray:
        ok = self.si.recommendable[rows].copy()
        if self.market_mask is not None:
            ok &= self.market_mask[rows]
        ok &= self._inside(rows)
        return ok & ~self._is_excluded(rows)

    def group_rows(self) -> np.ndarray:
        return self.group.rows if self.group.rows is not None else np.arange(self.si.n)

    def allowed_in_group(self) -> np.ndarray:
        """Mask over the pool group's rows (the group holds only recommendable, in-market rows)."""
        rows = self.group.rows
        ok = np.ones(len(self.group), dtype=bool)
        if self.bounds:
            ok &= self.group_inside()
        if len(self.excluded):
            if rows is None:
                ok[self.excluded] = False
            else:
                pos = np.searchsorted(rows, self.excluded)
                hit = pos < len(rows)
                hit[hit] = rows[pos[hit]] == self.excluded[hit]
                ok[pos[hit]] = False
        return ok

    def share(self) -> float:
        """Estimated share of the recommendable catalog allowed (min/max from a fixed sample)."""
        si = self.si
        share = len(self.group) / max(si.n_recommendable, 1)
        if self.bounds and len(si.sample):
            share *= float(np.mean(self._inside(si.sample)))
        return share

    def pool_size(self) -> int:
        """Exactly how many rows the request allows."""
        if len(self.bounds) == 1 and self.market_mask is None:  # one feature's range: two binary searches
            _, lo, hi = self.bounds[0]
            base = self.si.count_between(self.names[0], lo, hi)
        elif self.bounds:
            base = int(np.count_nonzero(self.group_inside()))
        else:
            base = len(self.group)
        if len(self.excluded):
            ex = self.excluded
            ok = self.si.recommendable[ex].copy()
            if self.market_mask is not None:
                ok &= self.market_mask[ex]
            ok &= self._inside(ex)
            base -= int(np.count_nonzero(ok))
        return base
