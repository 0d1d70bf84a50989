"""``GET /api/discrepancies``: what the indexer found different from the chain.

The reconciler, the decoder and the gap checks record every difference in the
``discrepancies`` table (corrected or not); before this list the only trace was
a log line with counts. It is an operator's view, so it needs a ``write`` key
like the other administration endpoints, even when reads are open.

Newest first by default, keyset-paginated on the row id (ids only grow, so a
walk through the pages never skips or repeats a row recorded meanwhile).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from orbitpay.api.auth import require_write
from orbitpay.api.common import READ_RESPONSES, ContractQuery, ListSpec, list_response
from orbitpay.api.pagination import Keyset, Page
from orbitpay.api.queryparams import QueryParam, QuerySpec
from orbitpay.api.schemas import Discrepancy
from orbitpay.db.schema import discrepancies
from orbitpay.security.apikeys import KeyIdentity

router = APIRouter(prefix="/api/discrepancies", tags=["administration"], responses=READ_RESPONSES)

d = discrepancies.c
SPEC = ListSpec(
    endpoint="discrepancies",
    columns=(
        d.id,
        d.source,
        d.contract_id,
        d.entity,
        d.entity_id,
        d.field,
        d.indexed_value,
        d.chain_value,
        d.ledger,
        d.message,
        d.details,
        d.corrected,
        d.detected_at,
    ),
    keyset=Keyset(columns=(d.id,), types=(int,)),
    filters={
        "contract": d.contract_id,
        "entity": d.entity,
        "entity_id": d.entity_id,
        "source": d.source,
        "corrected": d.corrected,
    },
    model=Discrepancy,
)

# The column is free text (a later stage may record a new noun), so any short word is a
# valid filter; an unknown one simply matches nothing.
WORD = r"^[a-z][a-z0-9_]{0,49}$"
EntityQuery = Annotated[
    str | None,
    Query(pattern=WORD, description="What it is about: `stream`, `withdrawal`, `proposal`, ..."),
]
EntityIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="The entity's on-chain id (e.g. `3`)."),
]
SourceQuery = Annotated[
    str | None,
    Query(pattern=WORD, description="What found it: `reconcile`, `bootstrap`, `decode`, `gap`."),
]
CorrectedQuery = Annotated[
    bool | None,
    Query(description="`true`: only rows corrected from the chain; `false`: only the others."),
]

LIST_QUERY = QuerySpec(
    [
        QueryParam("contract", ContractQuery),
        QueryParam("entity", EntityQuery),
        QueryParam("entity_id", EntityIdQuery),
        QueryParam("source", SourceQuery),
        QueryParam("corrected", CorrectedQuery),
    ]
)


@router.get(
    "",
    response_model=Page[Discrepancy],
    openapi_extra=LIST_QUERY.openapi(),
    summary="Differences found between the index and the chain",
    description="Every recorded discrepancy, newest first by default: the field, the indexed "
    "and the chain value, and whether it was corrected. Needs a `write` API key.",
)
async def list_discrepancies(
    request: Request, _: Annotated[KeyIdentity, Depends(require_write)]
) -> Response:
    values, paging = LIST_QUERY.parse(request)
    return await list_response(request, SPEC, values, paging)
