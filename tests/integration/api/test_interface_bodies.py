"""Request bodies: unknown fields are a 422 naming them, and ``POST /api/organizations``
takes the shape ``GET`` returns (without the server-set ``id`` and ``created_at``)."""

from __future__ import annotations

from typing import Any

from api_factories import account, contract
from sqlalchemy.ext.asyncio import AsyncEngine

from conftest import Api
from orbitpay.security.apikeys import create_key

ADMIN = account("body-admin")
T1, T2 = contract("body-treasury-1"), contract("body-treasury-2")
P1 = contract("body-payroll")


async def _writer(engine: AsyncEngine) -> dict[str, str]:
    async with engine.begin() as conn:
        return {"X-API-Key": (await create_key(conn, "body-writer", "write")).secret}


def _refs(schema: Any) -> set[str]:
    """Every component a schema refers to, directly or nested."""
    found: set[str] = set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in schema.values():
            found |= _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _refs(value)
    return found


async def test_every_request_body_forbids_unknown_fields(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    bodies: set[str] = set()
    for ops in spec["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "requestBody" in op:
                bodies |= _refs(op["requestBody"])
    assert {"OrganizationCreate", "KeyCreate"} <= bodies
    seen: set[str] = set()
    todo = set(bodies)
    while todo:  # the bodies and every object model nested in them
        name = todo.pop()
        seen.add(name)
        schema = components[name]
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, name
        todo |= _refs(schema) - seen
    assert "ContractsInput" in seen


async def test_unknown_and_server_set_fields_are_422(api: Api, clean_engine: AsyncEngine) -> None:
    key = await _writer(clean_engine)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/api/organizations", {"name": "acme", "tresury": T1}, "tresury"),
        ("/api/organizations", {"name": "acme", "id": 5}, "id"),
        (
            "/api/organizations",
            {"name": "acme", "created_at": "2026-01-01T00:00:00Z"},
            "created_at",
        ),
        ("/api/organizations", {"name": "acme", "contracts": {"payrol": [P1]}}, "contracts.payrol"),
        ("/api/keys", {"name": "dash", "scope": "read", "expires": 3}, "expires"),
    ]
    for path, body, field in cases:
        response = await api.client.post(path, json=body, headers=key)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"][0]["name"] == field, error
    assert (await api.json("/api/organizations"))["items"] == []  # nothing half-applied


async def test_post_takes_the_shape_get_returns(api: Api, clean_engine: AsyncEngine) -> None:
    key = await _writer(clean_engine)
    body = {
        "name": "acme",
        "admin": ADMIN,
        "contracts": {"treasury": [T1, T2], "payroll": [P1], "vesting": [], "governance": []},
    }
    created = await api.client.post("/api/organizations", json=body, headers=key)
    assert created.status_code == 201, created.text
    got = created.json()
    read = await api.json(f"/api/organizations/{got['id']}")
    assert got == read  # the answer is the organization as GET shows it
    assert {k: read[k] for k in body} == {
        **body,
        "contracts": {**body["contracts"], "treasury": sorted([T1, T2])},
    }
    # GET's object minus the server-set fields goes back in unchanged (idempotent).
    again = {k: v for k, v in read.items() if k not in ("id", "created_at")}
    repeated = await api.client.post("/api/organizations", json=again, headers=key)
    assert repeated.status_code == 201 and repeated.json() == read


async def test_flat_fields_still_work_but_not_mixed(api: Api, clean_engine: AsyncEngine) -> None:
    key = await _writer(clean_engine)
    flat = await api.client.post(
        "/api/organizations", json={"name": "old-client", "payroll": P1}, headers=key
    )
    assert flat.status_code == 201, flat.text
    assert flat.json()["contracts"]["payroll"] == [P1]
    mixed = await api.client.post(
        "/api/organizations",
        json={"name": "both", "treasury": T1, "contracts": {"payroll": [P1]}},
        headers=key,
    )
    assert mixed.status_code == 422
    assert "not both" in mixed.json()["error"]["message"]
    bad = await api.client.post(
        "/api/organizations",
        json={"name": "bad", "contracts": {"vesting": ["C" * 56]}},
        headers=key,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["name"] == "contracts.vesting.0"
