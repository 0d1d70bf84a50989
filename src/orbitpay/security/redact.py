"""Credentials out of logs and error messages: one helper for every URL shown.

A URL can carry secrets in three places: the user info (``user:password@``), and
query values such as ``?apikey=`` or ``?token=`` (RPC providers put keys there).
:func:`redact_url` keeps the rest (scheme, host, port, path: what an operator
needs to tell deployments apart) and replaces those parts with ``***``;
:func:`redact_text` does it for every URL inside a longer message (a pydantic
error, an exception's text).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose values are credentials (compared lower-cased, "-"/"_" ignored).
SECRET_PARAMS = frozenset(
    {
        "apikey",
        "key",
        "token",
        "accesstoken",
        "authtoken",
        "password",
        "pass",
        "pwd",
        "secret",
        "clientsecret",
        "signature",
        "sig",
        "auth",
    }
)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _secret_param(name: str) -> bool:
    return name.lower().replace("-", "").replace("_", "") in SECRET_PARAMS


def redact_url(url: str) -> str:
    """``url`` with its user info and credential query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not parseable: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_param(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="*")
    # A libpq-style "?password=" or a fragment can hold secrets as well.
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
