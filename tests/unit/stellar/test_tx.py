"""Transaction context: calls from the envelope and auth tree, return values from meta v3 and v4."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from stellar_sdk import Keypair, StrKey
from stellar_sdk import xdr as x

from orbitpay.devnet import xdr as dx
from orbitpay.stellar import scval as sv
from orbitpay.stellar.fastxdr import Unsupported, envelope_calls_fast
from orbitpay.stellar.tx import Call, dedupe, envelope_calls, parse_tx

NET = dx.network_id("Test SDF Network ; September 2015")
SOURCE = (
    Keypair.from_seed(bytes(32))
    if hasattr(Keypair, "from_seed")
    else Keypair.from_raw_ed25519_seed(bytes(32))
)
SIGNER = Keypair.from_raw_ed25519_seed(b"\x07" * 32)
PAYROLL = StrKey.encode_contract(b"\x01" * 32)
ROUTER = StrKey.encode_contract(b"\x05" * 32)
TOKEN = StrKey.encode_contract(b"\x06" * 32)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def envelope(top: dx.Invocation, signers: list[Keypair]) -> str:
    auth = [
        dx.auth_entry_source(top) if k is SOURCE else dx.auth_entry_address(k, top, 7, 1000, NET)
        for k in signers
    ]
    raw, _ = dx.build_envelope(SOURCE, 1, top, auth, NET)
    return b64(raw)


def test_top_level_call_and_return_value_meta_v4_and_v3() -> None:
    top = dx.Invocation(PAYROLL, "claim", [sv.address(SIGNER.public_key), sv.u32(4)])
    env = envelope(top, [SIGNER])
    ev = dx.contract_event(PAYROLL, [sv.symbol("claim"), sv.address(SIGNER.public_key)], sv.i128(9))
    for version in (3, 4):
        meta = b64(dx.build_meta(version, True, [ev], sv.i128(9), [], []))
        ctx = parse_tx("ab" * 32, "SUCCESS", 10, env, meta)
        assert ctx.successful
        assert ctx.calls == [Call(PAYROLL, "claim", [SIGNER.public_key, 4], True)]
        assert ctx.return_value == 9, version
        refs = ctx.contract_events()
        assert [(r.contract, r.topic0, r.op_index, r.index) for r in refs] == [
            (PAYROLL, "claim", 0, 0)
        ]


def test_events_object_is_preferred_to_meta() -> None:
    top = dx.Invocation(PAYROLL, "claim", [sv.address(SIGNER.public_key), sv.u32(4)])
    ev = dx.contract_event(PAYROLL, [sv.symbol("cancel")], sv.u32(1))
    ctx = parse_tx(
        "ab" * 32, "SUCCESS", 10, envelope(top, [SIGNER]), "", [[b64(ev.to_xdr_bytes())]]
    )
    assert [r.topic0 for r in ctx.contract_events()] == ["cancel"]
    assert ctx.return_value is None and not ctx.has_return_value


def test_failed_transaction_has_no_return_value() -> None:
    top = dx.Invocation(PAYROLL, "claim", [sv.address(SIGNER.public_key), sv.u32(4)])
    meta = b64(dx.build_meta(4, False, [], None, [], []))
    ctx = parse_tx("ab" * 32, "FAILED", 10, envelope(top, [SIGNER]), meta)
    assert not ctx.successful and ctx.return_value is None


def test_call_through_router_appears_as_sub_invocation() -> None:
    inner = dx.Invocation(PAYROLL, "claim", [sv.address(SIGNER.public_key), sv.u32(4)])
    top = dx.Invocation(
        ROUTER,
        "exec",
        [
            sv.address(SIGNER.public_key),
            sv.address(PAYROLL),
            sv.symbol("claim"),
            sv.vec(inner.args),
        ],
        [inner],
    )
    env = envelope(top, [SIGNER, SOURCE])
    ctx = parse_tx("ab" * 32, "SUCCESS", 10, env, "")
    claims = ctx.calls_to(PAYROLL, "claim")
    assert len(claims) == 1 and not claims[0].top_level
    assert claims[0].args == [SIGNER.public_key, 4]
    assert ctx.top_call is not None and ctx.top_call.contract == ROUTER
    # the root invocation appears in two auth entries and as the host function: once only
    assert len(ctx.calls_to(ROUTER, "exec")) == 1


def test_fee_bump_envelope() -> None:
    top = dx.Invocation(PAYROLL, "cancel_stream", [sv.address(SOURCE.public_key), sv.u32(1)])
    inner = x.TransactionEnvelope.from_xdr(envelope(top, [SOURCE]))
    assert inner.v1 is not None
    bump = x.TransactionEnvelope(
        x.EnvelopeType.ENVELOPE_TYPE_TX_FEE_BUMP,
        fee_bump=x.FeeBumpTransactionEnvelope(
            tx=x.FeeBumpTransaction(
                fee_source=x.MuxedAccount(
                    x.CryptoKeyType.KEY_TYPE_ED25519, ed25519=x.Uint256(SIGNER.raw_public_key())
                ),
                fee=x.Int64(1000),
                inner_tx=x.FeeBumpTransactionInnerTx(x.EnvelopeType.ENVELOPE_TYPE_TX, v1=inner.v1),
                ext=x.FeeBumpTransactionExt(0),
            ),
            signatures=[],
        ),
    )
    env = b64(bump.to_xdr_bytes())
    ctx = parse_tx("ab" * 32, "SUCCESS", 10, env, "")
    assert ctx.calls == [Call(PAYROLL, "cancel_stream", [SOURCE.public_key, 1], True)]


def test_unreadable_envelope_raises_a_decode_error() -> None:
    import pytest

    from orbitpay.stellar.tx import TxDecodeError

    with pytest.raises(TxDecodeError):
        parse_tx("ab" * 32, "SUCCESS", 1, b64(b"\x00\x00\x00\x02junk"), "")


# Random argument trees: the fast reader must agree with stellar-sdk's classes exactly.
leaf = st.one_of(
    st.integers(0, 2**32 - 1).map(sv.u32),
    st.integers(0, 2**64 - 1).map(sv.u64),
    st.integers(-(2**127), 2**127 - 1).map(sv.i128),
    st.integers(0, 2**128 - 1).map(sv.u128),
    st.text(alphabet="abcdefghij_0123456789", max_size=32).map(sv.symbol),
    st.text(max_size=20).map(sv.string),
    st.booleans().map(sv.boolean),
    st.just(sv.void()),
    st.binary(min_size=32, max_size=32).map(lambda b: sv.address(StrKey.encode_contract(b))),
    st.binary(min_size=32, max_size=32).map(
        lambda b: sv.address(StrKey.encode_ed25519_public_key(b))
    ),
    st.binary(max_size=40).map(lambda b: x.SCVal(x.SCValType.SCV_BYTES, bytes=x.SCBytes(b))),
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(sv.vec),
        st.dictionaries(st.sampled_from(["a", "b", "c", "zz"]), inner, max_size=3).map(
            lambda d: sv.struct(d)
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(values, max_size=5), st.booleans())
def test_fast_reader_equals_stellar_sdk(args: list[x.SCVal], via_router: bool) -> None:
    inner = dx.Invocation(PAYROLL, "create_batch_streams", args)
    top = dx.Invocation(ROUTER, "exec", [sv.vec(args)], [inner]) if via_router else inner
    env = envelope(top, [SIGNER, SOURCE])
    slow = envelope_calls(x.TransactionEnvelope.from_xdr(env))
    fast = dedupe([Call(c, f, a, t) for c, f, a, t in envelope_calls_fast(env)])
    assert fast == slow


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=4), st.lists(values, max_size=4), st.booleans())
def test_fast_reader_decodes_an_authorization_that_differs_from_the_call(
    args: list[x.SCVal], other: list[x.SCVal], prefix: bool
) -> None:
    """The root of an authorization is taken from the call only when it is the same
    bytes: one that authorizes other arguments (or a longer argument list that starts
    with the call's bytes) is decoded on its own."""
    top = dx.Invocation(PAYROLL, "create_batch_streams", args)
    signed = dx.Invocation(PAYROLL, "create_batch_streams", args + other if prefix else other)
    auth = [dx.auth_entry_source(top), dx.auth_entry_address(SIGNER, signed, 7, 1000, NET)]
    raw, _ = dx.build_envelope(SOURCE, 1, top, auth, NET)
    env = b64(raw)
    slow = envelope_calls(x.TransactionEnvelope.from_xdr(env))
    fast = dedupe([Call(c, f, a, t) for c, f, a, t in envelope_calls_fast(env)])
    assert fast == slow


def test_fast_reader_refuses_unknown_shapes() -> None:
    import pytest

    err = x.SCVal(
        x.SCValType.SCV_ERROR,
        error=x.SCError(x.SCErrorType.SCE_CONTRACT, contract_code=x.Uint32(3)),
    )
    env = envelope(dx.Invocation(PAYROLL, "claim", [err]), [SOURCE])
    with pytest.raises(Unsupported):
        envelope_calls_fast(env)
    # ...and parse_tx falls back to stellar-sdk for it
    ctx = parse_tx("ab" * 32, "SUCCESS", 1, env, "")
    assert ctx.calls[0].function == "claim"
