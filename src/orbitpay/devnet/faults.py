"""Seeded fault injection for the devnet's HTTP endpoint.

Each RPC request draws once from a seeded RNG; with the configured
probabilities it is answered with:

- ``503``: HTTP 503 with a small JSON body (an overloaded provider);
- ``429``: HTTP 429 with ``Retry-After`` (seconds) (rate limited);
- ``timeout``: the response is delayed by ``timeout_seconds`` (longer than a
  client's timeout), then answered normally;
- ``malformed``: HTTP 200 with a truncated, unparsable JSON body.

The rates are independent shares of all requests (their sum must be <= 1).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class FaultConfig:
    rate_503: float = 0.0
    rate_429: float = 0.0
    rate_timeout: float = 0.0
    rate_malformed: float = 0.0
    retry_after: int = 1
    timeout_seconds: float = 30.0
    seed: int = 1
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    counts: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        total = self.rate_503 + self.rate_429 + self.rate_timeout + self.rate_malformed
        if (
            total > 1.0
            or min(self.rate_503, self.rate_429, self.rate_timeout, self.rate_malformed) < 0
        ):
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        self._rng = random.Random(self.seed)

    @classmethod
    def uniform(cls, rate: float, seed: int = 1, timeout_seconds: float = 30.0) -> FaultConfig:
        """Spread ``rate`` evenly over the four kinds."""
        share = rate / 4
        return cls(share, share, share, share, timeout_seconds=timeout_seconds, seed=seed)

    @property
    def enabled(self) -> bool:
        return (self.rate_503 + self.rate_429 + self.rate_timeout + self.rate_malformed) > 0

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        with self._lock:
            r = self._rng.random()
            edge = 0.0
            for kind, rate in (
                ("503", self.rate_503),
                ("429", self.rate_429),
                ("timeout", self.rate_timeout),
                ("malformed", self.rate_malformed),
            ):
                edge += rate
                if r < edge:
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    return kind
            return None
