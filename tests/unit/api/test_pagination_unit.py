"""Cursor signing: round trip, tampering, scope binding, key types."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay.api.errors import ApiError
from orbitpay.api.pagination import CursorCodec, derive_key, scope_of

CODEC = CursorCodec(derive_key("secret"))
SCOPE = scope_of("streams", {"recipient": "G..."}, "desc")
TYPES = (int, int, str)


@given(st.integers(0, 2**62), st.integers(0, 2**62), st.text(max_size=60))
def test_round_trip(a: int, b: int, c: str) -> None:
    cursor = CODEC.encode(SCOPE, [a, b, c])
    assert CODEC.decode(cursor, SCOPE, TYPES) == (a, b, c)


@given(st.text(max_size=200))
def test_garbage_is_bad_cursor(text: str) -> None:
    with pytest.raises(ApiError) as caught:
        CODEC.decode(text, SCOPE, TYPES)
    assert caught.value.status == 400 and caught.value.code == "bad_cursor"


@given(st.integers(0, 120), st.integers(0, 255))
def test_any_flipped_byte_is_rejected(position: int, value: int) -> None:
    cursor = CODEC.encode(SCOPE, [10, 2, "C" * 56])
    position %= len(cursor)
    replacement = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."[value % 65]
    tampered = cursor[:position] + replacement + cursor[position + 1 :]
    if tampered == cursor:
        return
    with pytest.raises(ApiError):
        CODEC.decode(tampered, SCOPE, TYPES)


def test_scope_key_and_types_are_checked() -> None:
    cursor = CODEC.encode(SCOPE, [1, 2, "x"])
    other_scope = scope_of("streams", {"recipient": "G..."}, "asc")
    with pytest.raises(ApiError, match="other filters"):
        CODEC.decode(cursor, other_scope, TYPES)
    with pytest.raises(ApiError):
        CursorCodec(derive_key("other")).decode(cursor, SCOPE, TYPES)
    with pytest.raises(ApiError):
        CODEC.decode(CODEC.encode(SCOPE, [1, "2", "x"]), SCOPE, TYPES)
    with pytest.raises(ApiError):
        CODEC.decode(CODEC.encode(SCOPE, [1, 2]), SCOPE, TYPES)
    assert scope_of("a", {"x": 1, "y": 2}, "asc") == scope_of("a", {"y": 2, "x": 1}, "asc")
