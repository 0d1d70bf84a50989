"""API keys (BK-9): generation, hashing, verification, rotation, revocation.

A key looks like ``opk_<id>_<secret>``. Only a SHA-256 of the secret is
stored (secrets are 32 random bytes, so a slow hash adds nothing); the id
lets verification fetch one row and compare in constant time. Rotation
issues a new secret and keeps the previous ones valid for a grace period
(``ORBITPAY_KEY_ROTATION_GRACE``) so clients can switch without downtime; each
rotation keeps every older secret that is still in its own grace, so two quick
rotations never cut off the first client still on the oldest secret. They are
kept in ``previous_secret_hash`` as ``<hash>@<unix expiry>`` words (a bare hash,
as written before, expires at ``previous_expires_at``). Scopes: ``read`` and
``write`` (write implies read).

Revocation and rotation take effect at once in every API process: a verified
read key is remembered per process only together with the deployment's key
version (a Redis counter, bumped by :meth:`KeyVerifier.announce_change` after
every revoke and rotate), and the version is read on every request; when it
cannot be read (no Redis answer) nothing is taken from memory. Write-scope
checks always read the database.
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

from orbitpay.cache import Cache, RedisBackend
from orbitpay.db.readpool import ReadPool
from orbitpay.db.schema import api_keys
from orbitpay.enums import ApiKeyScope

KEY_PREFIX = "opk"
ROTATION_GRACE = timedelta(hours=24)
# A read key verified under the current key version is remembered this long at most
# (a backstop: revocations are seen at once through the version).
VERIFY_CACHE_SECONDS = 5.0
LAST_USED_EVERY_SECONDS = 60.0
VERSION_KEY = "keys:version"
_KEY_SQL = (
    "SELECT id, name, scope, secret_hash, previous_secret_hash, previous_expires_at, "
    "revoked_at FROM api_keys WHERE id = $1"
)


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


def previous_secrets(
    stored: str | None, expires_at: datetime | None, now: datetime
) -> list[tuple[str, int]]:
    """The rotated-out secrets' ``(hash, unix expiry)`` still in their grace at ``now``."""
    if not stored:
        return []
    found: list[tuple[str, int]] = []
    for word in stored.split():
        digest, _, until = word.partition("@")
        if until.isdigit():
            expiry = int(until)
        elif expires_at is not None:
            expiry = int(expires_at.timestamp())
        else:
            continue
        if expiry > now.timestamp():
            found.append((digest, expiry))
    return found


async def rotate_key(
    conn: AsyncConnection, key_id: str, grace: timedelta = ROTATION_GRACE
) -> IssuedKey:
    row = (
        await conn.execute(select(api_keys).where(api_keys.c.id == key_id).with_for_update())
    ).first()
    if row is None or row.revoked_at is not None:
        raise ApiKeyError(f"no active key with id {key_id!r}")
    secret = _new_secret(key_id)
    now = datetime.now(UTC)
    kept = previous_secrets(row.previous_secret_hash, row.previous_expires_at, now)
    kept.append((row.secret_hash, int((now + grace).timestamp())))
    kept = [k for k in kept if k[1] > now.timestamp()]  # a zero grace keeps nothing
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id)
        .values(
            secret_hash=_hash(secret),
            previous_secret_hash=" ".join(f"{h}@{t}" for h, t in kept) or None,
            previous_expires_at=(
                datetime.fromtimestamp(max(t for _, t in kept), UTC) if kept else None
            ),
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


async def announce_key_change(redis_url: str | None) -> None:
    """Tell every API process sharing ``redis_url`` that a key changed (CLI revoke/rotate).

    Without Redis there is nothing shared to bump: each API process then sees the
    change when its remembered answer expires (``VERIFY_CACHE_SECONDS``).
    """
    if not redis_url:
        return
    from orbitpay.cache import create_cache

    cache = create_cache(redis_url, timeout=2.0)  # a CLI can wait a little longer
    try:
        await cache.backend.incr(f"{cache.prefix}:{VERSION_KEY}")
    finally:
        await cache.close()


class KeyVerifier:
    """Checks presented keys against the database.

    ``source`` is the API's read pool (one plain statement per lookup) or, for the
    CLI and tests, an engine. ``cache`` (the API's) carries the key version shared by
    every process; without Redis the version is this process's own counter.
    """

    def __init__(
        self,
        source: AsyncEngine | ReadPool,
        cache: Cache | None = None,
        *,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._source = source
        # Writes ``last_used_at`` (about once a minute per key); None: not recorded.
        self._engine = engine if engine is not None or isinstance(source, ReadPool) else source
        self._shared = cache
        self._local_version = 0
        self._cache: dict[str, tuple[float, str, KeyIdentity | None]] = {}
        self._last_used: dict[str, float] = {}

    async def _version(self) -> str | None:
        """The deployment's key version now; None when it cannot be known (Redis down)."""
        if self._shared is None or not isinstance(self._shared.backend, RedisBackend):
            return str(self._local_version)
        try:
            value = await self._shared.backend.get(f"{self._shared.prefix}:{VERSION_KEY}")
        except Exception:
            return None
        return value or "0"

    async def announce_change(self) -> None:
        """A key was revoked or rotated: every process stops trusting what it remembers."""
        self._local_version += 1
        self._cache.clear()
        if self._shared is not None and isinstance(self._shared.backend, RedisBackend):
            try:
                await self._shared.backend.incr(f"{self._shared.prefix}:{VERSION_KEY}")
            except Exception:
                pass  # readers that cannot read the version never use their memory

    async def verify(self, presented: str, scope: str = ApiKeyScope.READ) -> KeyIdentity | None:
        """The key's identity, or None if unknown, revoked or expired.

        ``scope="write"`` always reads the database: a write is never allowed on
        the strength of a remembered answer.
        """
        now = time.monotonic()
        digest = _hash(presented.strip())
        version: str | None = None
        if scope != ApiKeyScope.WRITE:
            version = await self._version()
            cached = self._cache.get(digest)
            if version is not None and cached is not None:
                expires, seen_version, who = cached
                if expires > now and seen_version == version:
                    return who
        identity, valid_for = await self._lookup(presented)
        if version is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            # A rotated-out secret is remembered no longer than its grace lasts.
            remember = min(VERIFY_CACHE_SECONDS, valid_for)
            self._cache[digest] = (now + remember, version, identity)
        if (
            identity is not None
            and self._engine is not None
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

    async def _row(self, key_id: str) -> Any:
        if isinstance(self._source, ReadPool):
            async with self._source.connection() as conn:
                return await conn.fetchrow(_KEY_SQL, key_id)
        async with self._source.connect() as conn:
            return (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()

    async def _lookup(self, presented: str) -> tuple[KeyIdentity | None, float]:
        """The identity (or None) and how many seconds that answer can hold at most."""
        split = _split(presented)
        if split is None or len(split[0]) > 64:
            return None, VERIFY_CACHE_SECONDS
        key_id, secret = split
        row = await self._row(key_id)
        if row is None:
            return None, VERIFY_CACHE_SECONDS
        # An asyncpg Record (read pool) or a SQLAlchemy Row (engine): both map names.
        get = row._mapping.__getitem__ if hasattr(row, "_mapping") else row.__getitem__
        if get("revoked_at") is not None:
            return None, VERIFY_CACHE_SECONDS
        digest = _hash(secret)
        who = KeyIdentity(get("id"), get("name"), get("scope"))
        if hmac.compare_digest(digest, get("secret_hash")):
            return who, VERIFY_CACHE_SECONDS
        now = datetime.now(UTC)
        for previous, until in previous_secrets(
            get("previous_secret_hash"), get("previous_expires_at"), now
        ):
            if hmac.compare_digest(digest, previous):
                return who, until - now.timestamp()
        return None, VERIFY_CACHE_SECONDS
