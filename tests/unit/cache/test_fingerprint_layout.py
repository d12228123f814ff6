"""Fingerprints ignore memory layout: re-chunked or sliced Arrow data, pickled frames."""

from __future__ import annotations

import pickle

import pandas as pd
import pyarrow as pa

from nbpipe.cache.fingerprint import fingerprint


def test_chunking_and_slicing_do_not_change_the_fingerprint() -> None:
    whole = pa.chunked_array([["a", "bb", "ccc", None]])
    split = pa.chunked_array([["a", "bb"], ["ccc", None]])
    sliced = pa.chunked_array([pa.array(["zz", "a", "bb", "ccc", None]).slice(1)])
    assert fingerprint(whole) == fingerprint(split) == fingerprint(sliced)
    assert fingerprint(whole) != fingerprint(pa.chunked_array([["a", "bb", "ccc", "d"]]))


def test_a_frame_restored_from_pickle_has_the_same_fingerprint() -> None:
    frame = pd.DataFrame({"region": ["n", "s", "e"] * 10, "units": range(30)})
    frame = frame[frame["units"] % 2 == 0].reset_index(drop=True)
    frame["revenue"] = frame["units"] * 1.5  # appending a column re-chunks an Arrow-backed column index
    assert fingerprint(frame) == fingerprint(pickle.loads(pickle.dumps(frame, protocol=5)))
