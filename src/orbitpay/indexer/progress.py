"""Catch-up progress: a rich bar on a terminal, periodic JSON log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from orbitpay.observability.logging import get_logger

if TYPE_CHECKING:  # rich is imported only when a bar is shown (a terminal)
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

log = get_logger(__name__)


class Progress:
    """Tracks ledgers and events per second and the ETA to the source's latest ledger."""

    def __init__(
        self, *, tty: bool | None = None, log_every: float = 5.0, min_ledgers: int = 0
    ) -> None:
        self.min_ledgers = min_ledgers
        self.active = True
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.log_every = log_every
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._start_ledger: int | None = None
        self._t0 = time.monotonic()
        self._last_log = 0.0
        self.events = 0
        self.ledger = 0
        self.latest = 0

    def start(self, group: str, from_ledger: int, latest: int) -> None:
        self._start_ledger = from_ledger
        self._t0 = time.monotonic()
        self.events = 0
        self.ledger = from_ledger
        self.latest = latest
        # At the chain head there is nothing to show; report only real catch-ups.
        self.active = latest - from_ledger > self.min_ledgers
        if self.tty and self.active and latest - from_ledger > 1:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                TextColumn("[bold]indexing[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "ledgers  {task.fields[lps]:>8.0f} ledgers/s  {task.fields[eps]:>8.0f} events/s"
                ),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(group, total=latest - from_ledger, lps=0.0, eps=0.0)

    def rates(self) -> tuple[float, float, float | None]:
        elapsed = max(1e-6, time.monotonic() - self._t0)
        done = self.ledger - (self._start_ledger or self.ledger)
        lps = done / elapsed
        eps = self.events / elapsed
        eta = (self.latest - self.ledger) / lps if lps > 0 else None
        return lps, eps, eta

    def update(self, ledger: int, latest: int, events: int) -> None:
        self.ledger = max(self.ledger, ledger)
        self.latest = max(self.latest, latest)
        self.events += events
        lps, eps, eta = self.rates()
        if self._bar is not None and self._task is not None:
            base = self._start_ledger or 0
            self._bar.update(
                self._task,
                completed=self.ledger - base,
                total=max(1, self.latest - base),
                lps=lps,
                eps=eps,
            )
            return
        now = time.monotonic()
        if self.active and now - self._last_log >= self.log_every:
            self._last_log = now
            log.info(
                "indexer_progress",
                ledger=self.ledger,
                latest_ledger=self.latest,
                events=self.events,
                ledgers_per_second=round(lps, 1),
                events_per_second=round(eps, 1),
                eta_seconds=None if eta is None else round(eta, 1),
            )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
