"""Write endpoints (``X-API-Key`` with scope ``write``): organizations and API keys.

The writes run in SQLAlchemy transactions on the engine, through the same
functions as the CLI (``orbitpay.orgs``, ``orbitpay.security.apikeys``), so the
rules (idempotent registration, key hashing, rotation grace) live in one place.
Listing the keys is a read, and goes through the read pool like every other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from orbitpay.api.auth import require_write, verifier
from orbitpay.api.common import check_address, check_contract, json_response
from orbitpay.api.deps import Resources
from orbitpay.api.errors import ApiError
from orbitpay.api.schemas import Organization, RequestBody
from orbitpay.orgs import OrganizationError, list_organizations, register_organization
from orbitpay.security.apikeys import (
    ApiKeyError,
    IssuedKey,
    KeyIdentity,
    create_key,
    revoke_key,
    rotate_key,
)

router = APIRouter(prefix="/api", tags=["administration"])
Writer = Annotated[KeyIdentity, Depends(require_write)]
Scope = Literal["read", "write"]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", description="The key's id.")]


def storable(value: str) -> str:
    """Text PostgreSQL can store: no NUL character (a 422 naming the field, not a 500)."""
    if "\x00" in value:
        raise ValueError("contains a NUL character, which cannot be stored")
    return value


Text = Annotated[str, AfterValidator(storable)]
# Addresses are checked as strkeys (checksum included) before anything is stored.
Address = Annotated[str, Field(max_length=56), AfterValidator(check_address)]
ContractId = Annotated[str, Field(max_length=56), AfterValidator(check_contract)]


class ContractsInput(RequestBody):
    """``contracts`` of a ``POST /api/organizations`` body: the shape ``GET`` returns."""

    treasury: list[ContractId] = Field(default=[], max_length=100)
    payroll: list[ContractId] = Field(default=[], max_length=100)
    vesting: list[ContractId] = Field(default=[], max_length=100)
    governance: list[ContractId] = Field(default=[], max_length=100)


_EXAMPLE_CONTRACT = "CBLQ6YEIZQYPPB5N6HZOAQAHJX5CKXYXKAK7BSOHQVXDN5ALWV6IWVYI"
_FLAT = ("treasury", "payroll", "vesting", "governance")
_DEPRECATED = "Deprecated (use `contracts`): one contract id (C...) of this kind."


class OrganizationCreate(RequestBody):
    """An organization as ``GET /api/organizations/{id}`` returns it, without the server-set
    ``id`` and ``created_at`` (refused, like any unknown field: a 422 naming it).

    The flat ``treasury``/``payroll``/``vesting``/``governance`` fields of earlier
    versions are still accepted (one id each), but not together with ``contracts``.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "acme-dao", "admin": None, "contracts": {"payroll": [_EXAMPLE_CONTRACT]}}
            ]
        }
    )
    name: Text = Field(min_length=1, max_length=200, examples=["acme-dao"])
    admin: Address | None = Field(
        default=None, examples=[None], description="The admin (G... account or C... contract)"
    )
    contracts: ContractsInput | None = Field(
        default=None, description="Contract ids by kind, as `GET` returns them."
    )
    treasury: ContractId | None = Field(default=None, deprecated=True, description=_DEPRECATED)
    payroll: ContractId | None = Field(default=None, deprecated=True, description=_DEPRECATED)
    vesting: ContractId | None = Field(default=None, deprecated=True, description=_DEPRECATED)
    governance: ContractId | None = Field(default=None, deprecated=True, description=_DEPRECATED)

    @model_validator(mode="after")
    def _one_shape(self) -> OrganizationCreate:
        flat = [kind for kind in _FLAT if getattr(self, kind) is not None]
        if flat and self.contracts is not None:
            raise ValueError(
                f"give the contracts either in `contracts` or as the deprecated flat "
                f"fields ({', '.join(flat)}), not both"
            )
        return self

    def contract_ids(self) -> dict[str, list[str]]:
        """``{kind: [contract id, ...]}`` from whichever shape was given."""
        if self.contracts is not None:
            return {kind: list(getattr(self.contracts, kind)) for kind in _FLAT}
        return {kind: [cid] for kind in _FLAT if (cid := getattr(self, kind)) is not None}


class KeyCreate(RequestBody):
    name: Text = Field(min_length=1, max_length=200, examples=["dashboard"])
    scope: Scope = "read"


class KeySecret(BaseModel):
    """A key with its secret: the only time the secret is shown."""

    id: str
    name: str
    scope: Scope
    key: str
    created_at: datetime


class KeyInfo(BaseModel):
    id: str
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def _secret(issued: IssuedKey) -> KeySecret:
    return KeySecret(
        id=issued.id,
        name=issued.name,
        scope=cast(Scope, issued.scope),  # create_key refuses any other scope
        key=issued.secret,
        created_at=issued.created_at,
    )


@router.post("/organizations", status_code=201, response_model=Organization)
async def create_organization(body: OrganizationCreate, res: Resources, _: Writer) -> Response:
    """Register an organization and the contracts the indexer should follow (idempotent:
    contracts are added to an existing organization of that name). The body has the shape
    `GET` returns, without `id` and `created_at`; the answer is the organization as `GET`
    returns it."""
    ids = body.contract_ids()
    try:
        async with res.engine.begin() as conn:
            org_id = await register_organization(conn, body.name, ids, admin=body.admin)
            orgs = await list_organizations(conn)
    except OrganizationError as exc:
        status, code = (
            (409, "conflict") if "already registered" in str(exc) else (422, "invalid_input")
        )
        raise ApiError(status, code, str(exc)) from None
    org = next(o for o in orgs if o["id"] == org_id)
    return json_response(Organization.model_validate(org), status_code=201)


KEYS_SQL = """
    SELECT id, name, scope, prefix, created_at, rotated_at, revoked_at, last_used_at
    FROM api_keys ORDER BY created_at
"""


@router.get("/keys", response_model=list[KeyInfo])
async def get_keys(res: Resources, _: Writer) -> list[KeyInfo]:
    """Every key (never the secrets)."""
    async with res.reads.connection() as conn:
        return [KeyInfo.model_validate(dict(row)) for row in await conn.fetch(KEYS_SQL)]


@router.post("/keys", status_code=201, response_model=KeySecret)
async def post_key(body: KeyCreate, res: Resources, _: Writer) -> KeySecret:
    """Create a key; the response holds its secret, shown only this once."""
    async with res.engine.begin() as conn:
        return _secret(await create_key(conn, body.name, body.scope))


@router.post("/keys/{key_id}/rotate", response_model=KeySecret)
async def post_rotate(key_id: KeyId, request: Request, res: Resources, _: Writer) -> KeySecret:
    """New secret for a key; the older ones keep working for the grace period
    (``ORBITPAY_KEY_ROTATION_GRACE``, 24 hours by default), each from its own rotation."""
    grace = timedelta(seconds=res.settings.key_rotation_grace)
    try:
        async with res.engine.begin() as conn:
            issued = await rotate_key(conn, key_id, grace)
    except ApiKeyError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    await verifier(request).announce_change()
    return _secret(issued)


@router.delete("/keys/{key_id}", status_code=204, response_class=Response)
async def delete_key(key_id: KeyId, request: Request, res: Resources, _: Writer) -> Response:
    """Revoke a key: refused by every API process from the next request on."""
    try:
        async with res.engine.begin() as conn:
            await revoke_key(conn, key_id)
    except ApiKeyError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    await verifier(request).announce_change()
    return Response(status_code=204)
