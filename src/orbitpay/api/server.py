"""How uvicorn serves the API: the options that belong to hardening, in one place.

- ``proxy_headers=False``: uvicorn's own ``X-Forwarded-For`` handling trusts
  loopback peers by default and would let a local client pick its address; the
  app reads forwarding headers itself, only from ``ORBITPAY_TRUSTED_PROXIES``
  (``api.middleware.ClientAddressMiddleware``).
- ``http="h11"`` with ``h11_max_incomplete_event_size``: the request line and
  headers together may not exceed ``ORBITPAY_MAX_HEADER_BYTES`` (16 KiB by
  default); beyond it h11 refuses the request (a 400, connection closed) before
  it grows in memory. uvicorn's httptools parser has no such limit.
"""

from __future__ import annotations

from typing import Any

from orbitpay.config import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` (besides the app, host and port)."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "proxy_headers": False,
        "forwarded_allow_ips": "",
        "server_header": False,
    }
