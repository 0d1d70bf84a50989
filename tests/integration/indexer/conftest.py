"""Fixtures the indexer's integration tests share.

``eng`` hands a test the clean database and empties it afterwards, so every
test starts from no rows. ``demo`` is the seed-1 demo devnet with full
retention; ``short`` is the same chain with only ~5 days behind its RPC and
the whole history written as a ledger data lake in ``lake_dir``. All devnets
are module-scoped: each test module starts its own, as it did when every
module declared these fixtures itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import truncate_all

from orbitpay.devnet.server import DevnetHandle, start_background_devnet

# ~5 days of the ~35-day demo behind the RPC; the lake holds the rest.
LAKE_RETENTION = 86_400
# One ledger per object would be ~600,000 files for the demo's 35 days.
LAKE_PER_FILE = 1000


@pytest.fixture
async def eng(clean_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    yield clean_engine
    await truncate_all(clean_engine)


@pytest.fixture(scope="module")
def demo() -> Iterator[DevnetHandle]:
    handle = start_background_devnet(scenario="demo", seed=1, live=False)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="module")
def short(lake_dir: Path) -> Iterator[DevnetHandle]:
    with start_background_devnet(
        "demo",
        seed=1,
        live=False,
        retention_ledgers=LAKE_RETENTION,
        archive=lake_dir,
        archive_ledgers_per_file=LAKE_PER_FILE,
    ) as dn:
        yield dn
