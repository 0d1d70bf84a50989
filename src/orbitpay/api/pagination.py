"""Keyset pagination with opaque, signed cursors.

Every list is ordered by a unique sort key (e.g. ``(created_ledger,
stream_id, contract_id)``) and a page is "the next ``limit`` rows after this
key", never an ``OFFSET``: the cost of a page does not grow with its depth,
and rows inserted while a client walks the pages (newer ledgers) never shift
the rows it has still to see, so each row present when the walk started is
returned exactly once.

A cursor is ``base64url(json payload) "." base64url(hmac)``. The payload holds
the last row's sort key and a fingerprint of the endpoint, filters and order
it was issued for; the HMAC-SHA256 (truncated to 128 bits) makes it
tamper-evident. Anything that does not verify, or a cursor replayed on other
filters or another order, is a 400 ``bad_cursor``; so is a payload whose
values could not be bound to the list's columns (an integer outside 64 bits, a
string longer than any key), checked after the signature, so
even a cursor signed with a leaked key cannot reach the database as a 500.
The key is derived from ``ORBITPAY_CURSOR_SECRET``, which every API worker of
a deployment shares (cursors survive restarts and work across workers behind a
load balancer). The service refuses to start the API without it whenever
``ORBITPAY_DATABASE_URL`` is set (``Settings.require_cursor_secret``); only the
embedded default deployment (and an app built directly, as in tests) derives it
from the database URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, bindparam, tuple_
from sqlalchemy.sql.expression import UnaryExpression

from orbitpay.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_VERSION = 1
_MAC_BYTES = 16
# Sort-key values a cursor may carry: PostgreSQL bigint, and strings no longer than any
# key column (ids, event ids, strkeys, hashes).
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_MAX_TEXT = 256

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: the rows and the cursor of the next page (``null`` at the end)."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next page; `null` when there is none.",
        examples=[None],
    )


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None
    order: Literal["asc", "desc"]


LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1..{MAX_LIMIT}).")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=2048, description="`next_cursor` of the previous page."),
]
OrderQuery = Annotated[
    Literal["asc", "desc"], Query(description="By ledger: `desc` = newest first.")
]


async def page_params(
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    order: OrderQuery = "desc",
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor or None, order=order)


Paging = Annotated[PageParams, Depends(page_params)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: str) -> bytes:
    """The HMAC key for cursors from a deployment secret (domain-separated)."""
    return hashlib.sha256(b"orbitpay-cursor-v1\x00" + secret.encode("utf-8")).digest()


def cursor_key(request: Request) -> bytes:
    """The deployment's cursor key, computed once per app and kept on its state."""
    state = request.app.state
    key: bytes | None = getattr(state, "cursor_key", None)
    if key is None:
        res = state.resources
        secret = res.settings.cursor_secret
        if not secret:  # embedded deployments and tests: ``orbitpay api``/``up`` require one
            secret = res.engine.url.render_as_string(hide_password=False)
        key = derive_key(str(secret))
        state.cursor_key = key
    return key


def scope_of(endpoint: str, filters: Mapping[str, Any], order: str) -> str:
    """A short fingerprint of what a cursor was issued for."""
    canon = json.dumps(
        [endpoint, order, sorted(filters.items())], separators=(",", ":"), default=str
    )
    return _b64(hashlib.sha256(canon.encode("utf-8")).digest()[:9])


class CursorCodec:
    """Signs and verifies cursors with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, scope: str, sort_key: Sequence[Any]) -> str:
        body = json.dumps({"v": _VERSION, "s": scope, "k": list(sort_key)}, separators=(",", ":"))
        raw = body.encode("utf-8")
        return f"{_b64(raw)}.{_b64(self._mac(raw))}"

    def decode(self, cursor: str, scope: str, types: Sequence[type]) -> tuple[Any, ...]:
        """The sort key inside ``cursor``; ``ApiError(400, bad_cursor)`` unless it verifies."""
        bad = ApiError(400, "bad_cursor", "the cursor is invalid, tampered or from another query")
        try:
            body_text, mac_text = cursor.split(".")
            raw, mac = _unb64(body_text), _unb64(mac_text)
        except (ValueError, binascii.Error):
            raise bad from None
        if not hmac.compare_digest(mac, self._mac(raw)):
            raise bad
        try:
            payload = json.loads(raw)
        except ValueError:
            raise bad from None
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            raise bad
        if payload.get("s") != scope:
            raise ApiError(
                400,
                "bad_cursor",
                "the cursor was issued for other filters or another order; "
                "repeat the query that returned it",
            )
        key = payload.get("k")
        if not isinstance(key, list) or len(key) != len(types):
            raise bad
        for value, expected in zip(key, types, strict=True):
            if type(value) is not expected or not _bindable(value):
                raise bad
        return tuple(key)


def _bindable(value: Any) -> bool:
    """Whether a cursor value fits its column: no overflow, no unstorable text."""
    if isinstance(value, int):
        return _INT_MIN <= value <= _INT_MAX
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT  # (text PostgreSQL refuses is a 422: api.errors)
    return False


@dataclass(frozen=True)
class Keyset:
    """A list's unique sort key: the columns (in order) and their Python types."""

    columns: tuple[ColumnElement[Any], ...]
    types: tuple[type, ...]

    def order_by(self, order: str) -> list[UnaryExpression[Any]]:
        return [c.desc() if order == "desc" else c.asc() for c in self.columns]

    def after_params(self, order: str) -> ColumnElement[bool]:
        """Rows strictly after the sort key bound as ``k0, k1, ...`` in ``order``.

        A row-value comparison the planner indexes; the statement is compiled once.
        """
        values = [bindparam(f"k{i}", type_=col.type) for i, col in enumerate(self.columns)]
        left = tuple_(*self.columns)
        right = tuple_(*values)
        return left < right if order == "desc" else left > right

    def key_of(self, row: Mapping[str, Any]) -> list[Any]:
        return [_plain(row[_name(c)]) for c in self.columns]


def _name(column: ColumnElement[Any]) -> str:
    if column.key is None:
        raise ValueError(f"keyset column {column!r} has no name")
    return column.key


def _plain(value: Any) -> Any:
    if isinstance(value, int | str):
        return value
    return str(value)


class Pager:
    """Binds one list query's scope (endpoint, filters, order) to the request's cursor key."""

    def __init__(
        self,
        request: Request,
        endpoint: str,
        filters: Mapping[str, Any],
        params: PageParams,
        keyset: Keyset,
    ) -> None:
        self.params = params
        self.keyset = keyset
        self.scope = scope_of(
            endpoint, {k: v for k, v in filters.items() if v is not None}, params.order
        )
        self.codec = CursorCodec(cursor_key(request))

    def start_key(self) -> tuple[Any, ...] | None:
        if self.params.cursor is None:
            return None
        return self.codec.decode(self.params.cursor, self.scope, self.keyset.types)

    def next_cursor(self, rows: Sequence[Mapping[str, Any]]) -> str | None:
        """Given up to ``limit + 1`` fetched rows: the cursor after the page, if more remain."""
        if len(rows) <= self.params.limit:
            return None
        last = rows[self.params.limit - 1]
        return self.codec.encode(self.scope, self.keyset.key_of(last))

    def cursor_after_key(self, key: Sequence[Any]) -> str:
        """The cursor after a row whose sort key (in the keyset's column order) is ``key``."""
        return self.codec.encode(self.scope, [_plain(v) for v in key])
