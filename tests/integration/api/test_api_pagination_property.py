"""Property: walking any list page by page returns each row exactly once, in a stable order,
with random page sizes, both orders, and new rows arriving (as the indexer inserts them)
between pages.

Initial rows get ledgers from a small range, so many share a ledger (and stream ids repeat
across two contracts): the sort key's tie-breakers are exercised, not only the ledger.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from api_factories import BASE_UNIX, Factory, account, contract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from conftest import Api
from orbitpay.db.schema import metadata

P1, P2 = contract("walk-payroll-1"), contract("walk-payroll-2")
TREASURY, VESTING, GOV = contract("walk-treasury"), contract("walk-vesting"), contract("walk-gov")
TOKEN = contract("walk-token")
R = account("walk-recipient")


@dataclass
class Kind:
    url: str
    key: Callable[[dict[str, Any]], Any]
    add: Callable[[Factory, int, int], Awaitable[None]]
    setup: Callable[[Factory], Awaitable[None]] | None = None


async def _stream(f: Factory, ledger: int, n: int) -> None:
    cid = P1 if n % 2 else P2
    await f.stream(
        cid, n // 2, sender=account(n % 5), recipient=R if n % 3 else account(n), token=TOKEN,
        total=1000 + n, start=BASE_UNIX, end=BASE_UNIX + 100, ledger=ledger,
    )  # fmt: skip


async def _schedule(f: Factory, ledger: int, n: int) -> None:
    await f.schedule(
        VESTING, n, grantor=account("g"), beneficiary=R, token=TOKEN, total=100,
        start=BASE_UNIX, cliff_duration=1, cliff_amount=1, total_duration=10, ledger=ledger,
    )  # fmt: skip


async def _proposal(f: Factory, ledger: int, n: int) -> None:
    await f.proposal(
        GOV, n + 1, proposer=account(n % 3), token=TOKEN, amount=n, recipient=R, ledger=ledger
    )


async def _gov_setup(f: Factory) -> None:
    await f.proposal(GOV, 0, proposer=R, token=TOKEN, amount=1, recipient=R, ledger=1)


async def _vote(f: Factory, ledger: int, n: int) -> None:
    await f.vote(GOV, 0, voter=account(f"voter-{n}"), choice="yes", ledger=ledger)


async def _treasury_event(f: Factory, ledger: int, n: int) -> None:
    await f.treasury_event(TREASURY, "deposit", address=R, amount=n, token=TOKEN, ledger=ledger)


async def _withdrawal(f: Factory, ledger: int, n: int) -> None:
    f.ledger = ledger - 1
    await f.withdrawal(TREASURY, n, proposer=R, token=TOKEN, recipient=R, amount=n)


async def _treasury_setup(f: Factory) -> None:
    await f.treasury_event(TREASURY, "initialized", address=R, ledger=1)


async def _event(f: Factory, ledger: int, n: int) -> None:
    await f.event(P1 if n % 2 else P2, "mystery", ledger, recognised=False)


async def _org(f: Factory, ledger: int, n: int) -> None:
    await f.organization(f"org-{n}", None, {})


KINDS = {
    "streams": Kind("/api/streams", lambda i: (i["contract_id"], i["stream_id"]), _stream),
    "streams_by_recipient": Kind(
        f"/api/streams?recipient={R}", lambda i: (i["contract_id"], i["stream_id"]), _stream
    ),
    "vesting": Kind("/api/vesting", lambda i: (i["contract_id"], i["schedule_id"]), _schedule),
    "proposals": Kind(
        "/api/proposals", lambda i: (i["contract_id"], i["proposal_id"]), _proposal, _gov_setup
    ),
    "votes": Kind(
        f"/api/proposals/0/votes?contract={GOV}", lambda i: i["voter"], _vote, _gov_setup
    ),
    "treasury_events": Kind(
        f"/api/treasury/{TREASURY}/events", lambda i: i["id"], _treasury_event, _treasury_setup
    ),
    "withdrawals": Kind(
        f"/api/treasury/{TREASURY}/withdrawals",
        lambda i: i["withdrawal_id"],
        _withdrawal,
        _treasury_setup,
    ),
    "events": Kind("/api/events", lambda i: i["id"], _event),
    "organizations": Kind("/api/organizations", lambda i: i["id"], _org),
}


async def _truncate(api: Api) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with api.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await api.app.state.resources.cache.invalidate(
        "streams", "vesting", "proposals", "treasury", "events", "analytics"
    )


@pytest.mark.parametrize("kind_name", sorted(KINDS))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_walk_each_row_exactly_once(api: Api, kind_name: str, data: st.DataObject) -> None:
    kind = KINDS[kind_name]
    await _truncate(api)
    order = data.draw(st.sampled_from(["asc", "desc"]), label="order")
    initial = data.draw(st.integers(0, 25), label="initial rows")
    counter = 0
    seqs: dict[int, int] = {}  # event ids per ledger, shared by every insert of the example
    async with api.engine.begin() as conn:
        f = Factory(conn, _event_seq=seqs)
        if kind.setup:
            await kind.setup(f)
        for _ in range(initial):
            ledger = data.draw(st.integers(10, 14), label="ledger")
            await kind.add(f, ledger, counter)
            counter += 1
    before = [kind.key(i) for i in (await api.json(f"{_sep(kind.url)}limit=200"))["items"]]
    assert len(before) == len(set(before))

    seen: list[Any] = []
    cursor = None
    head = 100
    for _ in range(200):
        limit = data.draw(st.integers(1, 7), label="limit")
        url = f"{_sep(kind.url)}limit={limit}&order={order}"
        page = await api.json(url + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= limit
        seen += [kind.key(i) for i in page["items"]]
        arriving = data.draw(st.integers(0, 2), label="arriving")
        if arriving:
            async with api.engine.begin() as conn:
                f = Factory(conn, ledger=head, _event_seq=seqs)
                for _ in range(arriving):
                    head += data.draw(st.integers(0, 1), label="ledger step")
                    await kind.add(f, head, counter)
                    counter += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert set(before) <= set(seen), "a row present when the walk started was skipped"
    if order == "desc":
        assert seen[: len(before)] == before  # newer arrivals sort before the walk's position
    else:
        assert [k for k in seen if k in set(before)] == before[::-1]


def _sep(url: str) -> str:
    return url + ("&" if "?" in url else "?")
