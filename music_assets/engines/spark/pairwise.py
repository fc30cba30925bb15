"""numpy's pairwise summation cut into blocks, so Spark can sum the blocks in parallel and the
driver can combine them into the very float `pandas.Series.mean()` returns.

Why not Spark's `avg`: it adds rows in partition order and merges partial sums in task order, so
its last bits differ from the local engine's mean (and from run to run), and the imputed values
would differ in the 16th digit. pandas' mean is `np.sum(values with NaN as 0) / count` (bottleneck
is not used for means), and numpy sums a contiguous float64 array pairwise: a range of more than
128 values is split at `n2 = n // 2 - (n // 2) % 8` and the two halves' sums added. Any node of
that tree is itself `np.sum` of its range, so cutting the tree at `max_block` values gives blocks
that Spark sums with numpy and a few thousand additions on the driver redo the top of the tree.
numpy's own loop does the summing; only the tree's shape is restated here (tests compare the
result with `np.sum` and `Series.mean()` bit for bit).

Pure numpy: importing this module does not import pyspark.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

PW_BLOCKSIZE = 128  # numpy's: ranges up to this size are summed by its unrolled loop, not split
DEFAULT_MAX_BLOCK = 1 << 18  # values per Spark group: 262,144 x 8 bytes per column


def _split(n: int) -> int:
    """Where numpy's pairwise_sum splits a range of n > PW_BLOCKSIZE values."""
    n2 = n // 2
    return n2 - n2 % 8


def blocks(n: int, max_block: int = DEFAULT_MAX_BLOCK) -> list[tuple[int, int]]:
    """The [start, stop) ranges, in order, of the pairwise tree over n values cut at max_block."""
    if max_block < PW_BLOCKSIZE:
        raise ValueError(f"max_block must be at least {PW_BLOCKSIZE} (numpy's block size), got {max_block}")
    out: list[tuple[int, int]] = []
    stack = [(0, n)]
    while stack:  # depth first, left before right: blocks come out in position order
        start, size = stack.pop()
        if size <= max_block:
            out.append((start, start + size))
            continue
        n2 = _split(size)
        stack.append((start + n2, size - n2))
        stack.append((start, n2))
    return out


def combine(n: int, block_sums: Iterable[float], max_block: int = DEFAULT_MAX_BLOCK) -> float:
    """np.sum of the n values from the sums of `blocks(n, max_block)`, in that order."""
    sums: Iterator[float] = iter(block_sums)

    def node(size: int) -> float:
        if size <= max_block:
            return float(next(sums))
        n2 = _split(size)
        left = node(n2)
        return left + node(size - n2)

    total = node(n)
    if next(sums, None) is not None:
        raise ValueError("more block sums than blocks")
    return total


def block_sum(values: np.ndarray) -> float:
    """One block's sum as pandas' mean adds it: NaN (missing) counts as 0, numpy sums the rest."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.sum(np.where(np.isnan(values), 0.0, values)))


def mean(total: float, count: int) -> float:
    """pandas' `the_sum / count` (NaN for no values)."""
    return float(np.float64(total) / np.float64(count)) if count else float("nan")
