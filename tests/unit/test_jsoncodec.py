"""``orbitpay.jsoncodec``: orjson's speed, the stdlib's reach."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay import jsoncodec

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_loads_reads_what_the_stdlib_reads(value: object) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": value}).encode()
    assert jsoncodec.loads(body) == json.loads(body)


def test_loads_accepts_what_only_the_stdlib_accepts() -> None:
    got = jsoncodec.loads(b'{"result": {"x": NaN, "y": Infinity}}')
    assert math.isnan(got["result"]["x"]) and got["result"]["y"] == math.inf
    with pytest.raises(ValueError):
        jsoncodec.loads(b'{"result": ')


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(2**200), 2**200) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_dumps_round_trips_any_integer(value: object) -> None:
    """Integers beyond 64 bits (i128 amounts) go through the stdlib, exactly."""
    assert json.loads(jsoncodec.dumps(value)) == value


def test_dumps_writes_times_and_keys_as_the_store_expects() -> None:
    text = jsoncodec.dumps(
        {
            "naive": datetime(2026, 3, 1, 12, 0, 0),
            "offset": datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            1: "int key",
        }
    )
    got = json.loads(text)
    assert datetime.fromisoformat(got["naive"]) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert datetime.fromisoformat(got["offset"]) == datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert got["1"] == "int key"
    # The same with an integer only the stdlib can write.
    big = json.loads(jsoncodec.dumps({"naive": datetime(2026, 3, 1), "n": 2**100, 2: "k"}))
    assert big == {"naive": "2026-03-01T00:00:00+00:00", "n": 2**100, "2": "k"}


def test_dumps_refuses_what_has_no_json_form() -> None:
    with pytest.raises(ValueError):
        jsoncodec.dumps({"n": 2**100, "x": math.nan})
    with pytest.raises(TypeError):
        jsoncodec.dumps({"s": {1, 2}})
