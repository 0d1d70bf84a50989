"""Real Stellar XDR for the devnet: envelopes, results, metas, events, ledger entries.

Everything here is built with ``stellar_sdk.xdr`` so a client decodes it with the
same classes it would use against a real Stellar RPC:

- a transaction is a signed ``TransactionEnvelope`` (``ENVELOPE_TYPE_TX``, v1) with
  one ``InvokeHostFunction`` operation (``HOST_FUNCTION_TYPE_INVOKE_CONTRACT``),
  its ``SorobanAuthorizationEntry`` list and ``SorobanTransactionData`` (ext v1);
- the result is a ``TransactionResult`` (``txSUCCESS`` with an
  ``INVOKE_HOST_FUNCTION_SUCCESS`` hash, or ``txFAILED`` with
  ``INVOKE_HOST_FUNCTION_TRAPPED``);
- the meta is ``TransactionMeta`` v4 (protocol 23: contract events per operation,
  ``SorobanTransactionMetaV2.return_value``, fee ``TransactionEvent`` s) or v3
  (``SorobanTransactionMeta`` with events and return value), chosen per chain;
  by default a meta is as heavy as the network's (:class:`TxChanges`: every
  written contract data entry in full before and after, its TTL entry, the
  source account around the sequence bump and the refund, the resource fees),
  which is what an indexer really has to read through;
- event ids follow stellar-rpc: ``"%019d-%010d" % (TOID, event index)`` where the
  TOID packs ``ledger << 32 | tx_order << 12 | op_index`` (tx order counts from 1,
  the operation index from 0).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from stellar_sdk import Keypair, Network, StrKey
from stellar_sdk import xdr as x

from orbitpay.stellar import scval as sv
from orbitpay.stellar.rpc import MAX_EVENT_INDEX, OP_MASK, TX_MASK, event_id, toid
from orbitpay.stellar.rpc import toid_parts as parse_toid

BASE_FEE = 100
RESOURCE_FEE = 95_000  # every devnet transaction declares this Soroban resource fee
PROTOCOL_VERSION = 23


def parse_event_id(value: str) -> tuple[int, int, int, int]:
    """``"<toid>-<event index>"`` -> (ledger, tx order, op index, event index)."""
    parts = value.split("-")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ValueError(f"invalid event id {value}")
    t, idx = int(parts[0]), int(parts[1])
    if t >= 1 << 63 or idx > MAX_EVENT_INDEX:
        raise ValueError(f"invalid event id {value}")
    ledger, tx, op = parse_toid(t)
    return ledger, tx, op, idx


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def network_id(passphrase: str) -> bytes:
    """stellar-sdk's network id (SHA-256 of the passphrase), the prefix of every signed payload."""
    return Network(passphrase).network_id()


def contract_strkey(seed: str) -> str:
    """A deterministic contract id (as if deployed with a salt derived from ``seed``)."""
    return StrKey.encode_contract(
        hashlib.sha256(b"orbitpay-devnet-contract:" + seed.encode()).digest()
    )


def _sc_address(strkey: str) -> x.SCAddress:
    address = sv.address(strkey).address
    assert address is not None  # an SCV_ADDRESS value always carries one
    return address


@dataclass(slots=True)
class Invocation:
    """One contract call: ``contract.function(*args)`` plus the calls it authorizes below it."""

    contract: str
    function: str
    args: list[x.SCVal]
    sub: list[Invocation] = field(default_factory=list)

    def contract_args(self) -> x.InvokeContractArgs:
        return x.InvokeContractArgs(
            contract_address=_sc_address(self.contract),
            function_name=x.SCSymbol(self.function.encode()),
            args=self.args,
        )

    def authorized(self) -> x.SorobanAuthorizedInvocation:
        return x.SorobanAuthorizedInvocation(
            function=x.SorobanAuthorizedFunction(
                x.SorobanAuthorizedFunctionType.SOROBAN_AUTHORIZED_FUNCTION_TYPE_CONTRACT_FN,
                contract_fn=self.contract_args(),
            ),
            sub_invocations=[s.authorized() for s in self.sub],
        )


def auth_entry_source(inv: Invocation) -> x.SorobanAuthorizationEntry:
    """Authorization by the transaction's source account (``SOURCE_ACCOUNT`` credentials)."""
    return x.SorobanAuthorizationEntry(
        credentials=x.SorobanCredentials(
            x.SorobanCredentialsType.SOROBAN_CREDENTIALS_SOURCE_ACCOUNT
        ),
        root_invocation=inv.authorized(),
    )


def auth_entry_address(
    signer: Keypair, inv: Invocation, nonce: int, expiration_ledger: int, net_id: bytes
) -> x.SorobanAuthorizationEntry:
    """Authorization signed by ``signer`` (``ADDRESS`` credentials, ed25519 account signature)."""
    root = inv.authorized()
    preimage = x.HashIDPreimage(
        x.EnvelopeType.ENVELOPE_TYPE_SOROBAN_AUTHORIZATION,
        soroban_authorization=x.HashIDPreimageSorobanAuthorization(
            network_id=x.Hash(net_id),
            nonce=x.Int64(nonce),
            signature_expiration_ledger=x.Uint32(expiration_ledger),
            invocation=root,
        ),
    )
    payload = hashlib.sha256(preimage.to_xdr_bytes()).digest()
    signature = sv.vec(
        [
            sv.struct(
                {
                    "public_key": x.SCVal(
                        x.SCValType.SCV_BYTES, bytes=x.SCBytes(signer.raw_public_key())
                    ),
                    "signature": x.SCVal(
                        x.SCValType.SCV_BYTES, bytes=x.SCBytes(signer.sign(payload))
                    ),
                }
            )
        ]
    )
    return x.SorobanAuthorizationEntry(
        credentials=x.SorobanCredentials(
            x.SorobanCredentialsType.SOROBAN_CREDENTIALS_ADDRESS,
            address=x.SorobanAddressCredentials(
                address=_sc_address(signer.public_key),
                nonce=x.Int64(nonce),
                signature_expiration_ledger=x.Uint32(expiration_ledger),
                signature=signature,
            ),
        ),
        root_invocation=root,
    )


_EMPTY_FOOTPRINT = x.LedgerFootprint(read_only=[], read_write=[])


def build_envelope(
    source: Keypair,
    seq_num: int,
    top: Invocation,
    auth: list[x.SorobanAuthorizationEntry],
    net_id: bytes,
    resource_fee: int = RESOURCE_FEE,
) -> tuple[bytes, str]:
    """A signed v1 envelope with one InvokeHostFunction op. Returns (XDR bytes, tx hash hex)."""
    op = x.Operation(
        source_account=None,
        body=x.OperationBody(
            x.OperationType.INVOKE_HOST_FUNCTION,
            invoke_host_function_op=x.InvokeHostFunctionOp(
                host_function=x.HostFunction(
                    x.HostFunctionType.HOST_FUNCTION_TYPE_INVOKE_CONTRACT,
                    invoke_contract=top.contract_args(),
                ),
                auth=auth,
            ),
        ),
    )
    soroban_data = x.SorobanTransactionData(
        ext=x.SorobanTransactionDataExt(0),
        resources=x.SorobanResources(
            footprint=_EMPTY_FOOTPRINT,
            instructions=x.Uint32(2_500_000),
            disk_read_bytes=x.Uint32(6_000),
            write_bytes=x.Uint32(1_200),
        ),
        resource_fee=x.Int64(resource_fee),
    )
    tx = x.Transaction(
        source_account=x.MuxedAccount(
            x.CryptoKeyType.KEY_TYPE_ED25519, ed25519=x.Uint256(source.raw_public_key())
        ),
        fee=x.Uint32(BASE_FEE + resource_fee),
        seq_num=x.SequenceNumber(x.Int64(seq_num)),
        cond=x.Preconditions(x.PreconditionType.PRECOND_NONE),
        memo=x.Memo(x.MemoType.MEMO_NONE),
        operations=[op],
        ext=x.TransactionExt(1, soroban_data=soroban_data),
    )
    # Pack the transaction once: the signature payload is network id + envelope
    # type + tx, and the v1 envelope is envelope type + tx + signatures.
    tx_bytes = tx.to_xdr_bytes()
    tagged = struct.pack(">I", x.EnvelopeType.ENVELOPE_TYPE_TX.value) + tx_bytes
    tx_hash = hashlib.sha256(net_id + tagged).digest()
    sig = x.DecoratedSignature(
        hint=x.SignatureHint(source.raw_public_key()[-4:]),
        signature=x.Signature(source.sign(tx_hash)),
    )
    envelope = tagged + struct.pack(">I", 1) + sig.to_xdr_bytes()
    return envelope, tx_hash.hex()


@lru_cache(maxsize=65_536)
def _contract_id(contract: str) -> x.ContractID:
    return x.ContractID(x.Hash(StrKey.decode_contract(contract)))


def contract_event(contract: str, topics: list[x.SCVal], data: x.SCVal) -> x.ContractEvent:
    return x.ContractEvent(
        ext=x.ExtensionPoint(0),
        contract_id=_contract_id(contract),
        type=x.ContractEventType.CONTRACT,
        body=x.ContractEventBody(0, v0=x.ContractEventV0(topics=topics, data=data)),
    )


def error_diagnostic(contract: str, code: int, message: str) -> x.DiagnosticEvent:
    """The diagnostic event core emits when a contract call returns an error."""
    err = x.SCVal(
        x.SCValType.SCV_ERROR,
        error=x.SCError(x.SCErrorType.SCE_CONTRACT, contract_code=x.Uint32(code)),
    )
    ev = x.ContractEvent(
        ext=x.ExtensionPoint(0),
        contract_id=x.ContractID(x.Hash(StrKey.decode_contract(contract))),
        type=x.ContractEventType.DIAGNOSTIC,
        body=x.ContractEventBody(
            0, v0=x.ContractEventV0(topics=[sv.symbol("error"), err], data=sv.string(message))
        ),
    )
    return x.DiagnosticEvent(in_successful_contract_call=False, event=ev)


def fee_events(native_sac: str, source: str, charged: int, refund: int) -> list[x.TransactionEvent]:
    def fee(stage: x.TransactionEventStage, amount: int) -> x.TransactionEvent:
        return x.TransactionEvent(
            stage=stage,
            event=contract_event(
                native_sac, [sv.symbol("fee"), sv.address(source)], sv.i128(amount)
            ),
        )

    return [
        fee(x.TransactionEventStage.TRANSACTION_EVENT_STAGE_BEFORE_ALL_TXS, charged),
        fee(x.TransactionEventStage.TRANSACTION_EVENT_STAGE_AFTER_ALL_TXS, -refund),
    ]


def build_result(success: bool, fee_charged: int, return_hash: bytes) -> bytes:
    if success:
        op_res = x.InvokeHostFunctionResult(
            x.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_SUCCESS,
            success=x.Hash(return_hash),
        )
        code = x.TransactionResultCode.txSUCCESS
    else:
        op_res = x.InvokeHostFunctionResult(
            x.InvokeHostFunctionResultCode.INVOKE_HOST_FUNCTION_TRAPPED
        )
        code = x.TransactionResultCode.txFAILED
    res = x.TransactionResult(
        fee_charged=x.Int64(fee_charged),
        result=x.TransactionResultResult(
            code,
            results=[
                x.OperationResult(
                    x.OperationResultCode.opINNER,
                    tr=x.OperationResultTr(
                        x.OperationType.INVOKE_HOST_FUNCTION,
                        invoke_host_function_result=op_res,
                    ),
                )
            ],
        ),
        ext=x.TransactionResultExt(0),
    )
    return res.to_xdr_bytes()


def success_preimage_hash(return_value: x.SCVal, packed_events: list[bytes]) -> bytes:
    """sha256 of ``InvokeHostFunctionSuccessPreImage`` (return value + packed events)."""
    pre = (
        return_value.to_xdr_bytes()
        + struct.pack(">I", len(packed_events))
        + b"".join(packed_events)
    )
    return hashlib.sha256(pre).digest()


@dataclass(slots=True)
class TxChanges:
    """What a transaction changed besides its contract events, as core records it in the meta.

    ``before``/``after``: the source account's entry around the sequence bump and
    the fee refund (``txChangesBefore``/``txChangesAfter``); ``operation``: every
    written ledger entry of the one operation (contract data, then its TTL, as
    STATE + UPDATED pairs or CREATED); ``fees``: the Soroban resource fees of
    ``SorobanTransactionMetaExtV1`` (non-refundable, refundable, rent), or None
    for the thin metas of older devnets (no ext).
    """

    before: list[x.LedgerEntryChange] = field(default_factory=list)
    operation: list[x.LedgerEntryChange] = field(default_factory=list)
    after: list[x.LedgerEntryChange] = field(default_factory=list)
    fees: tuple[int, int, int] | None = None


def state_updated(before: x.LedgerEntry, after: x.LedgerEntry) -> list[x.LedgerEntryChange]:
    """The pair core writes for an entry a transaction modified."""
    return [
        x.LedgerEntryChange(x.LedgerEntryChangeType.LEDGER_ENTRY_STATE, state=before),
        x.LedgerEntryChange(x.LedgerEntryChangeType.LEDGER_ENTRY_UPDATED, updated=after),
    ]


def created(entry: x.LedgerEntry) -> x.LedgerEntryChange:
    return x.LedgerEntryChange(x.LedgerEntryChangeType.LEDGER_ENTRY_CREATED, created=entry)


def account_entry(
    public_key: bytes, balance: int, seq_num: int, last_modified: int
) -> x.LedgerEntry:
    """An ``AccountEntry`` as a funded Soroban user's: one master signer, v2 extension."""
    account_id = x.AccountID(
        x.PublicKey(x.PublicKeyType.PUBLIC_KEY_TYPE_ED25519, x.Uint256(public_key))
    )
    v3 = x.AccountEntryExtensionV3(
        ext=x.ExtensionPoint(0),
        seq_ledger=x.Uint32(last_modified),
        seq_time=x.TimePoint(x.Uint64(0)),
    )
    v2 = x.AccountEntryExtensionV2(
        num_sponsored=x.Uint32(0),
        num_sponsoring=x.Uint32(0),
        signer_sponsoring_i_ds=[],
        ext=x.AccountEntryExtensionV2Ext(3, v3=v3),
    )
    v1 = x.AccountEntryExtensionV1(
        liabilities=x.Liabilities(buying=x.Int64(0), selling=x.Int64(0)),
        ext=x.AccountEntryExtensionV1Ext(2, v2=v2),
    )
    entry = x.AccountEntry(
        account_id=account_id,
        balance=x.Int64(balance),
        seq_num=x.SequenceNumber(x.Int64(seq_num)),
        num_sub_entries=x.Uint32(0),
        inflation_dest=None,
        flags=x.Uint32(0),
        home_domain=x.String32(b""),
        thresholds=x.Thresholds(b"\x01\x00\x00\x00"),
        signers=[],
        ext=x.AccountEntryExt(1, v1=v1),
    )
    return ledger_entry(x.LedgerEntryData(x.LedgerEntryType.ACCOUNT, account=entry), last_modified)


def ttl_entry(key: x.LedgerKey, live_until: int, last_modified: int) -> x.LedgerEntry:
    """The ``TTLEntry`` of ``key`` (keyed by the sha256 of the packed ledger key)."""
    key_hash = hashlib.sha256(key.to_xdr_bytes()).digest()
    return ledger_entry(
        x.LedgerEntryData(
            x.LedgerEntryType.TTL,
            ttl=x.TTLEntry(key_hash=x.Hash(key_hash), live_until_ledger_seq=x.Uint32(live_until)),
        ),
        last_modified,
    )


def _soroban_ext(fees: tuple[int, int, int] | None) -> x.SorobanTransactionMetaExt:
    if fees is None:
        return x.SorobanTransactionMetaExt(0)
    non_refundable, refundable, rent = fees
    return x.SorobanTransactionMetaExt(
        1,
        v1=x.SorobanTransactionMetaExtV1(
            ext=x.ExtensionPoint(0),
            total_non_refundable_resource_fee_charged=x.Int64(non_refundable),
            total_refundable_resource_fee_charged=x.Int64(refundable),
            rent_fee_charged=x.Int64(rent),
        ),
    )


def build_meta(
    version: int,
    success: bool,
    events: list[x.ContractEvent],
    return_value: x.SCVal | None,
    diagnostics: list[x.DiagnosticEvent],
    tx_events: list[x.TransactionEvent],
    changes: TxChanges | None = None,
) -> bytes:
    """The transaction meta; ``changes`` go where core puts them (see :class:`TxChanges`)."""
    ch = changes if changes is not None else TxChanges()
    op_changes = x.LedgerEntryChanges(list(ch.operation))
    before = x.LedgerEntryChanges(list(ch.before))
    after = x.LedgerEntryChanges(list(ch.after))
    if version == 4:
        meta = x.TransactionMeta(
            4,
            v4=x.TransactionMetaV4(
                ext=x.ExtensionPoint(0),
                tx_changes_before=before,
                operations=(
                    [
                        x.OperationMetaV2(
                            ext=x.ExtensionPoint(0),
                            changes=op_changes,
                            events=events,
                        )
                    ]
                    if success
                    else []
                ),
                tx_changes_after=after,
                soroban_meta=x.SorobanTransactionMetaV2(
                    ext=_soroban_ext(ch.fees),
                    return_value=return_value if success else None,
                ),
                events=tx_events,
                diagnostic_events=diagnostics,
            ),
        )
    else:
        meta = x.TransactionMeta(
            3,
            v3=x.TransactionMetaV3(
                ext=x.ExtensionPoint(0),
                tx_changes_before=before,
                operations=[x.OperationMeta(changes=op_changes)] if success else [],
                tx_changes_after=after,
                soroban_meta=x.SorobanTransactionMeta(
                    ext=_soroban_ext(ch.fees),
                    events=events if success else [],
                    return_value=return_value if return_value is not None else sv.void(),
                    diagnostic_events=diagnostics,
                ),
            ),
        )
    return meta.to_xdr_bytes()


def contract_data_key(contract: str, key: x.SCVal) -> x.LedgerKey:
    return x.LedgerKey(
        x.LedgerEntryType.CONTRACT_DATA,
        contract_data=x.LedgerKeyContractData(
            contract=_sc_address(contract),
            key=key,
            durability=x.ContractDataDurability.PERSISTENT,
        ),
    )


def ledger_entry(data: x.LedgerEntryData, last_modified: int) -> x.LedgerEntry:
    return x.LedgerEntry(
        last_modified_ledger_seq=x.Uint32(last_modified),
        data=data,
        ext=x.LedgerEntryExt(0),
    )


def instance_key_scval() -> x.SCVal:
    return x.SCVal(x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE)


def contract_data_entry(contract: str, key: x.SCVal, val: x.SCVal) -> x.LedgerEntryData:
    return x.LedgerEntryData(
        x.LedgerEntryType.CONTRACT_DATA,
        contract_data=x.ContractDataEntry(
            ext=x.ExtensionPoint(0),
            contract=_sc_address(contract),
            key=key,
            durability=x.ContractDataDurability.PERSISTENT,
            val=val,
        ),
    )


def instance_value(wasm_hash: bytes, storage: list[tuple[x.SCVal, x.SCVal]]) -> x.SCVal:
    return x.SCVal(
        x.SCValType.SCV_CONTRACT_INSTANCE,
        instance=x.SCContractInstance(
            executable=x.ContractExecutable(
                x.ContractExecutableType.CONTRACT_EXECUTABLE_WASM, wasm_hash=x.Hash(wasm_hash)
            ),
            storage=x.SCMap([x.SCMapEntry(key=k, val=v) for k, v in storage]),
        ),
    )


def ledger_hash(passphrase: str, seq: int) -> bytes:
    return hashlib.sha256(f"orbitpay-devnet-ledger:{passphrase}:{seq}".encode()).digest()


__all__ = [
    "MAX_EVENT_INDEX",
    "OP_MASK",
    "RESOURCE_FEE",
    "TX_MASK",
    "Invocation",
    "auth_entry_address",
    "auth_entry_source",
    "b64",
    "build_envelope",
    "build_meta",
    "build_result",
    "contract_event",
    "contract_strkey",
    "event_id",
    "parse_event_id",
    "parse_toid",
    "toid",
]
