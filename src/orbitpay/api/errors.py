"""One JSON error shape for every failure: ``{"error": {"code", "message"}}``.

Handlers here turn FastAPI's and Starlette's own errors (404 for unknown
paths, 405, 422 validation) into that shape too, so clients parse one format.

This is also the one place where database failures become HTTP answers. Only a
failure to reach the database is a 503 (with ``Retry-After``): connection
refused, reset or timed out, a connection lost mid-statement, the server
shutting down or still starting (SQLSTATE ``57P01``-``57P03``, e.g. "the
database system is starting up"), no connection slot free (``53300``), the read
pool closed. A value the database refuses as data (SQLSTATE class ``22``: text
it cannot store, a number out of range, a malformed value) came from the
request: a 422. A statement cancelled by its ``statement_timeout`` (``57014``)
is a 503 with ``Retry-After`` too: the server is too busy for it now. Any other
database error (bad SQL, a constraint) is a bug, not an outage: a 500 like any
other.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from orbitpay.db.errors import is_connection_error as is_connection_error  # re-exported
from orbitpay.db.readpool import PoolClosed
from orbitpay.observability.logging import get_logger

log = get_logger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


# Seconds a client should wait before retrying after a 503: long enough for a database
# restart or a failover, short enough not to keep dashboards dark.
RETRY_AFTER_SECONDS = 5
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
# Errors a database failure can arrive as, from the read pool (asyncpg) or an engine
# (SQLAlchemy wraps asyncpg's errors); each is checked by ``is_connection_error``
# (orbitpay.db.errors, shared with the indexer).
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    PoolClosed,
    DBAPIError,
)


def data_error(exc: BaseException) -> asyncpg.PostgresError | None:
    """The PostgreSQL data error (SQLSTATE class 22) ``exc`` is or wraps, if any."""
    link: BaseException | None = exc
    for _ in range(4):
        if link is None:
            return None
        if isinstance(link, asyncpg.PostgresError) and str(link.sqlstate).startswith("22"):
            return link
        link = link.orig if isinstance(link, DBAPIError) else link.__cause__
    return None


def statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a statement cancelled by ``statement_timeout``."""
    link: BaseException | None = exc
    for _ in range(4):
        if link is None:
            return False
        if isinstance(link, asyncpg.QueryCanceledError):
            return True
        link = link.orig if isinstance(link, DBAPIError) else link.__cause__
    return False


def service_unavailable() -> JSONResponse:
    """The 503 of a database that cannot be reached now."""
    return error_response(
        503,
        "service_unavailable",
        "the database is unavailable",
        headers=RETRY_AFTER,
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorBody


class ApiError(Exception):
    """Raise from a route to answer ``status`` with a machine code and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        details.append({"in": where, "name": name, "message": err.get("msg", "invalid")})
    first = details[0] if details else {"name": "request", "message": "invalid input"}
    message = f"invalid {first['in'] if 'in' in first else ''} parameter '{first['name']}': "
    return message.replace("  ", " ") + str(first["message"]), details


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = getattr(exc, "headers", None)
        return error_response(exc.status_code, code, message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = _validation_message(exc)
        return error_response(422, "invalid_input", message, details)

    async def _database_error(_: Request, exc: Exception) -> JSONResponse:
        refused = data_error(exc)
        if refused is not None:
            # The value came from the request (checked parameters make this rare).
            return error_response(
                422,
                "invalid_input",
                f"a value in the request cannot be used: {_first_line(refused)[:200]}",
            )
        if statement_timeout(exc):
            log.warning("statement_timeout", error=_first_line(exc))
            return error_response(
                503,
                "service_unavailable",
                "the query took too long; narrow it or retry later",
                headers=RETRY_AFTER,
            )
        if not is_connection_error(exc):
            raise exc  # not an outage: the 500 handler below logs and answers it
        log.warning("dependency_unavailable", error=_first_line(exc))
        return service_unavailable()

    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return error_response(500, "internal_error", "internal error")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in _STATUS_CODES.items()
    if status in (400, 401, 403, 404, 409, 422, 429, 503)
}
