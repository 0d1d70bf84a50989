"""Settings, read from ``ORBITPAY_*`` environment variables and ``.env``.

Every value is validated when the process starts so a typo stops the service
with one line naming the variable, instead of failing hours later inside the
indexer loop. ``load_settings`` is the only constructor the rest of the code
should use: it turns pydantic's multi-line report into that single line.
"""

from __future__ import annotations

import re
import sys
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from stellar_sdk import StrKey

from orbitpay.enums import ContractKind
from orbitpay.security.redact import redact_text

ENV_PREFIX = "ORBITPAY_"
# Iterated where every kind gets a slot (settings, organizations); spelled in ``enums``.
CONTRACT_KINDS: tuple[ContractKind, ...] = tuple(ContractKind)
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_RATE_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class ConfigError(Exception):
    """A setting is invalid; the message is one line that names the variable."""


def is_contract_id(value: str) -> bool:
    """True when ``value`` is a valid ``C...`` contract strkey (checksum included)."""
    return StrKey.is_valid_contract(value)


def parse_rate(value: str) -> tuple[int, int]:
    """``"100/minute"`` -> ``(100, 60)``: allowed requests and window seconds."""
    match = _RATE_RE.match(value)
    if not match or int(match.group(1)) <= 0:
        raise ValueError("expected '<positive count>/<second|minute|hour|day>', e.g. '100/minute'")
    return int(match.group(1)), _RATE_PERIOD_SECONDS[match.group(2)]


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; a bare address is a one-address network."""
    found: list[IPv4Network | IPv6Network] = []
    for part in value.split(","):
        if part.strip():
            try:
                found.append(ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR: {part.strip()[:60]!r}") from None
    return tuple(found)


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
    if not parts.netloc and "host=" not in parts.query:
        raise ValueError("the URL names no host")
    return value


class Settings(BaseSettings):
    """The service's configuration; see SPEC.md for the meaning of each field."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str | None = None
    data_dir: Path = Path("./.orbitpay")
    redis_url: str | None = None
    rpc_url: str | None = None
    network_passphrase: str | None = None
    treasury_contract_id: str | None = None
    payroll_contract_id: str | None = None
    vesting_contract_id: str | None = None
    governance_contract_id: str | None = None
    org_name: str = Field(default="default", min_length=1, max_length=200)
    start_ledger: int | None = Field(default=None, ge=1)
    poll_interval: float = Field(default=5.0, gt=0, le=3600)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    rate_limit: str = "100/minute"
    require_api_key: bool = False
    # Connections each API process keeps for its plain reads (lists, SSE, analytics series).
    api_read_connections: int = Field(default=8, ge=1, le=200)
    # Signs list cursors; set the same value on every API worker. Unset: derived
    # from the database URL (stable per deployment, but not secret without a password).
    cursor_secret: str | None = Field(default=None, min_length=16)
    log_format: Literal["json", "console"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # One access line per API request (on|off), and the fraction of 1xx-4xx lines kept (5xx: all).
    access_log: bool = True
    access_log_sample: float = Field(default=1.0, ge=0, le=1)
    # What to do when the stored cursor fell out of the RPC's retention window:
    # "stop" refuses to continue, "resume" records the gap and restarts at oldestLedger.
    gap_policy: Literal["stop", "resume"] = "stop"
    # A SEP-54 ledger data lake (Galexie's layout): the base URL of its ledgers path,
    # file:// or http(s)://. Ledgers older than the RPC's window are read from it.
    archive_url: str | None = None
    # What to do when the RPC serves a different chain than the indexed one (a network reset:
    # its latest ledger is below a stored cursor, or a stored ledger's hash changed): "stop"
    # refuses to mix the two chains; "reindex" deletes this network's indexed rows (keeping
    # organizations, contracts and API keys) and indexes the new chain from the start.
    on_network_reset: Literal["stop", "reindex"] = "stop"
    reconcile_interval: float = Field(default=60.0, gt=0)
    rpc_timeout: float = Field(default=15.0, gt=0)
    rpc_max_retries: int = Field(default=8, ge=0)
    # `orbitpay index` serves Prometheus metrics here (0: off); the API serves /metrics itself.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # ---- API hardening (README "Security")
    # Largest request line + headers accepted by the server (bytes).
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1024 * 1024)
    # Largest request body accepted (bytes); larger is a 413 before anything is read.
    max_body_bytes: int = Field(default=65_536, ge=1, le=64 * 1024 * 1024)
    # Peers (IPs or CIDRs, comma-separated) whose X-Forwarded-For/Forwarded is believed.
    trusted_proxies: str = ""
    # The quota of each authenticated API key (instead of its client address's).
    api_key_rate_limit: str = "1000/minute"
    # How long a rotated-out secret keeps working (seconds).
    key_rotation_grace: float = Field(default=86_400.0, ge=0, le=90 * 86_400)
    # Each Redis call (connect, read) gives up after this long; then the breaker opens.
    redis_timeout: float = Field(default=0.25, gt=0, le=10)
    # Seconds Redis is left alone after failures before one request probes it again.
    redis_retry_after: float = Field(default=5.0, gt=0, le=600)
    # CSV exports running at once per API process, and per client address.
    export_concurrency: int = Field(default=4, ge=1, le=1000)
    export_per_client: int = Field(default=2, ge=1, le=1000)
    # SSE streams open at once per API process, and per client address.
    stream_concurrency: int = Field(default=64, ge=1, le=10_000)
    stream_per_client: int = Field(default=4, ge=1, le=1000)
    # A streamed response whose client takes longer than this to accept a chunk is dropped.
    send_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Analytics: series cells (buckets x tokens) one request may ask for, and its time limit.
    analytics_max_cells: int = Field(default=20_000, ge=1)
    analytics_timeout: float = Field(default=5.0, gt=0, le=600)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("postgresql", "postgres", "postgresql+asyncpg"))

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss", "unix"))

    @field_validator("rpc_url")
    @classmethod
    def _rpc_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("http", "https"))

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme == "file":
            if not parts.path.startswith("/"):
                raise ValueError("a file:// URL needs an absolute path (file:///srv/lake)")
            return value
        return _check_url(value, ("http", "https", "file"))

    @field_validator(
        "treasury_contract_id",
        "payroll_contract_id",
        "vesting_contract_id",
        "governance_contract_id",
    )
    @classmethod
    def _contract_id(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not is_contract_id(value):
            raise ValueError("not a valid C... contract strkey")
        return value

    @field_validator("rate_limit", "api_key_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) and value else (value or None)

    @property
    def contract_ids(self) -> dict[str, str]:
        """The configured contracts of ``org_name``, by kind (only those set)."""
        found = {kind: getattr(self, f"{kind}_contract_id") for kind in CONTRACT_KINDS}
        return {kind: cid for kind, cid in found.items() if cid}

    @property
    def rate(self) -> tuple[int, int]:
        return parse_rate(self.rate_limit)

    @property
    def key_rate(self) -> tuple[int, int]:
        return parse_rate(self.api_key_rate_limit)

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    def require_cursor_secret(self) -> str | None:
        """``ORBITPAY_CURSOR_SECRET``; ``ConfigError`` if unset outside the embedded defaults.

        With an external database (``ORBITPAY_DATABASE_URL`` set) the API must not derive
        the cursor key from that URL (compose files and logs show it): a secret is required.
        With the embedded database (nothing configured) ``None``: the key is derived.
        """
        if self.cursor_secret:
            return self.cursor_secret
        if self.database_url is not None:
            raise ConfigError(
                f"invalid configuration: {ENV_PREFIX}CURSOR_SECRET: required when "
                f"{ENV_PREFIX}DATABASE_URL is set (at least 16 characters, the same on every "
                "API worker; e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return None

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "console" if sys.stderr.isatty() else "json"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = redact_text(first["msg"].removeprefix("Value error, "))
    raw = first.get("input")
    # URLs are shown redacted: a typo in a URL setting must not print its password.
    shown = (
        f" (got {redact_text(repr(raw))})"
        if isinstance(raw, str | int | float) and len(str(raw)) < 120
        else ""
    )
    extra = f"; {len(error.errors()) - 1} more invalid" if len(error.errors()) > 1 else ""
    return f"invalid configuration: {ENV_PREFIX}{field.upper()}: {message}{shown}{extra}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, raising ``ConfigError`` with a one-line message on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
