"""Sources: where raw contract events come from, in ledger order, with a resumable position.

- :mod:`.base`: the :class:`Source` interface and the values it yields
  (:class:`Batch`, :class:`Position`, :class:`ChainHead`);
- :mod:`.groups`: contracts grouped 25 to a request, one cursor row each;
- :mod:`.lockstep`: the pure cut of a round at the groups' common frontier;
- :mod:`.rpc`: :class:`RpcSource`, ``getEvents`` lanes in lockstep with prefetch.
"""

from orbitpay.indexer.sources.base import Batch, ChainHead, Position, Source
from orbitpay.indexer.sources.groups import GROUP_SIZE, Group, plan_groups
from orbitpay.indexer.sources.rpc import DEFAULT_PAGE_LIMIT, RpcSource

__all__ = [
    "DEFAULT_PAGE_LIMIT",
    "GROUP_SIZE",
    "Batch",
    "ChainHead",
    "Group",
    "Position",
    "RpcSource",
    "Source",
    "plan_groups",
]
