"""Read back the JSON log lines a test's code writes, with logging set up as a process does."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from orbitpay.observability.logging import configure_logging

Lines = Callable[[], list[dict[str, Any]]]


@contextmanager
def json_log_lines() -> Iterator[Lines]:
    """``configure_logging("json", "info")`` with the root handler writing to a buffer;
    yields a function returning the lines written so far, parsed. Everything is put back
    at the end.

    An in-process uvicorn started by an earlier test (tests/integration/api/live_server)
    leaves its loggers configured (level, own handlers, no propagation); a process starts
    with them untouched, so they are reset here too.
    """
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error")]
    kept = [(lg, lg.level, lg.propagate, lg.handlers[:]) for lg in uvicorn_loggers]
    for lg in uvicorn_loggers:
        lg.setLevel(logging.NOTSET)
        lg.propagate = True
        lg.handlers[:] = []
    configure_logging("json", "info")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for lg, lg_level, propagate, handlers in kept:
            lg.setLevel(lg_level)
            lg.propagate = propagate
            lg.handlers[:] = handlers
        logging.captureWarnings(False)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
