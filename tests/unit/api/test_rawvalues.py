"""The API's rendering of raw SCVals: the fast path (``fastxdr``) and the stellar-sdk path
give the same answer, and the integer rule goes by type, not by size."""

from __future__ import annotations

from typing import Any

import pytest
from stellar_sdk import xdr

from orbitpay.api.rawvalues import _from_scval, _from_tval, safe_integers, scval_json
from orbitpay.stellar import scval
from orbitpay.stellar.fastxdr import tval_b64

G = "GBDS3XGIVGLHNLQEBRNE3B3XFKW7LUY6N4ZJCS3JI4YBYZOTK25BBK5O"


def _i64(n: int) -> xdr.SCVal:
    return xdr.SCVal(xdr.SCValType.SCV_I64, i64=xdr.Int64(n))


def _i32(n: int) -> xdr.SCVal:
    return xdr.SCVal(xdr.SCValType.SCV_I32, i32=xdr.Int32(n))


def _bytes(b: bytes) -> xdr.SCVal:
    return xdr.SCVal(xdr.SCValType.SCV_BYTES, bytes=xdr.SCBytes(b))


CASES: list[tuple[xdr.SCVal, Any]] = [
    (scval.u32(7), 7),
    (_i32(-3), -3),
    (scval.u64(1), "1"),  # small, still a string: the rule is the type
    (_i64(-(2**63)), str(-(2**63))),
    (scval.i128(2**120), str(2**120)),
    (scval.u128(2**128 - 1), str(2**128 - 1)),
    (scval.symbol("deposit"), "deposit"),
    (scval.string("héllo"), "héllo"),
    (scval.address(G), G),
    (_bytes(b"\x01\xff"), "01ff"),
    (scval.boolean(True), True),
    (scval.void(), None),
    (scval.vec([scval.i128(5), scval.u32(5), scval.vec([scval.u64(9)])]), ["5", 5, ["9"]]),
    (scval.struct({"amount": scval.i128(10), "id": scval.u32(2)}), {"amount": "10", "id": 2}),
    (scval.map_({scval.u64(3): scval.symbol("x")}), {"3": "x"}),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_rendering(value: xdr.SCVal, expected: Any) -> None:
    b64 = scval.to_b64(value)
    assert scval_json(b64) == expected
    assert _from_scval(xdr.SCVal.from_xdr(b64)) == expected  # the SDK path alone


@pytest.mark.parametrize(("value", "expected"), [c for c in CASES if c[0].type.value != 17])
def test_fast_path_equals_sdk_path(value: xdr.SCVal, expected: Any) -> None:
    b64 = scval.to_b64(value)
    assert _from_tval(tval_b64(b64)) == _from_scval(xdr.SCVal.from_xdr(b64)) == expected


def test_unreadable_xdr_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        scval_json("AAAA")


def test_safe_integers_by_magnitude() -> None:
    edge = 2**53 - 1
    value = {"a": [edge, -edge, edge + 1, -(edge + 1)], "b": True, "c": None}
    assert safe_integers(value) == {
        "a": [edge, -edge, str(edge + 1), str(-(edge + 1))],
        "b": True,
        "c": None,
    }
