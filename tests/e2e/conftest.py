"""Every test under ``tests/e2e`` is an end-to-end test: marked ``e2e`` here, once.

``make test-fast`` deselects them with ``-m "not e2e"``; marking by directory
means a new end-to-end module cannot forget its marker and slow the fast run.
``databases`` collects the databases a test makes (``db_helpers.new_database``)
and drops them afterwards, whatever the test's outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_database

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def databases(postgres_available: None) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for url in made:
        drop_database(url)
