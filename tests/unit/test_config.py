"""Settings: defaults, validation, and the one-line error naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orbitpay.config import ConfigError, load_settings, parse_rate

GOOD_CONTRACT = "CA3D5KRYM6CB7OWQ6TWYRR3Z4T7GNZLKERYNZGGA5SOAOPIFY6YQGAXE"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    for key in list(os.environ):
        if key.startswith("ORBITPAY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_match_spec() -> None:
    s = load_settings()
    assert s.database_url is None and s.redis_url is None and s.rpc_url is None
    assert str(s.data_dir) == ".orbitpay"
    assert s.org_name == "default"
    assert s.poll_interval == 5
    assert (s.api_host, s.api_port) == ("127.0.0.1", 8000)
    assert s.rate == (100, 60)
    assert s.require_api_key is False
    assert s.contract_ids == {}


def test_env_and_dotenv_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    monkeypatch.setenv("ORBITPAY_PAYROLL_CONTRACT_ID", GOOD_CONTRACT)
    (tmp_path / ".env").write_text("ORBITPAY_ORG_NAME=acme\nORBITPAY_API_PORT=9001\n")  # type: ignore[operator]
    s = load_settings()
    assert s.contract_ids == {"payroll": GOOD_CONTRACT}
    assert s.org_name == "acme" and s.api_port == 9001


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ORBITPAY_DATABASE_URL", "mysql://x@y/z"),
        ("ORBITPAY_REDIS_URL", "http://localhost"),
        ("ORBITPAY_RPC_URL", "not a url"),
        (
            "ORBITPAY_TREASURY_CONTRACT_ID",
            "GBRPYHIL2CI3FNQ4BXLFMNDLFJUNPU2HY3ZMFSHONUCEOASW7QC7OX2H",
        ),
        ("ORBITPAY_GOVERNANCE_CONTRACT_ID", GOOD_CONTRACT[:-1] + "A"),
        ("ORBITPAY_POLL_INTERVAL", "-1"),
        ("ORBITPAY_RATE_LIMIT", "lots"),
        ("ORBITPAY_API_READ_CONNECTIONS", "0"),
        ("ORBITPAY_LOG_FORMAT", "xml"),
        ("ORBITPAY_START_LEDGER", "0"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert var in message


def test_rate_parsing() -> None:
    assert parse_rate("100/minute") == (100, 60)
    assert parse_rate("5 / second") == (5, 1)
    with pytest.raises(ValueError):
        parse_rate("0/minute")


def test_cli_prints_one_line_and_exits_2(tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITPAY_")}
    env["ORBITPAY_PAYROLL_CONTRACT_ID"] = "nope"
    proc = subprocess.run(
        [sys.executable, "-m", "orbitpay.cli", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "ORBITPAY_PAYROLL_CONTRACT_ID" in lines[0]
    assert "Traceback" not in proc.stderr
