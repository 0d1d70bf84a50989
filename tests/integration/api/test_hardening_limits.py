"""Findings 3 and 9: clients must not choose their rate-limit identity; the window holds.

- 3: uvicorn believed ``X-Forwarded-For`` from loopback and the project had no
  setting: new XFF values dodged the limit, an XFF naming another client got it
  blocked, a 16 KB value became a 16 KB Redis key.
- 9: the fixed window let twice the limit through around a boundary; API keys had
  no quota of their own.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hardening_kit import settings
from hypothesis import given
from hypothesis import strategies as st
from live_server import serve
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.api.server import uvicorn_options
from orbitpay.cache import create_cache
from orbitpay.config import parse_networks
from orbitpay.db.engine import create_engine
from orbitpay.security.apikeys import create_key
from orbitpay.security.clientip import client_address


@pytest.fixture
def live(
    clean_engine: AsyncEngine, database_url: str, redis_url: str, redis_keyspace: str
) -> Iterator[Any]:
    """A real uvicorn (configured as the service configures it) with a Redis limiter."""

    def start(**overrides: Any) -> Any:
        s = settings(rate_limit="5/minute", **overrides)
        cache = create_cache(redis_url)
        # The limiter's keys are under it too; the keyspace is emptied after the test.
        cache.prefix = f"{redis_keyspace}:{secrets.token_hex(4)}"
        app = create_app(s, engine=create_engine(database_url, pool_size=2), cache=cache)
        return cache.prefix, serve(app, **uvicorn_options(s))

    yield start


async def _statuses(base: str, headers: list[dict[str, str]]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        return [(await client.get("/api/streams", headers=h)).status_code for h in headers]


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(live: Any) -> None:
    _, server = live()
    with server as base:
        spoofed = [{"X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"} for i in range(20)]
        statuses = await _statuses(base, spoofed)
        assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
        # Naming someone else changes nothing either: still this peer's bucket.
        framed = await _statuses(base, [{"X-Forwarded-For": "203.0.113.7"}])
        assert framed == [429]
        forwarded = await _statuses(base, [{"Forwarded": "for=198.51.100.1"}])
        assert forwarded == [429]


async def test_a_trusted_proxys_forwarded_for_is_honoured(live: Any, redis_url: str) -> None:
    prefix, server = live(trusted_proxies="127.0.0.0/8")
    with server as base:
        alice = {"X-Forwarded-For": "198.51.100.1"}
        assert await _statuses(base, [alice] * 6) == [200] * 5 + [429]
        # Another client behind the same proxy has its own bucket.
        assert await _statuses(base, [{"X-Forwarded-For": "198.51.100.2"}]) == [200]
        # The rightmost untrusted address counts: what the client wrote on the left does not.
        dodge = [{"X-Forwarded-For": f"10.1.1.{i}, 198.51.100.1"} for i in range(3)]
        assert await _statuses(base, dodge) == [429] * 3
        # A value that is no IP address stops the walk at the proxy (one shared bucket,
        # never a key the client chose), and a 12 KB value makes no 12 KB Redis key.
        junk = [{"X-Forwarded-For": "x" * 12_000}] * 6
        assert await _statuses(base, junk) == [200] * 5 + [429]
        import redis.asyncio as redis

        client = redis.Redis.from_url(redis_url)
        try:
            keys = [k async for k in client.scan_iter(f"*{prefix}:rl*", count=1000)]
        finally:
            await client.aclose()
        assert keys and max(len(k) for k in keys) < 200


TRUSTED = parse_networks("10.0.0.0/8, 2001:db8::/32")


def test_client_address_walks_from_the_right_past_trusted_hops() -> None:
    def xff(value: str, peer: str = "10.0.0.1") -> str:
        return client_address(peer, [(b"x-forwarded-for", value.encode())], TRUSTED)

    assert xff("203.0.113.9") == "203.0.113.9"
    assert xff("1.2.3.4, 203.0.113.9, 10.0.0.2") == "203.0.113.9"
    assert xff("203.0.113.9", peer="198.51.100.5") == "198.51.100.5"  # untrusted peer
    assert xff("not-an-ip, 10.0.0.3") == "10.0.0.3"  # garbage: the last verified hop
    assert xff("10.0.0.2, 10.0.0.3") == "10.0.0.2"  # all trusted: the leftmost
    assert xff("::ffff:203.0.113.9") == "203.0.113.9"
    forwarded = [(b"forwarded", b'for="[2001:db9::1]:4711";proto=https, for=10.0.0.9')]
    assert client_address("10.0.0.1", forwarded, TRUSTED) == "2001:db9::1"
    assert client_address("10.0.0.1", [], ()) == "10.0.0.1"  # nothing trusted by default


@given(
    st.lists(st.text(alphabet="0123456789abcdef.:, x", max_size=40), max_size=6),
    st.ip_addresses(v=4).filter(lambda a: not a.is_private),
)
def test_whatever_a_client_prepends_the_proxys_entry_wins(forged: list[str], real: Any) -> None:
    """The proxy appends the address it saw; anything left of it is the client's text."""
    chain = ", ".join([*forged, str(real)])
    got = client_address("10.0.0.1", [(b"x-forwarded-for", chain.encode())], TRUSTED)
    assert got == str(real)


@pytest.fixture
async def asgi(clean_engine: AsyncEngine) -> AsyncIterator[Any]:
    async def make(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings(**overrides), engine=clean_engine)
        stack.append(app.router.lifespan_context(app))
        await stack[-1].__aenter__()
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 1234))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    stack: list[Any] = []
    yield make
    for ctx in reversed(stack):
        await ctx.__aexit__(None, None, None)


async def test_api_keys_have_their_own_quota(asgi: Any, clean_engine: AsyncEngine) -> None:
    async with clean_engine.begin() as conn:
        key = (await create_key(conn, "quota", "read")).secret
    client = await asgi(rate_limit="3/minute", api_key_rate_limit="10/minute")
    keyed = [await client.get("/api/streams", headers={"X-API-Key": key}) for _ in range(11)]
    assert [r.status_code for r in keyed] == [200] * 10 + [429]
    assert keyed[0].headers["X-RateLimit-Limit"] == "10"
    anonymous = [await client.get("/api/streams") for _ in range(4)]
    assert [r.status_code for r in anonymous] == [200] * 3 + [429]
    assert anonymous[0].headers["X-RateLimit-Limit"] == "3"
    # An invalid key is limited by address, like no key (it cannot mint fresh buckets).
    bogus = await client.get("/api/streams", headers={"X-API-Key": "opk_nope_nope"})
    assert bogus.status_code == 429
