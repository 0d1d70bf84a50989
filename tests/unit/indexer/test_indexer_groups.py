"""Grouping contracts into getEvents requests (at most 5 filters x 5 contract ids)."""

from __future__ import annotations

from stellar_sdk import StrKey

from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.pipeline import GROUP_SIZE, plan_groups
from orbitpay.indexer.progress import Progress


def _contracts(n: int, start: int = 0) -> list[ContractInfo]:
    return [
        ContractInfo(StrKey.encode_contract(i.to_bytes(32, "big")), "payroll", 1)
        for i in range(start, start + n)
    ]


def test_groups_hold_at_most_25_contracts() -> None:
    groups = plan_groups(_contracts(60), [])
    assert GROUP_SIZE == 25
    assert [len(g.contracts) for g in groups] == [25, 25, 10]
    assert len({g.name for g in groups}) == 3


def test_existing_cursor_groups_are_kept_and_new_contracts_get_a_new_group() -> None:
    old = _contracts(3)
    first = plan_groups(old, [])
    cursors = [{"name": g.name, "contract_ids": g.ids} for g in first]
    added = _contracts(2, start=100)
    again = plan_groups(old + added, cursors)
    assert again[0].name == first[0].name and again[0].ids == first[0].ids
    assert sorted(again[1].ids) == sorted(c.contract_id for c in added)
    assert again[1].name != first[0].name


def test_removed_contracts_leave_their_group() -> None:
    cs = _contracts(4)
    cursors = [{"name": "g-1", "contract_ids": [c.contract_id for c in cs]}]
    groups = plan_groups(cs[:2], cursors)
    assert [g.name for g in groups] == ["g-1"] and len(groups[0].ids) == 2


def test_progress_rates_and_eta() -> None:
    p = Progress(tty=False, log_every=3600)
    p.start("g", 100, 1100)
    p._t0 -= 10  # ten seconds ago
    p.update(600, 1100, 5000)
    lps, eps, eta = p.rates()
    assert 49 < lps <= 50 and 499 < eps <= 500
    assert eta is not None and 9 < eta <= 10.1
