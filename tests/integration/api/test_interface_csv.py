"""CSV on every list endpoint: ``?format=csv`` and ``Accept: text/csv`` both select it,
the OpenAPI says so, and the CSV holds the same rows as the JSON pages."""

from __future__ import annotations

import csv
import io
from typing import Any

from conftest import GOV, TREASURY, Api

# Every list endpoint (a 200 answer with ``items`` and ``next_cursor``) with the
# concrete path the seeded world fills.
LISTS = {
    "/api/organizations": "/api/organizations",
    "/api/streams": "/api/streams",
    "/api/vesting": "/api/vesting",
    "/api/proposals": "/api/proposals",
    "/api/proposals/{id}/votes": f"/api/proposals/0/votes?contract={GOV}",
    "/api/treasury/{addr}/events": f"/api/treasury/{TREASURY}/events",
    "/api/treasury/{addr}/withdrawals": f"/api/treasury/{TREASURY}/withdrawals",
    "/api/events": "/api/events",
}

# Lists that do not export CSV yet, each with the reason (the test fails for any other).
WITHOUT_CSV: dict[str, str] = {}


def _list_paths(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The GET operations whose JSON answer is a page (``items`` + ``next_cursor``)."""
    schemas = spec["components"]["schemas"]
    found = {}
    for path, ops in spec["paths"].items():
        get = ops.get("get")
        if get is None:
            continue
        content = get["responses"].get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if {"items", "next_cursor"} <= props.keys():
            found[path] = get
    return found


async def test_every_list_documents_csv_and_format(api: Api) -> None:
    spec = (await api.get("/openapi.json")).json()
    lists = _list_paths(spec)
    assert set(LISTS) <= set(lists), set(LISTS) - set(lists)
    for path, get in lists.items():
        if path in WITHOUT_CSV:
            continue
        assert "text/csv" in get["responses"]["200"]["content"], path
        params = {p["name"]: p for p in get.get("parameters", [])}
        assert "format" in params, path
        assert "csv" in str(params["format"]["schema"]), path


async def _json_rows(api: Api, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sep = "&" if "?" in url else "?"
    page = await api.json(f"{url}{sep}limit=200")
    rows.extend(page["items"])
    assert page["next_cursor"] is None  # the world is small
    return rows


async def test_every_list_answers_csv_both_ways(api: Api, world: dict[str, Any]) -> None:
    for path, url in LISTS.items():
        expected = await _json_rows(api, url)
        assert expected, path  # the world has rows for every list
        sep = "&" if "?" in url else "?"
        bodies = []
        for target, headers in ((f"{url}{sep}format=csv", {}), (url, {"Accept": "text/csv"})):
            response = await api.get(target, headers=headers)
            assert response.status_code == 200, (target, response.text)
            assert response.headers["content-type"].startswith("text/csv"), target
            assert "attachment" in response.headers["content-disposition"]
            bodies.append(response.text)
        assert bodies[0] == bodies[1], path
        rows = list(csv.DictReader(io.StringIO(bodies[0])))
        assert len(rows) == len(expected), path
        key = next(iter(expected[0]))
        assert [r[key] for r in rows] == [str(e[key]) for e in expected], path
        json_again = await api.get(f"{url}{sep}format=json", headers={"Accept": "text/csv"})
        assert json_again.headers["content-type"].startswith("application/json"), path
        assert (await api.get(f"{url}{sep}format=pdf")).status_code == 422, path


async def test_organizations_csv_has_a_column_per_contract_kind(
    api: Api, world: dict[str, Any]
) -> None:
    response = await api.get("/api/organizations?format=csv&order=asc")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "id",
        "name",
        "admin",
        "treasury",
        "payroll",
        "vesting",
        "governance",
        "created_at",
    ]
    listed = (await api.json("/api/organizations?order=asc"))["items"]
    for row, org in zip(rows, listed, strict=True):
        assert row["name"] == org["name"]
        assert row["admin"] == (org["admin"] or "")
        assert row["created_at"] == org["created_at"]
        for kind, ids in org["contracts"].items():
            assert row[kind].split() == ids


async def test_withdrawals_csv_lists_approvals(api: Api, world: dict[str, Any]) -> None:
    response = await api.get(f"/api/treasury/{TREASURY}/withdrawals?format=csv&order=asc")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    listed = (await api.json(f"/api/treasury/{TREASURY}/withdrawals?order=asc"))["items"]
    assert [r["approvals"].split() for r in rows] == [w["approvals"] for w in listed]
    assert [r["amount"] for r in rows] == [w["amount"] for w in listed]


async def test_analytics_series_as_csv(api: Api, world: dict[str, Any]) -> None:
    query = "from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&interval=day"
    for kind in ("payroll", "treasury", "vesting"):
        body = await api.json(f"/api/analytics/{kind}?{query}")
        expected = [
            [s["name"], s["token"] or "", p["t"], p["v"]]
            for s in body["series"]
            for p in s["points"]
        ]
        assert expected, kind
        for url, headers in (
            (f"/api/analytics/{kind}?{query}&format=csv", {}),
            (f"/api/analytics/{kind}?{query}", {"Accept": "text/csv"}),
        ):
            response = await api.get(url, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(response.text)))
            assert rows[0] == ["series", "token", "t", "v"]
            assert rows[1:] == expected, kind
    spec = (await api.get("/openapi.json")).json()
    for kind in ("payroll", "treasury", "vesting"):
        get = spec["paths"][f"/api/analytics/{kind}"]["get"]
        assert "text/csv" in get["responses"]["200"]["content"]
