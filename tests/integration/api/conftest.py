"""Fixtures for the read API: an app on the run's database, a settable clock, a seeded world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from api_factories import BASE_UNIX, Factory, account, contract
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from orbitpay.api.app import create_app
from orbitpay.api.common import request_time
from orbitpay.cache import Cache, MemoryBackend
from orbitpay.config import load_settings

TREASURY = contract("treasury")
PAYROLL = contract("payroll")
PAYROLL2 = contract("payroll-2")
VESTING = contract("vesting")
GOV = contract("governance")
USDC = contract("usdc")
XLM = contract("xlm")
ADMIN = account("admin")
ALICE = account("alice")
BOB = account("bob")
CAROL = account("carol")
DAVE = account("dave")


@dataclass
class Clock:
    now: int = BASE_UNIX + 1500


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    clock: Clock
    engine: AsyncEngine

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    async def json(self, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.client.get(url, **kwargs)
        assert response.status_code == status, (url, response.status_code, response.text)
        return response.json()


def make_app(engine: AsyncEngine, cache: Cache | None = None) -> FastAPI:
    settings = load_settings(rate_limit="1000000/second", require_api_key=False)
    return create_app(settings, engine=engine, cache=cache or Cache(MemoryBackend()))


@pytest.fixture
async def api(clean_engine: AsyncEngine) -> AsyncIterator[Api]:
    app = make_app(clean_engine)
    clock = Clock()
    app.dependency_overrides[request_time] = lambda: clock.now
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(client, app, clock, clean_engine)


@pytest.fixture
async def world(clean_engine: AsyncEngine) -> dict[str, Any]:
    """One organization with a treasury, two payroll contracts, vesting and governance."""
    return await seed_world(clean_engine)


async def seed_world(engine: AsyncEngine) -> dict[str, Any]:
    """Insert the world into empty tables; return what was inserted."""
    out: dict[str, Any] = {}
    async with engine.begin() as conn:
        f = Factory(conn)
        out["org"] = await f.organization(
            "acme",
            ADMIN,
            {"treasury": TREASURY, "payroll": PAYROLL, "vesting": VESTING, "governance": GOV},
        )
        out["org2"] = await f.organization("beta", None, {"payroll": PAYROLL2})
        b = BASE_UNIX
        # ---- payroll
        s0 = await f.stream(
            PAYROLL,
            0,
            sender=ADMIN,
            recipient=ALICE,
            token=USDC,
            total=3_000_000,
            start=b,
            end=b + 3000,
            claimed=500_000,
        )
        c0 = await f.stream_claim(PAYROLL, 0, recipient=ALICE, token=USDC, amount=500_000)
        s1 = await f.stream(
            PAYROLL,
            1,
            sender=ADMIN,
            recipient=BOB,
            token=USDC,
            total=1_000_003,
            start=b + 100,
            end=b + 1100,
        )
        s2 = await f.stream(
            PAYROLL,
            2,
            sender=ADMIN,
            recipient=ALICE,
            token=XLM,
            total=7_000,
            start=b,
            end=b + 7,
            claimed=7_000,
            status="completed",
        )
        c2 = await f.stream_claim(PAYROLL, 2, recipient=ALICE, token=XLM, amount=7_000)
        s3 = await f.stream(
            PAYROLL,
            3,
            sender=ADMIN,
            recipient=CAROL,
            token=USDC,
            total=10_000,
            start=b,
            end=b + 10_000,
            claimed=2_500,
            status="cancelled",
        )
        c3 = await f.stream_claim(
            PAYROLL, 3, recipient=CAROL, token=USDC, amount=2_500, kind="cancel"
        )
        p2s0 = await f.stream(
            PAYROLL2,
            0,
            sender=BOB,
            recipient=DAVE,
            token=USDC,
            total=999,
            start=b,
            end=b + 999,
        )
        out["streams"] = [s0, s1, s2, s3, p2s0]
        out["stream_claims"] = [c0, c2, c3]
        # ---- treasury
        t = [await f.treasury_event(TREASURY, "initialized", address=ADMIN)]
        t.append(
            await f.treasury_event(TREASURY, "deposit", address=ALICE, amount=5_000_000, token=USDC)
        )
        t.append(await f.treasury_event(TREASURY, "deposit", address=BOB, amount=1_000, token=XLM))
        t.append(
            await f.treasury_event(TREASURY, "deposit", address=ALICE, amount=2_000_000, token=USDC)
        )
        w0 = await f.withdrawal(
            TREASURY,
            0,
            proposer=ADMIN,
            token=USDC,
            recipient=CAROL,
            amount=1_500_000,
            status="executed",
            approvals=[ADMIN, BOB],
            executed=True,
        )
        w1 = await f.withdrawal(
            TREASURY, 1, proposer=BOB, token=XLM, recipient=DAVE, amount=100, approvals=[BOB]
        )
        t.append(await f.treasury_event(TREASURY, "signer_added", address=DAVE))
        out["withdrawals"] = [w0, w1]
        # ---- vesting
        v0 = await f.schedule(
            VESTING,
            0,
            grantor=ADMIN,
            beneficiary=ALICE,
            token=USDC,
            total=1_200_000,
            start=b,
            cliff_duration=1000,
            cliff_amount=300_000,
            total_duration=4000,
        )
        v1 = await f.schedule(
            VESTING,
            1,
            grantor=ADMIN,
            beneficiary=BOB,
            token=USDC,
            total=400_000,
            original_total=1_000_000,
            start=b,
            cliff_duration=0,
            cliff_amount=0,
            total_duration=1000,
            claimed=100_000,
            status="revoked",
        )
        vc1 = await f.vesting_claim(VESTING, 1, beneficiary=BOB, token=USDC, amount=100_000)
        v2 = await f.schedule(
            VESTING,
            2,
            grantor=ADMIN,
            beneficiary=CAROL,
            token=XLM,
            total=500,
            start=b,
            cliff_duration=10,
            cliff_amount=0,
            total_duration=20,
            claimed=500,
            status="fully_claimed",
            label="advisor",
            revocable=False,
        )
        vc2 = await f.vesting_claim(VESTING, 2, beneficiary=CAROL, token=XLM, amount=500)
        out["schedules"] = [v0, v1, v2]
        out["vesting_claims"] = [vc1, vc2]
        # ---- governance
        p0 = await f.proposal(
            GOV, 0, proposer=ALICE, token=USDC, amount=100_000, recipient=BOB, title="q1_budget"
        )
        votes = [
            await f.vote(GOV, 0, voter=BOB, choice="yes", weight=2),
            await f.vote(GOV, 0, voter=CAROL, choice="no"),
            await f.vote(GOV, 0, voter=DAVE, choice="abstain"),
        ]
        p1 = await f.proposal(
            GOV, 1, proposer=BOB, token=XLM, amount=50, recipient=DAVE, status="executed"
        )
        out["proposals"] = [p0, p1]
        out["votes"] = votes
        out["treasury_events"] = t
        out["last_ledger"] = f.ledger
    return out
