"""The docker-compose stack, run natively: same commands, same environment.

There is no Docker engine here, so this test reads ``docker-compose.yml`` and
runs each OrbitPay service's ``command`` as a local process with that
service's environment, only the host names swapped for local ones (postgres,
redis, devnet -> 127.0.0.1) and ports made free. It proves the compose file's
commands and wiring work: devnet -> migrate -> register-devnet -> indexer +
api, with the indexer's metrics listener answering its healthcheck URL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import create_database, drop_database
from tests.e2e.helpers import REPO, clean_env, free_port, run, start, stop, wait_http


@pytest.fixture
def fresh_database(postgres_available: None) -> Iterator[str]:
    url = create_database("orbitpay_compose")
    yield url
    drop_database(url)


def _services() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def _localise(value: str, ports: dict[str, int], database: str, redis_url: str) -> str:
    value = value.replace("postgresql://orbitpay:orbitpay@postgres:5432/orbitpay", database)
    value = value.replace("redis://redis:6379/0", redis_url)
    value = value.replace("${ORBITPAY_RPC_URL:-http://devnet:8100}", "http://devnet:8100")
    value = value.replace("devnet:8100", f"127.0.0.1:{ports['devnet']}")
    return value


def test_compose_services_run_natively(
    tmp_path: Path, fresh_database: str, private_redis_url: str
) -> None:
    redis_url = private_redis_url  # the services write their own key names: a private Redis
    services = _services()
    ports = {"devnet": free_port(), "api": free_port(), "metrics": free_port()}

    def env_of(name: str) -> dict[str, str]:
        raw = {k: str(v) for k, v in (services[name].get("environment") or {}).items()}
        env = {k: _localise(v, ports, fresh_database, redis_url) for k, v in raw.items()}
        env.setdefault("ORBITPAY_DATA_DIR", str(tmp_path / "data"))
        env["ORBITPAY_API_HOST"] = "127.0.0.1"
        return clean_env(**env)

    def command_of(name: str) -> list[str]:
        cmd = [
            _localise(str(part), ports, fresh_database, redis_url)
            for part in services[name]["command"]
        ]
        return ["127.0.0.1" if part == "0.0.0.0" else part for part in cmd]

    devnet_cmd = command_of("devnet")
    devnet_cmd[devnet_cmd.index("--port") + 1] = str(ports["devnet"])
    devnet = start(devnet_cmd, env_of("devnet"), tmp_path)
    procs = [devnet]
    try:
        for _ in range(100):
            try:
                httpx.post(
                    f"http://127.0.0.1:{ports['devnet']}/",
                    json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
                    timeout=2,
                )
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        for one_shot in ("migrate", "register-devnet"):
            done = run(command_of(one_shot), env_of(one_shot), tmp_path)
            assert done.returncode == 0, (one_shot, done.stdout, done.stderr)

        indexer_env = env_of("indexer") | {"ORBITPAY_METRICS_PORT": str(ports["metrics"])}
        procs.append(start(command_of("indexer"), indexer_env, tmp_path))
        api_env = env_of("api") | {"ORBITPAY_API_PORT": str(ports["api"])}
        procs.append(start(command_of("api"), api_env, tmp_path))

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
        metrics = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "orbitpay_indexer_last_ledger" in metrics.text
    finally:
        for proc in reversed(procs):
            stop(proc)
