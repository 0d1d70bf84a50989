"""``orbitpay index --once`` as a separate process sharing Redis with the API.

The standalone indexer must invalidate the API workers' Redis cache after it
commits, and serve its own Prometheus metrics when asked to.
"""

from __future__ import annotations

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
    tmp_path: Path, fresh_database: str, redis_url: str
) -> None:
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
