"""``orbitpay index --once`` as a separate process sharing Redis with the API.

The standalone indexer must invalidate the API workers' Redis cache after it
commits, and serve its own Prometheus metrics when asked to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from orbitpay.devnet.server import start_background_devnet
from tests.conftest import create_database, drop_database
from tests.e2e.helpers import clean_env, run


@pytest.fixture
def fresh_database(postgres_available: None) -> Iterator[str]:
    url = create_database("orbitpay_cli")
    yield url
    drop_database(url)


def test_index_once_bumps_the_shared_cache_versions(
    tmp_path: Path, fresh_database: str, private_redis_url: str
) -> None:
    redis_url = private_redis_url  # the CLI writes the service's own key names
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    before = {ns: int(client.get(f"orbitpay:v:{ns}") or 0) for ns in ("streams", "proposals")}
    with start_background_devnet("demo", seed=3, live=False) as devnet:
        org = devnet.chain.organizations()[0]
        env = clean_env(
            ORBITPAY_DATABASE_URL=fresh_database,
            ORBITPAY_REDIS_URL=redis_url,
            ORBITPAY_RPC_URL=devnet.url,
            ORBITPAY_ORG_NAME=org["name"],
            **{
                f"ORBITPAY_{kind.upper()}_CONTRACT_ID": cid
                for kind, cid in org["contracts"].items()
            },
        )
        assert run(["migrate"], env, tmp_path).returncode == 0
        indexed = run(["index", "--once"], env, tmp_path, timeout=300)
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    after = {ns: int(client.get(f"orbitpay:v:{ns}") or 0) for ns in ("streams", "proposals")}
    assert all(after[ns] > before[ns] for ns in before), (before, after)


def test_org_import_devnet_registers_the_devnet_organizations(
    tmp_path: Path, fresh_database: str
) -> None:
    with start_background_devnet("demo", seed=2, live=False) as devnet:
        org = devnet.chain.organizations()[0]
        env = clean_env(ORBITPAY_DATABASE_URL=fresh_database)
        assert run(["migrate"], env, tmp_path).returncode == 0
        for _ in range(2):  # idempotent
            imported = run(["org", "import-devnet", devnet.url], env, tmp_path)
            assert imported.returncode == 0, imported.stderr
    listed = json.loads(run(["org", "list", "--json"], env, tmp_path).stdout)
    assert [(o["name"], o["contracts"]["payroll"]) for o in listed] == [
        (org["name"], [org["contracts"]["payroll"]])
    ]
    unreachable = run(["org", "import-devnet", "http://127.0.0.1:9"], env, tmp_path)
    assert unreachable.returncode == 1
    assert "could not read organizations" in unreachable.stderr
