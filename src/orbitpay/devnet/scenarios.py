"""Deterministic scenarios (by seed) that pre-generate a chain's history.

- ``demo``: one organization ("Orbit Labs") with all four contracts and a USDC
  token: ~20 employees paid by streams (individual and one batch sent through
  the router with ADDRESS credentials), claims and a cancellation; vesting grants
  with cliffs, claims (incl. the one that fully claims -> ``v_fully``) and a
  revocation; weekly governance proposals with weighted votes, including silent
  ``finalize`` paths (quorum not met, grace period passed), a rejection with an
  event, an execution and a cancellation; treasury deposits and multi-sig
  withdrawals (create, approve, execute), signer and threshold changes; and
  failed transactions (no events, no state change). About six weeks of chain time.
- ``load``: ``organizations`` organizations producing about ``events`` events, packed
  ``txs_per_ledger`` transactions per ledger (benchmarks).
- ``empty``: no contracts, only ledgers.

:func:`live_stepper` returns a callable that adds a little new activity to the
open ledger; the live producer calls it before closing each ledger.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from stellar_sdk import Keypair

from orbitpay.devnet.chain import Chain, TxOutcome
from orbitpay.stellar import scval as sv

DAY = 86_400
UNIT = 10_000_000  # 7 decimals

SCENARIOS = ("demo", "load", "empty")


class Org:
    """One organization: its people, its four contracts and helpers to call them."""

    def __init__(
        self, chain: Chain, name: str, token: str, issuer: Keypair, employees: int, members: int
    ) -> None:
        self.chain = chain
        self.name = name
        self.token = token
        self.issuer = issuer
        tag = name.lower().replace(" ", "-")
        self.admin = chain.account(f"{tag}:admin")
        self.signers = [self.admin, chain.account(f"{tag}:cfo"), chain.account(f"{tag}:ops")]
        self.employees = [chain.account(f"{tag}:employee:{i}") for i in range(employees)]
        self.members = [self.admin] + [
            chain.account(f"{tag}:member:{i}") for i in range(members - 1)
        ]
        self.relayer = chain.account(f"{tag}:relayer")
        self.ids = {
            k: chain.deploy(k, f"{tag}:{k}").contract_id
            for k in ("treasury", "payroll", "vesting", "governance")
        }
        chain.register_organization(name, self.admin.public_key, self.ids)
        self.stream_ids: list[int] = []
        self.stream_owner: dict[int, Keypair] = {}
        self.schedule_ids: list[int] = []
        self.schedule_owner: dict[int, Keypair] = {}
        self.proposal_ids: list[int] = []
        self.withdrawal_ids: list[int] = []

    def call(
        self,
        who: Keypair,
        kind: str,
        fn: str,
        *args: Any,
        router: bool = False,
        relay: bool = False,
    ) -> TxOutcome:
        contract = self.ids.get(kind, kind)
        if relay:
            return self.chain.invoke(
                self.relayer, contract, fn, list(args), signers=[who], via_router=router
            )
        return self.chain.invoke(who, contract, fn, list(args), via_router=router)

    def mint(self, to: str, amount: int) -> TxOutcome:
        return self.chain.invoke(self.issuer, self.token, "mint", [sv.address(to), sv.i128(amount)])

    def setup(self, quorum: int = 50, voting: int = 3 * DAY, grace: int = 2 * DAY) -> None:
        a = sv.address
        adm = self.admin
        self.mint(adm.public_key, 50_000_000 * UNIT)
        self.mint(self.ids["treasury"], 2_000_000 * UNIT)
        self.mint(self.ids["governance"], 500_000 * UNIT)
        self.call(
            adm,
            "treasury",
            "initialize",
            a(adm.public_key),
            sv.vec([a(s.public_key) for s in self.signers]),
            sv.u32(2),
        )
        self.call(adm, "payroll", "initialize", a(adm.public_key))
        self.call(adm, "vesting", "initialize", a(adm.public_key))
        self.call(
            adm,
            "governance",
            "initialize",
            a(adm.public_key),
            sv.vec([a(m.public_key) for m in self.members]),
            sv.u32(quorum),
            sv.u64(voting),
            sv.u64(grace),
        )

    # calls -------------------------------------------------------------------
    def deposit(self, who: Keypair, amount: int) -> TxOutcome:
        return self.call(
            who,
            "treasury",
            "deposit",
            sv.address(who.public_key),
            sv.address(self.token),
            sv.i128(amount),
        )

    def create_stream(
        self, recipient: Keypair, amount: int, start: int, end: int, **kw: Any
    ) -> TxOutcome:
        out = self.call(
            self.admin,
            "payroll",
            "create_stream",
            sv.address(self.admin.public_key),
            sv.address(recipient.public_key),
            sv.address(self.token),
            sv.i128(amount),
            sv.u64(start),
            sv.u64(end),
            **kw,
        )
        if out.success:
            self.stream_ids.append(out.return_value)
            self.stream_owner[out.return_value] = recipient
        return out

    def create_batch(self, items: list[tuple[Keypair, int, int, int]], **kw: Any) -> TxOutcome:
        params = sv.vec(
            [
                sv.struct(
                    {
                        "recipient": sv.address(r.public_key),
                        "token": sv.address(self.token),
                        "total_amount": sv.i128(amt),
                        "start_time": sv.u64(s),
                        "end_time": sv.u64(e),
                    }
                )
                for r, amt, s, e in items
            ]
        )
        out = self.call(
            self.admin,
            "payroll",
            "create_batch_streams",
            sv.address(self.admin.public_key),
            params,
            **kw,
        )
        if out.success:
            self.stream_ids.extend(out.return_value)
            for sid, item in zip(out.return_value, items, strict=True):
                self.stream_owner[sid] = item[0]
        return out

    def claim_stream(self, who: Keypair, sid: int, **kw: Any) -> TxOutcome:
        return self.call(who, "payroll", "claim", sv.address(who.public_key), sv.u32(sid), **kw)

    def cancel_stream(self, sid: int) -> TxOutcome:
        return self.call(
            self.admin, "payroll", "cancel_stream", sv.address(self.admin.public_key), sv.u32(sid)
        )

    def create_schedule(
        self,
        who: Keypair,
        total: int,
        start: int,
        cliff: int,
        cliff_amount: int,
        duration: int,
        label: str,
        revocable: bool,
    ) -> TxOutcome:
        out = self.call(
            self.admin,
            "vesting",
            "create_schedule",
            sv.address(self.admin.public_key),
            sv.address(who.public_key),
            sv.address(self.token),
            sv.i128(total),
            sv.u64(start),
            sv.u64(cliff),
            sv.i128(cliff_amount),
            sv.u64(duration),
            sv.symbol(label),
            sv.boolean(revocable),
        )
        if out.success:
            self.schedule_ids.append(out.return_value)
            self.schedule_owner[out.return_value] = who
        return out

    def claim_vesting(self, who: Keypair, sid: int, **kw: Any) -> TxOutcome:
        return self.call(who, "vesting", "claim", sv.address(who.public_key), sv.u32(sid), **kw)

    def revoke(self, sid: int) -> TxOutcome:
        return self.call(
            self.admin, "vesting", "revoke", sv.address(self.admin.public_key), sv.u32(sid)
        )

    def propose(self, who: Keypair, title: str, amount: int, recipient: Keypair) -> TxOutcome:
        out = self.call(
            who,
            "governance",
            "create_proposal",
            sv.address(who.public_key),
            sv.symbol(title),
            sv.address(self.token),
            sv.i128(amount),
            sv.address(recipient.public_key),
        )
        if out.success:
            self.proposal_ids.append(out.return_value)
        return out

    def vote(self, who: Keypair, pid: int, choice: str, **kw: Any) -> TxOutcome:
        return self.call(
            who,
            "governance",
            "vote",
            sv.address(who.public_key),
            sv.u32(pid),
            sv.enum_unit(choice),
            **kw,
        )

    def finalize(self, who: Keypair, pid: int) -> TxOutcome:
        return self.call(who, "governance", "finalize", sv.address(who.public_key), sv.u32(pid))

    def execute_proposal(self, pid: int) -> TxOutcome:
        return self.call(
            self.admin, "governance", "execute", sv.address(self.admin.public_key), sv.u32(pid)
        )

    def set_weight(self, member: Keypair, weight: int) -> TxOutcome:
        return self.call(
            self.admin,
            "governance",
            "set_voting_weight",
            sv.address(self.admin.public_key),
            sv.address(member.public_key),
            sv.u128(weight),
        )

    def create_withdrawal(
        self, who: Keypair, recipient: Keypair, amount: int, memo: str
    ) -> TxOutcome:
        out = self.call(
            who,
            "treasury",
            "create_withdrawal",
            sv.address(who.public_key),
            sv.address(self.token),
            sv.address(recipient.public_key),
            sv.i128(amount),
            sv.symbol(memo),
        )
        if out.success:
            self.withdrawal_ids.append(out.return_value)
        return out

    def approve(self, who: Keypair, wid: int, **kw: Any) -> TxOutcome:
        return self.call(
            who, "treasury", "approve_withdrawal", sv.address(who.public_key), sv.u32(wid), **kw
        )

    def execute_withdrawal(self, who: Keypair, wid: int) -> TxOutcome:
        return self.call(
            who, "treasury", "execute_withdrawal", sv.address(who.public_key), sv.u32(wid)
        )

    # state helpers -------------------------------------------------------------
    def stream(self, sid: int) -> dict[str, Any]:
        stream: dict[str, Any] = self.chain.contracts[self.ids["payroll"]].persistent[
            ("Stream", sid)
        ]
        return stream

    def proposal(self, pid: int) -> dict[str, Any]:
        proposal: dict[str, Any] = self.chain.contracts[self.ids["governance"]].persistent[
            ("Proposal", pid)
        ]
        return proposal


def _token(chain: Chain, symbol: str = "USDC") -> tuple[str, Keypair]:
    issuer = chain.account(f"token-issuer:{symbol}")
    tok = chain.deploy("token", f"token:{symbol}")
    tok.setup(issuer.public_key, f"{symbol} (devnet)", symbol)  # type: ignore[attr-defined]
    return tok.contract_id, issuer


# ── demo ─────────────────────────────────────────────────────────────────────


def _demo(chain: Chain, seed: int, employees: int = 20) -> None:
    rng = random.Random(seed)
    token, issuer = _token(chain)
    org = Org(chain, "Orbit Labs", token, issuer, employees=employees, members=7)
    org.setup()
    chain.close_ledger()
    t0 = chain.now
    m = org.members
    org.call(
        org.admin,
        "governance",
        "add_member",
        sv.address(org.admin.public_key),
        sv.address(chain.account("orbit-labs:advisor").public_key),
    )
    org.set_weight(m[1], 3)
    org.set_weight(m[2], 2)
    org.set_weight(org.employees[0], 5)  # fails: not a member
    org.deposit(org.admin, 250_000 * UNIT)
    org.deposit(org.signers[1], 40_000 * UNIT)
    org.deposit(org.signers[2], 0)  # fails: InvalidAmount
    chain.advance(3600)

    # payroll: 5 single streams, then one batch of the rest through the router
    start = chain.now + 600
    end = start + 30 * DAY
    for e in org.employees[:5]:
        org.create_stream(e, rng.randint(8_000, 15_000) * UNIT, start, end)
        chain.close_ledger()
    org.create_stream(
        org.employees[5], 1_000 * UNIT, chain.now - 10, end
    )  # fails: InvalidStartTime
    batch = [(e, rng.randint(6_000, 12_000) * UNIT, start, end) for e in org.employees[5:]]
    org.create_batch(batch, router=True, relay=True)
    chain.close_ledger()

    # vesting grants: cliff 7 days (25%), linear to 28 days
    vest_start = chain.now
    grantees = org.employees[:6]
    for i, e in enumerate(grantees):
        total = (i + 1) * 20_000 * UNIT
        org.create_schedule(
            e,
            total,
            vest_start,
            7 * DAY,
            total // 4,
            28 * DAY,
            ("team", "advisor", "seed")[i % 3],
            revocable=i % 2 == 0,
        )
    org.create_schedule(
        grantees[0], 1_000 * UNIT, vest_start, 10 * DAY, 0, 5 * DAY, "bad", True
    )  # fails
    chain.close_ledger()

    # six weeks, one day at a time
    w_recipient = chain.account("orbit-labs:vendor")
    for day in range(42):
        chain.advance_to(t0 + (day + 1) * DAY + 9 * 3600)
        week, dow = divmod(day, 7)
        # payroll claims: each employee about twice a week
        for idx, e in enumerate(org.employees):
            if rng.random() < 0.3 and idx < len(org.stream_ids):
                sid = org.stream_ids[idx]
                if org.stream(sid)["status"] == "Active":
                    org.claim_stream(e, sid, router=rng.random() < 0.2)
            if rng.random() < 0.15:
                chain.close_ledger()
        if day == 2:
            org.claim_stream(org.employees[1], org.stream_ids[0])  # fails: Unauthorized
        if day == 9:
            org.cancel_stream(org.stream_ids[3])
            chain.close_ledger()
            org.claim_stream(org.employees[3], org.stream_ids[3])  # fails: StreamAlreadyCancelled
        # vesting
        if day in (3, 8, 15, 22, 29, 36):
            for i, e in enumerate(grantees):
                if i < len(org.schedule_ids):
                    org.claim_vesting(e, org.schedule_ids[i], relay=(i == 1))
            chain.close_ledger()
        if day == 13:
            org.revoke(org.schedule_ids[2])
            org.revoke(org.schedule_ids[1])  # fails: not revocable
        # governance: a proposal every Monday (dow 0), votes, then finalize
        if dow == 0 and week < 6:
            org.propose(
                m[week % len(m)], f"budget_w{week + 1}", (5_000 + 1_000 * week) * UNIT, w_recipient
            )
            chain.close_ledger()
        if org.proposal_ids and len(org.proposal_ids) == week + 1:
            pid = org.proposal_ids[week]
            pattern = week % 6
            if dow == 1:
                if pattern in (0, 4, 5):
                    for voter, choice in (
                        (m[0], "Yes"),
                        (m[1], "Yes"),
                        (m[2], "No"),
                        (m[3], "Abstain"),
                    ):
                        org.vote(voter, pid, choice, router=voter is m[3])
                    org.vote(m[1], pid, "No")  # fails: AlreadyVoted
                elif pattern == 1:
                    org.vote(m[4], pid, "Yes")  # quorum not met later
                elif pattern == 2:
                    for voter, choice in ((m[0], "Yes"), (m[1], "No"), (m[2], "No"), (m[5], "Yes")):
                        org.vote(voter, pid, choice)
                elif pattern == 3:
                    proposer = m[week % len(m)]  # only the proposer may cancel
                    org.call(
                        proposer,
                        "governance",
                        "cancel_proposal",
                        sv.address(proposer.public_key),
                        sv.u32(pid),
                    )
                chain.close_ledger()
            if dow == 2 and pattern == 0:
                org.finalize(m[0], pid)  # fails: ProposalStillActive
            if dow == 4 and pattern in (0, 1, 2):
                org.vote(m[6], pid, "Yes")  # fails: VotingPeriodExpired
                org.finalize(m[0], pid)
                chain.close_ledger()
                if pattern == 0:
                    org.execute_proposal(pid)
            if dow == 6 and pattern == 4:
                org.finalize(m[0], pid)  # silent: grace period passed
        # treasury: a withdrawal cycle every Wednesday
        if dow == 2:
            wid_out = org.create_withdrawal(
                org.signers[week % 2],
                w_recipient,
                (2_000 + 500 * week) * UNIT,
                f"vendor_w{week + 1}",
            )
            chain.close_ledger()
            if wid_out.success:
                wid = wid_out.return_value
                proposer = org.signers[week % 2]
                if week == 1:
                    org.approve(proposer, wid)  # fails: AlreadyApproved
                others = [s for s in org.signers if s is not proposer]
                org.approve(others[0], wid, relay=week == 2)
                if week == 3:
                    org.approve(others[1], wid)
                chain.close_ledger()
                org.execute_withdrawal(org.admin, wid)
        if day == 17:
            cto = chain.account("orbit-labs:cto")
            org.call(
                org.admin,
                "treasury",
                "add_signer",
                sv.address(org.admin.public_key),
                sv.address(cto.public_key),
            )
            org.call(
                org.admin,
                "treasury",
                "update_threshold",
                sv.address(org.admin.public_key),
                sv.u32(3),
            )
            org.call(
                org.signers[1],
                "treasury",
                "update_threshold",
                sv.address(org.signers[1].public_key),
                sv.u32(2),
            )
            org.signers.append(cto)
        if day == 30:
            org.call(
                org.admin,
                "treasury",
                "update_threshold",
                sv.address(org.admin.public_key),
                sv.u32(2),
            )
            org.call(
                org.admin,
                "treasury",
                "remove_signer",
                sv.address(org.admin.public_key),
                sv.address(org.signers[2].public_key),
            )
            org.signers.pop(2)
            big = org.create_withdrawal(org.signers[0], w_recipient, 9_000_000 * UNIT, "too_big")
            if big.success:
                org.approve(org.signers[1], big.return_value)
                chain.close_ledger()
                org.execute_withdrawal(org.admin, big.return_value)  # fails: InsufficientBalance
        chain.close_ledger()
    chain.close_ledger()
    chain.extra["demo_org"] = org


def _demo_live(chain: Chain, seed: int) -> Callable[[], None]:
    org: Org = chain.extra["demo_org"]
    rng = random.Random(seed * 7919 + 1)
    vendor = chain.account("orbit-labs:vendor")
    state = {"n": 0}

    def step() -> None:
        state["n"] += 1
        n = state["n"]
        r = rng.random()
        if r < 0.35:
            active = [sid for sid in org.stream_ids if org.stream(sid)["status"] == "Active"]
            if active:
                sid = rng.choice(active)
                org.claim_stream(org.stream_owner[sid], sid, router=rng.random() < 0.2)
        elif r < 0.42:
            who = rng.choice(org.employees)
            start = chain.now + 60
            org.create_stream(
                who, rng.randint(500, 3_000) * UNIT, start, start + rng.choice((1, 3, 7)) * DAY
            )
        elif r < 0.5:
            org.deposit(rng.choice(org.signers), rng.randint(100, 5_000) * UNIT)
        elif r < 0.65 and org.proposal_ids:
            pid = org.proposal_ids[-1]
            p = org.proposal(pid)
            if p["status"] == "Active":
                if chain.now > p["end_time"]:
                    org.finalize(org.admin, pid)
                else:
                    voted = {v["voter"] for v in p["votes"]}
                    left = [mm for mm in org.members if mm.public_key not in voted]
                    if left:
                        org.vote(rng.choice(left), pid, rng.choice(("Yes", "Yes", "No", "Abstain")))
        elif r < 0.7 and (
            not org.proposal_ids or org.proposal(org.proposal_ids[-1])["status"] != "Active"
        ):
            org.propose(
                rng.choice(org.members), f"live_{n}", rng.randint(100, 2_000) * UNIT, vendor
            )
        elif r < 0.76:
            out = org.create_withdrawal(
                org.signers[0], vendor, rng.randint(10, 500) * UNIT, f"live_{n}"
            )
            if out.success:
                org.approve(org.signers[1], out.return_value)
                org.execute_withdrawal(org.admin, out.return_value)
        elif r < 0.8:
            i = rng.randrange(min(6, len(org.employees)))
            if i < len(org.schedule_ids):
                org.claim_vesting(org.employees[i], org.schedule_ids[i])

    return step


# ── load ─────────────────────────────────────────────────────────────────────


def _load(
    chain: Chain,
    seed: int,
    organizations: int = 10,
    events: int = 100_000,
    employees: int = 20,
    txs_per_ledger: int = 25,
) -> None:
    """A busy network: ten organizations paying, vesting, voting and spending at once.

    The mix is shaped like a real payroll protocol's traffic, including what
    makes the network's transaction metas heavy: every ``create_stream`` and
    ``create_schedule`` appends to the sender's and grantor's index vector
    (``SenderStreams``/``GrantorSchedules``), so their entries grow with the
    organization (about a thousand ids each by 100,000 events) and every such
    write carries the whole vector twice in the meta (state before, updated
    after); vesting claims grow ``ClaimHistory``; proposals carry their votes.
    """
    rng = random.Random(seed)
    token, issuer = _token(chain)
    orgs = [
        Org(chain, f"Load Org {i}", token, issuer, employees=employees, members=7)
        for i in range(organizations)
    ]
    for org in orgs:
        org.setup(quorum=30, voting=2 * DAY, grace=DAY)
    chain.close_ledger()
    for org in orgs:
        start = chain.now + 5
        items = [
            (e, rng.randint(50_000, 100_000) * UNIT, start, start + 365 * DAY)
            for e in org.employees
        ]
        org.create_batch(items)
        org.propose(org.members[1], "load_0", 1_000 * UNIT, org.employees[0])
    chain.close_ledger()
    chain.advance(60)
    vendor = chain.account("load:vendor")
    while chain.event_count < events:
        for _ in range(txs_per_ledger):
            org = rng.choice(orgs)
            r = rng.random()
            if r < 0.32:
                sid = rng.choice(org.stream_ids)
                org.claim_stream(org.stream_owner[sid], sid)
            elif r < 0.42:
                start = chain.now + 5
                amount = rng.randint(1_000, 5_000) * UNIT
                org.create_stream(rng.choice(org.employees), amount, start, start + 365 * DAY)
            elif r < 0.47:
                org.create_schedule(
                    rng.choice(org.employees),
                    rng.randint(1_000, 5_000) * UNIT,
                    chain.now,
                    0,
                    0,
                    365 * DAY,
                    "load",
                    rng.random() < 0.5,
                )
            elif r < 0.53 and org.schedule_ids:
                vid = rng.choice(org.schedule_ids)
                org.claim_vesting(org.schedule_owner[vid], vid)
            elif r < 0.66:
                org.deposit(rng.choice(org.signers), rng.randint(1, 1_000) * UNIT)
            elif r < 0.86:
                pid = org.proposal_ids[-1]
                p = org.proposal(pid)
                voted = {v["voter"] for v in p["votes"]}
                left = [mm for mm in org.members if mm.public_key not in voted]
                if left and p["status"] == "Active" and chain.now <= p["end_time"]:
                    org.vote(rng.choice(left), pid, rng.choice(("Yes", "No", "Abstain")))
                else:
                    org.propose(
                        rng.choice(org.members), f"load_{len(org.proposal_ids)}", 100 * UNIT, vendor
                    )
            else:
                out = org.create_withdrawal(
                    org.signers[0], vendor, rng.randint(1, 100) * UNIT, "load"
                )
                if out.success:
                    org.approve(org.signers[1], out.return_value)
                    org.execute_withdrawal(org.admin, out.return_value)
            if chain.event_count >= events:
                break
        chain.close_ledger()
    chain.close_ledger()


# ── entry points ─────────────────────────────────────────────────────────────


def build_chain(scenario: str = "demo", seed: int = 1, **params: Any) -> Chain:
    """Pre-generate a chain for ``scenario`` (deterministic for a given seed and params).

    Chain options accepted in ``params``: ``retention_ledgers`` (default: keep all
    history), ``meta_version`` (4 or 3), ``network_passphrase``, ``genesis_time``,
    ``metas`` ("full", the default: metas as the network writes them; "thin":
    events and return value only), ``ledger_changes`` (older switch: True is
    "full", False "thin"). Scenario options:
    ``demo``: ``employees``; ``load``: ``organizations``, ``events``, ``employees``,
    ``txs_per_ledger``; ``empty``: ``ledgers`` (how many empty ledgers to close).
    """
    chain_opts = {
        k: params.pop(k)
        for k in (
            "retention_ledgers",
            "meta_version",
            "network_passphrase",
            "genesis_time",
            "metas",
            "ledger_changes",
        )
        if k in params
    }
    chain = Chain(seed=seed, **chain_opts)
    if scenario == "demo":
        _demo(chain, seed, **params)
    elif scenario == "load":
        _load(chain, seed, **params)
    elif scenario == "empty":
        for _ in range(int(params.get("ledgers", 10))):
            chain.close_ledger()
    else:
        raise ValueError(f"unknown scenario {scenario!r} (expected one of {', '.join(SCENARIOS)})")
    return chain


def live_stepper(chain: Chain, scenario: str, seed: int) -> Callable[[], None] | None:
    """New activity for live mode (None: ledgers close empty)."""
    if scenario == "demo":
        return _demo_live(chain, seed)
    return None
