"""ScVal encoders/decoders: the contracttype shapes and the plain-Python decoding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import Keypair, xdr
from stellar_sdk import scval as sdk

from orbitpay.stellar import scval as sv

CONTRACT = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"


@given(st.integers(min_value=-(1 << 127), max_value=(1 << 127) - 1))
def test_i128_roundtrip_matches_sdk(n: int) -> None:
    assert sv.i128(n).to_xdr() == sdk.to_int128(n).to_xdr()
    assert sv.decode_scval(sv.i128(n)) == n


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_u128_roundtrip_matches_sdk(n: int) -> None:
    assert sv.u128(n).to_xdr() == sdk.to_uint128(n).to_xdr()
    assert sv.decode_scval(sv.u128(n)) == n


def test_scalar_decoding() -> None:
    g = Keypair.from_raw_ed25519_seed(b"\x01" * 32).public_key
    assert sv.decode_scval(sv.address(g)) == g
    assert sv.decode_scval(sv.address(CONTRACT)) == CONTRACT
    assert sv.decode_scval(sv.u32(7)) == 7
    assert sv.decode_scval(sv.u64(2**63)) == 2**63
    assert sv.decode_scval(sdk.to_int64(-3)) == -3
    assert sv.decode_scval(sdk.to_int32(-2)) == -2
    assert sv.decode_scval(sdk.to_timepoint(5)) == 5
    assert sv.decode_scval(sdk.to_duration(6)) == 6
    assert sv.decode_scval(sv.symbol("claim")) == "claim"
    assert sv.decode_scval(sv.string("héllo")) == "héllo"
    assert sv.decode_scval(sdk.to_bytes(b"\x00\x01")) == b"\x00\x01"
    assert sv.decode_scval(sv.boolean(True)) is True
    assert sv.decode_scval(sv.void()) is None
    assert sv.decode_scval_b64(sv.to_b64(sv.u32(9))) == 9


def test_contracttype_shapes() -> None:
    unit = sv.enum_unit("Admin")
    assert unit.type == xdr.SCValType.SCV_VEC
    assert sv.decode_scval(unit) == ["Admin"]
    tup = sv.enum_tuple("Stream", sv.u32(3))
    assert [v.type for v in tup.vec.sc_vec] == [xdr.SCValType.SCV_SYMBOL, xdr.SCValType.SCV_U32]
    assert sv.decode_scval(tup) == ["Stream", 3]
    st_ = sv.struct({"total_amount": sv.i128(5), "id": sv.u32(1), "end_time": sv.u64(9)})
    keys = [e.key.sym.sc_symbol.decode() for e in st_.map.sc_map]
    assert keys == ["end_time", "id", "total_amount"]  # sorted by name
    assert (
        st_.to_xdr()
        == sdk.to_struct(
            {"total_amount": sdk.to_int128(5), "id": sdk.to_uint32(1), "end_time": sdk.to_uint64(9)}
        ).to_xdr()
    )
    assert sv.decode_scval(st_) == {"end_time": 9, "id": 1, "total_amount": 5}
    assert sv.option(None, sv.u64).type == xdr.SCValType.SCV_VOID
    assert sv.decode_scval(sv.option(4, sv.u64)) == 4


def test_map_with_non_symbol_keys_decodes_hashable() -> None:
    m = sv.map_([(sv.vec([sv.u32(2)]), sv.u32(2)), (sv.vec([sv.u32(1)]), sv.u32(3))])
    assert [sv.decode_scval(e.key) for e in m.map.sc_map] == [[1], [2]]  # host ordering
    assert sv.decode_scval(m) == {(1,): 3, (2,): 2}
