"""The one answer to "is the database unreachable right now?".

The API turns such a failure into a 503 with ``Retry-After`` and the indexer
pauses and resumes on it; anything else (bad SQL, a constraint, a value the
database refuses, a statement cancelled by its timeout) is not an outage and is
handled as the error it is. Both ask this module so they cannot drift apart.
"""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc

from orbitpay.db.readpool import PoolClosed

# Server answers that mean "no session now" rather than "this statement is wrong":
# admin/crash shutdown, starting up, too many connections.
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) means the database could not be reached.

    Counts: refused, reset or timed-out sockets (``OSError``, which covers
    ``ConnectionError`` and ``TimeoutError``); asyncpg's connection errors
    (class 08, e.g. lost mid-statement) and the SQLSTATEs above; asyncpg's
    "connection is closed"; the read pool closed; SQLAlchemy's invalidated
    connections, its ``OperationalError`` and its pool checkout timeout. Other
    ``InterfaceError``\\ s (e.g. "another operation is in progress") are misuse,
    not an outage. SQLAlchemy's errors hold the driver's in ``orig``, whose
    ``__cause__`` is asyncpg's own: the chain is followed a few links deep.
    """
    link: BaseException | None = exc
    for _ in range(4):
        if link is None:
            return False
        if isinstance(link, OSError | PoolClosed | asyncpg.PostgresConnectionError):
            return True
        if isinstance(link, asyncpg.PostgresError) and link.sqlstate in CONNECTION_SQLSTATES:
            return True
        if isinstance(link, asyncpg.InterfaceError) and "connection is closed" in str(link):
            return True
        if isinstance(link, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.OperationalError):
            return True  # no pooled connection in time; the driver's "cannot operate"
        if isinstance(link, sqlalchemy.exc.DBAPIError):
            if link.connection_invalidated:
                return True
            link = link.orig
        else:
            link = link.__cause__
    return False


__all__ = ["CONNECTION_SQLSTATES", "is_connection_error"]
