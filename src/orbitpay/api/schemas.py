"""Response models (DTOs) of the read API, with the field names of SPEC.md.

Conventions: amounts are decimal strings of base units (``Amount``), never
floats; addresses are strkeys; times are ISO-8601 UTC with ``Z`` (contract
times stored as unix seconds are converted by ``unix_time``); enum values
are lowercase snake case, as stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from orbitpay.enums import ClaimKind, CoverageSource

# Re-exported: the routers declare their status filters with these.
from orbitpay.enums import ProposalStatus as ProposalStatus
from orbitpay.enums import ScheduleStatus as ScheduleStatus
from orbitpay.enums import StreamStatus as StreamStatus
from orbitpay.enums import TreasuryEventType as TreasuryEventType
from orbitpay.enums import VoteChoice as VoteChoice
from orbitpay.enums import WithdrawalStatus as WithdrawalStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The unix seconds an API time can show (years 1..9999); contract times are clamped to these.
MAX_UNIX_SECONDS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds())
MIN_UNIX_SECONDS = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())


def amount_str(value: Any) -> Any:
    """``int``/``Decimal`` (``NUMERIC(39,0)``) -> ``"12500000"``."""
    if isinstance(value, bool):
        raise ValueError("not an amount")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(int(value))
    return value


def unix_time(seconds: int | None) -> datetime | None:
    """A contract time (``u64`` unix seconds) as an aware UTC datetime, clamped to year 9999."""
    if seconds is None:
        return None
    return _EPOCH + timedelta(seconds=min(max(int(seconds), MIN_UNIX_SECONDS), MAX_UNIX_SECONDS))


def as_utc(value: Any) -> Any:
    """Aware UTC datetimes; ints are contract times (unix seconds)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return unix_time(value)
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """ISO-8601 UTC with ``Z`` (the same text pydantic writes for an aware UTC datetime)."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_MAX_FAST = 253402300799  # 9999-12-31T23:59:59Z


def _time_text(value: Any) -> str | None:
    if type(value) is int and 0 <= value <= _MAX_FAST:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))
    if (
        isinstance(value, datetime)
        and value.tzinfo is UTC
        and not value.microsecond
        and value.year >= 1000
    ):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    moment = as_utc(value)
    return None if moment is None else iso_z(moment)


def _amount_text(value: Any) -> str | None:
    return None if value is None else str(int(value))


def _kind(annotation: Any) -> str | None:
    """``"amount"``/``"time"`` when a field's type is (optionally) ``Amount``/``Time``."""
    for arg in get_args(annotation):
        if isinstance(arg, BeforeValidator):
            if arg.func is amount_str:
                return "amount"
            if arg.func is as_utc:
                return "time"
        found = _kind(arg) if get_args(arg) else None
        if found:
            return found
    return None


def field_kinds(model: type[BaseModel]) -> dict[str, str | None]:
    """Each field of ``model`` -> ``"amount"``, ``"time"`` or None (written as is)."""
    return {
        name: _kind(
            Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        )
        for name, field in model.model_fields.items()
    }


def row_encoder(model: type[BaseModel]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A fast row -> JSON-ready dict for list pages, equivalent to validating ``model`` and
    dumping it in JSON mode (amounts as strings, times as ISO ``Z``), without the per-field
    validation (the values come from typed, constrained columns)."""
    converters = {"amount": _amount_text, "time": _time_text}
    plan: list[tuple[str, Callable[[Any], Any] | None]] = [
        (name, converters.get(kind or "")) for name, kind in field_kinds(model).items()
    ]

    def encode(row: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, convert in plan:
            value = row[name]
            out[name] = convert(value) if convert is not None and value is not None else value
        return out

    return encode


Amount = Annotated[
    str,
    BeforeValidator(amount_str),
    Field(pattern=r"^-?[0-9]+$", description="Token base units as a decimal string."),
]
Address = Annotated[str, Field(description="A Stellar strkey: G... account or C... contract.")]
Time = Annotated[datetime, BeforeValidator(as_utc), Field(description="ISO-8601 UTC.")]

_G = "GBDS3XGIVGLHNLQEBRNE3B3XFKW7LUY6N4ZJCS3JI4YBYZOTK25BBK5O"
_G2 = "GBBQNQJG23SQZDRBV5WHJN5DAKO5RAIDWIMILFOME5DEJ6J53V563NQE"
_C = "CBLQ6YEIZQYPPB5N6HZOAQAHJX5CKXYXKAK7BSOHQVXDN5ALWV6IWVYI"
_C2 = "CBYNJS7K5NXMS6V7ZDEDTQG63ZLKLUNZNBANCBDRAABDXTNRE2XF4BKG"
_TX = "3389e9f0f1a65f19736cacf544c2e825313e8447f569233bb8db39aa607c8889"


class ApiModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


class RequestBody(BaseModel):
    """Base of every request body: an unknown field is a 422 naming it, never ignored
    (a misspelt field would otherwise be dropped and the request half-applied)."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- organizations


class OrganizationContracts(ApiModel):
    """An organization's contracts by kind (C... strkeys), as read and as written."""

    treasury: list[Address] = []
    payroll: list[Address] = []
    vesting: list[Address] = []
    governance: list[Address] = []


class Organization(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "acme",
                    "admin": _G,
                    "contracts": {
                        "treasury": [_C],
                        "payroll": [_C2],
                        "vesting": [],
                        "governance": [],
                    },
                    "created_at": "2026-01-02T03:04:05Z",
                }
            ]
        }
    )
    id: int = Field(description="Set by the server (refused in a `POST` body).")
    name: str
    admin: Address | None = None
    contracts: OrganizationContracts
    created_at: Time = Field(description="Set by the server (refused in a `POST` body).")


# ---------------------------------------------------------------- streams


class StreamClaim(ApiModel):
    amount: Amount
    ledger: int
    tx_hash: str
    claimed_at: Time
    kind: ClaimKind = Field(
        ClaimKind.CLAIM, description="`cancel`: what a cancellation paid the recipient."
    )


_STREAM_EXAMPLE: JsonDict = {
    "stream_id": 0,
    "contract_id": _C2,
    "sender": _G,
    "recipient": _G2,
    "token": _C,
    "total_amount": "12500000",
    "claimed_amount": "2500000",
    "start_time": "2026-01-01T00:00:00Z",
    "end_time": "2026-02-01T00:00:00Z",
    "status": "active",
    "created_ledger": 1234,
    "created_tx_hash": _TX,
    "created_at": "2025-12-31T23:59:55Z",
}


class Stream(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_STREAM_EXAMPLE]})
    stream_id: int
    contract_id: Address
    sender: Address
    recipient: Address
    token: Address
    total_amount: Amount
    claimed_amount: Amount
    start_time: Time
    end_time: Time
    status: StreamStatus
    created_ledger: int
    created_tx_hash: str
    created_at: Time


class StreamDetail(Stream):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_STREAM_EXAMPLE,
                    "claimable_amount": "1532100",
                    "as_of": "2026-01-07T12:00:00Z",
                    "claims": [
                        {
                            "amount": "2500000",
                            "ledger": 2000,
                            "tx_hash": _TX,
                            "claimed_at": "2026-01-07T00:00:00Z",
                            "kind": "claim",
                        }
                    ],
                }
            ]
        }
    )
    claimable_amount: Amount = Field(
        description="What the recipient could claim now (the contract's formula at `as_of`)."
    )
    as_of: Time
    claims: list[StreamClaim]
    history_complete: bool = Field(
        default=True,
        description="False when the payroll contract's history is not indexed from its "
        "initialize ledger on: claims older than `history_from_ledger` may be missing.",
    )
    history_from_ledger: int | None = Field(
        default=None, description="From this ledger on the claims are complete."
    )


# ---------------------------------------------------------------- treasury


class TreasuryEvent(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0000005300584427520-0000000001",
                    "contract_id": _C,
                    "type": "deposit",
                    "address": _G,
                    "amount": "5000000000",
                    "token": _C2,
                    "withdrawal_id": None,
                    "ledger": 1234,
                    "tx_hash": _TX,
                    "timestamp": "2026-01-02T03:04:05Z",
                }
            ]
        }
    )
    id: str
    contract_id: Address
    type: TreasuryEventType
    address: Address | None = None
    amount: Amount | None = None
    token: Address | None = None
    withdrawal_id: int | None = None
    ledger: int
    tx_hash: str
    timestamp: Time


class TokenBalance(ApiModel):
    token: Address
    deposited: Amount
    withdrawn: Amount
    balance: Amount


class TreasuryBalance(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": _C,
                    "balances": [
                        {
                            "token": _C2,
                            "deposited": "5000000000",
                            "withdrawn": "1000000000",
                            "balance": "4000000000",
                        }
                    ],
                    "as_of_ledger": 1234,
                }
            ]
        }
    )
    contract_id: Address
    balances: list[TokenBalance]
    as_of_ledger: int | None = Field(
        description="The ledger the indexer has processed this contract up to (else its "
        "newest treasury event; `null`: none yet)."
    )


class Withdrawal(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "withdrawal_id": 0,
                    "contract_id": _C,
                    "proposer": _G,
                    "token": _C2,
                    "recipient": _G2,
                    "amount": "1000000000",
                    "memo": "payroll",
                    "approvals": [_G, _G2],
                    "status": "executed",
                    "created_at": "2026-01-02T03:04:05Z",
                    "created_ledger": 1300,
                    "executed_at": "2026-01-03T03:04:05Z",
                }
            ]
        }
    )
    withdrawal_id: int
    contract_id: Address
    proposer: Address
    token: Address
    recipient: Address
    amount: Amount
    memo: str | None = None
    approvals: list[Address]
    status: WithdrawalStatus
    created_at: Time
    created_ledger: int
    executed_at: Time | None = None


# ---------------------------------------------------------------- vesting

_SCHEDULE_EXAMPLE: JsonDict = {
    "schedule_id": 0,
    "contract_id": _C,
    "grantor": _G,
    "beneficiary": _G2,
    "token": _C2,
    "total_amount": "48000000",
    "claimed_amount": "0",
    "start_time": "2026-01-01T00:00:00Z",
    "cliff_time": "2026-04-01T00:00:00Z",
    "cliff_amount": "12000000",
    "end_time": "2027-01-01T00:00:00Z",
    "cliff_duration": 7776000,
    "total_duration": 31536000,
    "label": "team",
    "revocable": True,
    "status": "active",
    "revoked_at": None,
    "created_ledger": 1234,
    "created_tx_hash": _TX,
}


class VestingClaim(ApiModel):
    amount: Amount
    ledger: int
    tx_hash: str
    claimed_at: Time


class Schedule(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SCHEDULE_EXAMPLE]})
    schedule_id: int
    contract_id: Address
    grantor: Address
    beneficiary: Address
    token: Address
    total_amount: Amount
    claimed_amount: Amount
    start_time: Time
    cliff_time: Time
    cliff_amount: Amount
    end_time: Time
    cliff_duration: int = Field(description="Seconds from start to the cliff.")
    total_duration: int = Field(description="Seconds from start to full vesting.")
    label: str | None = None
    revocable: bool
    status: ScheduleStatus
    revoked_at: Time | None = None
    created_ledger: int
    created_tx_hash: str


class ScheduleDetail(Schedule):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SCHEDULE_EXAMPLE,
                    "claims": [
                        {
                            "amount": "1000",
                            "ledger": 2000,
                            "tx_hash": _TX,
                            "claimed_at": "2026-05-01T00:00:00Z",
                        }
                    ],
                }
            ]
        }
    )
    claims: list[VestingClaim]


class VestingProgress(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "schedule_id": 0,
                    "contract_id": _C,
                    "total_amount": "48000000",
                    "vested_amount": "24000000",
                    "claimed_amount": "12000000",
                    "claimable_amount": "12000000",
                    "percent_vested": 50.0,
                    "status": "active",
                    "next_unlock_at": "2026-07-02T00:00:01Z",
                    "as_of": "2026-07-02T00:00:00Z",
                }
            ]
        }
    )
    schedule_id: int
    contract_id: Address
    total_amount: Amount
    vested_amount: Amount
    claimed_amount: Amount
    claimable_amount: Amount
    percent_vested: float = Field(ge=0, le=100, description="vested / total, in percent.")
    status: ScheduleStatus
    next_unlock_at: Time | None = Field(
        description="The next second the vested amount grows; `null` when it never will."
    )
    as_of: Time


# ---------------------------------------------------------------- governance

_PROPOSAL_EXAMPLE: JsonDict = {
    "proposal_id": 0,
    "contract_id": _C,
    "proposer": _G,
    "title": "q1_budget",
    "token": _C2,
    "amount": "100000000",
    "recipient": _G2,
    "status": "active",
    "yes_votes": "2",
    "no_votes": "1",
    "abstain_votes": "0",
    "start_time": "2026-01-01T00:00:00Z",
    "end_time": "2026-01-08T00:00:00Z",
    "created_ledger": 1234,
    "created_tx_hash": _TX,
}
_VOTE_EXAMPLE: JsonDict = {
    "voter": _G2,
    "choice": "yes",
    "weight": "1",
    "ledger": 1300,
    "tx_hash": _TX,
    "voted_at": "2026-01-02T00:00:00Z",
}


class Vote(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_VOTE_EXAMPLE]})
    voter: Address
    choice: VoteChoice
    weight: Amount
    ledger: int
    tx_hash: str
    voted_at: Time


class Proposal(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PROPOSAL_EXAMPLE]})
    proposal_id: int
    contract_id: Address
    proposer: Address
    title: str | None = None
    token: Address
    amount: Amount
    recipient: Address
    status: ProposalStatus
    yes_votes: Amount
    no_votes: Amount
    abstain_votes: Amount
    start_time: Time
    end_time: Time
    created_ledger: int
    created_tx_hash: str


class Tallies(ApiModel):
    yes: Amount
    no: Amount
    abstain: Amount
    total: Amount = Field(description="yes + no + abstain (weights).")
    voters: int = Field(description="How many members voted.")


class ProposalDetail(Proposal):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_PROPOSAL_EXAMPLE,
                    "tallies": {"yes": "2", "no": "1", "abstain": "0", "total": "3", "voters": 3},
                    "votes": [_VOTE_EXAMPLE],
                    "votes_truncated": False,
                }
            ]
        }
    )
    tallies: Tallies
    votes: list[Vote]
    votes_truncated: bool = Field(
        description="True when there are more votes than shown; page them at `/votes`."
    )


# ---------------------------------------------------------------- raw events


class Event(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0000005300584427520-0000000001",
                    "contract_id": _C,
                    "ledger": 1234,
                    "ledger_closed_at": "2026-01-02T03:04:05Z",
                    "tx_hash": _TX,
                    "transaction_index": 1,
                    "operation_index": 0,
                    "event_type": "contract",
                    "type": "deposit",
                    "topic_symbols": ["deposit"],
                    "topics": ["deposit", _G],
                    "value": "5000000000",
                    "topics_xdr": ["AAAADwAAAAdkZXBvc2l0AA=="],
                    "value_xdr": "AAAACgAAAAAAAAAAAAAAASoF8gA=",
                    "recognised": True,
                    "in_successful_contract_call": True,
                    "decode_error": None,
                }
            ]
        }
    )
    id: str = Field(description="The RPC event id; sorts in chain order.")
    contract_id: Address
    ledger: int
    ledger_closed_at: Time
    tx_hash: str
    transaction_index: int | None = None
    operation_index: int | None = None
    event_type: str
    type: str | None = Field(None, description="The first topic when it is a Symbol.")
    topic_symbols: list[str]
    topics: Any | None = Field(
        None,
        description="The topics decoded from `topics_xdr`. Integers of 64 bits and wider "
        "(u64, i64, timepoint, duration, u128, i128, u256, i256) are decimal strings, u32 "
        "and i32 are numbers; addresses are strkeys, bytes hex, maps objects with string "
        "keys, void `null`.",
    )
    value: Any | None = Field(
        None, description="The value decoded from `value_xdr`, by the rule of `topics`."
    )
    topics_xdr: list[str]
    value_xdr: str
    recognised: bool
    in_successful_contract_call: bool
    decode_error: str | None = None


# ---------------------------------------------------------------- analytics

Interval = Literal["hour", "day", "week"]


class Point(ApiModel):
    t: Time = Field(description="The bucket's start.")
    v: Amount


class Series(ApiModel):
    name: str
    token: Address | None = None
    points: list[Point]


class TokenAmount(ApiModel):
    token: Address
    amount: Amount


class AnalyticsRange(ApiModel):
    from_: Time = Field(alias="from")
    to: Time
    interval: Interval
    as_of: Time = Field(description="The clock the time-dependent figures were computed at.")


class PayrollToken(ApiModel):
    token: Address
    total_disbursed: Amount
    active_streams: int
    burn_rate_per_day: Amount


class PayrollAnalytics(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "range": {
                        "from": "2026-01-01T00:00:00Z",
                        "to": "2026-01-03T00:00:00Z",
                        "interval": "day",
                        "as_of": "2026-01-02T12:00:00Z",
                    },
                    "total_disbursed": [{"token": _C2, "amount": "2500000"}],
                    "active_streams": 3,
                    "burn_rate_per_day": [{"token": _C2, "amount": "403225"}],
                    "by_token": [
                        {
                            "token": _C2,
                            "total_disbursed": "2500000",
                            "active_streams": 3,
                            "burn_rate_per_day": "403225",
                        }
                    ],
                    "series": [
                        {
                            "name": "disbursed",
                            "token": _C2,
                            "points": [
                                {"t": "2026-01-01T00:00:00Z", "v": "0"},
                                {"t": "2026-01-02T00:00:00Z", "v": "2500000"},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    range: AnalyticsRange
    total_disbursed: list[TokenAmount] = Field(
        description="All claims and cancellation payouts ever paid to recipients, by token."
    )
    active_streams: int = Field(description="Streams with status `active`.")
    burn_rate_per_day: list[TokenAmount] = Field(
        description="What the streams flowing now accrue per day (sum of total*86400//duration)."
    )
    by_token: list[PayrollToken]
    series: list[Series] = Field(
        description="`disbursed` (paid per bucket) and `streams_created` (count per bucket)."
    )


class TreasuryAnalytics(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "range": {
                        "from": "2026-01-01T00:00:00Z",
                        "to": "2026-01-03T00:00:00Z",
                        "interval": "day",
                        "as_of": "2026-01-02T12:00:00Z",
                    },
                    "contract_id": _C,
                    "balances": [
                        {
                            "token": _C2,
                            "deposited": "500",
                            "withdrawn": "100",
                            "balance": "400",
                        }
                    ],
                    "series": [
                        {
                            "name": "balance",
                            "token": _C2,
                            "points": [
                                {"t": "2026-01-01T00:00:00Z", "v": "500"},
                                {"t": "2026-01-02T00:00:00Z", "v": "400"},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    range: AnalyticsRange
    contract_id: Address | None = None
    balances: list[TokenBalance]
    series: list[Series] = Field(
        description="`deposits` and `withdrawals` (volume per bucket) and `balance` "
        "(deposits minus executed withdrawals at each bucket's end), per token."
    )


class VestingToken(ApiModel):
    token: Address
    schedules: int
    total_value: Amount
    vested: Amount
    unvested: Amount
    claimed: Amount


class UpcomingCliff(ApiModel):
    schedule_id: int
    contract_id: Address
    beneficiary: Address
    token: Address
    cliff_time: Time
    cliff_amount: Amount


class VestingAnalytics(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "range": {
                        "from": "2026-01-01T00:00:00Z",
                        "to": "2026-01-03T00:00:00Z",
                        "interval": "day",
                        "as_of": "2026-01-02T12:00:00Z",
                    },
                    "total_value": [{"token": _C2, "amount": "48000000"}],
                    "vested": [{"token": _C2, "amount": "12000000"}],
                    "unvested": [{"token": _C2, "amount": "36000000"}],
                    "by_token": [
                        {
                            "token": _C2,
                            "schedules": 1,
                            "total_value": "48000000",
                            "vested": "12000000",
                            "unvested": "36000000",
                            "claimed": "0",
                        }
                    ],
                    "upcoming_cliffs": [
                        {
                            "schedule_id": 1,
                            "contract_id": _C,
                            "beneficiary": _G2,
                            "token": _C2,
                            "cliff_time": "2026-04-01T00:00:00Z",
                            "cliff_amount": "1000",
                        }
                    ],
                    "series": [
                        {
                            "name": "vested",
                            "token": _C2,
                            "points": [
                                {"t": "2026-01-01T00:00:00Z", "v": "0"},
                                {"t": "2026-01-02T00:00:00Z", "v": "12000000"},
                            ],
                        }
                    ],
                }
            ]
        }
    )
    range: AnalyticsRange
    total_value: list[TokenAmount] = Field(description="Sum of `total_amount`, by token.")
    vested: list[TokenAmount] = Field(description="Vested at `as_of` (the contract's formula).")
    unvested: list[TokenAmount]
    by_token: list[VestingToken]
    upcoming_cliffs: list[UpcomingCliff] = Field(
        description="Active schedules whose cliff is after `as_of`, soonest first (at most 100)."
    )
    series: list[Series] = Field(
        description="`vested` (cumulative at each bucket's end), `claimed` (per bucket) and "
        "`cliffs` (cliff amounts unlocking per bucket), per token."
    )


# ---------------------------------------------------------------- coverage (history)

_T = TypeVar("_T")

_HISTORY_COMPLETE = Field(
    description="True when the contracts' history is indexed from their initialize ledger on "
    "without a hole: the list is complete. False: rows older than `history_from_ledger` "
    "may be missing (see `GET /api/coverage`)."
)
_HISTORY_FROM = Field(
    description="From this ledger on the list is complete (`null`: nothing indexed yet)."
)


class HistoryPage(ApiModel, Generic[_T]):
    """A page of a history list, saying whether that history is complete."""

    items: list[_T]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next page; `null` when there is none.",
    )
    history_complete: bool = _HISTORY_COMPLETE
    history_from_ledger: int | None = _HISTORY_FROM


class CoverageRange(ApiModel):
    source: CoverageSource = Field(description="What read the range: getEvents or the archive.")
    from_ledger: int
    to_ledger: int


class CoverageGap(ApiModel):
    from_ledger: int | None = Field(
        description="First missing ledger; `null` when the contract's first ledger is unknown "
        "(its initialize event is not indexed): history is missing before `to_ledger`."
    )
    to_ledger: int


class ContractCoverage(ApiModel):
    contract_id: Address
    kind: str
    organization_id: int
    first_ledger: int | None = Field(
        description="The contract's initialize ledger, when its event is indexed."
    )
    covered_to: int | None = Field(description="The newest ledger indexed.")
    ranges: list[CoverageRange] = Field(description="Indexed ranges by source, oldest first.")
    gaps: list[CoverageGap] = Field(description="Ledgers of the history that are not indexed.")
    gap_ledgers: int = Field(description="Ledgers in gaps of known size.")
    history_complete: bool = _HISTORY_COMPLETE
    history_from_ledger: int | None = _HISTORY_FROM


class CoverageReport(ApiModel):
    items: list[ContractCoverage]
    history_complete: bool = Field(description="True when every contract's history is.")


# ---------------------------------------------------------------- discrepancies


class Discrepancy(ApiModel):
    """A difference the indexer found between its tables and the chain (a ``discrepancies``
    row): what the reconciler, the decoder or a gap check saw, and whether it was corrected."""

    id: int = Field(description="Increases with each row recorded: newest is highest.")
    source: str = Field(description="What found it: reconcile, bootstrap, decode, gap, enrich.")
    contract_id: Address | None = None
    entity: str = Field(description="What it is about: stream, withdrawal, proposal, ...")
    entity_id: str | None = Field(None, description="The entity's on-chain id, as text.")
    field: str | None = Field(None, description="The column that differed.")
    indexed_value: str | None = Field(None, description="What the index held.")
    chain_value: str | None = Field(None, description="What the chain holds.")
    ledger: int | None = Field(None, description="The ledger of the chain value read.")
    message: str
    details: Any | None = None
    corrected: bool = Field(description="True when the index was corrected from the chain.")
    detected_at: Time
