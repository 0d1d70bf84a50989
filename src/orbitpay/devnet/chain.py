"""The simulated chain: accounts, contracts, ledgers, transactions and events in memory.

Ledgers are implicit: ledger ``s`` closes at ``genesis_time + (s - genesis_ledger) * 5``
seconds; only ledgers that contain transactions are stored (indexed by sequence,
with a sorted list for range scans), so months of history cost nothing while
empty. Transactions execute against the ledger being built (``open_ledger``),
whose close time is the contract clock (``env.ledger().timestamp()``); clients
only see closed ledgers.

Each event is stored once, as base64 XDR topic/value strings plus its cursor
fields; each transaction keeps its envelope/result/meta XDR bytes.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from stellar_sdk import Keypair, StrKey
from stellar_sdk import xdr as x

from orbitpay.devnet import xdr as dx
from orbitpay.devnet.contracts.base import (
    _MISSING,
    Contract,
    ContractError,
    Env,
    TxContext,
    key_to_scval,
)
from orbitpay.devnet.contracts.governance import GovernanceContract
from orbitpay.devnet.contracts.payroll import PayrollContract
from orbitpay.devnet.contracts.router import RouterContract
from orbitpay.devnet.contracts.token import TokenContract
from orbitpay.devnet.contracts.treasury import TreasuryContract
from orbitpay.devnet.contracts.vesting import VestingContract
from orbitpay.stellar import scval as sv

DEFAULT_PASSPHRASE = "OrbitPay Devnet ; January 2026"
GENESIS_LEDGER = 2_000_000
GENESIS_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z
LEDGER_SECONDS = 5
PERSISTENT_TTL_LEDGERS = 30 * 17_280  # the contracts bump entries to 30 days
STARTING_BALANCE = 10_000 * 10_000_000  # every account starts with 10,000 XLM
FEE_REFUND = 31_337  # the part of the resource fee refunded after execution
METAS = ("full", "thin")

CONTRACT_KINDS: dict[str, type[Contract]] = {
    "treasury": TreasuryContract,
    "payroll": PayrollContract,
    "vesting": VestingContract,
    "governance": GovernanceContract,
    "token": TokenContract,
    "router": RouterContract,
}


@lru_cache(maxsize=4096)
def iso_utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class EventRec:
    ledger: int
    tx_order: int
    op_index: int
    event_index: int
    id: str
    contract_id: str
    topics: tuple[str, ...]
    value: str
    tx_hash: str
    closed_at: str

    @property
    def cursor(self) -> tuple[int, int, int, int]:
        return (self.ledger, self.tx_order, self.op_index, self.event_index)


@dataclass(slots=True)
class TxRec:
    hash: str
    ledger: int
    order: int
    success: bool
    created_at: int
    # base64 XDR, as the RPC serves it (encoded once here, not on every request)
    envelope_xdr: str
    result_xdr: str
    meta_xdr: str
    contract_events: list[str]
    tx_events: list[str]
    diagnostics: list[str]
    contract: str
    function: str
    error: str | None = None


@dataclass(slots=True)
class LedgerRec:
    seq: int
    close_time: int
    txs: list[TxRec] = field(default_factory=list)
    events: list[EventRec] = field(default_factory=list)


@dataclass(slots=True)
class TxOutcome:
    """What ``Chain.invoke`` returns to the scenario code."""

    hash: str
    ledger: int
    success: bool
    return_value: Any
    error: str | None


class Chain:
    """In-memory ledgers, transactions, events and contract state."""

    def __init__(
        self,
        *,
        seed: int = 1,
        network_passphrase: str = DEFAULT_PASSPHRASE,
        genesis_ledger: int = GENESIS_LEDGER,
        genesis_time: int = GENESIS_TIME,
        retention_ledgers: int | None = None,
        meta_version: int = 4,
        metas: str | None = None,
        ledger_changes: bool | None = None,
    ) -> None:
        if meta_version not in (3, 4):
            raise ValueError("meta_version must be 3 or 4")
        if metas is None:  # the older switch: True is "full", False "thin"; default full
            metas = "thin" if ledger_changes is False else "full"
        if metas not in METAS:
            raise ValueError(f"metas must be one of {METAS}")
        self.seed = seed
        self.network_passphrase = network_passphrase
        self.network_id = dx.network_id(network_passphrase)
        self.genesis_ledger = genesis_ledger
        self.genesis_time = genesis_time
        self.retention_ledgers = retention_ledgers
        self.meta_version = meta_version
        # "full": each meta as core writes it (every written entry before and after, its
        # TTL, the source account around the sequence bump and the refund, resource
        # fees); "thin": events and return value only (the devnet before issue 12;
        # kept to measure what the heavy metas cost).
        self.metas = metas
        self.ledger_changes = metas == "full"
        self._balance: dict[str, int] = {}
        self._account_modified: dict[str, int] = {}
        self.lock = threading.RLock()
        self.accounts: dict[str, Keypair] = {}
        self.account_names: dict[str, str] = {}
        self._seq: dict[str, int] = {}
        self._nonce = 0
        self.contracts: dict[str, Contract] = {}
        self.contract_names: dict[str, str] = {}
        self._orgs: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}  # scenario bookkeeping (e.g. the live stepper's handles)
        self.ledgers: dict[int, LedgerRec] = {}
        self._ledger_seqs: list[int] = []
        self.open_seq = genesis_ledger
        self._open = LedgerRec(genesis_ledger, self.close_time(genesis_ledger))
        self.txs: dict[str, TxRec] = {}
        self.event_count = 0
        self.tx_count = 0
        self.failed_tx_count = 0
        self.native_sac = StrKey.encode_contract(
            hashlib.sha256(b"native-sac:" + self.network_id).digest()
        )
        self._fee_cache: dict[str, list[x.TransactionEvent]] = {}
        self._fee_b64_cache: dict[str, list[str]] = {}
        self.router = self.deploy("router", "router")

    # time -------------------------------------------------------------------
    def close_time(self, seq: int) -> int:
        return self.genesis_time + (seq - self.genesis_ledger) * LEDGER_SECONDS

    @property
    def now(self) -> int:
        """Close time of the ledger being built: the contracts' clock."""
        return self.close_time(self.open_seq)

    @property
    def latest_ledger(self) -> int:
        return self.open_seq - 1

    @property
    def oldest_ledger(self) -> int:
        latest = self.latest_ledger
        if self.retention_ledgers is None:
            return min(self.genesis_ledger, latest)
        return max(self.genesis_ledger, latest - self.retention_ledgers + 1)

    def close_ledger(self) -> int:
        """Close the ledger being built; returns its sequence."""
        with self.lock:
            rec = self._open
            if rec.txs:
                self.ledgers[rec.seq] = rec
                self._ledger_seqs.append(rec.seq)
            self.open_seq += 1
            self._open = LedgerRec(self.open_seq, self.close_time(self.open_seq))
            return rec.seq

    def advance_to(self, timestamp: int) -> None:
        """Close ledgers (empty ones implicitly) until the open ledger's time >= ``timestamp``."""
        with self.lock:
            if self.now >= timestamp:
                return
            self.close_ledger()
            target = self.genesis_ledger + -(-(timestamp - self.genesis_time) // LEDGER_SECONDS)
            if target > self.open_seq:
                self.open_seq = target
                self._open = LedgerRec(target, self.close_time(target))

    def advance(self, seconds: int) -> None:
        self.advance_to(self.now + seconds)

    # accounts and contracts -------------------------------------------------
    def account(self, name: str) -> Keypair:
        """A deterministic account keypair for ``name`` (derived from the chain seed)."""
        digest = hashlib.sha256(f"orbitpay-devnet:{self.seed}:account:{name}".encode()).digest()
        kp = Keypair.from_raw_ed25519_seed(digest)
        if kp.public_key not in self.accounts:
            self.accounts[kp.public_key] = kp
            self.account_names[kp.public_key] = name
            self._seq[kp.public_key] = self.genesis_ledger << 32
        return kp

    def deploy(self, kind: str, name: str) -> Contract:
        cid = dx.contract_strkey(f"{self.seed}:{self.network_passphrase}:{kind}:{name}")
        wasm = hashlib.sha256(f"orbitpay-wasm:{kind}".encode()).digest()
        contract = CONTRACT_KINDS[kind](cid, wasm)
        contract.instance_modified = self.open_seq
        self.contracts[cid] = contract
        self.contract_names[cid] = name
        return contract

    def contract(self, contract_id: str) -> Contract:
        try:
            return self.contracts[contract_id]
        except KeyError:
            raise ContractError(0, f"Storage(MissingValue): no contract {contract_id}") from None

    def token(self, contract_id: str) -> TokenContract:
        c = self.contract(contract_id)
        if not isinstance(c, TokenContract):
            raise ContractError(0, f"WasmVm(MissingValue): {contract_id} is not a token")
        return c

    def register_organization(self, name: str, admin: str, contracts: dict[str, str]) -> None:
        self._orgs.append({"name": name, "admin": admin, "contracts": dict(contracts)})

    def organizations(self) -> list[dict[str, Any]]:
        return [{**o, "contracts": dict(o["contracts"])} for o in self._orgs]

    # transactions -----------------------------------------------------------
    def invoke(
        self,
        source: Keypair,
        contract_id: str,
        function: str,
        args: list[x.SCVal],
        *,
        signers: list[Keypair] | None = None,
        via_router: bool = False,
    ) -> TxOutcome:
        """Submit a transaction calling ``contract_id.function(*args)`` in the open ledger.

        ``signers`` are the addresses that authorize the call (default: the source
        account, with ``SOURCE_ACCOUNT`` credentials; others sign ``ADDRESS``
        credentials). With ``via_router`` the top-level call is
        ``router.exec(caller, contract, function, args)`` and the OrbitPay call is a
        sub-invocation in each signer's authorization tree.
        """
        with self.lock:
            return self._invoke(source, contract_id, function, args, signers, via_router)

    def _invoke(
        self,
        source: Keypair,
        contract_id: str,
        function: str,
        args: list[x.SCVal],
        signers: list[Keypair] | None,
        via_router: bool,
    ) -> TxOutcome:
        if source.public_key not in self.accounts:
            self.accounts[source.public_key] = source
            self.account_names[source.public_key] = source.public_key
        signers = signers if signers is not None else [source]
        inner = dx.Invocation(contract_id, function, args)
        if via_router:
            caller = signers[0].public_key
            top = dx.Invocation(
                self.router.contract_id,
                "exec",
                [sv.address(caller), sv.address(contract_id), sv.symbol(function), sv.vec(args)],
                [inner],
            )
        else:
            top = inner
        auth: list[x.SorobanAuthorizationEntry] = []
        for kp in signers:
            if kp.public_key == source.public_key:
                auth.append(dx.auth_entry_source(top))
            else:
                self._nonce += 1
                auth.append(
                    dx.auth_entry_address(
                        kp, top, self._nonce, self.open_seq + 100, self.network_id
                    )
                )
        self._seq[source.public_key] = (
            self._seq.get(source.public_key, self.genesis_ledger << 32) + 1
        )
        envelope, tx_hash = dx.build_envelope(
            source, self._seq[source.public_key], top, auth, self.network_id
        )

        ctx = TxContext(source=source.public_key, authorized={kp.public_key for kp in signers})
        error: ContractError | None = None
        ret: x.SCVal | None = None
        try:
            target = self.contract(top.contract)
            ret = target.invoke(Env(self, target, ctx), top.function, top.args)
        except ContractError as exc:
            error = exc
            ctx.rollback()
        success = error is None
        seq = self.open_seq
        order = len(self._open.txs) + 1
        events = [dx.contract_event(c, t, d) for c, t, d in ctx.events]
        diagnostics = (
            [dx.error_diagnostic(inner.contract, error.code, error.name)]
            if error is not None
            else []
        )
        fee = dx.BASE_FEE + dx.RESOURCE_FEE
        tx_events = self._fee_events(source.public_key) if self.meta_version == 4 else []
        packed = [e.to_xdr_bytes() for e in events]
        ret_hash = (
            dx.success_preimage_hash(ret if ret is not None else sv.void(), packed)
            if success
            else b""
        )
        result = dx.build_result(success, fee - FEE_REFUND, ret_hash)
        changes = self._tx_changes(source, ctx, seq, success) if self.ledger_changes else None
        meta = dx.build_meta(
            self.meta_version, success, events, ret, diagnostics, tx_events, changes
        )
        event_b64 = [dx.b64(b) for b in packed]
        rec = TxRec(
            hash=tx_hash,
            ledger=seq,
            order=order,
            success=success,
            created_at=self.now,
            envelope_xdr=dx.b64(envelope),
            result_xdr=dx.b64(result),
            meta_xdr=dx.b64(meta),
            contract_events=event_b64,
            tx_events=self._fee_b64(source.public_key) if self.meta_version == 4 else [],
            diagnostics=[dx.b64(d.to_xdr_bytes()) for d in diagnostics],
            contract=inner.contract,
            function=function,
            error=None if error is None else error.name,
        )
        self._open.txs.append(rec)
        self.txs[tx_hash] = rec
        self.tx_count += 1
        closed_at = iso_utc(self.now)
        ids: list[str] = []
        if success:
            for idx, (cid, topics, data) in enumerate(ctx.events):
                eid = dx.event_id(seq, order, 0, idx)
                ids.append(eid)
                self._open.events.append(
                    EventRec(
                        ledger=seq,
                        tx_order=order,
                        op_index=0,
                        event_index=idx,
                        id=eid,
                        contract_id=cid,
                        topics=tuple(sv.to_b64(t) for t in topics),
                        value=sv.to_b64(data),
                        tx_hash=tx_hash,
                        closed_at=closed_at,
                    )
                )
            self.event_count += len(ctx.events)
            for contract, key in ctx.touched:
                if isinstance(key, str):
                    contract.instance_modified = seq
                else:
                    contract.modified[key] = seq
            for contract, entry, ev_idx in ctx.history:
                contract.history.append(
                    {
                        **entry,
                        "ledger": seq,
                        "tx_hash": tx_hash,
                        "timestamp": self.now,
                        "event_id": ids[ev_idx] if ev_idx is not None else None,
                    }
                )
        else:
            self.failed_tx_count += 1
        value = sv.decode_scval(ret) if ret is not None else None
        return TxOutcome(tx_hash, seq, success, value, rec.error)

    def _tx_changes(self, source: Keypair, ctx: TxContext, seq: int, success: bool) -> dx.TxChanges:
        """Everything a full meta records besides events (see :class:`dx.TxChanges`).

        The fee (charged in full when the ledger closes, before any transaction
        applies) is already off the balance the meta's first STATE shows; the
        sequence number moves in ``txChangesBefore`` and the refund comes back in
        ``txChangesAfter``, failed or not; a failed transaction writes no entries.
        """
        addr = source.public_key
        raw = source.raw_public_key()
        full_fee = dx.BASE_FEE + dx.RESOURCE_FEE
        paid = self._balance.get(addr, STARTING_BALANCE) - full_fee
        last = self._account_modified.get(addr, self.genesis_ledger)
        seq_num = self._seq[addr]
        before = dx.state_updated(
            dx.account_entry(raw, paid, seq_num - 1, last),
            dx.account_entry(raw, paid, seq_num, seq),
        )
        after = dx.state_updated(
            dx.account_entry(raw, paid, seq_num, seq),
            dx.account_entry(raw, paid + FEE_REFUND, seq_num, seq),
        )
        self._balance[addr] = paid + FEE_REFUND
        self._account_modified[addr] = seq
        refundable = dx.RESOURCE_FEE - 40_000
        fees = (40_000, refundable - FEE_REFUND, 1_200)
        operation = self._storage_changes(ctx, seq) if success else []
        return dx.TxChanges(before=before, operation=operation, after=after, fees=fees)

    def _storage_changes(self, ctx: TxContext, seq: int) -> list[x.LedgerEntryChange]:
        """The transaction's contract-data changes: STATE + UPDATED, or CREATED for new keys.

        Each written entry's TTL follows it: the contracts extend every entry they
        write to ``PERSISTENT_TTL_LEDGERS`` from now (TTL STATE + UPDATED, or
        CREATED with a new entry), as ``extend_ttl`` does on the network.

        Values before the transaction come from the undo journal (the first
        entry per key holds the value the transaction found); the instance entry
        changes as a whole when any instance key was written.
        """
        owners: dict[int, tuple[Contract, bool]] = {}
        for contract, _ in ctx.touched:
            owners[id(contract.instance)] = (contract, True)
            owners[id(contract.persistent)] = (contract, False)
        found: dict[tuple[int, Any], Any] = {}
        for container, key, old in ctx.undo:
            found.setdefault((id(container), key), old)
        out: list[x.LedgerEntryChange] = []
        done: set[int] = set()
        for (box, key), old in found.items():
            contract, is_instance = owners[box]
            if is_instance:
                if id(contract) in done:
                    continue
                done.add(id(contract))
                before = dict(contract.instance)
                for (other, k), o in found.items():
                    if other == box:
                        if o is _MISSING:
                            before.pop(k, None)
                        else:
                            before[k] = o
                key_val = dx.instance_key_scval()
                old_val: x.SCVal | None = dx.instance_value(
                    contract.wasm_hash,
                    [
                        (key_to_scval(k), contract.encode_value(k, before[k]))
                        for k in sorted(before)
                    ],
                )
                new_val = dx.instance_value(contract.wasm_hash, contract.instance_storage())
                last = contract.instance_modified
            else:
                key_val = key_to_scval(key)
                old_val = None if old is _MISSING else contract.encode_value(key, old)
                new_val = contract.encode_value(key, contract.persistent[key])
                last = contract.modified.get(key, contract.instance_modified)
            cid = contract.contract_id
            after = dx.ledger_entry(dx.contract_data_entry(cid, key_val, new_val), seq)
            ledger_key = dx.contract_data_key(cid, key_val)
            live = seq + PERSISTENT_TTL_LEDGERS
            if old_val is None:
                out.append(dx.created(after))
                out.append(dx.created(dx.ttl_entry(ledger_key, live, seq)))
                continue
            state = dx.ledger_entry(dx.contract_data_entry(cid, key_val, old_val), last)
            out.extend(dx.state_updated(state, after))
            out.extend(
                dx.state_updated(
                    dx.ttl_entry(ledger_key, last + PERSISTENT_TTL_LEDGERS, last),
                    dx.ttl_entry(ledger_key, live, seq),
                )
            )
        return out

    def _fee_events(self, source: str) -> list[x.TransactionEvent]:
        fe = self._fee_cache.get(source)
        if fe is None:
            fe = dx.fee_events(self.native_sac, source, dx.BASE_FEE + dx.RESOURCE_FEE, FEE_REFUND)
            self._fee_cache[source] = fe
            self._fee_b64_cache[source] = [dx.b64(e.to_xdr_bytes()) for e in fe]
        return fe

    def _fee_b64(self, source: str) -> list[str]:
        self._fee_events(source)
        return self._fee_b64_cache[source]

    # reads (callers hold ``lock``) -----------------------------------------
    def iter_ledgers(self, start: int, end: int) -> Iterator[LedgerRec]:
        """Closed ledgers with transactions in ``[start, end)``."""
        i = bisect_left(self._ledger_seqs, start)
        seqs = self._ledger_seqs
        while i < len(seqs) and seqs[i] < end:
            yield self.ledgers[seqs[i]]
            i += 1

    def ledger_entry(self, key: x.LedgerKey) -> tuple[x.LedgerEntryData, int, int] | None:
        """(entry data, lastModifiedLedgerSeq, liveUntilLedgerSeq) for a ContractData key."""
        if key.type != x.LedgerEntryType.CONTRACT_DATA or key.contract_data is None:
            return None
        kd = key.contract_data
        if kd.durability != x.ContractDataDurability.PERSISTENT:
            return None
        addr = kd.contract
        if addr.type != x.SCAddressType.SC_ADDRESS_TYPE_CONTRACT or addr.contract_id is None:
            return None
        cid = StrKey.encode_contract(addr.contract_id.contract_id.hash)
        contract = self.contracts.get(cid)
        if contract is None:
            return None
        if kd.key.type == x.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE:
            val = dx.instance_value(contract.wasm_hash, contract.instance_storage())
            modified = contract.instance_modified
        else:
            try:
                decoded = sv.decode_scval(kd.key)
            except Exception:
                return None
            if not isinstance(decoded, list) or not decoded or not isinstance(decoded[0], str):
                return None
            pkey = tuple(decoded) if len(decoded) > 1 else None
            if pkey is None or pkey not in contract.persistent:
                return None
            val = contract.encode_value(pkey, contract.persistent[pkey])
            modified = contract.modified.get(pkey, contract.instance_modified)
        data = dx.contract_data_entry(cid, kd.key, val)
        return data, modified, modified + PERSISTENT_TTL_LEDGERS

    def state_dump(self) -> dict[str, Any]:
        from orbitpay.devnet.dump import state_dump

        with self.lock:
            return state_dump(self)
