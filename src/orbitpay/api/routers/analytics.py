"""``/api/analytics/*``: dashboard figures and zero-filled time series (BK-7).

Series are computed in SQL: ``generate_series`` makes the buckets, the facts
are grouped by bucket index and ``LEFT JOIN``-ed onto them, so empty buckets
are zeros, not gaps. Buckets start at ``from`` rounded down to the interval
(hour; UTC midnight; Monday 00:00 UTC) and cover ``[from, to)``; at most
``MAX_BUCKETS`` of them (more is a 422). Statements take asyncpg's positional
``$n`` parameters (they run on the read pool); the optional ``contract`` filter
is always the last one, so a statement without it has one parameter fewer.

Results are cached for ``TTL_ANALYTICS`` seconds in the ``analytics``
namespace (the indexer invalidates it on new events), keyed by the
parameters and the clock's 30-second window, and concurrent misses of one key
in a process compute it once. The costly part of a series is cached under the
range aligned to whole buckets (``to`` rounded up to a bucket's end), so moving
``to`` inside a bucket reuses it and only the partial last bucket is read again.

Bounded cost: a request may ask for at most ``ORBITPAY_ANALYTICS_MAX_CELLS``
series cells (buckets x tokens; a 422 naming both beyond), its statements run
under a server-side ``statement_timeout`` (``ORBITPAY_ANALYTICS_TIMEOUT``: a 503
with ``Retry-After`` when it fires), and a client that disconnects cancels its
statements. The vesting series is computed from each schedule's breakpoints
(cliff, cap, end): a scan of the schedules plus a running sum over the buckets,
not an evaluation of every schedule at every bucket.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response

from orbitpay import jsoncodec
from orbitpay.api.common import (
    READ_RESPONSES,
    AppResources,
    ContractQuery,
    Now,
    Resources,
    json_text,
)
from orbitpay.api.csv_export import SERIES_CSV_RESPONSE, series_csv
from orbitpay.api.errors import ApiError
from orbitpay.api.queryparams import FormatQuery, csv_requested
from orbitpay.api.schemas import (
    Interval,
    PayrollAnalytics,
    TreasuryAnalytics,
    VestingAnalytics,
    unix_time,
)
from orbitpay.observability.logging import get_logger
from orbitpay.observability.metrics import HTTP_REFUSED

router = APIRouter(prefix="/api/analytics", tags=["analytics"], responses=READ_RESPONSES)
log = get_logger(__name__)

MAX_BUCKETS = 2000
TTL_ANALYTICS = 30
STEP_SECONDS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
DEFAULT_BUCKETS = {"hour": 48, "day": 30, "week": 26}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Range:
    start: datetime  # the first bucket's start (``from`` rounded down)
    requested_from: datetime
    to: datetime
    interval: str
    step: int
    buckets: int
    now: int

    @property
    def start_epoch(self) -> int:
        return int((self.start - _EPOCH).total_seconds())

    def bucket_time(self, i: int) -> datetime:
        return self.start + timedelta(seconds=self.step * i)

    def series_args(self, tokens: list[str]) -> list[Any]:
        """``$1``..``$6`` of the series statements: buckets, tokens, start, end, epoch, step."""
        return [self.buckets, tokens, self.start, self.to, self.start_epoch, self.step]

    @property
    def aligned_to(self) -> datetime:
        """``to`` rounded up to the end of its bucket (the cache's range)."""
        try:
            return self.bucket_time(self.buckets)
        except OverflowError:  # the last bucket ends after year 9999: keep ``to``
            return self.to

    @property
    def aligned(self) -> bool:
        return self.to == self.aligned_to

    def describe(self) -> dict[str, Any]:
        return {
            "from": self.requested_from,
            "to": self.to,
            "interval": self.interval,
            "as_of": unix_time(self.now),
        }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _floor(value: datetime, interval: str) -> datetime:
    if interval == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    return day - timedelta(days=day.weekday())


async def analytics_range(
    now: Now,
    from_: Annotated[
        datetime | None,
        Query(alias="from", description="Start (ISO-8601; default: `to` minus 30 buckets)."),
    ] = None,
    to: Annotated[datetime | None, Query(description="End, exclusive (default: now).")] = None,
    interval: Annotated[Interval, Query(description="Bucket size.")] = "day",
) -> Range:
    step = STEP_SECONDS[interval]
    try:
        end = _utc(to) if to is not None else unix_time(now)
        assert end is not None
        begin = (
            _utc(from_)
            if from_ is not None
            else end - timedelta(seconds=step * DEFAULT_BUCKETS[interval])
        )
        start = _floor(begin, interval)
    except (OverflowError, ValueError):
        raise ApiError(422, "invalid_input", "from/to are out of the supported range") from None
    if begin >= end:
        raise ApiError(422, "invalid_input", "'from' must be before 'to'")
    buckets = math.ceil((end - start).total_seconds() / step)
    if buckets > MAX_BUCKETS:
        raise ApiError(
            422,
            "invalid_input",
            f"{buckets} {interval} buckets requested; at most {MAX_BUCKETS}: "
            "narrow from/to or use a larger interval",
            details={"buckets": buckets, "max_buckets": MAX_BUCKETS},
        )
    return Range(start, begin, end, interval, step, buckets, now)


RangeDep = Annotated[Range, Depends(analytics_range)]

_inflight: dict[str, asyncio.Future[Any]] = {}


class _OwnerLeft(Exception):
    """The request computing a shared value was cancelled: a waiter computes it itself."""


def check_cost(res: AppResources, rng: Range, tokens: Sequence[str]) -> None:
    """422 when the series would have more cells (buckets x tokens) than allowed."""
    limit = res.settings.analytics_max_cells
    cells = rng.buckets * max(1, len(tokens))
    if cells > limit:
        HTTP_REFUSED.labels("analytics_cost").inc()
        raise ApiError(
            422,
            "invalid_input",
            f"{rng.buckets} {rng.interval} buckets x {len(tokens)} tokens = {cells} series "
            f"cells; at most {limit}: narrow from/to, use a larger interval or filter by contract",
            details={
                "buckets": rng.buckets,
                "tokens": len(tokens),
                "cells": cells,
                "max_cells": limit,
            },
        )


@asynccontextmanager
async def bounded(res: AppResources) -> AsyncIterator[asyncpg.Connection]:
    """A read-pool connection whose statements stop at the analytics time limit.

    ``SET LOCAL`` inside a transaction: the limit is the server's own and ends with
    the transaction, so the pooled connection keeps its default for other reads.
    """
    milliseconds = max(1, int(res.settings.analytics_timeout * 1000))
    async with res.reads.connection() as conn, conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        yield conn


async def until_disconnect(request: Request, work: Awaitable[Response]) -> Response:
    """``work``'s response, or its cancellation (statements included) if the client leaves.

    A cancelled statement's connection is retired by the read pool, which waits for
    PostgreSQL to cancel it: the database stops working for a client that is gone.
    """
    task = asyncio.ensure_future(work)

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not watcher.done():
            watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    HTTP_REFUSED.labels("analytics_client_left").inc()
    log.info("analytics_cancelled", path=request.url.path, reason="client disconnected")
    return Response(status_code=499)


def range_key(rng: Range) -> str:
    """The cache key part of a range: buckets, end, interval and the clock's window."""
    end = int((rng.to - _EPOCH).total_seconds())
    return f"{rng.start_epoch}:{end}:{rng.interval}:{rng.now // TTL_ANALYTICS}"


async def cached(
    res: AppResources, key: str, compute: Callable[[], Awaitable[Any]], *, text: bool = False
) -> Any:
    """``Cache.get_or_set`` in ``analytics`` with single-flight per process.

    ``text=True`` returns the value's JSON text (``Cache.get_or_set_text``): a whole
    response served from the cache is sent as stored, never decoded and re-encoded.
    """
    running = _inflight.get(key)
    if running is not None:
        try:
            return await asyncio.shield(running)
        except _OwnerLeft:
            return await cached(res, key, compute, text=text)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _inflight[key] = future
    try:
        lookup = res.cache.get_or_set_text if text else res.cache.get_or_set
        value = await lookup("analytics", key, TTL_ANALYTICS, compute)
    except asyncio.CancelledError:
        # This request's client left: another request waiting on it must not fail too.
        future.set_exception(_OwnerLeft())
        future.exception()
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters re-raise it, nobody else must
        raise
    finally:
        _inflight.pop(key, None)
    future.set_result(value)
    return value


def _series(
    rng: Range,
    rows: Sequence[asyncpg.Record] | Sequence[tuple[Any, ...]],
    names: tuple[str, ...],
    tokens: list[str],
) -> list[dict[str, Any]]:
    """Rows ``(token, i, v1, v2, ...)`` -> one series per (name, token) with every bucket."""
    values: dict[tuple[str, str], list[int]] = {
        (name, token): [0] * rng.buckets for name in names for token in tokens
    }
    for row in rows:
        token, i = row[0], row[1]
        if token is None or not 0 <= i < rng.buckets:
            continue
        for name, value in zip(names, row[2:], strict=True):
            values.setdefault((name, token), [0] * rng.buckets)[i] = int(value)
    times = [rng.bucket_time(i) for i in range(rng.buckets)]
    return [
        {
            "name": name,
            "token": token,
            "points": [{"t": t, "v": v} for t, v in zip(times, values[(name, token)], strict=True)],
        }
        for name in names
        for token in sorted({tok for (n, tok) in values if n == name})
    ]


def _contract_filter(column: str, contract: str | None, param: int) -> str:
    """``AND column = $param`` when filtering by contract (``param`` is the last one)."""
    return f"AND {column} = ${param}" if contract else ""


def _args(args: list[Any], contract: str | None) -> list[Any]:
    """The statement's arguments, the contract appended when there is one."""
    return [*args, contract] if contract else args


# In the series statements $5 is the first bucket's unix time and $6 the bucket's seconds.
def _bucket(column: str) -> str:
    """The bucket index of a TIMESTAMPTZ column."""
    return (
        f"CAST(floor((extract(epoch FROM {column}) - CAST($5 AS bigint))"
        " / CAST($6 AS bigint)) AS integer)"
    )


# ------------------------------------------------------------------ payroll

# $1: now (unix seconds); $2: the contract.
PAYROLL_TOTALS = """
    WITH paid AS (
        SELECT token, sum(disbursed) AS disbursed FROM payroll_totals
        WHERE true {contract} GROUP BY token
    ),
    live AS (
        SELECT token,
               count(*) AS active_streams,
               COALESCE(sum(div(total_amount * 86400, end_time - start_time))
                        FILTER (WHERE start_time <= $1 AND end_time > $1), 0) AS burn
        FROM streams
        WHERE status = 'active' AND end_time > start_time {contract}
        GROUP BY token
    )
    SELECT COALESCE(paid.token, live.token) AS token,
           COALESCE(paid.disbursed, 0) AS disbursed,
           COALESCE(live.active_streams, 0) AS active_streams,
           COALESCE(live.burn, 0) AS burn
    FROM paid FULL JOIN live ON live.token = paid.token
    ORDER BY 1
"""

# Whole hours come from the hourly rollup; the last, partial hour before `to` from the
# claims themselves (an index range), so a bucket never counts a claim at or after `to`.
# Both group by ``date_bin`` (timestamp arithmetic: no numeric epoch maths per row) and
# the bucket index is computed in Python on the few grouped rows; ``_series`` zero-fills.
PAYROLL_HOURS = """
    SELECT token, date_bin($1::interval, hour, $2::timestamptz) AS bucket,
           sum(disbursed) AS v
    FROM payroll_hourly
    WHERE token = ANY($3::text[]) AND hour >= $2::timestamptz AND hour < $4::timestamptz
      {contract}
    GROUP BY 1, 2
"""
PAYROLL_RECENT = """
    SELECT token, date_bin($1::interval, claimed_at, $2::timestamptz) AS bucket,
           sum(amount) AS v
    FROM stream_claims
    WHERE token = ANY($3::text[])
      AND claimed_at >= $4::timestamptz AND claimed_at < $5::timestamptz
      {contract}
    GROUP BY 1, 2
"""


def payroll_totals_sql(contract: str | None) -> str:
    """The figures' statement (``$1`` now, ``$2`` the contract)."""
    return PAYROLL_TOTALS.format(contract=_contract_filter("contract_id", contract, 2))


def payroll_series_sql(contract: str | None) -> tuple[str, str]:
    """The whole-hours and partial-hour statements (``$5``/``$6`` is the contract)."""
    return (
        PAYROLL_HOURS.format(contract="AND contract_id = $5" if contract else ""),
        PAYROLL_RECENT.format(contract="AND contract_id = $6" if contract else ""),
    )


def _bucket_rows(rng: Range, rows: Any) -> list[list[Any]]:
    """``(token, bucket start, v)`` rows -> ``[token, bucket index, v]``."""
    return [[r[0], int((r[1] - rng.start).total_seconds()) // rng.step, int(r[2])] for r in rows]


async def payroll_analytics(res: AppResources, rng: Range, contract: str | None) -> dict[str, Any]:
    """The figures (cached per clock window, whatever the range) and the range's series.

    The whole-hour part of the series is cached too (same namespace, so new payroll
    events invalidate it): a range ending "now" moves every second, but its whole hours
    only every hour, so a cache miss of the response only reads the partial last hour.
    """
    whole_end = max(rng.start, rng.to.replace(minute=0, second=0, microsecond=0))

    async def figures() -> list[dict[str, Any]]:
        async with bounded(res) as conn:
            rows = await conn.fetch(payroll_totals_sql(contract), *_args([rng.now], contract))
        return [
            {
                "token": r["token"],
                "total_disbursed": str(int(r["disbursed"])),
                "active_streams": int(r["active_streams"]),
                "burn_rate_per_day": str(int(r["burn"])),
            }
            for r in rows
        ]

    key = f"payroll-figures:{contract or '*'}:{rng.now // TTL_ANALYTICS}"
    totals = await cached(res, key, figures)
    tokens = [t["token"] for t in totals]
    check_cost(res, rng, tokens)
    hours_sql, recent_sql = payroll_series_sql(contract)
    stride = timedelta(seconds=rng.step)
    extra = [contract] if contract else []

    async def whole_hours() -> list[list[Any]]:
        async with bounded(res) as conn:
            rows = await conn.fetch(hours_sql, stride, rng.start, tokens, whole_end, *extra)
        return _bucket_rows(rng, rows)

    hours_key = (
        f"payroll-hours:{contract or '*'}:{rng.interval}:{rng.start_epoch}:"
        f"{int((whole_end - _EPOCH).total_seconds())}:{','.join(tokens)}"
    )
    parts = list(await cached(res, hours_key, whole_hours))
    if rng.to > whole_end:
        async with bounded(res) as conn:
            rows = await conn.fetch(
                recent_sql, stride, rng.start, tokens, whole_end, rng.to, *extra
            )
        parts += _bucket_rows(rng, rows)
    sums: dict[tuple[str, int], int] = {}
    for token, i, v in parts:
        sums[(token, i)] = sums.get((token, i), 0) + int(v)
    body = PayrollAnalytics.model_validate(
        {
            "range": rng.describe(),
            "total_disbursed": [
                {"token": t["token"], "amount": t["total_disbursed"]} for t in totals
            ],
            "active_streams": sum(t["active_streams"] for t in totals),
            "burn_rate_per_day": [
                {"token": t["token"], "amount": t["burn_rate_per_day"]} for t in totals
            ],
            "by_token": totals,
            "series": _series(
                rng, [(t, i, v) for (t, i), v in sums.items()], ("disbursed",), tokens
            ),
        }
    )
    return body.model_dump(mode="json", by_alias=True)


@router.get(
    "/payroll",
    responses=SERIES_CSV_RESPONSE,
    response_model=PayrollAnalytics,
    summary="Payroll: disbursed, active streams, burn rate, disbursements over time",
    description="Totals are all-time (disbursed) or at `as_of` (active streams, burn rate); "
    "the series covers the range. Cached 30 s (new payroll events invalidate it).",
)
async def payroll(
    request: Request,
    res: Resources,
    rng: RangeDep,
    contract: ContractQuery = None,
    format: FormatQuery = None,
) -> Response:
    as_csv = csv_requested(request, format)

    async def compute() -> dict[str, Any]:
        return await payroll_analytics(res, rng, contract)

    async def answer() -> Response:
        key = f"payroll:{contract or '*'}:{range_key(rng)}"
        text = await cached(res, key, compute, text=True)
        if as_csv:
            return series_csv(jsoncodec.loads(text)["series"], "payroll_series")
        return json_text(text)

    return await until_disconnect(request, answer())


# ------------------------------------------------------------------ treasury

# {contract}: the filter on ``te.contract_id`` (its parameter number differs per statement).
TREASURY_FLOWS = """
    WITH flows AS (
        SELECT COALESCE(te.token, w.token) AS token, te.timestamp AS ts,
               CASE WHEN te.type = 'deposit' THEN COALESCE(te.amount, 0) ELSE 0 END AS dep,
               CASE WHEN te.type = 'withdrawal_executed'
                    THEN COALESCE(te.amount, w.amount, 0) ELSE 0 END AS wd
        FROM treasury_events te
        LEFT JOIN withdrawals w
               ON te.type = 'withdrawal_executed'
              AND w.contract_id = te.contract_id AND w.withdrawal_id = te.withdrawal_id
        WHERE te.type IN ('deposit', 'withdrawal_executed') {contract}
    )
"""

# $1: the contract.
TREASURY_TOTALS = (
    TREASURY_FLOWS
    + """
    SELECT token, sum(dep) AS deposited, sum(wd) AS withdrawn
    FROM flows WHERE token IS NOT NULL GROUP BY token ORDER BY token
"""
)

# $1: buckets; $2: tokens; $3, $4: start and end; $5, $6: start epoch and step; $7: contract.
TREASURY_SERIES = (
    TREASURY_FLOWS
    + """,
    b AS (SELECT generate_series(0, CAST($1 AS integer) - 1) AS i),
    tok AS (SELECT unnest(CAST($2 AS text[])) AS token),
    opening AS (
        SELECT token, sum(dep - wd) AS v FROM flows
        WHERE ts < CAST($3 AS timestamptz) GROUP BY token
    ),
    agg AS (
        SELECT token,
               {bucket_ts} AS i,
               sum(dep) AS dep, sum(wd) AS wd
        FROM flows
        WHERE ts >= CAST($3 AS timestamptz) AND ts < CAST($4 AS timestamptz)
        GROUP BY 1, 2
    )
    SELECT tok.token, b.i,
           COALESCE(agg.dep, 0) AS deposits,
           COALESCE(agg.wd, 0) AS withdrawals,
           COALESCE(opening.v, 0)
             + sum(COALESCE(agg.dep, 0) - COALESCE(agg.wd, 0))
               OVER (PARTITION BY tok.token ORDER BY b.i) AS balance
    FROM tok CROSS JOIN b
    LEFT JOIN agg ON agg.token = tok.token AND agg.i = b.i
    LEFT JOIN opening ON opening.token = tok.token
    ORDER BY 1, 2
"""
)


# $1, $2: from and to (the tail of the last bucket); $3: the contract.
TREASURY_TAIL = (
    TREASURY_FLOWS
    + """
    SELECT token, sum(dep) AS dep, sum(wd) AS wd FROM flows
    WHERE token IS NOT NULL
      AND ts >= CAST($1 AS timestamptz) AND ts < CAST($2 AS timestamptz)
    GROUP BY token
"""
)


async def treasury_analytics(res: AppResources, rng: Range, contract: str | None) -> dict[str, Any]:
    totals_sql = TREASURY_TOTALS.format(contract=_contract_filter("te.contract_id", contract, 1))
    series_sql = TREASURY_SERIES.format(
        contract=_contract_filter("te.contract_id", contract, 7), bucket_ts=_bucket("ts")
    )
    async with bounded(res) as conn:
        totals = await conn.fetch(totals_sql, *_args([], contract))
    tokens = [r["token"] for r in totals]
    check_cost(res, rng, tokens)
    end = rng.aligned_to

    async def whole() -> list[list[Any]]:
        """The series over whole buckets (cached: moving ``to`` inside a bucket reuses it)."""
        args = [rng.buckets, tokens, rng.start, end, rng.start_epoch, rng.step]
        async with bounded(res) as conn:
            found = await conn.fetch(series_sql, *_args(args, contract))
        return [[r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])] for r in found]

    key = (
        f"treasury-series:{contract or '*'}:{rng.interval}:{rng.start_epoch}:"
        f"{int((end - _EPOCH).total_seconds())}:{','.join(tokens)}"
    )
    rows = [list(r) for r in await cached(res, key, whole)]
    if not rng.aligned:
        # `to` is exclusive: flows in [to, the last bucket's end) leave the last bucket.
        tail_sql = TREASURY_TAIL.format(contract=_contract_filter("te.contract_id", contract, 3))
        async with bounded(res) as conn:
            tail = {
                r["token"]: (int(r["dep"]), int(r["wd"]))
                for r in await conn.fetch(tail_sql, *_args([rng.to, end], contract))
            }
        for row in rows:
            if row[1] == rng.buckets - 1 and row[0] in tail:
                dep, wd = tail[row[0]]
                row[2] -= dep
                row[3] -= wd
                row[4] -= dep - wd
    body = TreasuryAnalytics.model_validate(
        {
            "range": rng.describe(),
            "contract_id": contract,
            "balances": [
                {
                    "token": r["token"],
                    "deposited": r["deposited"],
                    "withdrawn": r["withdrawn"],
                    "balance": int(r["deposited"]) - int(r["withdrawn"]),
                }
                for r in totals
            ],
            "series": _series(
                rng, [tuple(r) for r in rows], ("deposits", "withdrawals", "balance"), tokens
            ),
        }
    )
    return body.model_dump(mode="json", by_alias=True)


@router.get(
    "/treasury",
    responses=SERIES_CSV_RESPONSE,
    response_model=TreasuryAnalytics,
    summary="Treasury: balance over time, deposit and withdrawal volume",
    description="All treasuries, or one with `contract`. The balance is deposits minus "
    "executed withdrawals (an accounting balance, as `/api/treasury/{addr}/balance`).",
)
async def treasury(
    request: Request,
    res: Resources,
    rng: RangeDep,
    contract: ContractQuery = None,
    format: FormatQuery = None,
) -> Response:
    as_csv = csv_requested(request, format)

    async def compute() -> dict[str, Any]:
        return await treasury_analytics(res, rng, contract)

    async def answer() -> Response:
        key = f"treasury:{contract or '*'}:{range_key(rng)}"
        text = await cached(res, key, compute, text=True)
        if as_csv:
            return series_csv(jsoncodec.loads(text)["series"], "treasury_series")
        return json_text(text)

    return await until_disconnect(request, answer())


# ------------------------------------------------------------------ vesting


def vested_sql(at: str) -> str:
    """The vesting contract's formula in SQL at unix time ``at`` (an SQL expression).

    Uses the schedule's original total (what was being vested) and caps it at
    ``total_amount``: equal for live schedules, and for a revoked one it is the
    amount vested at revocation from then on.
    """
    formula = f"""
        CASE WHEN {at} < start_time THEN 0
             WHEN {at} - start_time < cliff_duration THEN 0
             WHEN {at} - start_time >= total_duration THEN original_total_amount
             WHEN total_duration <= cliff_duration THEN original_total_amount
             ELSE cliff_amount + div((original_total_amount - cliff_amount)
                                     * ({at} - start_time - cliff_duration),
                                     total_duration - cliff_duration)
        END"""
    return f"LEAST({formula}, total_amount)"


# $1: now (unix seconds); $2: the contract.
VESTING_TOTALS = f"""
    SELECT token,
           count(*) AS schedules,
           sum(total_amount) AS total_value,
           sum({vested_sql("CAST($1 AS bigint)")}) AS vested,
           sum(claimed_amount) AS claimed
    FROM vesting_schedules
    WHERE true {{contract}}
    GROUP BY token ORDER BY token
"""

# $1: now (unix seconds); $2: the contract.
VESTING_CLIFFS = """
    SELECT schedule_id, contract_id, beneficiary, token, cliff_time, cliff_amount
    FROM vesting_schedules
    WHERE status = 'active' AND cliff_time > CAST($1 AS bigint) {contract}
    ORDER BY cliff_time, contract_id, schedule_id
    LIMIT 100
"""

# Vested amounts are summed exactly per schedule where they are constant (before the
# cliff, after the end or the cap) and as exact fixed-point lines (``SCALE``) where they
# grow; the sum of a bucket's lines is floored once, so with several schedules growing
# in the same bucket it can exceed the sum of each schedule's floored amount by less
# than one base unit per such schedule (a single schedule is exact).
SCALE = "1e30"
# Added before flooring: larger than the fixed-point error of any sum, smaller than any
# true fraction of one schedule (durations below 10^12 s).
EPSILON = "1e18"

# $1: buckets; $2: tokens; $3, $4: the first bucket's unix time and the step; $5: contract.
# Each schedule is 0 until t1 = start + cliff_duration; then either a constant K, or a
# line c + (o - c) (t - t1) / d until te (the end, or where the cap ``total_amount``
# is reached: the revoked amount) and LEAST(o, m) from te on. Each schedule becomes at
# most two events (at t1 and te) placed in the first bucket whose end is not before
# them; running sums over the buckets give every bucket's value.
VESTED_SERIES = f"""
    WITH s AS (
        SELECT token, start_time + cliff_duration AS t1, start_time + total_duration AS t2,
               total_duration - cliff_duration AS d, cliff_amount AS c,
               original_total_amount AS o, total_amount AS m
        FROM vesting_schedules
        WHERE token = ANY(CAST($2 AS text[])) {{contract}}
    ),
    k AS (
        SELECT *, (d > 0 AND ((o > c AND m > c) OR m >= GREATEST(c, o))) AS lin FROM s
    ),
    l AS (
        SELECT *,
               CASE WHEN lin THEN div((o - c) * {SCALE}, d) END AS slope,
               CASE WHEN lin AND o > c AND m < o
                    THEN LEAST(t2, t1 + div((m - c) * d + (o - c) - 1, o - c))
                    ELSE t2 END AS te
        FROM k
    ),
    ev AS (
        SELECT token, t1 AS at,
               CASE WHEN lin THEN 0 WHEN d <= 0 THEN LEAST(o, m) ELSE LEAST(c, m) END AS dc,
               COALESCE(slope, 0) AS ds,
               CASE WHEN lin THEN c * {SCALE} - slope * t1 ELSE 0 END AS di
        FROM l
        UNION ALL
        SELECT token, te, LEAST(o, m), -slope, -(c * {SCALE} - slope * t1) FROM l WHERE lin
    ),
    agg AS (
        SELECT token,
               GREATEST(0, div(at - CAST($3 AS bigint) + CAST($4 AS bigint) - 1,
                               CAST($4 AS bigint)) - 1) AS i,
               sum(dc) AS dc, sum(ds) AS ds, sum(di) AS di
        FROM ev GROUP BY 1, 2
    ),
    b AS (SELECT generate_series(0, CAST($1 AS integer) - 1) AS i),
    tok AS (SELECT unnest(CAST($2 AS text[])) AS token),
    run AS (
        SELECT tok.token, b.i,
               sum(COALESCE(agg.dc, 0)) OVER w AS dc,
               sum(COALESCE(agg.ds, 0)) OVER w AS ds,
               sum(COALESCE(agg.di, 0)) OVER w AS di
        FROM tok CROSS JOIN b
        LEFT JOIN agg ON agg.token = tok.token AND agg.i = b.i
        WINDOW w AS (PARTITION BY tok.token ORDER BY b.i)
    )
    SELECT token, i,
           dc + floor((di + (CAST($3 AS bigint) + (i + 1) * CAST($4 AS bigint)) * ds
                       + {EPSILON}) / {SCALE}) AS vested
    FROM run ORDER BY 1, 2
"""

# $1: tokens; $2, $3: from and to (timestamps); $4, $5: start epoch and step;
# $6, $7: from and to as unix times; $8: the contract. Claims and cliffs per bucket.
VESTING_EVENTS = """
    SELECT token, CAST(floor((extract(epoch FROM claimed_at) - CAST($4 AS bigint))
                             / CAST($5 AS bigint)) AS integer) AS i,
           sum(amount) AS claimed, 0 AS cliffs
    FROM vesting_claims
    WHERE token = ANY(CAST($1 AS text[]))
      AND claimed_at >= CAST($2 AS timestamptz) AND claimed_at < CAST($3 AS timestamptz)
      {contract}
    GROUP BY 1, 2
    UNION ALL
    SELECT token, CAST((cliff_time - CAST($4 AS bigint)) / CAST($5 AS bigint) AS integer),
           0, sum(cliff_amount)
    FROM vesting_schedules
    WHERE token = ANY(CAST($1 AS text[]))
      AND cliff_time >= CAST($6 AS bigint) AND cliff_time < CAST($7 AS bigint)
      AND cliff_duration > 0 {contract}
    GROUP BY 1, 2
"""


async def vesting_series(
    res: AppResources, rng: Range, contract: str | None, tokens: list[str]
) -> list[list[Any]]:
    """``[token, bucket, vested, claimed, cliffs]`` rows of the range's series.

    The whole-bucket range (``to`` rounded up to its bucket's end) is cached (the
    ``analytics`` namespace: new vesting events invalidate it); when ``to`` falls
    inside the last bucket, the claims and cliffs in ``[to, bucket end)`` are read
    (an index range) and taken out of it.
    """
    end = rng.aligned_to
    start_epoch, end_epoch = rng.start_epoch, int((end - _EPOCH).total_seconds())
    extra = [contract] if contract else []

    async def whole() -> list[list[Any]]:
        vested_sql = VESTED_SERIES.format(contract="AND contract_id = $5" if contract else "")
        events_sql = VESTING_EVENTS.format(contract="AND contract_id = $8" if contract else "")
        async with bounded(res) as conn:
            vested = await conn.fetch(
                vested_sql, rng.buckets, tokens, start_epoch, rng.step, *extra
            )
            events = await conn.fetch(
                events_sql,
                tokens,
                rng.start,
                end,
                start_epoch,
                rng.step,
                start_epoch,
                end_epoch,
                *extra,
            )
        table = {
            (r["token"], int(r["i"])): [r["token"], int(r["i"]), int(r["vested"]), 0, 0]
            for r in vested
        }
        for r in events:
            row = table.get((r["token"], int(r["i"])))
            if row is not None:
                row[3] += int(r["claimed"])
                row[4] += int(r["cliffs"])
        return list(table.values())

    key = (
        f"vesting-series:{contract or '*'}:{rng.interval}:{start_epoch}:{end_epoch}:"
        f"{','.join(tokens)}"
    )
    rows = [list(r) for r in await cached(res, key, whole)]
    if not rng.aligned:
        # `to` is exclusive: what lies in [to, the last bucket's end) is not in the range.
        to_epoch = math.ceil((rng.to - _EPOCH).total_seconds())
        tail_sql = VESTING_EVENTS.format(contract="AND contract_id = $8" if contract else "")
        async with bounded(res) as conn:
            tail = await conn.fetch(
                tail_sql, tokens, rng.to, end, start_epoch, rng.step, to_epoch, end_epoch, *extra
            )
        index = {(r[0], r[1]): r for r in rows}
        for r in tail:
            row = index.get((r["token"], int(r["i"])))
            if row is not None:
                row[3] -= int(r["claimed"])
                row[4] -= int(r["cliffs"])
    return rows


async def vesting_analytics(res: AppResources, rng: Range, contract: str | None) -> dict[str, Any]:
    now_args = _args([rng.now], contract)
    by_now = {"contract": _contract_filter("contract_id", contract, 2)}
    async with bounded(res) as conn:
        totals = await conn.fetch(VESTING_TOTALS.format(**by_now), *now_args)
        cliffs = await conn.fetch(VESTING_CLIFFS.format(**by_now), *now_args)
    tokens = [r["token"] for r in totals]
    check_cost(res, rng, tokens)
    rows = await vesting_series(res, rng, contract, tokens)
    body = VestingAnalytics.model_validate(
        {
            "range": rng.describe(),
            "total_value": [{"token": r["token"], "amount": r["total_value"]} for r in totals],
            "vested": [{"token": r["token"], "amount": r["vested"]} for r in totals],
            "unvested": [
                {"token": r["token"], "amount": int(r["total_value"]) - int(r["vested"])}
                for r in totals
            ],
            "by_token": [
                {
                    "token": r["token"],
                    "schedules": int(r["schedules"]),
                    "total_value": r["total_value"],
                    "vested": r["vested"],
                    "unvested": int(r["total_value"]) - int(r["vested"]),
                    "claimed": r["claimed"],
                }
                for r in totals
            ],
            "upcoming_cliffs": [dict(c) for c in cliffs],
            "series": _series(
                rng, [tuple(r) for r in rows], ("vested", "claimed", "cliffs"), tokens
            ),
        }
    )
    return body.model_dump(mode="json", by_alias=True)


@router.get(
    "/vesting",
    responses=SERIES_CSV_RESPONSE,
    response_model=VestingAnalytics,
    summary="Vesting: total value, vested vs unvested, upcoming cliffs, vesting over time",
)
async def vesting(
    request: Request,
    res: Resources,
    rng: RangeDep,
    contract: ContractQuery = None,
    format: FormatQuery = None,
) -> Response:
    as_csv = csv_requested(request, format)

    async def compute() -> dict[str, Any]:
        return await vesting_analytics(res, rng, contract)

    async def answer() -> Response:
        key = f"vesting:{contract or '*'}:{range_key(rng)}"
        text = await cached(res, key, compute, text=True)
        if as_csv:
            return series_csv(jsoncodec.loads(text)["series"], "vesting_series")
        return json_text(text)

    return await until_disconnect(request, answer())
