"""Reading the rows a page needs and writing what it produced, in one transaction.

Exactly once: :func:`write_page` inserts a page's events, the rows they
produce and the cursor that passes them in the caller's transaction, after
checking (``SELECT ... FOR UPDATE``) that the cursor is still where this
page started. Events already stored are filtered out before applying (an
event is stored iff its effects are), so replaying any range changes nothing.
Entity upserts only overwrite a row whose ``last_ledger`` is not newer.

Rows are the projection's dataclasses (``indexer.model``), whose fields are
named like the columns: a page's rows of one table go out as one statement,
as one JSON document (orjson encodes the dataclasses directly) or, when a
value has no exact JSON form there, as one array per column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ARRAY, BigInteger, Boolean, DateTime, Integer, Numeric, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orbitpay import jsoncodec
from orbitpay.db.schema import (
    discrepancies,
    events,
    governance_members,
    indexer_cursors,
    indexer_status,
    proposals,
    stream_claims,
    streams,
    treasury_events,
    vesting_claims,
    vesting_schedules,
    votes,
    withdrawal_approvals,
    withdrawals,
)
from orbitpay.enums import Origin, ProposalStatus, ScheduleStatus, StreamStatus, WithdrawalStatus
from orbitpay.indexer.model import (
    Changes,
    ContractParams,
    ContractRow,
    Discrepancy,
    Key,
    MemberRow,
    Needs,
    OrganizationRow,
    ProposalRow,
    ScheduleRow,
    Snapshot,
    StreamRow,
    WithdrawalRow,
)


class CursorMoved(Exception):
    """Another writer advanced this cursor since the page was read: the page is dropped."""


def _plain(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for k, v in out.items():
        if isinstance(v, Decimal):
            out[k] = int(v)
    return out


async def driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` (same transaction): bulk statements go here."""
    raw = await conn.get_raw_connection()
    pg = raw.driver_connection
    if pg is None or not pg.is_in_transaction():
        # Statements sent before SQLAlchemy's BEGIN would autocommit one by one.
        raise RuntimeError("bulk statements need the page's transaction to be started first")
    return pg


async def existing_event_ids(conn: AsyncConnection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    pg = await driver(conn)
    rows = await pg.fetch("SELECT id FROM events WHERE id = ANY($1::text[])", ids)
    return {r[0] for r in rows}


def _value(v: Any) -> Any:
    return int(v) if type(v) is Decimal else v


async def _load_keys(
    pg: Any,
    table: Table,
    select_cols: Sequence[str],
    cols: tuple[str, ...],
    types: tuple[str, ...],
    keys: set[Any],
) -> list[tuple[Any, ...]]:
    """``select_cols`` of the rows of ``table`` whose (cols) are in ``keys``, NUMERIC as int.

    One query, the keys passed as arrays.
    """
    if not keys:
        return []
    ordered = sorted(keys)
    arrays = [[k[i] for k in ordered] for i in range(len(cols))]
    unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    names = ", ".join(f"k{i}" for i in range(len(cols)))
    on = " AND ".join(f't."{c}" = k.k{i}' for i, c in enumerate(cols))
    picked = ", ".join(f't."{c}"' for c in select_cols)
    sql = f'SELECT {picked} FROM "{table.name}" t JOIN unnest({unnest}) AS k({names}) ON {on}'
    return [tuple(_value(v) for v in r) for r in await pg.fetch(sql, *arrays)]


R = TypeVar("R")
K = TypeVar("K", str, int, tuple[str, int], tuple[str, str])


def _names(cls: type[Any]) -> tuple[str, ...]:
    """A row class's field names: the columns it is read from and written to."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


_FIELDS: dict[type[Any], tuple[str, ...]] = {}
_ID = ("text", "bigint")


async def _load_rows(
    pg: Any, cls: type[R], table: Table, cols: tuple[str, str], keys: set[Any]
) -> list[R]:
    """Entity rows by (contract_id, id) key, as ``cls`` (its fields in column order)."""
    types = ("text", "text") if cols[1] == "member" else _ID
    return [cls(*r) for r in await _load_keys(pg, table, _names(cls), cols, types, keys)]


async def load_snapshot(conn: AsyncConnection, contract_ids: list[str], need: Needs) -> Snapshot:
    snap = Snapshot()
    pg = await driver(conn)
    for r in await pg.fetch(
        "SELECT contract_id, kind, organization_id, admin, params, initialized_ledger, "
        "last_ledger FROM contracts WHERE contract_id = ANY($1::text[])",
        contract_ids,
    ):
        params = r["params"]
        snap.contracts[r["contract_id"]] = ContractRow(
            r["contract_id"],
            r["kind"],
            r["organization_id"],
            r["admin"],
            ContractParams.from_json(json.loads(params) if isinstance(params, str) else params),
            r["initialized_ledger"],
            r["last_ledger"],
        )
    org_ids = sorted({c.organization_id for c in snap.contracts.values()})
    if org_ids:
        for r in await pg.fetch(
            "SELECT id, admin FROM organizations WHERE id = ANY($1::bigint[])", org_ids
        ):
            snap.organizations[r["id"]] = OrganizationRow(r["id"], r["admin"])
    for w in await _load_rows(
        pg, WithdrawalRow, withdrawals, ("contract_id", "withdrawal_id"), need.withdrawals
    ):
        w.status = WithdrawalStatus(w.status)
        snap.withdrawals[(w.contract_id, w.withdrawal_id)] = w
    for cid, wid, signer in await _load_keys(
        pg,
        withdrawal_approvals,
        ("contract_id", "withdrawal_id", "signer"),
        ("contract_id", "withdrawal_id"),
        _ID,
        need.withdrawals,
    ):
        snap.approvals.setdefault((cid, wid), set()).add(signer)
    for s in await _load_rows(pg, StreamRow, streams, ("contract_id", "stream_id"), need.streams):
        s.status = StreamStatus(s.status)
        snap.streams[(s.contract_id, s.stream_id)] = s
    for v in await _load_rows(
        pg, ScheduleRow, vesting_schedules, ("contract_id", "schedule_id"), need.schedules
    ):
        v.status = ScheduleStatus(v.status)
        snap.schedules[(v.contract_id, v.schedule_id)] = v
    for p in await _load_rows(
        pg, ProposalRow, proposals, ("contract_id", "proposal_id"), need.proposals
    ):
        p.status = ProposalStatus(p.status)
        snap.proposals[(p.contract_id, p.proposal_id)] = p
    for m in await _load_rows(
        pg, MemberRow, governance_members, ("contract_id", "member"), need.members
    ):
        snap.members[(m.contract_id, m.member)] = m
    for cid, pid, voter in await _load_keys(
        pg,
        votes,
        ("contract_id", "proposal_id", "voter"),
        ("contract_id", "proposal_id", "voter"),
        ("text", "bigint", "text"),
        need.votes,
    ):
        snap.voted.add((cid, pid, voter))
    return snap


def _pg_type(column: Any) -> str:
    t = column.type
    if isinstance(t, JSONB):
        return "jsonb"
    if isinstance(t, ARRAY):
        return "text[]"
    if isinstance(t, BigInteger):
        return "int8"
    if isinstance(t, Integer):
        return "int4"
    if isinstance(t, Numeric):
        return "numeric"
    if isinstance(t, DateTime):
        return "timestamptz"
    if isinstance(t, Boolean):
        return "bool"
    return "text"


def _array_literal(items: list[str] | None) -> str | None:
    if items is None:
        return None
    quoted = ('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items)
    return "{" + ",".join(quoted) + "}"


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return _without_nul_escapes(jsoncodec.dumps(value))


def _sql_bulk(table: Table, cols: Sequence[str], conflict: str) -> str:
    """One INSERT for many rows: each column is passed as one array and unnested."""
    types = [_pg_type(table.c[c]) for c in cols]
    # jsonb and text[] travel as text (arrays of arrays cannot be unnested) and are cast back.
    wire = ["text" if t in ("jsonb", "text[]") else t for t in types]
    params = ", ".join(f"${i + 1}::{w}[]" for i, w in enumerate(wire))
    names = ", ".join(f'"{c}"' for c in cols)
    select = ", ".join(
        f"v{i}::{t}" if t in ("jsonb", "text[]") else f"v{i}" for i, t in enumerate(types)
    )
    aliases = ", ".join(f"v{i}" for i in range(len(cols)))
    return (
        f'INSERT INTO "{table.name}" ({names}) SELECT {select} '
        f"FROM unnest({params}) AS u({aliases}) {conflict}"
    )


# NUL: PostgreSQL's text and jsonb cannot hold U+0000, which a contract's String (and so a
# decoded topic, value, title or error message) may contain. Stored as U+FFFD, the
# replacement character, so such an event is indexed instead of failing its page forever;
# the exact bytes stay in the event's raw XDR (``topics_xdr``, ``value_xdr``).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul_escapes(text: str) -> str:
    """JSON text with each ``\\u0000`` escape (not an escaped backslash + "u0000") -> U+FFFD."""
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def _no_nul(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def storable(value: Any) -> Any:
    """``value`` with NUL replaced in every string, also inside dicts and lists (see above):
    for the rows written outside the bulk paths (reconciliation, status)."""
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _columns(table: Table, cols: Sequence[str], rows: Sequence[Any]) -> list[list[Any]]:
    out = []
    for c in cols:
        t = _pg_type(table.c[c])
        values = [getattr(row, c) for row in rows]
        if t == "jsonb":
            values = [_dumps(v) for v in values]
        elif t == "text[]":
            values = [_array_literal(v) for v in values]
        out.append([_no_nul(v) for v in values])
    return out


_JSON_SQL: dict[tuple[str, tuple[str, ...], str], str] = {}


def _sql_json(table: Table, cols: Sequence[str], conflict: str) -> str:
    """One INSERT for many rows passed as one JSON array of objects (``json_to_recordset``).

    Cheaper than one array per column: the rows are encoded by orjson (``jsoncodec``) and
    parsed by the server. A JSON ``null`` (or a missing key) is SQL NULL, also for jsonb.
    """
    key = (table.name, tuple(cols), conflict)
    sql = _JSON_SQL.get(key)
    if sql is None:
        names = ", ".join(f'"{c}"' for c in cols)
        types = ", ".join(f'"{c}" {_pg_type(table.c[c])}' for c in cols)
        sql = (
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
            f"FROM json_to_recordset($1::json) AS x({types}) {conflict}"
        )
        _JSON_SQL[key] = sql
    return sql


def _rows_json(rows: Sequence[Any], cols: Sequence[str]) -> str | None:
    """Row dataclasses as a JSON array of objects, or None when a value has no exact JSON
    form. orjson encodes the dataclasses directly; what it refuses (an integer beyond 64
    bits) is encoded by the stdlib from the rows as dicts."""
    try:
        return _without_nul_escapes(jsoncodec.dumps(rows))
    except (TypeError, ValueError):
        pass  # the stdlib half of jsoncodec does not take dataclasses
    try:
        picked = [{c: getattr(r, c) for c in cols} for r in rows]
        return _without_nul_escapes(jsoncodec.dumps(picked))
    except (TypeError, ValueError):
        return None


async def _bulk(pg: Any, table: Table, rows: Sequence[Any], conflict: str) -> None:
    """Write ``rows`` (dataclasses of one class, fields named like ``table``'s columns)."""
    cols = _names(type(rows[0]))
    payload = _rows_json(rows, cols)
    if payload is not None:
        await pg.execute(_sql_json(table, cols, conflict), payload)
    else:
        await pg.execute(_sql_bulk(table, cols, conflict), *_columns(table, cols, rows))


async def _insert_ignore(pg: Any, table: Table, rows: Sequence[Any]) -> None:
    if rows:
        await _bulk(pg, table, rows, "ON CONFLICT DO NOTHING")


async def _upsert(pg: Any, table: Table, pk: tuple[str, ...], rows: Sequence[Any]) -> None:
    """Insert or update; never overwrite a row whose ``last_ledger`` is newer."""
    if not rows:
        return
    sets = [f'"{c}" = EXCLUDED."{c}"' for c in _names(type(rows[0])) if c not in pk]
    if "updated_at" in table.c:
        sets.append("updated_at = now()")
    conflict = (
        f"ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {', '.join(sets)} "
        f'WHERE "{table.name}".last_ledger <= EXCLUDED.last_ledger'
    )
    await _bulk(pg, table, rows, conflict)


def _dirty(rows: Mapping[K, R], dirty: set[K]) -> list[R]:
    return [rows[key] for key in sorted(dirty)]


async def write_changes(conn: AsyncConnection, snap: Snapshot, ch: Changes) -> None:
    """Write a page's rows (events first, then entities, then rows that reference them)."""
    pg = await driver(conn)
    await _insert_ignore(pg, events, ch.events)
    if ch.dirty_contracts:  # one statement for all (a page touches most of its contracts)
        dirty = [snap.contracts[cid] for cid in sorted(ch.dirty_contracts)]
        await pg.execute(
            "UPDATE contracts SET admin = u.admin, params = u.params::jsonb, "
            "initialized_ledger = u.initialized_ledger, last_ledger = u.last_ledger "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[]) "
            "AS u(contract_id, admin, params, initialized_ledger, last_ledger) "
            "WHERE contracts.contract_id = u.contract_id",
            [c.contract_id for c in dirty],
            [c.admin for c in dirty],
            [_dumps(c.params.to_json()) for c in dirty],
            [c.initialized_ledger for c in dirty],
            [c.last_ledger for c in dirty],
        )
    for org_id in sorted(ch.dirty_organizations):
        await pg.execute(
            "UPDATE organizations SET admin = $2, updated_at = now() "
            "WHERE id = $1 AND admin IS NULL",
            org_id,
            snap.organizations[org_id].admin,
        )
    await _upsert(
        pg,
        withdrawals,
        ("contract_id", "withdrawal_id"),
        _dirty(snap.withdrawals, ch.dirty_withdrawals),
    )
    await _upsert(pg, streams, ("contract_id", "stream_id"), _dirty(snap.streams, ch.dirty_streams))
    await _upsert(
        pg,
        vesting_schedules,
        ("contract_id", "schedule_id"),
        _dirty(snap.schedules, ch.dirty_schedules),
    )
    await _upsert(
        pg, proposals, ("contract_id", "proposal_id"), _dirty(snap.proposals, ch.dirty_proposals)
    )
    await _upsert(
        pg, governance_members, ("contract_id", "member"), _dirty(snap.members, ch.dirty_members)
    )
    await _insert_ignore(pg, treasury_events, ch.treasury_events)
    await _insert_ignore(pg, withdrawal_approvals, ch.approvals)
    await _insert_ignore(pg, stream_claims, ch.stream_claims)
    await _insert_ignore(pg, vesting_claims, ch.vesting_claims)
    await _insert_ignore(pg, votes, ch.votes)
    if ch.discrepancies:
        await _bulk(pg, discrepancies, ch.discrepancies, "")


# ── cursors and status ───────────────────────────────────────────────────────


# The entity tables, their id column, and the set of Changes naming the rows a page touched.
_ENTITY_IDS: tuple[tuple[Table, str, str], ...] = (
    (withdrawals, "withdrawal_id", "dirty_withdrawals"),
    (streams, "stream_id", "dirty_streams"),
    (vesting_schedules, "schedule_id", "dirty_schedules"),
    (proposals, "proposal_id", "dirty_proposals"),
)


async def mark_origin(
    conn: AsyncConnection, ch: Changes, origin: Origin, first_ledger: int, last_ledger: int
) -> None:
    """Stamp ``origin`` on the entity rows this page *created* (not those it only updated).

    Rows are inserted with the column's default (``events``); a source other than the
    RPC (the ledger data lake) then names itself on the rows whose creation it read,
    i.e. those created inside the page's ledger range, so a row says where it came from.
    Rows from ledger state (``ledger_state``) or an earlier source are left as they are.
    """
    if origin == Origin.EVENTS:
        return
    pg = await driver(conn)
    for table, id_col, dirty_name in _ENTITY_IDS:
        keys: set[Key] = getattr(ch, dirty_name)
        if not keys:
            continue
        await pg.execute(
            f'UPDATE "{table.name}" AS t SET origin = $1 '
            f"FROM unnest($2::text[], $3::int8[]) AS k(contract_id, id) "
            f"WHERE t.contract_id = k.contract_id AND t.{id_col} = k.id "
            f"AND t.origin = $4 AND t.created_ledger BETWEEN $5 AND $6",
            origin.value,
            [c for c, _ in keys],
            [i for _, i in keys],
            Origin.EVENTS.value,
            first_ledger,
            last_ledger,
        )


async def read_cursor(
    conn: AsyncConnection, name: str, *, lock: bool = False
) -> dict[str, Any] | None:
    stmt = select(indexer_cursors).where(indexer_cursors.c.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    return _plain(row) if row else None


async def lock_cursor(conn: AsyncConnection, name: str, expect_cursor: str | None) -> None:
    """Start the page's transaction by locking its cursor row; refuse if another writer moved it.

    Taken first, the row lock also serialises two writers on the same group.
    """
    current = await read_cursor(conn, name, lock=True)
    seen = current["cursor"] if current else None
    if current is not None and seen != expect_cursor:
        raise CursorMoved(f"cursor {name} moved from {expect_cursor!r} to {seen!r}")


async def all_cursors(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [
        _plain(r)
        for r in await conn.execute(select(indexer_cursors).order_by(indexer_cursors.c.name))
    ]


async def save_cursor(
    conn: AsyncConnection,
    name: str,
    *,
    contract_ids: list[str],
    cursor: str | None,
    last_ledger: int,
    last_ledger_closed_at: datetime | None,
    latest_ledger: int | None,
    expect_cursor: str | object | None = ...,
) -> None:
    """Move a group's cursor; with ``expect_cursor``, refuse if another writer moved it."""
    if expect_cursor is not ...:
        current = await read_cursor(conn, name, lock=True)
        seen = current["cursor"] if current else None
        if current is not None and seen != expect_cursor:
            raise CursorMoved(f"cursor {name} moved from {expect_cursor!r} to {seen!r}")
    stmt = insert(indexer_cursors).values(
        name=name,
        contract_ids=contract_ids,
        cursor=cursor,
        last_ledger=last_ledger,
        last_ledger_closed_at=last_ledger_closed_at,
        latest_ledger=latest_ledger,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[indexer_cursors.c.name],
        set_={
            "contract_ids": stmt.excluded.contract_ids,
            "cursor": stmt.excluded.cursor,
            "last_ledger": stmt.excluded.last_ledger,
            "last_ledger_closed_at": func.coalesce(
                stmt.excluded.last_ledger_closed_at, indexer_cursors.c.last_ledger_closed_at
            ),
            "latest_ledger": stmt.excluded.latest_ledger,
            "updated_at": func.now(),
        },
    )
    await conn.execute(stmt)


STATUS_NAME = "indexer"


async def write_status(conn: AsyncConnection, **values: Any) -> None:
    """Upsert the ``indexer_status`` row that /health reads (only the given columns change)."""
    values = {**storable(values), "heartbeat_at": func.now()}
    stmt = insert(indexer_status).values(name=STATUS_NAME, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[indexer_status.c.name],
        set_={k: stmt.excluded[k] for k in values},
    )
    await conn.execute(stmt)


async def add_discrepancies(conn: AsyncConnection, rows: Sequence[Discrepancy]) -> None:
    """Insert discrepancies found outside a page (reconciliation, gaps)."""
    if rows:
        await conn.execute(insert(discrepancies), [storable(r.as_row()) for r in rows])
