"""``/api/proposals``: governance proposals, tallies and votes (BK-6)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from orbitpay.api.common import (
    READ_RESPONSES,
    ContractQuery,
    ListSpec,
    OnChainId,
    Resources,
    address_query,
    json_text,
    list_response,
    resolve_entity,
)
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.pagination import Keyset, Page, Paging
from orbitpay.api.queryparams import FormatQuery, QueryParam, QuerySpec, csv_requested
from orbitpay.api.routers.coverage import history_fields
from orbitpay.api.schemas import (
    HistoryPage,
    Proposal,
    ProposalDetail,
    ProposalStatus,
    Vote,
    VoteChoice,
)
from orbitpay.cache import TTL_PROPOSAL_VOTES
from orbitpay.db.schema import proposals, votes

router = APIRouter(prefix="/api/proposals", tags=["governance"], responses=READ_RESPONSES)

# A detail shows at most this many votes (oldest first); the rest page at /votes.
DETAIL_VOTES = 500

ProposerQuery = address_query("The proposer (G... or C...).")

p = proposals.c
KEYSET = Keyset(columns=(p.created_ledger, p.proposal_id, p.contract_id), types=(int, int, str))
VOTES_KEYSET = Keyset(columns=(votes.c.ledger, votes.c.event_id), types=(int, str))
COLUMNS = [
    p.proposal_id,
    p.contract_id,
    p.proposer,
    p.title,
    p.token,
    p.amount,
    p.recipient,
    p.status,
    p.yes_votes,
    p.no_votes,
    p.abstain_votes,
    p.start_time,
    p.end_time,
    p.created_ledger,
    p.created_tx_hash,
]
VOTE_COLUMNS = [
    votes.c.voter,
    votes.c.choice,
    votes.c.weight,
    votes.c.ledger,
    votes.c.tx_hash,
    votes.c.voted_at,
]


SPEC = ListSpec(
    endpoint="proposals",
    columns=tuple(COLUMNS),
    keyset=KEYSET,
    filters={"status": p.status, "proposer": p.proposer, "contract": p.contract_id},
    model=Proposal,
)
VOTES_SPEC = ListSpec(
    endpoint="votes",
    columns=(*VOTE_COLUMNS, votes.c.event_id),
    keyset=VOTES_KEYSET,
    filters={
        "contract": votes.c.contract_id,
        "proposal": votes.c.proposal_id,
        "choice": votes.c.choice,
    },
    model=Vote,
)


LIST_QUERY = QuerySpec(
    [
        QueryParam("status", Annotated[ProposalStatus | None, Query()]),
        QueryParam("proposer", ProposerQuery),
        QueryParam("contract", ContractQuery),
    ],
    formats=True,
)


@router.get(
    "",
    response_model=Page[Proposal],
    responses=CSV_RESPONSE,
    openapi_extra=LIST_QUERY.openapi(),
    summary="List proposals",
    description="Proposals by status, proposer and contract, newest first by default. "
    "`?format=csv` or `Accept: text/csv` streams every matching row as CSV.",
)
async def list_proposals(request: Request) -> Response:
    query = LIST_QUERY.parse_list(request)
    if query.csv:
        return csv_response(request, SPEC, query.values, query.paging, "proposals")
    return await list_response(request, SPEC, query.values, query.paging)


VOTERS_SQL = "SELECT count(*) FROM votes WHERE contract_id = $1 AND proposal_id = $2"
VOTES_SQL = f"""
    SELECT {", ".join(c.name for c in VOTE_COLUMNS)}
    FROM votes
    WHERE contract_id = $1 AND proposal_id = $2
    ORDER BY ledger, event_id
    LIMIT {DETAIL_VOTES}
"""


async def _proposal_state(
    conn: asyncpg.Connection, proposal_id: int, contract: str | None
) -> dict[str, Any]:
    row = await resolve_entity(conn, proposals, "proposal_id", proposal_id, contract, "proposal")
    key = (row["contract_id"], row["proposal_id"])
    voters: int = await conn.fetchval(VOTERS_SQL, *key)
    shown = await conn.fetch(VOTES_SQL, *key)
    yes, no, abstain = (int(row["yes_votes"]), int(row["no_votes"]), int(row["abstain_votes"]))
    detail = ProposalDetail.model_validate(
        {
            **{c.key: row[c.key] for c in COLUMNS},
            "tallies": {
                "yes": yes,
                "no": no,
                "abstain": abstain,
                "total": yes + no + abstain,
                "voters": voters,
            },
            "votes": [dict(v) for v in shown],
            "votes_truncated": voters > len(shown),
        }
    )
    return detail.model_dump(mode="json")


@router.get(
    "/{id}",
    response_model=ProposalDetail,
    summary="One proposal with tallies and votes",
    description="Tallies are vote weights; the proposal and its votes are cached for 30 s "
    "(new governance events invalidate them).",
)
async def get_proposal(res: Resources, id: OnChainId, contract: ContractQuery = None) -> Response:
    async def compute() -> dict[str, Any]:
        async with res.reads.connection() as conn:
            return await _proposal_state(conn, id, contract)

    body = await res.cache.get_or_set_text(
        "proposals", f"detail:{contract or '*'}:{id}", TTL_PROPOSAL_VOTES, compute
    )
    return json_text(body)


@router.get(
    "/{id}/votes",
    response_model=HistoryPage[Vote],
    responses=CSV_RESPONSE,
    summary="A proposal's votes, paginated",
    description="`?format=csv` or `Accept: text/csv` streams every matching vote as CSV.",
)
async def list_votes(
    request: Request,
    res: Resources,
    paging: Paging,
    id: OnChainId,
    contract: ContractQuery = None,
    choice: Annotated[VoteChoice | None, Query()] = None,
    format: FormatQuery = None,
) -> Response:
    async with res.reads.connection() as conn:
        row = await resolve_entity(conn, proposals, "proposal_id", id, contract, "proposal")
        values = {"contract": row["contract_id"], "proposal": id, "choice": choice}
        if csv_requested(request, format):
            return csv_response(request, VOTES_SPEC, values, paging, f"proposal_{id}_votes")
        history = await history_fields(res.reads, conn, [row["contract_id"]])
        return await list_response(request, VOTES_SPEC, values, paging, conn, extra=history)
