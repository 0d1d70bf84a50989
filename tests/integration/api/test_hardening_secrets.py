"""Finding 8: secrets in logs. The RPC URL was logged with its user, password and
``?apikey=``; configuration errors echoed database and Redis URLs with passwords."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitpay.config import ConfigError, load_settings
from orbitpay.security.redact import redact_text, redact_url

SECRET = "hunter2-Sup3rSecret"
secrets_ = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-_", min_size=6)


def test_redact_url_keeps_what_operators_need() -> None:
    assert redact_url(f"postgresql://orbitpay:{SECRET}@db:5432/orbitpay?sslmode=require") == (
        "postgresql://***@db:5432/orbitpay?sslmode=require"
    )
    assert redact_url(f"https://rpc.example/v1?apikey={SECRET}&x=1") == (
        "https://rpc.example/v1?apikey=***&x=1"
    )
    assert redact_url(f"https://u:{SECRET}@rpc.example/?token={SECRET}") == (
        "https://***@rpc.example/?token=***"
    )
    assert redact_url("http://127.0.0.1:8100") == "http://127.0.0.1:8100"


@given(secrets_, secrets_, st.sampled_from(["apikey", "api_key", "token", "Access-Token", "key"]))
def test_no_credential_survives_redaction(user: str, password: str, param: str) -> None:
    url = f"https://{user}:{password}@host.example:8443/rpc?{param}={password}&network=test"
    shown = redact_url(url)
    assert password not in shown and user not in shown
    assert "host.example:8443/rpc" in shown and "network=test" in shown
    assert password not in redact_text(f"could not reach {url} (timeout)")


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("database_url", f"mysql://orbitpay:{SECRET}@db/orbitpay"),
        ("redis_url", f"http://:{SECRET}@redis:6379/0"),
        ("rpc_url", f"ftp://user:{SECRET}@rpc.example/?apikey={SECRET}"),
    ],
)
def test_configuration_errors_do_not_echo_passwords(field: str, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**{field: url})
    assert SECRET not in str(caught.value)
    assert f"ORBITPAY_{field.upper()}" in str(caught.value) and "***" in str(caught.value)


def test_the_cli_prints_config_errors_redacted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITPAY_")}
    env["ORBITPAY_REDIS_URL"] = f"http://default:{SECRET}@redis.example:6379/0"
    env["ORBITPAY_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "orbitpay.cli", "api"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ORBITPAY_REDIS_URL" in done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
