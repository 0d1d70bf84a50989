"""``GET /api/discrepancies``: what the indexer found different from the chain.

The reconciler, the decoder and the gap checks record every difference in the
``discrepancies`` table (corrected or not); before this list the only trace was
a log line with counts. It is an operator's view, so it needs a ``write`` key
like the other administration endpoints, even when reads are open.

Newest first by default, keyset-paginated on the row id (ids only grow, so a
walk through the pages never skips or repeats a row recorded meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from orbitpay import jsoncodec
from orbitpay.api.auth import require_write
from orbitpay.api.common import READ_RESPONSES, ContractQuery, ListSpec, list_response
from orbitpay.api.csv_export import CSV_RESPONSE, csv_response
from orbitpay.api.pagination import Keyset, Page
from orbitpay.api.queryparams import QueryParam, QuerySpec
from orbitpay.api.schemas import Discrepancy, row_encoder
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
    ],
    formats=True,
)
_ENCODE = row_encoder(Discrepancy)


def csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row: ``details`` (a JSON object) as its JSON text in one cell."""
    out = _ENCODE(row)
    if out.get("details") is not None:
        out["details"] = jsoncodec.dumps(out["details"])
    return out


@router.get(
    "",
    response_model=Page[Discrepancy],
    responses=CSV_RESPONSE,
    openapi_extra=LIST_QUERY.openapi(),
    summary="Differences found between the index and the chain",
    description="Every recorded discrepancy, newest first by default: the field, the indexed "
    "and the chain value, and whether it was corrected. Needs a `write` API key. "
    "`?format=csv` or `Accept: text/csv` streams every matching row as CSV (`details` as "
    "its JSON text).",
)
async def list_discrepancies(
    request: Request, _: Annotated[KeyIdentity, Depends(require_write)]
) -> Response:
    query = LIST_QUERY.parse_list(request)
    if query.csv:
        return csv_response(
            request, SPEC, query.values, query.paging, "discrepancies", encode=csv_row
        )
    return await list_response(request, SPEC, query.values, query.paging)
