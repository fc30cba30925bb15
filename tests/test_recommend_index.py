"""The per-bundle arrays recommend() reads: values read back exactly as stored."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from music_assets.model.recommend_index import Records


def test_records_read_back_every_value_whatever_it_contains() -> None:
    ids = pa.array(["a", "b", None, "d", "é\x1f"])
    titles = pa.chunked_array([["x\x1e", "ŷ"], ["", "z\x1d\x1c", "w"]])
    plain = pa.array(["p", "q", "r", "s", "t"]).slice(0)
    for columns in ([ids.slice(1), titles.combine_chunks().slice(1), plain.slice(1)],  # sliced arrays
                    [ids, titles, plain]):
        records = Records(columns)
        n = len(columns[0])
        want = [[("" if v is None else v) for v in (c[i].as_py() for c in columns)] for i in range(n)]
        assert records.get(np.arange(n)) == want
        assert records.get(np.array([n - 1, 0])) == [want[n - 1], want[0]]
    assert Records([ids, titles, plain]).sep is None  # every separator occurs: read per column
    joined = Records([plain, pa.array(["1", None, "", "4", "5"])])
    assert joined.sep is not None and joined.get(np.array([1, 2, 4])) == [["q", ""], ["r", ""], ["t", "5"]]
