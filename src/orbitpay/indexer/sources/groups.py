"""Contract groups: the unit a source pages and a cursor row remembers.

A group holds at most 25 contracts because one ``getEvents`` request takes at
most 5 filters of 5 contract ids; every source walks the same groups so that a
group's stored position means the same thing whichever source wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orbitpay.indexer.model import ContractInfo
from orbitpay.stellar.rpc import MAX_CONTRACT_IDS_PER_FILTER, MAX_FILTERS

GROUP_SIZE = MAX_FILTERS * MAX_CONTRACT_IDS_PER_FILTER


@dataclass
class Group:
    """Contracts paged together (one ``getEvents`` request covers them all)."""

    name: str
    contracts: dict[str, ContractInfo]

    @property
    def ids(self) -> list[str]:
        return sorted(self.contracts)


def plan_groups(
    contracts: Sequence[ContractInfo], cursors: Sequence[Mapping[str, Any]]
) -> list[Group]:
    """Keep existing cursor groups; put new contracts into new groups of at most 25.

    A group's name is stable (``g-<first contract id>``) so re-planning after
    a restart finds the same cursor rows.
    """
    by_id = {c.contract_id: c for c in contracts}
    groups: list[Group] = []
    assigned: set[str] = set()
    for cur in cursors:
        members = {cid: by_id[cid] for cid in cur.get("contract_ids") or [] if cid in by_id}
        members = {cid: c for cid, c in members.items() if cid not in assigned}
        if members:
            groups.append(Group(str(cur["name"]), members))
            assigned.update(members)
    fresh = sorted(cid for cid in by_id if cid not in assigned)
    taken = {g.name for g in groups} | {str(c["name"]) for c in cursors}
    for i in range(0, len(fresh), GROUP_SIZE):
        chunk = fresh[i : i + GROUP_SIZE]
        name = f"g-{chunk[0]}"
        n = 1
        while name in taken:
            n += 1
            name = f"g-{chunk[0]}-{n}"
        taken.add(name)
        groups.append(Group(name, {cid: by_id[cid] for cid in chunk}))
    return groups
