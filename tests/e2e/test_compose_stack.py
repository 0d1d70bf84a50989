"""The docker-compose stack, run natively: same commands, same environment, same health checks.

There is no Docker engine here, so this test reads ``docker-compose.yml``, resolves
it the way ``docker compose`` does against a ``.env`` (tests/unit/deploy/compose.py:
the ``${VAR:-default}`` values take the .env's database, Redis, RPC and ports), and
runs each OrbitPay service's ``command`` as a local process with that service's
environment (the .env as ``env_file``, then ``environment`` over it). Only the
devnet's host name and port, which compose writes literally, are swapped for local
ones. It proves the wiring (devnet -> migrate -> register-devnet -> indexer + api)
and the health checks: each service's own check passes on the running stack, and
the indexer's fails once the indexer is stalled while its /metrics still answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import create_database, drop_database
from tests.e2e.helpers import ORBITPAY, clean_env, free_port, run, start, stop, wait_for, wait_http
from tests.unit.deploy.compose import command_of, healthcheck_argv, services


@pytest.fixture
def fresh_database(postgres_available: None) -> Iterator[str]:
    url = create_database("orbitpay_compose")
    yield url
    drop_database(url)


def _check(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a compose health check's argv (``orbitpay ...`` or ``python -c ...``) natively."""
    program = ORBITPAY if argv[0] == "orbitpay" else [sys.executable]
    return subprocess.run(
        program + argv[1:], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_compose_services_run_natively(
    tmp_path: Path, fresh_database: str, private_redis_url: str
) -> None:
    redis_url = private_redis_url  # the services write their own key names: a private Redis
    ports = {"devnet": free_port(), "api": free_port(), "metrics": free_port()}
    devnet_url = f"http://127.0.0.1:{ports['devnet']}"
    # What an operator's .env would hold for this machine.
    dotenv = {
        "ORBITPAY_DATABASE_URL": fresh_database,
        "ORBITPAY_REDIS_URL": redis_url,
        "ORBITPAY_RPC_URL": devnet_url,
        "ORBITPAY_API_PORT": str(ports["api"]),
        "ORBITPAY_METRICS_PORT": str(ports["metrics"]),
        "ORBITPAY_CURSOR_SECRET": "compose-e2e-cursor-secret-0123456789",
        "ORBITPAY_DATA_DIR": str(tmp_path / "data"),
        # Not named by compose: reaches the containers through env_file.
        "ORBITPAY_POLL_INTERVAL": "1",
        "ORBITPAY_RPC_MAX_RETRIES": "0",
        "ORBITPAY_RPC_TIMEOUT": "3",
    }
    resolved = services(dotenv)

    def local(text: str) -> str:
        return text.replace("devnet:8100", f"127.0.0.1:{ports['devnet']}").replace(
            "127.0.0.1:8100", f"127.0.0.1:{ports['devnet']}"
        )

    def env_of(name: str) -> dict[str, str]:
        environment = {k: str(v) for k, v in (resolved[name].get("environment") or {}).items()}
        env = dotenv | environment  # env_file first, `environment` over it (as compose)
        env["ORBITPAY_API_HOST"] = "127.0.0.1"  # 0.0.0.0 in a container; loopback here
        return clean_env(**env)

    def command(name: str) -> list[str]:
        cmd = [local(part) for part in command_of(resolved[name])]
        return ["127.0.0.1" if part == "0.0.0.0" else part for part in cmd]

    def health(name: str) -> subprocess.CompletedProcess[str]:
        argv = healthcheck_argv(resolved[name])
        assert argv is not None, name
        return _check([local(part) for part in argv], env_of(name), tmp_path)

    # Compose's own values came through: the .env's, not the defaults.
    assert env_of("api")["ORBITPAY_DATABASE_URL"] == fresh_database
    assert env_of("indexer")["ORBITPAY_METRICS_PORT"] == str(ports["metrics"])

    devnet_cmd = command("devnet")
    devnet_cmd[devnet_cmd.index("--port") + 1] = str(ports["devnet"])
    devnet = start(devnet_cmd, env_of("devnet"), tmp_path)
    procs = [devnet]
    try:
        wait_for(lambda: health("devnet").returncode == 0, timeout=60)
        for one_shot in ("migrate", "register-devnet"):
            done = run(command(one_shot), env_of(one_shot), tmp_path)
            assert done.returncode == 0, (one_shot, done.stdout, done.stderr)

        indexer = start(command("indexer"), env_of("indexer"), tmp_path)
        procs.append(indexer)
        procs.append(start(command("api"), env_of("api"), tmp_path))

        base = f"http://127.0.0.1:{ports['api']}"
        wait_http(f"{base}/health", timeout=60, proc=procs[-1])
        deadline = time.monotonic() + 90
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = httpx.get(f"{base}/health", timeout=5).json()
            if body["indexer"]["status"] == "ok" and body["indexer"]["lag_ledgers"] == 0:
                break
            time.sleep(0.5)
        assert body["status"] == "ok", body
        assert body["cache"]["kind"] == "redis"
        streams = httpx.get(f"{base}/api/streams", timeout=5).json()["items"]
        assert streams, "the indexer filled nothing"
        metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"
        metrics = httpx.get(metrics_url, timeout=5)
        assert metrics.status_code == 200
        assert "orbitpay_indexer_last_ledger" in metrics.text

        # Every long-running service's compose health check passes on the live stack.
        for name in ("devnet", "indexer", "api"):
            checked = health(name)
            assert checked.returncode == 0, (name, checked.stdout, checked.stderr)

        # Stall the indexer (its RPC goes away): the process and its /metrics live on,
        # the compose health check fails.
        stop(devnet)
        procs.remove(devnet)
        wait_for(lambda: health("indexer").returncode != 0, timeout=90)
        assert indexer.poll() is None, "the indexer exited instead of waiting for its RPC"
        assert httpx.get(metrics_url, timeout=5).status_code == 200
        stalled = health("indexer")
        assert "stalled" in stalled.stderr, stalled.stderr
    finally:
        for proc in reversed(procs):
            stop(proc)
