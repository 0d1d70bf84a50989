"""API keys (BK-9): generation, hashing, verification, rotation, revocation.

A key looks like ``opk_<id>_<secret>``. Only a SHA-256 of the secret is
stored (secrets are 32 random bytes, so a slow hash adds nothing); the id
lets verification fetch one row and compare in constant time. Rotation
issues a new secret and keeps the previous one valid for a grace period so
clients can switch without downtime. Scopes: ``read`` and ``write`` (write
implies read).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orbitpay.db.schema import api_keys
from orbitpay.enums import ApiKeyScope

KEY_PREFIX = "opk"
ROTATION_GRACE = timedelta(hours=24)
# Verified keys are remembered briefly so a request costs no query; revocation
# therefore takes effect within this many seconds on every worker.
VERIFY_CACHE_SECONDS = 5.0
LAST_USED_EVERY_SECONDS = 60.0


class ApiKeyError(ValueError):
    """Unknown key id or refused operation."""


@dataclass(frozen=True)
class IssuedKey:
    id: str
    name: str
    scope: str
    secret: str  # the full key, shown once
    created_at: datetime


@dataclass(frozen=True)
class KeyIdentity:
    id: str
    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        return self.scope == ApiKeyScope.WRITE or scope == ApiKeyScope.READ


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(key_id: str) -> str:
    return f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def _split(key: str) -> tuple[str, str] | None:
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], key.strip()


async def create_key(conn: AsyncConnection, name: str, scope: str) -> IssuedKey:
    try:
        scope = ApiKeyScope(scope)
    except ValueError:
        raise ApiKeyError(f"scope must be one of {', '.join(ApiKeyScope)}") from None
    if not name.strip():
        raise ApiKeyError("name must not be empty")
    key_id = secrets.token_hex(6)
    secret = _new_secret(key_id)
    row = (
        await conn.execute(
            insert(api_keys)
            .values(
                id=key_id,
                name=name.strip(),
                scope=scope,
                secret_hash=_hash(secret),
                prefix=secret[: len(KEY_PREFIX) + len(key_id) + 2],
            )
            .returning(api_keys.c.created_at)
        )
    ).one()
    return IssuedKey(key_id, name.strip(), scope, secret, row.created_at)


async def rotate_key(
    conn: AsyncConnection, key_id: str, grace: timedelta = ROTATION_GRACE
) -> IssuedKey:
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None or row.revoked_at is not None:
        raise ApiKeyError(f"no active key with id {key_id!r}")
    secret = _new_secret(key_id)
    now = datetime.now(UTC)
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id)
        .values(
            secret_hash=_hash(secret),
            previous_secret_hash=row.secret_hash,
            previous_expires_at=now + grace,
            rotated_at=now,
        )
    )
    return IssuedKey(key_id, row.name, row.scope, secret, row.created_at)


async def revoke_key(conn: AsyncConnection, key_id: str) -> None:
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if result.rowcount == 0:
        raise ApiKeyError(f"no active key with id {key_id!r}")


async def list_keys(conn: AsyncConnection) -> list[dict[str, Any]]:
    cols = [
        api_keys.c.id,
        api_keys.c.name,
        api_keys.c.scope,
        api_keys.c.prefix,
        api_keys.c.created_at,
        api_keys.c.rotated_at,
        api_keys.c.revoked_at,
        api_keys.c.last_used_at,
    ]
    rows = (await conn.execute(select(*cols).order_by(api_keys.c.created_at))).all()
    return [dict(r._mapping) for r in rows]


class KeyVerifier:
    """Checks presented keys against the database, with a short positive/negative cache."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._cache: dict[str, tuple[float, KeyIdentity | None]] = {}
        self._last_used: dict[str, float] = {}

    async def verify(self, presented: str) -> KeyIdentity | None:
        now = time.monotonic()
        digest = _hash(presented.strip())
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        identity = await self._lookup(presented)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + VERIFY_CACHE_SECONDS, identity)
        if (
            identity is not None
            and now - self._last_used.get(identity.id, 0) > LAST_USED_EVERY_SECONDS
        ):
            self._last_used[identity.id] = now
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == identity.id)
                    .values(last_used_at=datetime.now(UTC))
                )
        return identity

    async def _lookup(self, presented: str) -> KeyIdentity | None:
        split = _split(presented)
        if split is None:
            return None
        key_id, secret = split
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        if row is None or row.revoked_at is not None:
            return None
        digest = _hash(secret)
        if hmac.compare_digest(digest, row.secret_hash):
            return KeyIdentity(row.id, row.name, row.scope)
        previous_valid = (
            row.previous_secret_hash is not None
            and row.previous_expires_at is not None
            and row.previous_expires_at > datetime.now(UTC)
        )
        if previous_valid and hmac.compare_digest(digest, row.previous_secret_hash):
            return KeyIdentity(row.id, row.name, row.scope)
        return None
