"""Builders for recorded-style Stellar RPC answers, shaped like a real stellar-rpc's.

Everything is real XDR made with stellar-sdk: envelopes (v1 and fee bump, with
authorization trees), transaction metas v3 (protocol 22, optionally with the
diagnostic events core emits when diagnostics are on) and v4 (protocol 23+),
contract events, ledger entries. The JSON around them follows stellar-rpc's
field names and types for each protocol (see the tests for the differences).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from stellar_sdk import Account, Address, Keypair, Network, StrKey, TransactionBuilder, xdr

from orbitpay.stellar import scval as sv

PASSPHRASE = Network.TESTNET_NETWORK_PASSPHRASE
CLOSE_TIME = 1_750_000_000
# A successful one-operation InvokeHostFunction result (the indexer does not read it).
RESULT_XDR = (
    "AAAAAAAAAGQAAAAAAAAAAQAAAAAAAAAYAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
)


def account(n: int) -> str:
    return Keypair.from_raw_ed25519_seed(bytes([n]) * 32).public_key


def keypair(n: int) -> Keypair:
    return Keypair.from_raw_ed25519_seed(bytes([n]) * 32)


def contract(n: int) -> str:
    return StrKey.encode_contract(bytes([200 + n]) * 32)


def b64(obj: Any) -> str:
    return base64.b64encode(obj.to_xdr_bytes()).decode()


def toid(ledger: int, tx: int, op: int) -> int:
    return (ledger << 32) | (tx << 12) | op


def event_id(ledger: int, tx: int, op: int, index: int) -> str:
    return f"{toid(ledger, tx, op):019d}-{index:010d}"


def rfc3339(ledger: int) -> str:
    t = datetime.fromtimestamp(CLOSE_TIME + 5 * ledger, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ── calls and envelopes ──────────────────────────────────────────────────────


def invoke_args(contract_id: str, function: str, args: list[xdr.SCVal]) -> xdr.InvokeContractArgs:
    return xdr.InvokeContractArgs(
        contract_address=Address(contract_id).to_xdr_sc_address(),
        function_name=xdr.SCSymbol(function.encode()),
        args=list(args),
    )


def authorized(
    contract_id: str,
    function: str,
    args: list[xdr.SCVal],
    subs: list[xdr.SorobanAuthorizedInvocation] | None = None,
) -> xdr.SorobanAuthorizedInvocation:
    return xdr.SorobanAuthorizedInvocation(
        function=xdr.SorobanAuthorizedFunction(
            xdr.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
            contract_fn=invoke_args(contract_id, function, args),
        ),
        sub_invocations=list(subs or []),
    )


def source_auth(root: xdr.SorobanAuthorizedInvocation) -> xdr.SorobanAuthorizationEntry:
    return xdr.SorobanAuthorizationEntry(
        credentials=xdr.SorobanCredentials(
            xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
        ),
        root_invocation=root,
    )


def address_auth(
    signer: str, root: xdr.SorobanAuthorizedInvocation
) -> xdr.SorobanAuthorizationEntry:
    """``ADDRESS`` credentials with a signature-shaped value (a vec of one map)."""
    signature = sv.vec(
        [
            sv.map_(
                [
                    (
                        sv.symbol("public_key"),
                        xdr.SCVal(xdr.SCValType.SCV_BYTES, bytes=xdr.SCBytes(b"\x01" * 32)),
                    ),
                    (
                        sv.symbol("signature"),
                        xdr.SCVal(xdr.SCValType.SCV_BYTES, bytes=xdr.SCBytes(b"\x02" * 64)),
                    ),
                ]
            )
        ]
    )
    return xdr.SorobanAuthorizationEntry(
        credentials=xdr.SorobanCredentials(
            xdr.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS,
            address=xdr.SorobanAddressCredentials(
                address=Address(signer).to_xdr_sc_address(),
                nonce=xdr.Int64(123456789),
                signature_expiration_ledger=xdr.Uint32(99999),
                signature=signature,
            ),
        ),
        root_invocation=root,
    )


def envelope(
    contract_id: str,
    function: str,
    args: list[xdr.SCVal],
    auth: list[xdr.SorobanAuthorizationEntry] | None = None,
    *,
    source: int = 1,
    fee_bump_by: int | None = None,
) -> str:
    """A signed v1 envelope invoking ``contract.function(*args)``; optionally fee-bumped."""
    kp = keypair(source)
    tx = (
        TransactionBuilder(Account(kp.public_key, 1000), PASSPHRASE, base_fee=100)
        .append_invoke_contract_function_op(contract_id, function, args, auth=auth or [])
        .set_timeout(300)
        .build()
    )
    tx.sign(kp)
    if fee_bump_by is None:
        return tx.to_xdr()
    relayer = keypair(fee_bump_by)
    fb = TransactionBuilder.build_fee_bump_transaction(
        fee_source=relayer.public_key,
        base_fee=500,
        inner_transaction_envelope=tx,
        network_passphrase=PASSPHRASE,
    )
    fb.sign(relayer)
    return fb.to_xdr()


# ── events and metas ─────────────────────────────────────────────────────────


def contract_event(
    contract_id: str,
    topics: list[xdr.SCVal],
    value: xdr.SCVal,
    type_: xdr.ContractEventType = xdr.ContractEventType.CONTRACT,
) -> xdr.ContractEvent:
    return xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=xdr.ContractID(xdr.Hash(StrKey.decode_contract(contract_id))),
        type=type_,
        body=xdr.ContractEventBody(0, v0=xdr.ContractEventV0(topics=topics, data=value)),
    )


def fn_call_diag(contract_id: str, function: str) -> xdr.DiagnosticEvent:
    body = xdr.ContractEvent(
        ext=xdr.ExtensionPoint(0),
        contract_id=None,
        type=xdr.ContractEventType.DIAGNOSTIC,
        body=xdr.ContractEventBody(
            0,
            v0=xdr.ContractEventV0(
                topics=[
                    sv.symbol("fn_call"),
                    xdr.SCVal(
                        xdr.SCValType.SCV_BYTES,
                        bytes=xdr.SCBytes(StrKey.decode_contract(contract_id)),
                    ),
                    sv.symbol(function),
                ],
                data=sv.void(),
            ),
        ),
    )
    return xdr.DiagnosticEvent(in_successful_contract_call=True, event=body)


def fn_return_diag(contract_id: str, function: str) -> xdr.DiagnosticEvent:
    ev = contract_event(
        contract_id,
        [sv.symbol("fn_return"), sv.symbol(function)],
        sv.void(),
        xdr.ContractEventType.DIAGNOSTIC,
    )
    return xdr.DiagnosticEvent(in_successful_contract_call=True, event=ev)


def _no_changes() -> xdr.LedgerEntryChanges:
    return xdr.LedgerEntryChanges([])


def meta_v3(
    events: list[xdr.ContractEvent],
    return_value: xdr.SCVal,
    diagnostics: list[xdr.DiagnosticEvent] | None = None,
) -> str:
    meta = xdr.TransactionMeta(
        3,
        v3=xdr.TransactionMetaV3(
            ext=xdr.ExtensionPoint(0),
            tx_changes_before=_no_changes(),
            operations=[xdr.OperationMeta(changes=_no_changes())],
            tx_changes_after=_no_changes(),
            soroban_meta=xdr.SorobanTransactionMeta(
                ext=xdr.SorobanTransactionMetaExt(0),
                events=events,
                return_value=return_value,
                diagnostic_events=list(diagnostics or []),
            ),
        ),
    )
    return b64(meta)


def meta_v4(per_op: list[list[xdr.ContractEvent]], return_value: xdr.SCVal | None) -> str:
    meta = xdr.TransactionMeta(
        4,
        v4=xdr.TransactionMetaV4(
            ext=xdr.ExtensionPoint(0),
            tx_changes_before=_no_changes(),
            operations=[
                xdr.OperationMetaV2(ext=xdr.ExtensionPoint(0), changes=_no_changes(), events=evs)
                for evs in per_op
            ],
            tx_changes_after=_no_changes(),
            soroban_meta=xdr.SorobanTransactionMetaV2(
                ext=xdr.SorobanTransactionMetaExt(0), return_value=return_value
            ),
            events=[],
            diagnostic_events=[],
        ),
    )
    return b64(meta)


# ── JSON shapes ──────────────────────────────────────────────────────────────


def event_json(
    protocol: int,
    *,
    ledger: int,
    tx: int,
    op: int,
    index: int,
    contract_id: str,
    topics: list[xdr.SCVal],
    value: xdr.SCVal,
    tx_hash: str,
    type_: str = "contract",
    successful: bool = True,
) -> dict[str, Any]:
    """One ``getEvents`` item as a protocol-22 or protocol-23 stellar-rpc serves it."""
    eid = event_id(ledger, tx, op, index)
    out: dict[str, Any] = {
        "type": type_,
        "ledger": ledger,
        "ledgerClosedAt": rfc3339(ledger),
        "contractId": contract_id,
        "id": eid,
    }
    if protocol < 23:
        out["pagingToken"] = eid
        out["inSuccessfulContractCall"] = successful
    else:
        out["operationIndex"] = op
        out["transactionIndex"] = tx
    out["txHash"] = tx_hash
    out["topic"] = [sv.to_b64(t) for t in topics]
    out["value"] = sv.to_b64(value)
    return out


def events_result(
    events: list[dict[str, Any]], *, latest: int, oldest: int, cursor: str
) -> dict[str, Any]:
    return {
        "events": events,
        "cursor": cursor,
        "latestLedger": latest,
        "oldestLedger": oldest,
        "latestLedgerCloseTime": str(CLOSE_TIME + 5 * latest),
        "oldestLedgerCloseTime": str(CLOSE_TIME + 5 * oldest),
    }


def max_cursor(ledger: int) -> str:
    """The cursor stellar-rpc returns for a page that did not fill up."""
    return f"{toid(ledger, 0xFFFFF, 0xFFF):019d}-{0xFFFFFFFF:010d}"


def tx_json(
    protocol: int,
    *,
    tx_hash: str,
    ledger: int,
    order: int,
    envelope_xdr: str,
    meta_xdr: str,
    status: str = "SUCCESS",
    events: list[list[xdr.ContractEvent]] | None = None,
    for_list: bool = False,
) -> dict[str, Any]:
    """A transaction as ``getTransaction`` (``createdAt`` string) or ``getTransactions`` (int)."""
    created = CLOSE_TIME + 5 * ledger
    out: dict[str, Any] = {
        "status": status,
        "txHash": tx_hash,
        "applicationOrder": order,
        "feeBump": False,
        "envelopeXdr": envelope_xdr,
        "resultXdr": RESULT_XDR,
        "resultMetaXdr": meta_xdr,
        "ledger": ledger,
        "createdAt": created if for_list else str(created),
    }
    if protocol >= 23 and events is not None:
        out["events"] = {
            "transactionEventsXdr": [],
            "contractEventsXdr": [[b64(e) for e in op] for op in events],
        }
    if not for_list:
        out.update(
            {
                "latestLedger": ledger + 10,
                "latestLedgerCloseTime": str(created + 50),
                "oldestLedger": 1,
                "oldestLedgerCloseTime": str(CLOSE_TIME),
            }
        )
    return out
