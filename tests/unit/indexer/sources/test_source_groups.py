"""Grouping contracts into getEvents requests (at most 5 filters x 5 contract ids)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from stellar_sdk import StrKey

from orbitpay.indexer.model import ContractInfo
from orbitpay.indexer.sources import GROUP_SIZE, plan_groups


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


@given(
    st.integers(0, 80),
    st.lists(st.lists(st.integers(0, 100), max_size=30), max_size=5),
)
def test_every_contract_lands_in_exactly_one_group_and_stored_groups_keep_their_names(
    n: int, stored: list[list[int]]
) -> None:
    cs = _contracts(n)
    ids = [c.contract_id for c in _contracts(101)]
    cursors = [
        {"name": f"old-{i}", "contract_ids": [ids[j] for j in members]}
        for i, members in enumerate(stored)
    ]
    groups = plan_groups(cs, cursors)
    placed = [cid for g in groups for cid in g.ids]
    assert sorted(placed) == sorted(c.contract_id for c in cs)  # each once
    assert len({g.name for g in groups}) == len(groups)
    for g in groups:
        assert g.contracts and all(g.contracts[cid].contract_id == cid for cid in g.ids)
        if g.name.startswith("old-"):
            # A stored group keeps only its own (still registered) contracts.
            assert set(g.ids) <= set(cursors[int(g.name[4:])]["contract_ids"])
        else:
            assert len(g.ids) <= GROUP_SIZE
