"""Contract rules of the simulated OrbitPay contracts: events, state, failures, invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbitpay.devnet.chain import Chain
from orbitpay.devnet.contracts.arithmetic import I128_MAX
from orbitpay.devnet.scenarios import DAY, UNIT, Org, _token
from orbitpay.stellar import scval as sv


def make_org(employees: int = 4, members: int = 4, seed: int = 1) -> tuple[Chain, Org]:
    chain = Chain(seed=seed)
    token, issuer = _token(chain)
    org = Org(chain, "Test Org", token, issuer, employees=employees, members=members)
    org.setup(quorum=50, voting=3 * DAY, grace=2 * DAY)
    chain.close_ledger()
    return chain, org


def events_of(chain: Chain, tx_hash: str) -> list[tuple[str, list[Any], Any]]:
    out = []
    for rec in chain.ledgers.values():
        for ev in rec.events:
            if ev.tx_hash == tx_hash:
                out.append(
                    (
                        ev.contract_id,
                        [sv.decode_scval_b64(t) for t in ev.topics],
                        sv.decode_scval_b64(ev.value),
                    )
                )
    return out


def test_failed_call_changes_nothing_and_emits_nothing() -> None:
    chain, org = make_org()
    payroll = chain.contracts[org.ids["payroll"]]
    before = (
        dict(payroll.instance),
        dict(payroll.persistent),
        chain.token(org.token).balance(org.admin.public_key),
    )
    events_before = chain.event_count
    # the 2nd stream of the batch is invalid (sender == recipient): the 1st must be rolled back too
    start = chain.now + 100
    out = org.create_batch(
        [
            (org.employees[0], 100 * UNIT, start, start + DAY),
            (org.admin, 100 * UNIT, start, start + DAY),
        ]
    )
    chain.close_ledger()
    assert not out.success and out.error == "InvalidRecipient"
    assert (
        dict(payroll.instance),
        dict(payroll.persistent),
        chain.token(org.token).balance(org.admin.public_key),
    ) == before
    assert chain.event_count == events_before
    rec = chain.txs[out.hash]
    assert rec.contract_events == [] and rec.diagnostics  # failed: only a diagnostic event


def test_batch_emits_one_b_create_and_no_s_create() -> None:
    chain, org = make_org()
    start = chain.now + 100
    out = org.create_batch([(e, 1000 * UNIT, start, start + DAY) for e in org.employees[:3]])
    chain.close_ledger()
    assert out.success and out.return_value == [0, 1, 2]
    mine = [e for e in events_of(chain, out.hash) if e[0] == org.ids["payroll"]]
    assert mine == [(org.ids["payroll"], ["b_create", org.admin.public_key], [0, 1, 2])]
    assert len([e for e in events_of(chain, out.hash) if e[1][0] == "transfer"]) == 3  # token moves


def test_stream_claim_and_cancel() -> None:
    chain, org = make_org()
    start = chain.now + 10
    total = 86_400 * 7  # 7 per second
    sid = org.create_stream(org.employees[0], total, start, start + DAY).return_value
    chain.advance_to(start + 1000)
    out = org.claim_stream(org.employees[0], sid)
    assert out.success and out.return_value == 7 * (chain.now - start)
    chain.close_ledger()
    assert events_of(chain, out.hash)[-1][1:] == (
        ["claim", org.employees[0].public_key],
        out.return_value,
    )
    chain.advance(500)
    owed = 7 * (chain.now - start) - out.return_value
    bal0 = chain.token(org.token).balance(org.admin.public_key)
    cancel = org.cancel_stream(sid)
    chain.close_ledger()
    s = org.stream(sid)
    assert (
        cancel.success
        and s["status"] == "Cancelled"
        and s["claimed_amount"] == out.return_value + owed
    )
    assert (
        chain.token(org.token).balance(org.admin.public_key) - bal0 == total - s["claimed_amount"]
    )
    assert events_of(chain, cancel.hash)[-1][1:] == (["cancel", org.admin.public_key], sid)
    again = org.claim_stream(org.employees[0], sid)
    assert not again.success and again.error == "StreamAlreadyCancelled"


def test_vesting_cliff_claims_v_fully_and_revoke() -> None:
    chain, org = make_org()
    e = org.employees[0]
    t0 = chain.now
    sid = org.create_schedule(e, 1000, t0, 10 * DAY, 250, 40 * DAY, "team", True).return_value
    create_tx = chain.txs[[h for h, r in chain.txs.items() if r.function == "create_schedule"][-1]]
    chain.close_ledger()
    ev = events_of(chain, create_tx.hash)[-1]
    assert ev[1] == ["v_create", org.admin.public_key, e.public_key] and ev[2] == [
        1000,
        10 * DAY,
        40 * DAY,
    ]
    chain.advance_to(t0 + 5 * DAY)
    assert org.claim_vesting(e, sid).error == "NothingToClaim"  # before cliff
    chain.advance_to(t0 + 10 * DAY)
    first = org.claim_vesting(e, sid)
    assert first.return_value == 250  # exactly at the cliff
    chain.advance_to(t0 + 40 * DAY)
    last = org.claim_vesting(e, sid)
    chain.close_ledger()
    assert last.return_value == 750
    evs = events_of(chain, last.hash)
    assert [x[1] for x in evs[-2:]] == [["v_claim", e.public_key, sid], ["v_fully", sid]]
    assert evs[-1][2] is None
    assert (
        chain.contracts[org.ids["vesting"]].persistent[("Schedule", sid)]["status"]
        == "FullyClaimed"
    )
    # revoke caps total at vested
    sid2 = org.create_schedule(e, 1000, chain.now, DAY, 0, 11 * DAY, "seed", True).return_value
    chain.advance(6 * DAY)
    rv = org.revoke(sid2)
    chain.close_ledger()
    s2 = chain.contracts[org.ids["vesting"]].persistent[("Schedule", sid2)]
    assert s2["status"] == "Revoked" and s2["total_amount"] == 500 and rv.return_value == 500
    assert s2["revoked_at"] == chain.close_time(rv.ledger)


def test_stream_too_large_for_i128_products_fails_like_the_contract() -> None:
    """``total * elapsed`` must fit i128 (``checked_mul``): past that, claim and cancel fail."""
    chain, org = make_org()
    e = org.employees[0]
    total = I128_MAX // 1000  # fits for up to 1000 elapsed seconds
    org.mint(org.admin.public_key, total)
    start = chain.now + 10
    sid = org.create_stream(e, total, start, start + DAY).return_value
    chain.advance_to(start + 500)
    first = org.claim_stream(e, sid)
    assert first.success and first.return_value == total * (chain.now - start) // DAY
    chain.advance_to(start + 2000)
    before = dict(org.stream(sid))
    claim = org.claim_stream(e, sid)
    cancel = org.cancel_stream(sid)
    chain.close_ledger()
    assert (claim.success, claim.error) == (False, "ArithmeticError")
    assert (cancel.success, cancel.error) == (False, "ArithmeticError")
    assert org.stream(sid) == before


def test_vesting_overflow_traps_the_claim() -> None:
    """``calculate_vested`` multiplies without ``checked_mul``: overflow-checks make it panic."""
    chain, org = make_org()
    e = org.employees[0]
    total = I128_MAX // 1000
    org.mint(org.admin.public_key, total)
    t0 = chain.now
    sid = org.create_schedule(e, total, t0, 0, 0, 10 * DAY, "big", True).return_value
    chain.advance_to(t0 + 900)
    ok = org.claim_vesting(e, sid)
    assert chain.now - t0 <= 1000  # still inside the range where the product fits
    assert ok.success and ok.return_value == total * (chain.now - t0) // (10 * DAY)
    chain.advance_to(t0 + 2000)
    trapped = org.claim_vesting(e, sid)
    chain.close_ledger()
    assert not trapped.success and "overflow" in str(trapped.error)
    assert chain.txs[trapped.hash].contract_events == []
    chain.advance_to(t0 + 10 * DAY)  # from the end on: total_amount, no multiplication
    last = org.claim_vesting(e, sid)
    assert last.success and last.return_value == total - ok.return_value


def test_finalize_silent_paths_and_event_path() -> None:
    chain, org = make_org(members=4)
    m = org.members
    vendor = org.employees[0]
    org.set_weight(m[1], 3)  # total weight 1+3+1+1 = 6, quorum 50% -> 3
    p_quorum = org.propose(m[0], "q", 10, vendor).return_value
    org.vote(m[2], p_quorum, "Yes")  # weight 1 < 3
    p_ok = org.propose(m[0], "ok", 10, vendor).return_value
    org.vote(m[1], p_ok, "Yes")
    org.vote(m[2], p_ok, "No")
    p_grace = org.propose(m[0], "gr", 10, vendor).return_value
    org.vote(m[1], p_grace, "Yes")
    chain.close_ledger()
    assert org.proposal(p_ok)["yes_votes"] == 3 and org.proposal(p_ok)["no_votes"] == 1
    assert org.finalize(m[0], p_ok).error == "ProposalStillActive"
    chain.advance(3 * DAY + 10)
    f1 = org.finalize(m[0], p_quorum)
    f2 = org.finalize(m[0], p_ok)
    chain.advance(3 * DAY)
    f3 = org.finalize(m[0], p_grace)
    chain.close_ledger()
    assert f1.success and f1.return_value == ["Rejected"] and events_of(chain, f1.hash) == []
    assert f3.success and f3.return_value == ["Rejected"] and events_of(chain, f3.hash) == []
    assert events_of(chain, f2.hash) == [(org.ids["governance"], ["finalize"], ["Approved"])]
    assert org.proposal(p_grace)["status"] == "Rejected"


def test_withdrawal_threshold_is_silent_and_exec_moves_tokens() -> None:
    chain, org = make_org()
    vendor = org.employees[1]
    wid = org.create_withdrawal(org.signers[0], vendor, 5 * UNIT, "rent").return_value
    assert chain.contracts[org.ids["treasury"]].persistent[("Withdrawal", wid)]["approvals"] == [
        org.signers[0].public_key
    ]
    ap = org.approve(org.signers[1], wid)
    ex = org.execute_withdrawal(org.admin, wid)
    chain.close_ledger()
    assert [e[1][0] for e in events_of(chain, ap.hash)] == [
        "approve"
    ]  # no separate "approved" event
    assert [e[1][0] for e in events_of(chain, ex.hash)] == ["transfer", "w_exec"]
    assert chain.token(org.token).balance(vendor.public_key) == 5 * UNIT
    assert (
        chain.contracts[org.ids["treasury"]].persistent[("Withdrawal", wid)]["status"] == "Executed"
    )


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "vote", "advance", "cancel", "propose", "finalize", "weight"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.sampled_from(["Yes", "No", "Abstain"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_no_call_sequence_breaks_invariants(actions: list[tuple[str, int, int, str]]) -> None:
    chain, org = make_org(employees=4, members=4)
    start = chain.now + 5
    org.create_batch(
        [(e, (i + 1) * 1_000_003, start, start + 10 * DAY) for i, e in enumerate(org.employees)]
    )
    org.propose(org.members[0], "p0", 10, org.employees[0])
    weights_at_vote: dict[tuple[int, str], int] = {}
    gov = chain.contracts[org.ids["governance"]]
    for kind, a, b, choice in actions:
        if kind == "claim":
            org.claim_stream(org.employees[a], org.stream_ids[b % len(org.stream_ids)])
        elif kind == "cancel":
            org.cancel_stream(org.stream_ids[a])
        elif kind == "advance":
            chain.advance((a + 1) * b * DAY // 2 + 7)
        elif kind == "propose":
            org.propose(org.members[a], f"p{len(org.proposal_ids)}", 10, org.employees[0])
        elif kind == "vote":
            pid = org.proposal_ids[b % len(org.proposal_ids)]
            w = gov.weight(org.members[a].public_key)
            if org.vote(org.members[a], pid, choice).success:
                weights_at_vote[(pid, org.members[a].public_key)] = w
        elif kind == "finalize":
            org.finalize(org.members[a], org.proposal_ids[b % len(org.proposal_ids)])
        elif kind == "weight":
            org.set_weight(org.members[a], b + 1)
        chain.close_ledger()
    payroll = chain.contracts[org.ids["payroll"]]
    for key, s in payroll.persistent.items():
        if key[0] == "Stream":
            assert 0 <= s["claimed_amount"] <= s["total_amount"]
            if s["status"] == "Completed":
                assert s["claimed_amount"] == s["total_amount"]
    # tokens are conserved: contract balance == what streams still hold
    held = sum(
        s["total_amount"] - s["claimed_amount"]
        for k, s in payroll.persistent.items()
        if k[0] == "Stream" and s["status"] != "Cancelled"
    )
    assert chain.token(org.token).balance(org.ids["payroll"]) == held
    for key, p in gov.persistent.items():
        if key[0] != "Proposal":
            continue
        tallies = {"Yes": 0, "No": 0, "Abstain": 0}
        for v in p["votes"]:
            tallies[v["choice"]] += weights_at_vote[(p["id"], v["voter"])]
        assert (p["yes_votes"], p["no_votes"], p["abstain_votes"]) == (
            tallies["Yes"],
            tallies["No"],
            tallies["Abstain"],
        )
    assert gov.instance["TotalWeight"] == sum(gov.weight(m) for m in gov.instance["Members"])


def test_demo_state_dump_format() -> None:
    import json

    from orbitpay.devnet.scenarios import build_chain

    chain = build_chain("demo", seed=1)
    dump = json.loads(json.dumps(chain.state_dump()))  # JSON-serialisable
    (org,) = dump["organizations"]
    assert set(org["contracts"]) == {"treasury", "payroll", "vesting", "governance"}
    t, p, v, g = org["treasury"], org["payroll"], org["vesting"], org["governance"]
    assert {w["status"] for w in t["withdrawals"]} <= {
        "pending",
        "approved",
        "executed",
        "cancelled",
    }
    assert {h["type"] for h in t["history"]} == {
        "initialized",
        "deposit",
        "withdrawal_created",
        "withdrawal_approved",
        "withdrawal_executed",
        "signer_added",
        "signer_removed",
        "threshold_updated",
    }
    assert {s["status"] for s in p["streams"]} == {"completed", "cancelled"}
    assert len(p["streams"]) == 20 and p["cancellations"] and p["claims"]
    assert {s["status"] for s in v["schedules"]} == {"fully_claimed", "revoked"}
    statuses = {x["status"] for x in g["proposals"]}
    assert {"executed", "rejected", "cancelled", "active"} <= statuses
    assert {f["silent"] for f in g["finalizations"]} == {None, "quorum", "grace"}
    assert all(f["event_id"] is None for f in g["finalizations"] if f["silent"])
    assert {x["choice"] for x in g["votes"]} == {"yes", "no", "abstain"}
    assert any(m["weight"] == "3" for m in g["members"])
    for s in p["streams"]:
        assert isinstance(s["total_amount"], str) and int(s["claimed_amount"]) <= int(
            s["total_amount"]
        )
    for prop in g["proposals"]:
        votes = [x for x in g["votes"] if x["proposal_id"] == prop["id"]]
        for choice in ("yes", "no", "abstain"):
            assert int(prop[f"{choice}_votes"]) == sum(
                int(x["weight"]) for x in votes if x["choice"] == choice
            )
    assert dump["counts"]["failed_transactions"] > 10
