"""API-key checks as FastAPI dependencies (header ``X-API-Key``).

Writes always need a ``write`` key. Reads need a key only when
``ORBITPAY_REQUIRE_API_KEY`` is true. 401 for a missing or invalid key, 403
for a valid key without the scope.
"""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from orbitpay.api.deps import AppResources
from orbitpay.api.errors import ApiError
from orbitpay.security.apikeys import KeyIdentity, KeyVerifier

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An OrbitPay API key (`orbitpay keys create`). Writes need scope `write`.",
)


def verifier(request: Request) -> KeyVerifier:
    """The app's verifier (built by the lifespan on the read pool and the shared cache)."""
    res: AppResources = request.app.state.resources
    found = res.extras.get("key_verifier")
    if not isinstance(found, KeyVerifier):
        found = KeyVerifier(res.reads, res.cache, engine=res.engine)
        res.extras["key_verifier"] = found
    return found


async def _identify(request: Request, key: str | None, scope: str) -> KeyIdentity:
    if not key:
        raise ApiError(401, "unauthorized", "missing API key: send it in the X-API-Key header")
    state = request.scope.get("state", {})
    checked = state.get("write_key")
    if isinstance(checked, KeyIdentity) and checked.allows(scope):
        # InputGuardMiddleware read this very request's write key from the database.
        request.state.api_key = checked
        return checked
    if scope != "write" and "read_key" in state:
        # RateLimitMiddleware verified this request's key a moment ago.
        identity: KeyIdentity | None = state["read_key"]
    else:
        identity = await verifier(request).verify(key, scope)
    if identity is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key")
    if not identity.allows(scope):
        raise ApiError(
            403, "forbidden", f"this API key has scope '{identity.scope}', not '{scope}'"
        )
    request.state.api_key = identity
    return identity


async def require_write(
    request: Request, key: str | None = Security(API_KEY_HEADER)
) -> KeyIdentity:
    return await _identify(request, key, "write")


async def read_access(request: Request, key: str | None = Security(API_KEY_HEADER)) -> None:
    """Global dependency: enforces keys on reads when the deployment asks for it."""
    if not key and not request.app.state.resources.settings.require_api_key:
        return  # the common case, decided without building ``request.url``
    if not request.url.path.startswith("/api/"):
        return
    await _identify(request, key, "read")
