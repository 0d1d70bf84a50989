"""Events through the fast path (no stellar-sdk objects) decode as through stellar-sdk."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stellar_sdk import xdr
from tests.unit.contracts.test_contracts_decoders import EVENTS
from tests.unit.stellar.strategies import scvals

from orbitpay.contracts.base import ContractEvent
from orbitpay.contracts.registry import MODULES, REGISTRY, decode_event, decode_event_sdk
from orbitpay.stellar import fastxdr
from orbitpay.stellar import scval as sv

KINDS = sorted(MODULES)
SYMBOLS = sorted({symbol for _, symbol in REGISTRY})


def _b64(v: xdr.SCVal) -> str:
    return sv.to_b64(v)


def _both(kind: str, topics: list[str], value: str) -> None:
    assert decode_event(kind, topics, value) == decode_event_sdk(kind, topics, value)


@settings(max_examples=300, deadline=None)
@given(event=st.one_of(*EVENTS), kind=st.sampled_from(KINDS))
def test_valid_events_take_the_fast_path_and_agree(event: ContractEvent, kind: str) -> None:
    topics, value = event.encode()
    t64, v64 = [_b64(t) for t in topics], _b64(value)
    for raw in [*t64, v64]:
        fastxdr.tval_b64(raw)  # handled without stellar-sdk (raises Unsupported otherwise)
    _both(kind, t64, v64)
    if kind == event.kind:
        assert decode_event(kind, t64, v64).event == event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    first=st.sampled_from(SYMBOLS).map(sv.symbol) | scvals,
    rest=st.lists(scvals, max_size=3),
    value=scvals,
)
def test_any_shape_decodes_as_stellar_sdk_decodes_it(
    kind: str, first: xdr.SCVal, rest: list[xdr.SCVal], value: xdr.SCVal
) -> None:
    _both(kind, [_b64(first), *(_b64(t) for t in rest)], _b64(value))


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS), blob=st.binary(max_size=40), symbol=st.sampled_from(SYMBOLS))
def test_garbage_and_trailing_bytes_agree(kind: str, blob: bytes, symbol: str) -> None:
    first = _b64(sv.symbol(symbol))
    raw = base64.b64encode(blob).decode()
    _both(kind, [first], raw)
    _both(kind, [raw], raw)
    packed = sv.u32(7).to_xdr_bytes() + blob[:4]
    _both(kind, [first], base64.b64encode(packed).decode())  # a u32 with bytes after it
