"""The online store's records as written and read (orjson since 2026-12-07): values come back
as the standard library's JSON gave them, and records it wrote before are still read."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from cible.live.store import dumps, loads


def test_records_keep_their_values_and_types():
    record = {
        "score": np.float64(0.25),
        "count": np.int64(3),
        "share": 0.5,
        "name": "Côte d'Azur",
        "flags": [True, None],
        "nested": {"a": [1, 2.5]},
    }
    read = loads(dumps(record))
    assert read == {
        "score": 0.25,
        "count": 3,
        "share": 0.5,
        "name": "Côte d'Azur",
        "flags": [True, None],
        "nested": {"a": [1, 2.5]},
    }
    assert isinstance(read["score"], float) and isinstance(read["count"], int)


def test_times_and_keys_are_written_as_before():
    """A time goes through `str` (as `json.dumps(default=str)` wrote it), a number key is text."""
    moment = datetime(2026, 12, 7, 10, 30, 5)
    assert loads(dumps({"at": moment, 3: "x"})) == json.loads(
        json.dumps({"at": moment, 3: "x"}, default=str)
    )


def test_a_nan_is_written_null_and_records_written_by_json_are_still_read():
    assert loads(dumps({"x": float("nan")})) == {"x": None}
    old = json.dumps({"x": float("nan"), "y": 1})  # a bare NaN, which orjson refuses
    read = loads(old.encode())
    assert read["y"] == 1 and read["x"] != read["x"]
    assert loads(None) is None


def test_an_integer_beyond_64_bits_is_still_written():
    assert loads(dumps({"n": 2**70})) == {"n": 2**70}
